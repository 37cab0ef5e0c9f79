package operator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/test/testenv"
)

// testKubectl: kubectl shows useful columns for the three kinds, finds them
// by short name and category, and explains their fields.
func (e *env) testKubectl(t *testing.T) {
	e = e.sub(t)
	out := e.kubectl("get", "datapods,memberships,bsvc", "-A")
	t.Logf("kubectl get datapods,memberships,bsvc -A:\n%s", out)
	for _, want := range []string{
		"READY", "REASON", "ACCOUNT", "AGE", // DataPod
		"DATAPOD", "SERVICE", "MEMBER", // Membership
		"SERVICE ID", "CONTRACT", "VERSION", // Service
		"addressbook-demo", "True",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get output lacks %q", want)
		}
	}
	wide := e.kubectl("get", "dpod", "-A", "-o", "wide")
	t.Logf("kubectl get dpod -A -o wide:\n%s", wide)
	for _, want := range []string{"FQDN", "ADDRESS", ".accounts." + network, "192.0.2.10"} {
		if !strings.Contains(wide, want) {
			t.Errorf("kubectl get dpod -o wide lacks %q", want)
		}
	}
	all := e.kubectl("get", "byoda", "-A")
	for _, want := range []string{"datapod.byoda.net/", "membership.byoda.net/", "service.byoda.net/"} {
		if !strings.Contains(all, want) {
			t.Errorf("kubectl get byoda (the category) lacks %q:\n%s", want, all)
		}
	}
	explain := e.kubectl("explain", "datapod.spec")
	t.Logf("kubectl explain datapod.spec:\n%s", explain)
	for _, want := range []string{"DataPodSpec is one person's data pod", "storage", "Storage is where the pod keeps its", "retainPolicy", "-required-"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain datapod.spec lacks %q", want)
		}
	}
	if out := e.kubectl("explain", "membership.spec.service.serviceID"); !strings.Contains(out, "service run elsewhere") {
		t.Errorf("kubectl explain membership.spec.service.serviceID:\n%s", out)
	}
}

// testSamples: config/samples applies with kubectl apply -k and each file
// with kubectl apply -f, and the operator makes the demo work; the
// Service sample's inline contract is the sample contract file.
func (e *env) testSamples(t *testing.T) {
	e = e.sub(t)
	dir := filepath.Join(testenv.RepoRoot(), "config", "samples")

	// Every file on its own (validated by the API server, not stored).
	single := e.kube.CreateNamespace(t, "samples-f")
	e.kubectl("apply", "--dry-run=server", "-f", filepath.Join(dir, "network.yaml")) // names its own namespace
	for _, f := range []string{"service.yaml", "datapod-alice.yaml", "datapod-bob.yaml", "membership-alice.yaml", "membership-bob.yaml"} {
		e.kubectl("apply", "--dry-run=server", "-n", single, "-f", filepath.Join(dir, f))
	}

	// The network's objects name their namespace (cert-manager), so the
	// kustomization applies to the current namespace only: default.
	ns := "default"
	t.Log(e.kubectl("apply", "-k", dir))
	// The directory's LoadBalancer has no address in envtest either:
	// everything but DNS.
	svc := &byodav1alpha1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "addressbook-demo"}}
	for _, c := range serviceConditions[:4] {
		e.waitCondition(svc, c, metav1.ConditionTrue, "")
	}
	e.waitCondition(svc, byodav1alpha1.ConditionDNSReady, metav1.ConditionFalse, byodav1alpha1.ReasonAddressPending)
	bob := &byodav1alpha1.DataPod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob"}}
	e.waitAllTrue(bob, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionStorageReady, byodav1alpha1.ConditionDNSReady)
	bobM := &byodav1alpha1.Membership{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-addressbook"}}
	e.waitAllTrue(bobM, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined)
	// Alice's LoadBalancer has no address in envtest: everything but DNS.
	alice := &byodav1alpha1.DataPod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}}
	e.waitCondition(alice, byodav1alpha1.ConditionStorageReady, metav1.ConditionTrue, "")
	e.waitCondition(alice, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "")
	e.waitCondition(alice, byodav1alpha1.ConditionDNSReady, metav1.ConditionFalse, byodav1alpha1.ReasonAddressPending)
	aliceM := &byodav1alpha1.Membership{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-addressbook"}}
	e.waitCondition(aliceM, byodav1alpha1.ConditionJoined, metav1.ConditionTrue, "")
	t.Log(e.kubectl("get", "byoda", "-n", ns, "-o", "wide"))

	// The inline contract is the sample contract.
	raw, err := os.ReadFile(filepath.Join(dir, "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sample byodav1alpha1.Service
	if err := yaml.UnmarshalStrict(raw, &sample); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, sample.Spec.Contract.Inline.Raw, demoContract(t)) {
		t.Errorf("config/samples/service.yaml's inline contract differs from config/samples/contracts/addressbook-demo.json")
	}
}

// jsonEqual reports whether two JSON documents have the same value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}
