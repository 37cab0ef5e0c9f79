package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertManagerNamespace is the cluster resource namespace the cert-manager
// controller runs with: ClusterIssuers read their Secrets from it.
const CertManagerNamespace = "cert-manager"

// StartCertManager runs the cert-manager controller (bin/cert-manager: the
// certificate, CertificateRequest, selfSigned and CA issuer controllers; no
// webhook, no ACME) against k, and returns once it has made a selfSigned Issuer
// Ready. It is stopped in t.Cleanup. extra flags go to the controller, such as
// "-kube-api-qps", "-kube-api-burst" and "-concurrent-workers" for scale tests.
func StartCertManager(t testing.TB, k *Kube, extra ...string) *Process {
	t.Helper()
	bin := Binary(t, "cert-manager")
	if err := k.EnsureNamespace(t.Context(), CertManagerNamespace); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"-kubeconfig", k.Kubeconfig,
		"-cluster-resource-namespace", CertManagerNamespace,
		"-v", "2",
	}, extra...)
	p := StartProcess(t, "cert-manager", bin, args, nil)

	// A fresh probe Issuer per start: one left Ready by an earlier controller on
	// the same API server would prove nothing about this one.
	probe := &cmv1.Issuer{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "testenv-probe-", Namespace: CertManagerNamespace},
		Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{SelfSigned: &cmv1.SelfSignedIssuer{}}},
	}
	if err := k.Client.Create(t.Context(), probe); err != nil {
		t.Fatalf("create probe issuer: %v", err)
	}
	Eventually(t, 60*time.Second, "cert-manager makes issuer "+probe.Name+" Ready", p, func(ctx context.Context) error {
		return issuerReady(ctx, k.Client, CertManagerNamespace, probe.Name)
	})
	if err := k.Client.Delete(t.Context(), probe); err != nil {
		t.Fatalf("delete probe issuer: %v", err)
	}
	return p
}

// WaitIssuerReady waits until the Issuer namespace/name has condition Ready=True.
func WaitIssuerReady(t testing.TB, k *Kube, namespace, name string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "issuer "+namespace+"/"+name+" Ready", nil, func(ctx context.Context) error {
		return issuerReady(ctx, k.Client, namespace, name)
	})
}

// WaitCertificateReady waits until the Certificate namespace/name has condition
// Ready=True, and returns it.
func WaitCertificateReady(t testing.TB, k *Kube, namespace, name string, timeout time.Duration) *cmv1.Certificate {
	t.Helper()
	var crt cmv1.Certificate
	Eventually(t, timeout, "certificate "+namespace+"/"+name+" Ready", nil, func(ctx context.Context) error {
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &crt); err != nil {
			return err
		}
		for _, c := range crt.Status.Conditions {
			if c.Type == cmv1.CertificateConditionReady {
				return conditionTrue(c.Status, c.Reason, c.Message)
			}
		}
		return errNoReadyCondition
	})
	return &crt
}

func issuerReady(ctx context.Context, c client.Client, namespace, name string) error {
	var iss cmv1.Issuer
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &iss); err != nil {
		return err
	}
	for _, cond := range iss.Status.Conditions {
		if cond.Type == cmv1.IssuerConditionReady {
			return conditionTrue(cond.Status, cond.Reason, cond.Message)
		}
	}
	return errNoReadyCondition
}

// errNoReadyCondition is returned while an object has no Ready condition yet.
var errNoReadyCondition = errors.New("no Ready condition yet")

func conditionTrue(status cmmeta.ConditionStatus, reason, message string) error {
	if status == cmmeta.ConditionTrue {
		return nil
	}
	return fmt.Errorf("condition Ready=%s %s: %s", status, reason, message)
}
