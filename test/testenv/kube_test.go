package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// shared is the one Kube of this test binary, started by the first test that
// needs it and stopped by TestMain.
var shared struct {
	once sync.Once
	kube *Kube
	err  error
}

func sharedKube(t *testing.T) *Kube {
	t.Helper()
	skipIfShort(t, "kube-apiserver")
	shared.once.Do(func() { shared.kube, shared.err = NewKube() })
	if shared.err != nil {
		t.Fatalf("start kube: %v", shared.err)
	}
	return shared.kube
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.kube != nil {
		if err := shared.kube.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop kube: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestKubeCRDsEstablished(t *testing.T) {
	k := sharedKube(t)
	for _, name := range []string{
		"certificates.cert-manager.io",
		"certificaterequests.cert-manager.io",
		"issuers.cert-manager.io",
		"clusterissuers.cert-manager.io",
		"dnsendpoints.externaldns.k8s.io",
	} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := k.Client.Get(t.Context(), client.ObjectKey{Name: name}, &crd); err != nil {
			t.Errorf("get CRD %s: %v", name, err)
			continue
		}
		established := false
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				established = true
			}
		}
		if !established {
			t.Errorf("CRD %s is not Established: %+v", name, crd.Status.Conditions)
		}
	}
}

func TestKubeKubeconfig(t *testing.T) {
	k := sharedKube(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: k.Scheme})
	if err != nil {
		t.Fatalf("client from kubeconfig: %v", err)
	}
	ns := k.CreateNamespace(t, "kubeconfig")
	var got corev1.Namespace
	if err := c.Get(t.Context(), client.ObjectKey{Name: ns}, &got); err != nil {
		t.Fatalf("get namespace %s with the kubeconfig's user: %v", ns, err)
	}
}
