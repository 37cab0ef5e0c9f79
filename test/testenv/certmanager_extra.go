package testenv

import (
	"context"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StartCertManagerArgs is StartCertManager with extra flags for the
// controller, such as "-kube-api-qps", "-kube-api-burst" and
// "-concurrent-workers" for scale tests.
func StartCertManagerArgs(t testing.TB, k *Kube, extra ...string) *Process {
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
