package operator

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// TestOperator runs the operator against a real API server and the real
// cert-manager controller. The subtests share the cluster and run in order:
// Stability restarts the operator.
func TestOperator(t *testing.T) {
	e := newEnv(t)
	bin, err := testenv.BuildByoda(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.bin = bin
	t.Run("EndToEnd", e.testEndToEnd)
	t.Run("ServiceDirectory", e.testServiceDirectory)
	t.Run("RemoteMembership", e.testRemoteMembership)
	t.Run("RemoteMembershipFault", e.testRemoteMembershipFault)
	t.Run("LoadBalancerAddress", e.testLoadBalancerAddress)
	t.Run("InvalidContract", e.testInvalidContract)
	t.Run("ContractConfigMap", e.testContractConfigMap)
	t.Run("CRDValidation", e.testCRDValidation)
	t.Run("MissingReferences", e.testMissingReferences)
	t.Run("Stability", e.testStability)
	t.Run("Reissue", e.testReissue)
	t.Run("DeleteDataPod", e.testDeleteDataPod)
	t.Run("KeyNeverRegenerated", e.testKeyNeverRegenerated)
	t.Run("Kubectl", e.testKubectl)
	t.Run("Samples", e.testSamples)
}

// sub returns the env for a subtest.
func (e *env) sub(t *testing.T) *env {
	return &env{t: t, kube: e.kube, c: e.c, cm: e.cm, log: e.log, run: e.run, bin: e.bin}
}

// testEndToEnd: a Service, a DataPod and a Membership become Ready; the
// certificates verify with internal/pki as that account and as a member of
// that service; the DNSEndpoints carry the right names and targets; the
// Deployment's arguments and mounts give `byoda pod` what it needs.
func (e *env) testEndToEnd(t *testing.T) {
	e = e.sub(t)
	w := e.newWorld("e2e", "192.0.2.10")
	ctx := t.Context()
	aid := uuid.MustParse(w.dp.Status.AccountID)
	mid := uuid.MustParse(w.m.Status.MemberID)
	networkRoot := e.secret(testenv.CertManagerNamespace, "byoda-root-ca").Data["ca.crt"]

	// Status.
	if w.dp.Status.FQDN != pki.AccountName(aid, network) || w.dp.Status.Network != network {
		t.Errorf("DataPod status: fqdn %q network %q", w.dp.Status.FQDN, w.dp.Status.Network)
	}
	if w.m.Status.FQDN != pki.MemberName(demoServiceID, mid, network) || *w.m.Status.ServiceID != demoServiceID || w.m.Status.ContractVersion != 1 {
		t.Errorf("Membership status: %+v", w.m.Status)
	}
	if want := []byodav1alpha1.JoinedMembership{{Name: w.m.Name, ServiceID: demoServiceID, MemberID: mid.String()}}; !slices.Equal(w.dp.Status.Memberships, want) {
		t.Errorf("DataPod memberships %v, want %v", w.dp.Status.Memberships, want)
	}

	// The account certificates verify as that account, under the network root.
	acctKeys := e.secret(w.podNS, specs.AccountKeySecretName(w.dp))
	acct := e.secret(w.podNS, specs.AccountSecretName(w.dp))
	if string(acct.Data[specs.KeyRootCA]) != string(networkRoot) {
		t.Errorf("the account's root-ca.crt is not the network root of config/samples/network.yaml")
	}
	for _, c := range []struct {
		cert, key string
		data      bool
	}{{specs.KeyAccountCert, specs.KeyAccountKey, false}, {specs.KeyAccountDataCrt, specs.KeyAccountDataKey, true}} {
		key, err := pki.ParseKey(acctKeys.Data[c.key])
		if err != nil {
			t.Fatal(err)
		}
		id := verifyChain(t, acct.Data[c.cert], networkRoot, key)
		if id.Role != pki.RoleAccount || id.ID != aid.String() || id.Network != network || id.Data != c.data {
			t.Errorf("%s verifies as %+v, want account %s (data %v)", c.cert, id, aid, c.data)
		}
	}

	// The member certificates verify as a member of service 4711.
	memberKeys := e.secret(w.podNS, specs.MemberKeySecretName(w.m))
	member := e.secret(w.podNS, specs.MemberSecretName(w.m))
	for _, c := range []struct {
		cert, key string
		data      bool
	}{{specs.KeyMemberCert, specs.KeyMemberKey, false}, {specs.KeyMemberDataCert, specs.KeyMemberDataKey, true}} {
		key, err := pki.ParseKey(memberKeys.Data[c.key])
		if err != nil {
			t.Fatal(err)
		}
		id := verifyChain(t, member.Data[c.cert], networkRoot, key)
		if id.Role != pki.RoleMember || id.ID != mid.String() || id.ServiceID != demoServiceID || id.Data != c.data {
			t.Errorf("%s verifies as %+v, want member %s of service %d (data %v)", c.cert, id, mid, demoServiceID, c.data)
		}
	}
	if !jsonEqual(t, member.Data[specs.KeyContract], demoContract(t)) {
		t.Errorf("the member Secret's contract differs from the Service's")
	}

	// The private keys never leave the DataPod's namespace: the Service's
	// namespace holds requests whose CSRs are for the member's public key,
	// and no Secret there holds the member key.
	var secrets corev1.SecretList
	if err := e.c.List(ctx, &secrets, client.InNamespace(w.svcNS)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if strings.Contains(string(v), string(memberKeys.Data[specs.KeyMemberKey])) {
				t.Errorf("Secret %s/%s key %s holds the member key", s.Namespace, s.Name, k)
			}
		}
	}
	// The request of each certificate in use is kept, and only it.
	e.checkRequests(w, 1, 1, 1, 1)

	// DNS: the account and the member name, at the DataPod's target.
	e.checkDNSEndpoint(w.podNS, w.dp.Name, pki.AccountName(aid, network), "A", "192.0.2.10")
	e.checkDNSEndpoint(w.podNS, w.m.Name, pki.MemberName(demoServiceID, mid, network), "A", "192.0.2.10")

	// The Deployment runs `byoda pod` with what it needs.
	var dep appsv1.Deployment
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(w.dp), &dep); err != nil {
		t.Fatal(err)
	}
	e.checkPodDeployment(&dep, aid, map[uint32]uuid.UUID{demoServiceID: mid})

	// Children carry owner references (there is no garbage collector in
	// envtest to show the cascade itself).
	for _, obj := range []client.Object{&dep, &corev1.Service{}, &externaldnsv1alpha1.DNSEndpoint{}} {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(w.dp), obj); err != nil {
			t.Fatal(err)
		}
		if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != w.dp.UID {
			t.Errorf("%T %s: owner references %v", obj, obj.GetName(), refs)
		}
	}
}

func (e *env) checkDNSEndpoint(namespace, name, dnsName, recordType, target string) {
	e.t.Helper()
	var ep externaldnsv1alpha1.DNSEndpoint
	if err := e.c.Get(e.t.Context(), types.NamespacedName{Namespace: namespace, Name: name}, &ep); err != nil {
		e.t.Fatalf("get DNSEndpoint %s/%s: %v", namespace, name, err)
	}
	if len(ep.Spec.Endpoints) != 1 {
		e.t.Fatalf("DNSEndpoint %s has %d endpoints", name, len(ep.Spec.Endpoints))
	}
	got := ep.Spec.Endpoints[0]
	if got.DNSName != dnsName || got.RecordType != recordType || len(got.Targets) != 1 || got.Targets[0] != target {
		e.t.Errorf("DNSEndpoint %s: %s %s %v, want %s %s [%s]", name, got.DNSName, got.RecordType, got.Targets, dnsName, recordType, target)
	}
}

// checkPodDeployment materializes the Deployment's volumes from the
// Secrets they name, as the kubelet would, and checks that `byoda pod`
// finds there, at the paths its arguments give, what it loads: a PKI
// directory with the network root, the account and each member key pair,
// each service's contract, the key-encryption key and the owner password.
func (e *env) checkPodDeployment(dep *appsv1.Deployment, aid uuid.UUID, members map[uint32]uuid.UUID) {
	t := e.t
	spec := dep.Spec
	if *spec.Replicas != 1 || spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment: replicas %d strategy %s, want 1 Recreate", *spec.Replicas, spec.Strategy.Type)
	}
	pod := spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v: want non-root, read-only root file system, no privilege escalation", sc)
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/v1/status" {
			t.Errorf("probe %+v: want GET /api/v1/status", p)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want default requests and limits", c.Resources)
	}
	if c.Image != testImage {
		t.Errorf("image %s, want the operator's --image %s", c.Image, testImage)
	}

	// Parse the arguments as `byoda pod` does.
	if len(c.Args) == 0 || c.Args[0] != "pod" {
		t.Fatalf("args %q: want the pod subcommand", c.Args)
	}
	flags := map[string][]string{}
	for i := 1; i+1 < len(c.Args); i += 2 {
		name, ok := strings.CutPrefix(c.Args[i], "--")
		if !ok {
			t.Fatalf("args %q: %q is not a flag", c.Args, c.Args[i])
		}
		flags[name] = append(flags[name], c.Args[i+1])
	}
	one := func(name string) string {
		if v := flags[name]; len(v) == 1 {
			return v[0]
		}
		t.Fatalf("args %q: want exactly one --%s", c.Args, name)
		return ""
	}
	if one("network") != network || one("account") != aid.String() {
		t.Errorf("args %q: wrong --network or --account", c.Args)
	}
	for _, f := range []string{"data-dir", "storage", "listen", "peer-listen", "kek-file", "owner-password-file", "pki-dir"} {
		one(f)
	}

	root := t.TempDir()
	e.materialize(dep, root)
	at := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

	dir, err := pki.OpenDir(at(one("pki-dir")))
	if err != nil {
		t.Fatalf("the mounted PKI directory: %v", err)
	}
	roots, err := dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := dir.AccountKey(aid)
	if err != nil {
		t.Fatalf("the account key pair in the mounted PKI directory: %v", err)
	}
	if id, err := pki.Verify(kp.Chain, roots, validFrom(kp.Chain)); err != nil || id.ID != aid.String() {
		t.Errorf("mounted account chain: %v %+v", err, id)
	}
	if _, err := dir.AccountDataKey(aid); err != nil {
		t.Errorf("the account data key pair in the mounted PKI directory: %v", err)
	}
	contracts, memberFlags := flags["contract"], flags["member"]
	if len(contracts) != len(members) || len(memberFlags) != len(members) {
		t.Fatalf("args %q: want one --contract and --member per membership (%d)", c.Args, len(members))
	}
	for i, file := range contracts {
		data, err := contract.ReadFile(at(file))
		if err != nil {
			t.Fatalf("mounted contract %s: %v", file, err)
		}
		parsed, err := contract.Parse(data)
		if err != nil {
			t.Fatalf("mounted contract %s: %v", file, err)
		}
		mid, ok := members[parsed.ServiceID]
		if !ok {
			t.Fatalf("mounted contract %s is for service %d, which the DataPod did not join", file, parsed.ServiceID)
		}
		if want := fmt.Sprintf("%d=%s", parsed.ServiceID, mid); memberFlags[i] != want {
			t.Errorf("--member %s, want %s", memberFlags[i], want)
		}
		kp, err := dir.MemberKey(parsed.ServiceID, mid)
		if err != nil {
			t.Fatalf("member key pair of service %d in the mounted PKI directory: %v", parsed.ServiceID, err)
		}
		if id, err := pki.Verify(kp.Chain, roots, validFrom(kp.Chain)); err != nil || id.ServiceID != parsed.ServiceID {
			t.Errorf("mounted member chain: %v %+v", err, id)
		}
		if _, err := dir.MemberDataKey(parsed.ServiceID, mid); err != nil {
			t.Errorf("member data key pair in the mounted PKI directory: %v", err)
		}
	}
	kek, err := os.ReadFile(at(one("kek-file")))
	if err != nil {
		t.Fatalf("mounted key-encryption key: %v", err)
	}
	if raw, err := base64.URLEncoding.DecodeString(strings.TrimSpace(string(kek))); err != nil || len(raw) != 32 {
		t.Errorf("key-encryption key is not a Fernet key (base64 of 32 bytes): %v", err)
	}
	if pw, err := os.ReadFile(at(one("owner-password-file"))); err != nil || len(pw) < 16 {
		t.Errorf("mounted owner password: %v (%d bytes)", err, len(pw))
	}
}

// validFrom returns a moment when every certificate of chain is valid, if
// any is: just after the latest start of validity among them. (The CAs of
// a PKI that internal/pki makes start later than the members it signs,
// which it backdates.)
func validFrom(chain []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range chain {
		if c.NotBefore.After(t) {
			t = c.NotBefore
		}
	}
	return t.Add(time.Second)
}

// materialize writes the Secret- and ConfigMap-backed volumes of the pod
// template under root, at their mount paths, as the kubelet would.
func (e *env) materialize(dep *appsv1.Deployment, root string) {
	t := e.t
	pod := dep.Spec.Template.Spec
	write := func(mount, kind, name string, data map[string][]byte, items []corev1.KeyToPath) {
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				t.Fatalf("volume at %s: %s %s has no key %s", mount, kind, name, it.Key)
			}
			p := filepath.Join(root, filepath.FromSlash(path.Join(mount, it.Path)))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, v, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	secret := func(mount, name string, items []corev1.KeyToPath) {
		write(mount, "Secret", name, e.secret(dep.Namespace, name).Data, items)
	}
	configMap := func(mount, name string, items []corev1.KeyToPath) {
		var cm corev1.ConfigMap
		if err := e.c.Get(t.Context(), types.NamespacedName{Namespace: dep.Namespace, Name: name}, &cm); err != nil {
			t.Fatalf("get configmap %s/%s: %v", dep.Namespace, name, err)
		}
		data := map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		write(mount, "ConfigMap", name, data, items)
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				secret(m.MountPath, v.Secret.SecretName, v.Secret.Items)
			case v.ConfigMap != nil:
				configMap(m.MountPath, v.ConfigMap.Name, v.ConfigMap.Items)
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					switch {
					case src.Secret != nil:
						secret(m.MountPath, src.Secret.Name, src.Secret.Items)
					case src.ConfigMap != nil:
						configMap(m.MountPath, src.ConfigMap.Name, src.ConfigMap.Items)
					default:
						t.Fatalf("volume %s: projected source %+v is neither a Secret nor a ConfigMap", v.Name, src)
					}
				}
			}
		}
	}
}

// testLoadBalancerAddress: without spec.dns.target the DataPod waits for
// its Service's load-balancer address with DNSReady=False, then publishes
// it; the Membership follows.
func (e *env) testLoadBalancerAddress(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "lb")
	svc := newService(ns, "addressbook", demoServiceID, demoContract(t))
	dp := newDataPod(ns, "bob", "")
	m := newMembership(ns, "bob-addressbook", "bob", "", "addressbook")
	e.create(svc, dp, m)
	e.waitCondition(dp, byodav1alpha1.ConditionDNSReady, metav1.ConditionFalse, byodav1alpha1.ReasonAddressPending)
	e.waitCondition(m, byodav1alpha1.ConditionDNSReady, metav1.ConditionFalse, byodav1alpha1.ReasonAddressPending)
	var ep externaldnsv1alpha1.DNSEndpoint
	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(dp), &ep); err == nil {
		t.Errorf("a DNSEndpoint exists before there is an address")
	}

	// Play the cloud's load-balancer controller.
	var s corev1.Service
	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(dp), &s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("Service type %s, want LoadBalancer", s.Spec.Type)
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb-1.example.com"}}
	if err := e.c.Status().Update(t.Context(), &s); err != nil {
		t.Fatal(err)
	}
	e.waitAllTrue(dp)
	e.waitAllTrue(m)
	e.checkDNSEndpoint(ns, dp.Name, dp.Status.FQDN, "CNAME", "lb-1.example.com")
	e.checkDNSEndpoint(ns, m.Name, m.Status.FQDN, "CNAME", "lb-1.example.com")
	if dp.Status.Address != "lb-1.example.com" {
		t.Errorf("status.address %q", dp.Status.Address)
	}
}
