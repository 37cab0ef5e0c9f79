// Package cluster_test installs byoda on a real Kubernetes cluster as a user
// would, and checks that it works there: the byoda-directory and
// byoda-operator charts with helm, then a Service and two DataPods with
// their Memberships with kubectl apply; every resource Ready, the data pods
// running as containers, an owner logged in through the pod's Kubernetes
// Service, a family link between the two pods and a recursive query that
// reaches from one pod to the other through the network's DNS; the operator
// restarted without a write; DataPods deleted with their children and their
// key-encryption keys kept or not as retainPolicy says; helm uninstall
// leaving what docs/kubernetes.md says it leaves.
//
// The cluster is test/cluster's: a one-node cluster started on this machine
// (BYODA_CLUSTER=1, root; `make e2e`), or the cluster of
// BYODA_E2E_KUBECONFIG (kind: hack/e2e-kind.sh). The images come from
// `make images`. PowerDNS and external-dns run on this machine (as
// test/testenv runs them), publish the operator's DNSEndpoints, and the
// cluster's CoreDNS forwards the network's zone to PowerDNS.
package cluster_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/charts"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/ownerclient"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/cluster"
	"github.com/byoda-go/byoda/test/cluster/image"
	"github.com/byoda-go/byoda/test/testenv"
)

// envCluster turns the suite on for a cluster this machine starts; it needs
// root and a few minutes.
const envCluster = "BYODA_CLUSTER"

// The network, its service and where things go.
const (
	network     = "byoda.test"
	serviceID   = 4711
	operatorNS  = "byoda-system"
	directoryNS = "cert-manager" // cert-manager's cluster resource namespace
	worldNS     = "e2e"
	operatorRel = "byoda-operator"
	directorRel = "byoda-directory"
)

// imageValues point a chart at the byoda image of `make images`.
var imageValues = []string{
	"--set", "image.repository=" + strings.Split(image.Byoda.Ref, ":")[0],
	"--set", "image.tag=" + strings.Split(image.Byoda.Ref, ":")[1],
	"--set", "image.pullPolicy=IfNotPresent",
}

func TestCluster(t *testing.T) {
	if os.Getenv(envCluster) == "" && os.Getenv(cluster.EnvKubeconfig) == "" {
		t.Skipf("set %s=1 to start a one-node cluster (make e2e), or %s for an existing one (hack/e2e-kind.sh)", envCluster, cluster.EnvKubeconfig)
	}
	began := time.Now()
	c := cluster.ForTest(t, cluster.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	t.Logf("cluster ready in %s", time.Since(began).Round(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	loaded := time.Now()
	if err := c.LoadImages(ctx, cluster.Archives("", image.Byoda, image.CertManager, image.Probe)...); err != nil {
		t.Fatal(err)
	}
	t.Logf("images loaded in %s", time.Since(loaded).Round(100*time.Millisecond))
	e := newEnv(t, c)
	// What a cluster has before byoda, and lives as long as the test:
	// cert-manager, PowerDNS and external-dns, and the cluster DNS's
	// forwarding of the zone to them.
	prereq := time.Now()
	e.installCertManager()
	w := &world{dns: e.startZoneDNS(network)}
	t.Logf("prerequisites: %s", time.Since(prereq).Round(100*time.Millisecond))
	steps := []struct {
		name string
		run  func(*env, *world)
	}{
		{"InstallDirectory", (*env).installDirectory},
		{"InstallOperator", (*env).installOperator},
		{"ApplyWorld", (*env).applyWorld},
		{"EverythingReady", (*env).everythingReady},
		{"PodsRunAsContainers", (*env).podsRunAsContainers},
		{"OwnerLogsInThroughService", (*env).ownerLogsIn},
		{"RecursiveQueryAcrossPods", (*env).recursiveQuery},
		{"OperatorRestartWritesNothing", (*env).operatorRestart},
		{"DeleteDataPods", (*env).deleteDataPods},
		{"HelmUninstall", (*env).helmUninstall},
	}
	for _, s := range steps {
		stepBegan := time.Now()
		ok := t.Run(s.name, func(t *testing.T) { s.run(e.sub(t), w) })
		t.Logf("step %s: %s", s.name, time.Since(stepBegan).Round(100*time.Millisecond))
		if !ok {
			for _, ns := range []string{worldNS, operatorNS, directoryNS} {
				e.dumpNamespace(ns)
			}
			t.FailNow()
		}
	}
	t.Logf("whole suite: %s", time.Since(began).Round(100*time.Millisecond))
}

// world is what the steps learn and pass on.
type world struct {
	dns          *testenv.DNS
	directoryLB  string
	directoryTLS []byte // the directory's certificate, DER
	pods         map[string]*byodav1alpha1.DataPod
	members      map[string]*byodav1alpha1.Membership // by DataPod
	roots        *x509.CertPool
	owners       map[string]*ownerclient.Client
}

// installDirectory installs the network: its CAs and its directory, with
// the directory's DNS on a load balancer; then tells the directory its
// address with helm upgrade, as the chart's notes say to.
func (e *env) installDirectory(w *world) {
	args := append([]string{"install", directorRel, charts.Path(charts.Directory),
		"--namespace", directoryNS, "--wait", "--timeout", "5m"}, directoryArgs()...)
	t0 := time.Now()
	notes := e.helmRun(args...)
	e.t.Logf("helm install %s: %s", directorRel, time.Since(t0).Round(100*time.Millisecond))
	if !strings.Contains(notes, "The network "+network) {
		e.t.Errorf("helm install printed no notes about the network:\n%s", notes)
	}
	for _, name := range []string{"byoda-root-ca", "byoda-accounts-ca", "byoda-services-ca", "byoda-network-data"} {
		e.run("-n", directoryNS, "wait", "--for=condition=Ready", "--timeout=2m", "certificate/"+name)
	}
	for _, name := range []string{"byoda-selfsigned", "byoda-root-ca", "byoda-accounts-ca", "byoda-services-ca"} {
		e.run("wait", "--for=condition=Ready", "--timeout=2m", "clusterissuer/"+name)
	}
	var root corev1.Secret
	if err := e.client.Get(e.t.Context(), client.ObjectKey{Namespace: directoryNS, Name: "byoda-root-ca"}, &root); err != nil {
		e.t.Fatal(err)
	}
	w.roots = x509.NewCertPool()
	if !w.roots.AppendCertsFromPEM(root.Data["tls.crt"]) {
		e.t.Fatal("Secret byoda-root-ca holds no certificate")
	}

	dnsLB := e.loadBalancerIP(directoryNS, directorRel+"-dns")
	httpsLB := e.loadBalancerIP(directoryNS, directorRel)
	w.directoryLB = httpsLB
	first := e.directoryStatus(w, httpsLB)
	e.helmRun(append([]string{"upgrade", directorRel, charts.Path(charts.Directory),
		"--namespace", directoryNS, "--wait", "--timeout", "5m", "--reuse-values",
		"--set", "directory.address=" + dnsLB}, imageValues...)...)
	e.t.Logf("helm upgrade with directory.address=%s", dnsLB)

	// The directory's DNS server answers for the zone over UDP and TCP at
	// its load balancer, and names itself the zone's name server.
	for _, proto := range []string{"udp", "tcp"} {
		e.waitFor(time.Minute, "directory DNS over "+proto, func(ctx context.Context) error {
			soa, err := query(ctx, proto, net.JoinHostPort(dnsLB, "53"), network, dns.TypeSOA)
			if err != nil {
				return err
			}
			if len(soa.Answer) != 1 || !soa.Authoritative {
				return fmt.Errorf("SOA of %s: %v (authoritative %t)", network, soa.Answer, soa.Authoritative)
			}
			a, err := query(ctx, proto, net.JoinHostPort(dnsLB, "53"), "dir."+network, dns.TypeA)
			if err != nil {
				return err
			}
			if len(a.Answer) != 1 || testenv.RData(a.Answer[0]) != dnsLB {
				return fmt.Errorf("dir.%s: %v, want %s", network, a.Answer, dnsLB)
			}
			return nil
		}, directoryNS)
	}
	// The restarted directory kept its registry and its certificate on the
	// volume.
	second := e.directoryStatus(w, httpsLB)
	if !slices.Equal(first, second) {
		e.t.Errorf("the directory's certificate changed across helm upgrade: the self-signed one is not kept on its volume")
	}
	w.directoryTLS = second
}

// directoryArgs are the values of the suite's directory release.
func directoryArgs() []string {
	return append([]string{
		"--set", "network.domain=" + network,
		"--set", "service.type=LoadBalancer", "--set", "dns.service.type=LoadBalancer",
	}, imageValues...)
}

// directoryStatus reads the directory's status over HTTPS at its load
// balancer, checks its root CA is the network's, and returns its server
// certificate (DER).
func (e *env) directoryStatus(w *world, lb string) []byte {
	e.t.Helper()
	var cert []byte
	e.waitFor(2*time.Minute, "directory status at "+lb, func(ctx context.Context) error {
		// dir.<net> carries a self-signed certificate (docs/directory.md):
		// its clients trust that very certificate, taken from the first
		// handshake here.
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := hc.Get("https://" + net.JoinHostPort(lb, "443") + "/api/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status: %s: %s", resp.Status, body)
		}
		var st struct {
			Network string `json:"network"`
			Storage string `json:"storage"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return fmt.Errorf("status: %w: %s", err, body)
		}
		if st.Network != network || st.Storage != "sqlite" {
			return fmt.Errorf("status says network %q, storage %q; want %q on sqlite: %s", st.Network, st.Storage, network, body)
		}
		cert = resp.TLS.PeerCertificates[0].Raw
		rresp, err := hc.Get("https://" + net.JoinHostPort(lb, "443") + "/root-ca.pem")
		if err != nil {
			return err
		}
		defer rresp.Body.Close()
		pem, _ := io.ReadAll(io.LimitReader(rresp.Body, 1<<20))
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) || !roots.Equal(w.roots) {
			return fmt.Errorf("the directory's /root-ca.pem is not the root CA cert-manager issued")
		}
		return nil
	}, directoryNS)
	sum := sha256.Sum256(cert)
	e.t.Logf("directory at %s: certificate sha256 %x", lb, sum[:8])
	return cert
}

// installOperator installs the operator for the network, after a bad value
// was refused.
func (e *env) installOperator(w *world) {
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	out, err := e.helm.Run(ctx, append([]string{"install", operatorRel, charts.Path(charts.Operator),
		"--namespace", operatorNS, "--create-namespace", "--set", "network.domain=" + network,
		"--set", "manager.logLevel=verbose"}, imageValues...)...)
	if err == nil || !strings.Contains(err.Error(), "at '/manager/logLevel': value must be one of 'debug', 'info', 'warn', 'error'") {
		e.t.Errorf("helm install with manager.logLevel=verbose: %v\n%s\nwant refused by the schema", err, out)
	}
	if list := e.helmRun("list", "--all-namespaces", "--all", "-q"); strings.Contains(list, operatorRel) {
		e.t.Errorf("a refused install left release %s", operatorRel)
	}
	t0 := time.Now()
	notes := e.helmRun(append([]string{"install", operatorRel, charts.Path(charts.Operator),
		"--namespace", operatorNS, "--create-namespace", "--wait", "--timeout", "5m",
		"--set", "network.domain=" + network,
	}, imageValues...)...)
	e.t.Logf("helm install %s: %s", operatorRel, time.Since(t0).Round(100*time.Millisecond))
	for _, want := range []string{"for network " + network, "kubectl apply -f service.yaml"} {
		if !strings.Contains(notes, want) {
			e.t.Errorf("helm install notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "WARNING") {
		e.t.Errorf("helm install notes warn, with cert-manager and the DNSEndpoint CRD installed:\n%s", notes)
	}
}

// applyWorld applies the demo's Service (config/samples/service.yaml) and
// the suite's DataPods, and the samples' Memberships, with kubectl.
func (e *env) applyWorld(w *world) {
	e.run("create", "namespace", worldNS)
	e.run("-n", worldNS, "apply",
		"-f", repoFile("config", "samples", "service.yaml"),
		"-f", "testdata/datapods.yaml",
		"-f", repoFile("config", "samples", "membership-alice.yaml"),
		"-f", repoFile("config", "samples", "membership-bob.yaml"))
}

// everythingReady waits for every byoda resource to be Ready, and learns
// the pods' and members' identities.
func (e *env) everythingReady(w *world) {
	ctx := e.t.Context()
	svc := &byodav1alpha1.Service{}
	e.waitReady(client.ObjectKey{Namespace: worldNS, Name: "addressbook-demo"}, svc, func() []metav1.Condition { return svc.Status.Conditions })
	w.pods, w.members = map[string]*byodav1alpha1.DataPod{}, map[string]*byodav1alpha1.Membership{}
	for _, name := range []string{"alice", "bob"} {
		dp := &byodav1alpha1.DataPod{}
		e.waitReady(client.ObjectKey{Namespace: worldNS, Name: name}, dp, func() []metav1.Condition { return dp.Status.Conditions })
		m := &byodav1alpha1.Membership{}
		e.waitReady(client.ObjectKey{Namespace: worldNS, Name: name + "-addressbook"}, m, func() []metav1.Condition { return m.Status.Conditions })
		// The Membership turns Ready from the DataPod's status: read the
		// DataPod again for the status that made it so.
		if err := e.client.Get(ctx, client.ObjectKey{Namespace: worldNS, Name: name}, dp); err != nil {
			e.t.Fatal(err)
		}
		w.pods[name], w.members[name] = dp, m
		e.t.Logf("DataPod %s: account %s at %s; member %s", name, dp.Status.AccountID, dp.Status.Address, m.Status.MemberID)
		// The address is the Service's load balancer's.
		if lb := e.loadBalancerIP(worldNS, name); dp.Status.Address != lb {
			e.t.Errorf("DataPod %s has address %q, its Service's load balancer %q", name, dp.Status.Address, lb)
		}
	}
	e.t.Log(e.run("get", "byoda", "-n", worldNS, "-o", "wide"))
}

// waitReady waits until obj's Ready condition is True for its generation.
func (e *env) waitReady(key client.ObjectKey, obj client.Object, conds func() []metav1.Condition) {
	e.t.Helper()
	kind := fmt.Sprintf("%T", obj)
	e.waitFor(5*time.Minute, fmt.Sprintf("%s %s Ready", strings.TrimPrefix(kind, "*v1alpha1."), key.Name), func(ctx context.Context) error {
		if err := e.client.Get(ctx, key, obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(conds(), byodav1alpha1.ConditionReady)
		if c == nil {
			return errors.New("no Ready condition yet")
		}
		if c.Status != metav1.ConditionTrue || c.ObservedGeneration != obj.GetGeneration() {
			var all []string
			for _, c := range conds() {
				all = append(all, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
			}
			return fmt.Errorf("%s", strings.Join(all, "; "))
		}
		return nil
	}, worldNS, operatorNS)
}

// loadBalancerIP waits for the address of a LoadBalancer Service.
func (e *env) loadBalancerIP(ns, name string) string {
	e.t.Helper()
	var ip string
	e.waitFor(2*time.Minute, "load balancer of "+ns+"/"+name, func(ctx context.Context) error {
		var svc corev1.Service
		if err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			return err
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP != "" {
				ip = ing.IP
				return nil
			}
		}
		return fmt.Errorf("service %s/%s (%s) has no load balancer address yet", ns, name, svc.Spec.Type)
	})
	return ip
}

// podsRunAsContainers checks that each DataPod runs one pod whose container
// is running in the node's container runtime.
func (e *env) podsRunAsContainers(w *world) {
	for name, dp := range w.pods {
		var pods corev1.PodList
		if err := e.client.List(e.t.Context(), &pods, client.InNamespace(worldNS), client.MatchingLabels(specs.PodSelector(dp))); err != nil {
			e.t.Fatal(err)
		}
		if len(pods.Items) != 1 {
			e.t.Errorf("DataPod %s has %d pods, want 1", name, len(pods.Items))
			continue
		}
		p := pods.Items[0]
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 {
			e.t.Errorf("pod %s is %s with %d containers", p.Name, p.Status.Phase, len(p.Status.ContainerStatuses))
			continue
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.State.Running == nil || !cs.Ready || !strings.Contains(cs.ContainerID, "://") {
			e.t.Errorf("container %s of pod %s: running %v, ready %t, id %q", cs.Name, p.Name, cs.State.Running != nil, cs.Ready, cs.ContainerID)
		}
		e.t.Logf("DataPod %s: pod %s on node %s, container %s (%s), started %s", name, p.Name, p.Spec.NodeName, cs.ContainerID, cs.Image, cs.State.Running.StartedAt.Format(time.RFC3339))
	}
}

// ownerLogsIn logs both owners in, each through their pod's Service, with
// the password of the Secret the DataPod names (generated for Alice, Bob's
// own).
func (e *env) ownerLogsIn(w *world) {
	w.owners = map[string]*ownerclient.Client{}
	for _, name := range []string{"alice", "bob"} {
		dp := w.pods[name]
		secret, key := specs.OwnerPasswordRef(dp)
		var s corev1.Secret
		if err := e.client.Get(e.t.Context(), client.ObjectKey{Namespace: worldNS, Name: secret}, &s); err != nil {
			e.t.Fatal(err)
		}
		var o *ownerclient.Client
		e.waitFor(time.Minute, name+" logs in through Service "+name, func(ctx context.Context) error {
			var err error
			o, err = login(ctx, name, dp.Status.Address, dp.Status.FQDN, w.roots, dp.Status.AccountID, strings.TrimSpace(string(s.Data[key])), serviceID)
			return err
		}, worldNS)
		w.owners[name] = o
	}
	// A wrong password is refused.
	dp := w.pods["alice"]
	if _, err := login(e.t.Context(), "alice", dp.Status.Address, dp.Status.FQDN, w.roots, dp.Status.AccountID, "not-the-password", serviceID); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		e.t.Errorf("login with a wrong password: %v, want HTTP 401", err)
	}
}

// recursiveQuery makes Alice and Bob family, gives Bob an address, and asks
// Alice's pod for her family's addresses: her pod finds Bob's by its DNS
// name (through CoreDNS and PowerDNS) and asks it on the peer port, through
// Bob's Service, and the answer names Bob as the origin.
func (e *env) recursiveQuery(w *world) {
	ctx := e.t.Context()
	alice, bob := w.owners["alice"], w.owners["bob"]
	aliceMID, bobMID := w.members["alice"].Status.MemberID, w.members["bob"].Status.MemberID
	now := time.Now().UTC().Format(time.RFC3339)
	link := `mutation($ts: DateTime!, $m: UUID!, $r: String!) { append_network_links(created_timestamp: $ts, member_id: $m, relation: $r) }`
	for _, l := range []struct {
		o   *ownerclient.Client
		mid string
	}{{alice, bobMID}, {bob, aliceMID}} {
		if err := l.o.Mutate(ctx, link, map[string]any{"ts": now, "m": l.mid, "r": "family"}); err != nil {
			e.t.Fatal(err)
		}
	}
	addr := `mutation($id: UUID!, $ts: DateTime!, $l: String, $s: String, $c: String!, $n: String!) {
		append_addresses(address_id: $id, created_timestamp: $ts, label: $l, street: $s, city: $c, country: $n) }`
	if err := bob.Mutate(ctx, addr, map[string]any{"id": uuid.NewString(), "ts": now, "l": "home", "s": "Rue Neuve 2", "c": "Brussels", "n": "BE"}); err != nil {
		e.t.Fatal(err)
	}
	if err := alice.Mutate(ctx, addr, map[string]any{"id": uuid.NewString(), "ts": now, "l": "home", "s": "Baker Street 221B", "c": "London", "n": "GB"}); err != nil {
		e.t.Fatal(err)
	}

	// Bob's member name is published: in PowerDNS by external-dns, and
	// through the cluster's DNS to pods.
	bobName := pki.MemberName(serviceID, uuid.MustParse(bobMID), network)
	bobAddr := w.pods["bob"].Status.Address
	w.dns.WaitRecords(e.t, bobName, dns.TypeA, 2*time.Minute, bobAddr)
	if got := e.probeResolve(worldNS, bobName); !slices.Equal(got, []string{bobAddr}) {
		e.t.Fatalf("a pod resolves %s to %v, want Bob's load balancer %s", bobName, got, bobAddr)
	}

	const family = `{ addresses_connection(depth: 1, relations: ["family"]) { edges { origin node { label street city country } } } }`
	e.waitFor(2*time.Minute, "Alice's family query reaches Bob's pod", func(ctx context.Context) error {
		resp, err := alice.GraphQL(ctx, family, nil)
		if err != nil {
			return err
		}
		if len(resp.Errors) > 0 {
			return fmt.Errorf("%s", resp.Errors[0].Message)
		}
		if u := resp.Extensions["unanswered_peers"]; len(u) > 0 && string(u) != "null" && string(u) != "[]" {
			return fmt.Errorf("unanswered peers: %s", u)
		}
		got, err := edges(resp, "addresses_connection")
		if err != nil {
			return err
		}
		origins := map[string]string{}
		for _, ed := range got {
			origins[fmt.Sprint(ed.Node["city"])] = ed.Origin
		}
		if origins["Brussels"] != bobMID || origins["London"] != aliceMID {
			return fmt.Errorf("edges %s: want Brussels from Bob (%s) and London from Alice (%s)", resp.Data, bobMID, aliceMID)
		}
		e.t.Logf("Alice's family query: %s", resp.Data)
		return nil
	}, worldNS)
}

// managed lists the objects the operator made in the world's namespace,
// and the byoda resources, by kind and name, with their resource versions.
func (e *env) managed() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	sel := client.MatchingLabels{byodav1alpha1.LabelManagedBy: byodav1alpha1.ManagedByValue}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
		{Group: "cert-manager.io", Version: "v1", Kind: "CertificateRequest"},
		{Group: "externaldns.k8s.io", Version: "v1alpha1", Kind: "DNSEndpoint"},
		{Group: byodav1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: "DataPod"},
		{Group: byodav1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: "Service"},
		{Group: byodav1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: "Membership"},
	} {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.InNamespace(worldNS)}
		if gvk.Group != byodav1alpha1.GroupVersion.Group {
			opts = append(opts, sel)
		}
		if err := e.client.List(e.t.Context(), &list, opts...); err != nil {
			e.t.Fatal(err)
		}
		for _, o := range list.Items {
			out[gvk.Kind+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	var pods corev1.PodList
	if err := e.client.List(e.t.Context(), &pods, client.InNamespace(worldNS), client.HasLabels{"app.kubernetes.io/instance"}); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range pods.Items {
		out["Pod/"+p.Name] = p.ResourceVersion
	}
	return out
}

// operatorRestart deletes the operator's pod and checks that the new one,
// once it has reconciled everything, has written nothing: no object
// changed, no pod restarted.
func (e *env) operatorRestart(w *world) {
	before := e.managed()
	e.t.Logf("%d objects before the restart", len(before))
	sel := "app.kubernetes.io/name=byoda-operator"
	old := strings.Fields(e.run("-n", operatorNS, "get", "pods", "-l", sel, "-o", "name"))
	e.run("-n", operatorNS, "delete", "pod", "-l", sel, "--wait=true")
	e.waitFor(3*time.Minute, "operator back", func(ctx context.Context) error {
		if err := deploymentAvailable(ctx, e.client, operatorNS, operatorRel); err != nil {
			return err
		}
		now, err := e.try("-n", operatorNS, "get", "pods", "-l", sel, "-o", "name")
		if err != nil {
			return err
		}
		for _, p := range strings.Fields(now) {
			if slices.Contains(old, p) {
				return fmt.Errorf("old pod %s still there", p)
			}
		}
		return nil
	}, operatorNS)
	// The new operator has reconciled every object when its reconcilers
	// have each succeeded once per object (its metrics, through the API
	// server's proxy to the metrics Service).
	metrics := "/api/v1/namespaces/" + operatorNS + "/services/http:" + operatorRel + "-metrics:http-metrics/proxy/metrics"
	want := map[string]int{"datapod": 2, "membership": 2, "service": 1}
	e.waitFor(2*time.Minute, "new operator reconciled everything", func(ctx context.Context) error {
		out, err := e.try("get", "--raw", metrics)
		if err != nil {
			return err
		}
		samples, err := testenv.ParseMetrics(strings.NewReader(out))
		if err != nil {
			return err
		}
		for ctrl, n := range want {
			got := 0
			for _, result := range []string{"success", "requeue", "requeue_after"} {
				got += int(samples[`controller_runtime_reconcile_total{controller="`+ctrl+`",result="`+result+`"}`])
			}
			if got < n {
				var lines []string
				for line := range strings.Lines(out) {
					if strings.HasPrefix(line, "controller_runtime_reconcile_total") {
						lines = append(lines, strings.TrimSpace(line))
					}
				}
				return fmt.Errorf("%s reconciled %d times without an error, want at least %d: %s", ctrl, got, n, strings.Join(lines, "; "))
			}
		}
		return nil
	}, operatorNS)
	// Give a pass that would write time to do so: the cache is synced and
	// every object seen, so a write would come within a few seconds.
	time.Sleep(10 * time.Second)
	after := e.managed()
	for k, v := range before {
		if after[k] != v {
			e.t.Errorf("%s changed across the operator's restart (resourceVersion %s -> %q)", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			e.t.Errorf("%s appeared across the operator's restart", k)
		}
	}
}

// kindOf names the kind of a typed or unstructured object.
func kindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")
}

// deleteDataPods deletes both DataPods: their children go (the garbage
// collector follows the owner references), Alice's key-encryption key stays
// (Retain), Bob's goes (Delete), and their DNS names are unpublished.
func (e *env) deleteDataPods(w *world) {
	ctx := e.t.Context()
	children := func(dp *byodav1alpha1.DataPod) []client.Object {
		ns := dp.Namespace
		objs := []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: specs.AccountKeySecretName(dp)}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: specs.AccountSecretName(dp)}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dp.Name}},
		}
		d := &unstructured.Unstructured{}
		d.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
		d.SetNamespace(ns)
		d.SetName(dp.Name)
		ep := &unstructured.Unstructured{}
		ep.SetGroupVersionKind(testenv.DNSEndpointGVK)
		ep.SetNamespace(ns)
		ep.SetName(dp.Name)
		objs = append(objs, d, ep)
		if dp.Spec.Owner.PasswordSecretRef == nil {
			objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: specs.OwnerPasswordSecretName(dp)}})
		}
		return objs
	}
	for _, name := range []string{"alice", "bob"} {
		for _, o := range children(w.pods[name]) {
			if err := e.client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				e.t.Fatalf("DataPod %s's %s %s before deletion: %v", name, kindOf(o), o.GetName(), err)
			}
		}
	}
	e.run("-n", worldNS, "delete", "datapod", "alice", "bob", "--wait=true", "--timeout=2m")
	for _, name := range []string{"alice", "bob"} {
		dp := w.pods[name]
		for _, o := range children(dp) {
			e.waitFor(2*time.Minute, fmt.Sprintf("%s's %s %s deleted", name, kindOf(o), o.GetName()), func(ctx context.Context) error {
				err := e.client.Get(ctx, client.ObjectKeyFromObject(o), o)
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("still there (%v)", err)
			})
		}
		var kek corev1.Secret
		err := e.client.Get(ctx, client.ObjectKey{Namespace: worldNS, Name: specs.KEKSecretName(dp)}, &kek)
		switch dp.Spec.RetainPolicy {
		case byodav1alpha1.RetainPolicyDelete:
			e.waitFor(2*time.Minute, name+"'s key-encryption key deleted", func(ctx context.Context) error {
				err := e.client.Get(ctx, client.ObjectKey{Namespace: worldNS, Name: specs.KEKSecretName(dp)}, &kek)
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("still there (%v)", err)
			})
		default:
			if err != nil || len(kek.Data[specs.KeyKEK]) == 0 {
				e.t.Errorf("%s's key-encryption key (retainPolicy %q): %v, want kept", name, dp.Spec.RetainPolicy, err)
			}
		}
		w.dns.WaitRecords(e.t, dp.Status.FQDN, dns.TypeA, 2*time.Minute)
	}
	// With the Deployments, their pods (and containers) go.
	e.waitFor(2*time.Minute, "the data pods' pods gone", func(ctx context.Context) error {
		for _, dp := range w.pods {
			var pods corev1.PodList
			if err := e.client.List(ctx, &pods, client.InNamespace(worldNS), client.MatchingLabels(specs.PodSelector(dp))); err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("DataPod %s still has pod %s (%s)", dp.Name, pods.Items[0].Name, pods.Items[0].Status.Phase)
			}
		}
		return nil
	})
	// Bob's volume claim is his, not the DataPod's: it stays.
	var pvc corev1.PersistentVolumeClaim
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: worldNS, Name: "bob-data"}, &pvc); err != nil {
		e.t.Errorf("Bob's volume claim: %v, want kept", err)
	}
}

// helmUninstall uninstalls both releases and checks what stays, as
// docs/kubernetes.md says: the CRDs and every byoda resource with them, the
// directory's volume claim and the network's CA Secrets; and that a new
// install of the directory takes the network up again.
func (e *env) helmUninstall(w *world) {
	cas := map[string][]byte{}
	for _, name := range []string{"byoda-root-ca", "byoda-accounts-ca", "byoda-services-ca", "byoda-network-data"} {
		cas[name] = e.secretData(directoryNS, name, "tls.crt")
	}
	e.helmRun("uninstall", operatorRel, "--namespace", operatorNS, "--wait", "--timeout", "3m")
	e.helmRun("uninstall", directorRel, "--namespace", directoryNS, "--wait", "--timeout", "3m")
	gone := []struct {
		kind, ns, name string
	}{
		{"deployment", operatorNS, operatorRel}, {"serviceaccount", operatorNS, operatorRel},
		{"service", operatorNS, operatorRel + "-metrics"}, {"clusterrole", "", operatorRel}, {"clusterrolebinding", "", operatorRel},
		{"deployment", directoryNS, directorRel}, {"service", directoryNS, directorRel}, {"service", directoryNS, directorRel + "-dns"},
		{"configmap", directoryNS, directorRel + "-network"}, {"certificate", directoryNS, "byoda-root-ca"},
		{"clusterissuer", "", "byoda-accounts-ca"},
	}
	for _, g := range gone {
		args := []string{"get", g.kind, g.name, "--ignore-not-found", "-o", "name"}
		if g.ns != "" {
			args = append(args, "-n", g.ns)
		}
		e.waitFor(time.Minute, fmt.Sprintf("%s %s gone", g.kind, g.name), func(context.Context) error {
			if out := strings.TrimSpace(e.run(args...)); out != "" {
				return fmt.Errorf("still there: %s", out)
			}
			return nil
		})
	}
	stays := []struct {
		kind, ns, name string
	}{
		{"crd", "", "datapods.byoda.net"}, {"crd", "", "services.byoda.net"}, {"crd", "", "memberships.byoda.net"},
		{"services.byoda.net", worldNS, "addressbook-demo"}, {"membership", worldNS, "alice-addressbook"},
		{"secret", worldNS, "alice-key-encryption-key"},
		{"pvc", directoryNS, directorRel + "-data"},
		{"secret", directoryNS, "byoda-root-ca"}, {"secret", directoryNS, "byoda-accounts-ca"},
		{"secret", directoryNS, "byoda-services-ca"}, {"secret", directoryNS, "byoda-network-data"},
	}
	for _, s := range stays {
		args := []string{"get", s.kind, s.name, "-o", "name"}
		if s.ns != "" {
			args = append(args, "-n", s.ns)
		}
		if _, err := e.try(args...); err != nil {
			e.t.Errorf("%s %s/%s is gone after helm uninstall, want kept: %v", s.kind, s.ns, s.name, err)
		}
	}
	if out := e.run("get", "clusterissuer", "-o", "name"); strings.Contains(out, "byoda-") {
		e.t.Errorf("ClusterIssuers left after helm uninstall: %s", out)
	}

	// A new install takes the network up again: the same CA keys and
	// certificates (nothing issued anew), the same registry and directory
	// certificate on the kept claim.
	e.helmRun(append([]string{"install", directorRel, charts.Path(charts.Directory),
		"--namespace", directoryNS, "--wait", "--timeout", "5m"}, directoryArgs()...)...)
	for name, crt := range cas {
		e.run("-n", directoryNS, "wait", "--for=condition=Ready", "--timeout=2m", "certificate/"+name)
		if got := e.secretData(directoryNS, name, "tls.crt"); !slices.Equal(got, crt) {
			e.t.Errorf("Secret %s holds another certificate after the new install: the network's CA was issued anew", name)
		}
	}
	if cert := e.directoryStatus(w, e.loadBalancerIP(directoryNS, directorRel)); !slices.Equal(cert, w.directoryTLS) {
		e.t.Errorf("the directory's certificate changed across uninstall and install: its claim was not kept")
	}
}

// secretData returns one key of a Secret.
func (e *env) secretData(ns, name, key string) []byte {
	e.t.Helper()
	var s corev1.Secret
	if err := e.client.Get(e.t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		e.t.Fatal(err)
	}
	return s.Data[key]
}

// query sends one DNS query over proto ("udp" or "tcp") to server.
func query(ctx context.Context, proto, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("query %s %s over %s: %w", name, dns.TypeToString[qtype], proto, err)
	}
	return r, nil
}

// testWriter sends a logger's lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
