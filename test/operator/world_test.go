package operator

import (
	"context"
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// demoContract is the project's sample contract (service 4711).
func demoContract(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const demoServiceID = 4711

// world is a Service in one namespace and a DataPod with a Membership of it
// in another.
type world struct {
	svcNS, podNS string
	svc          *byodav1alpha1.Service
	dp           *byodav1alpha1.DataPod
	m            *byodav1alpha1.Membership
}

// directoryTarget is where the suite's Services publish their
// directories: envtest has no load balancer.
const directoryTarget = "192.0.2.250"

func newService(ns, name string, sid int64, contract []byte) *byodav1alpha1.Service {
	return &byodav1alpha1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: byodav1alpha1.ServiceSpec{
			ServiceID: sid,
			Contract:  byodav1alpha1.ContractSource{Inline: &apiextensionsv1.JSON{Raw: contract}},
			Directory: byodav1alpha1.DirectorySpec{DNS: byodav1alpha1.DNSSpec{Target: directoryTarget}},
		},
	}
}

// serviceConditions are the conditions of a Service besides Ready.
var serviceConditions = []string{byodav1alpha1.ConditionContractValid, byodav1alpha1.ConditionCAReady,
	byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDirectoryReady, byodav1alpha1.ConditionDNSReady}

func newDataPod(ns, name, target string) *byodav1alpha1.DataPod {
	return &byodav1alpha1.DataPod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: byodav1alpha1.DataPodSpec{
			Storage: byodav1alpha1.StorageSpec{Local: &byodav1alpha1.LocalStorage{}},
			DNS:     byodav1alpha1.DNSSpec{Target: target},
		},
	}
}

func newMembership(ns, name, dataPod, svcNS, svcName string) *byodav1alpha1.Membership {
	return &byodav1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: byodav1alpha1.MembershipSpec{
			DataPodRef: byodav1alpha1.LocalObjectReference{Name: dataPod},
			Service:    byodav1alpha1.ServiceReference{Name: svcName, Namespace: svcNS},
		},
	}
}

// newWorld creates a Service, a DataPod (published at target) and its
// Membership and waits until every condition of all three is True.
func (e *env) newWorld(prefix, target string) *world {
	e.t.Helper()
	w := &world{svcNS: e.kube.CreateNamespace(e.t, prefix+"-svc"), podNS: e.kube.CreateNamespace(e.t, prefix+"-people")}
	w.svc = newService(w.svcNS, "addressbook", demoServiceID, demoContract(e.t))
	w.dp = newDataPod(w.podNS, "alice", target)
	w.m = newMembership(w.podNS, "alice-addressbook", "alice", w.svcNS, "addressbook")
	e.create(w.svc, w.dp, w.m)
	e.waitAllTrue(w.svc, serviceConditions...)
	e.waitAllTrue(w.dp, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionStorageReady, byodav1alpha1.ConditionDNSReady)
	e.waitAllTrue(w.m, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined)
	return w
}

func (e *env) create(objs ...client.Object) {
	e.t.Helper()
	for _, o := range objs {
		if err := e.c.Create(context.Background(), o); err != nil {
			e.t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// secret returns the Secret namespace/name.
func (e *env) secret(namespace, name string) *corev1.Secret {
	e.t.Helper()
	var s corev1.Secret
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		e.t.Fatalf("get secret %s/%s: %v", namespace, name, err)
	}
	return &s
}

// verifyChain checks chainPEM with internal/pki against the root and
// returns who it says its holder is, after checking that key certifies it.
func verifyChain(t *testing.T, chainPEM, rootPEM []byte, key crypto.Signer) *pki.Identity {
	t.Helper()
	chain, err := pki.ParseCertificates(chainPEM)
	if err != nil {
		t.Fatalf("parse chain: %v", err)
	}
	roots, err := pki.ParseCertificates(rootPEM)
	if err != nil {
		t.Fatalf("parse root: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	id, err := pki.Verify(chain, pool, time.Now())
	if err != nil {
		t.Fatalf("pki.Verify: %v", err)
	}
	if _, err := pki.NewKeyPair(key, chain); err != nil {
		t.Fatalf("key and certificate: %v", err)
	}
	return id
}
