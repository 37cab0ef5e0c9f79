package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/directory"
	dirclient "github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/directory/service"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// networkRoot returns the root CA of config/samples/network.yaml.
func (e *env) networkRoot() *x509.Certificate {
	e.t.Helper()
	certs, err := pki.ParseCertificates(e.secret(testenv.CertManagerNamespace, "byoda-root-ca").Data["ca.crt"])
	if err != nil {
		e.t.Fatal(err)
	}
	return certs[0]
}

// directoryClient returns a client of the directory of service sid at
// addr (host:port) that trusts exactly the network root and the service's
// TLS name, authenticated with cert when it is not nil.
func (e *env) directoryClient(addr string, sid uint32, cert *tls.Certificate) *dirclient.Client {
	e.t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(e.networkRoot())
	c, err := dirclient.New("https://"+addr, dirclient.Options{Roots: roots, ServerName: pki.ServiceName(sid, network), Certificate: cert})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// withoutSignatures returns a contract document without its signatures.
func withoutSignatures(t *testing.T, raw []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "signatures")
	out, _ := json.Marshal(doc)
	return out
}

// testServiceDirectory: a Service's directory is a Deployment, a Service
// and a DNSEndpoint, and DirectoryReady says so. What the Deployment
// mounts (cert-manager's Secrets and the countersigned contract) and its
// arguments make a real `byoda service`, run here as a process: it serves
// the service's TLS certificate, the contract signed by the service and
// the network, signs a new member's CSR with the members CA cert-manager
// issued, and takes the member-data certificate of the Membership whose
// certificate cert-manager signed.
func (e *env) testServiceDirectory(t *testing.T) {
	e = e.sub(t)
	w := e.newWorld("directory", "192.0.2.80")
	ctx := t.Context()
	svc := w.svc
	name := specs.DirectoryName(svc)
	if svc.Status.DirectoryURL != "https://service.service-4711."+network || svc.Status.Address != directoryTarget {
		t.Errorf("Service status: directoryURL %q address %q", svc.Status.DirectoryURL, svc.Status.Address)
	}
	if c := meta.FindStatusCondition(svc.Status.Conditions, byodav1alpha1.ConditionDirectoryReady); c.Reason != byodav1alpha1.ReasonDeploymentAvailable {
		t.Errorf("DirectoryReady reason %s: %s", c.Reason, c.Message)
	}

	var dep appsv1.Deployment
	var ks corev1.Service
	var cm corev1.ConfigMap
	for _, obj := range []client.Object{&dep, &ks, &cm, &externaldnsv1alpha1.DNSEndpoint{}} {
		if err := e.c.Get(ctx, types.NamespacedName{Namespace: w.svcNS, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != svc.UID {
			t.Errorf("%T %s: owner references %v", obj, name, refs)
		}
	}
	e.checkDNSEndpoint(w.svcNS, name, pki.ServiceName(demoServiceID, network), "A", directoryTarget)
	if ks.Spec.Type != corev1.ServiceTypeLoadBalancer || len(ks.Spec.Ports) != 1 || ks.Spec.Ports[0].Port != 443 {
		t.Errorf("directory Service: type %s ports %+v", ks.Spec.Type, ks.Spec.Ports)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v: want non-root, read-only root file system, no privilege escalation", sc)
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/v1/status" || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("probe %+v: want GET /api/v1/status over HTTPS", p)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath != launch.DataDir && m.MountPath != "/tmp" && !m.ReadOnly {
			t.Errorf("volume %s at %s is writable", m.Name, m.MountPath)
		}
	}

	// The published contract is the Service's, signed by the service and
	// countersigned by the network.
	roots := x509.NewCertPool()
	roots.AddCert(e.networkRoot())
	signed := []byte(cm.Data[specs.KeyContract])
	parsed, err := contract.Verify(signed, roots, network, time.Now())
	if err != nil {
		t.Fatalf("the directory's contract: %v", err)
	}
	if parsed.ServiceID != demoServiceID || !jsonEqual(t, withoutSignatures(t, signed), withoutSignatures(t, demoContract(t))) {
		t.Errorf("the directory's contract is not the Service's")
	}

	// Run what the Deployment describes.
	if c.Args[0] != "service" {
		t.Fatalf("args %q: want the service subcommand", c.Args)
	}
	sd, err := launch.ParseServiceDirectory(c.Args[1:])
	if err != nil {
		t.Fatalf("byoda service cannot parse the Deployment's arguments %q: %v", c.Args, err)
	}
	root := t.TempDir()
	e.materialize(&dep, root)
	at := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	sd.PKIDir, sd.ContractFile, sd.DataDir = at(sd.PKIDir), at(sd.ContractFile), at(sd.DataDir)
	if err := os.MkdirAll(sd.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sd.Listen = testenv.Addr(testenv.FreePort(t))
	proc := testenv.StartProcess(t, "byoda-service-4711", e.bin, append([]string{"service"}, sd.Args()...), nil)
	testenv.WaitForTCP(t, sd.Listen, timeout, proc)

	dc := e.directoryClient(sd.Listen, demoServiceID, nil)
	st, err := dc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ServiceID == nil || *st.ServiceID != demoServiceID || st.ContractVersion != 1 || st.Network != network {
		t.Errorf("directory status %+v", st)
	}
	if served, err := dc.ServiceContract(ctx); err != nil || string(served) != string(signed) {
		t.Errorf("the directory serves another contract (%v)", err)
	}

	// A new member joins through the directory: the members CA that
	// cert-manager issued signs it.
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	newMember := uuid.New()
	csr, err := pki.CreateCSR(key, pki.MemberName(demoServiceID, newMember, network))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dc.MemberCSR(ctx, csr)
	if err != nil {
		t.Fatalf("member CSR: %v", err)
	}
	id, err := pki.Verify(got.Chain, roots, time.Now())
	if err != nil || id.Role != pki.RoleMember || id.ServiceID != demoServiceID || id.ID != newMember.String() {
		t.Errorf("the directory signed %+v (%v), want member %s of service %d", id, err, newMember, demoServiceID)
	}

	// The Membership's certificate, from cert-manager, is a member's to
	// the directory: it publishes its member-data certificate there.
	memberKeys := e.secret(w.podNS, specs.MemberKeySecretName(w.m))
	member := e.secret(w.podNS, specs.MemberSecretName(w.m))
	mkey, err := pki.ParseKey(memberKeys.Data[specs.KeyMemberKey])
	if err != nil {
		t.Fatal(err)
	}
	mchain, err := pki.ParseCertificates(member.Data[specs.KeyMemberCert])
	if err != nil {
		t.Fatal(err)
	}
	kp, err := pki.NewKeyPair(mkey, mchain)
	if err != nil {
		t.Fatal(err)
	}
	cert := kp.TLSCertificate()
	dataChain, err := pki.ParseCertificates(member.Data[specs.KeyMemberDataCert])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.directoryClient(sd.Listen, demoServiceID, &cert).PublishMemberData(ctx, 1, dataChain, "192.0.2.80"); err != nil {
		t.Fatalf("publish the member-data certificate of %s: %v", w.m.Status.MemberID, err)
	}
	if back, err := dc.MemberDataCert(ctx, uuid.MustParse(w.m.Status.MemberID)); err != nil || !back[0].Equal(dataChain[0]) {
		t.Errorf("member-data certificate from the directory: %v", err)
	}
}

// remoteDirectory is a service directory outside the cluster: `byoda
// service` as a process, with a PKI the test makes under the cluster's
// network root (the service CA signed by the cluster's services CA) and a
// contract signed by that service and countersigned with the cluster's
// network data key.
type remoteDirectory struct {
	addr     string
	contract []byte
	proc     *testenv.Process
}

// remotePKI makes the PKI directory of service sid under the cluster's
// network root and the service's contract, signed by the service and
// countersigned with the cluster's network data key.
func (e *env) remotePKI(sid uint32) (dir string, signed []byte) {
	t := e.t
	t.Helper()
	dir = t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(pki.NetworkFile, pki.NetworkJSON(network))
	for secret, kind := range map[string]pki.Kind{
		"byoda-root-ca": pki.KindRootCA, servicesIssuer: pki.KindServicesCA, "byoda-network-data": pki.KindNetworkData,
	} {
		s := e.secret(testenv.CertManagerNamespace, secret)
		crt, key := pki.RelPaths(pki.Subject{Kind: kind, Network: network})
		write(crt, s.Data[corev1.TLSCertKey])
		if kind != pki.KindRootCA {
			write(key, s.Data[corev1.TLSPrivateKeyKey])
		}
	}
	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := d.CreateService(sid, now); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(demoContract(t), &doc); err != nil {
		t.Fatal(err)
	}
	doc["service_id"] = sid
	raw, _ := json.Marshal(doc)
	data, err := d.ServiceDataKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	nd, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	signed, err = contract.SignAsService(raw, contract.Signer{Key: data.Key, Chain: data.Chain}, now)
	if err == nil {
		signed, err = contract.SignAsNetwork(signed, contract.Signer{Key: nd.Key, Chain: nd.Chain}, now)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir, signed
}

// startRemoteDirectory runs `byoda service` for service sid as a process.
func (e *env) startRemoteDirectory(sid uint32) *remoteDirectory {
	t := e.t
	t.Helper()
	dir, signed := e.remotePKI(sid)
	contractFile := filepath.Join(t.TempDir(), "contract.json")
	if err := os.WriteFile(contractFile, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	sd := launch.ServiceDirectory{PKIDir: dir, ServiceID: sid, ContractFile: contractFile, DataDir: t.TempDir(),
		Listen: testenv.Addr(testenv.FreePort(t))}
	proc := testenv.StartProcess(t, fmt.Sprintf("byoda-service-%d", sid), e.bin, append([]string{"service"}, sd.Args()...), nil)
	testenv.WaitForTCP(t, sd.Listen, timeout, proc)
	return &remoteDirectory{addr: sd.Listen, contract: signed, proc: proc}
}

// startFaultyDirectory runs the directory of service sid in this process,
// with a fault injected while faulty is true: it answers every
// member-data CSR with 503.
func (e *env) startFaultyDirectory(sid uint32, faulty *atomic.Bool) *remoteDirectory {
	t := e.t
	t.Helper()
	dir, signed := e.remotePKI(sid)
	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	members, err := d.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: sid, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.ServiceDataKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	tlsKP, err := d.ServiceKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := registry.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "service.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	s, err := service.New(service.Config{Network: network, Root: root, MembersCA: members, ServiceData: data.Chain,
		TLS: tlsKP.TLSCertificate(), Contract: signed, Store: store, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if faulty.Load() && r.Method == http.MethodPost && r.URL.Path == directory.PathServiceMember {
			body, _ := io.ReadAll(io.LimitReader(r.Body, directory.MaxCSRBody))
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req directory.CSRRequest
			if json.Unmarshal(body, &req) == nil {
				if csr, err := pki.ParseCSR([]byte(req.CSR)); err == nil && strings.Contains(csr.Subject.CommonName, ".member-data-") {
					http.Error(w, "injected fault", http.StatusServiceUnavailable)
					return
				}
			}
		}
		s.Handler().ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", testenv.Addr(0))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- directory.Serve(ctx, l, h, directory.ServerTLS(tlsKP.TLSCertificate()), quiet) }()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	return &remoteDirectory{addr: l.Addr().String(), contract: signed}
}

func newRemoteMembership(ns, name, dataPod string, sid int64, url string) *byodav1alpha1.Membership {
	return &byodav1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: byodav1alpha1.MembershipSpec{
			DataPodRef: byodav1alpha1.LocalObjectReference{Name: dataPod},
			Service:    byodav1alpha1.ServiceReference{ServiceID: ptr.To(sid), DirectoryURL: url},
		},
	}
}

// testRemoteMembership: a Membership of a service that runs outside the
// cluster joins through the service's directory over REST and becomes
// Ready: the contract comes from the directory with both signatures
// checked, the directory signs the member's CSRs (the keys stay in the
// DataPod's namespace, no CertificateRequest is made), the member-data
// certificate is published there, and the DataPod serves the membership.
// A directory that is not the service's is refused with a condition and
// looked at again later, without errors or a hot loop.
func (e *env) testRemoteMembership(t *testing.T) {
	e = e.sub(t)
	ctx := t.Context()
	const sid = 4712
	rd := e.startRemoteDirectory(sid)
	ns := e.kube.CreateNamespace(t, "remote")
	dp := newDataPod(ns, "dora", "192.0.2.90")
	m := newRemoteMembership(ns, "dora-elsewhere", "dora", sid, "https://"+rd.addr)
	e.create(dp, m)
	e.waitAllTrue(m, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined)
	e.waitAllTrue(dp, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionStorageReady, byodav1alpha1.ConditionDNSReady)
	mid := uuid.MustParse(m.Status.MemberID)
	if m.Status.FQDN != pki.MemberName(sid, mid, network) || ptr.Deref(m.Status.ServiceID, 0) != sid || m.Status.ContractVersion != 1 {
		t.Errorf("Membership status %+v", m.Status)
	}
	if c := meta.FindStatusCondition(m.Status.Conditions, byodav1alpha1.ConditionCertificateReady); !strings.Contains(c.Message, rd.addr) {
		t.Errorf("CertificateReady message %q does not name the directory", c.Message)
	}

	// The member certificates verify as a member of the remote service,
	// for the keys in the DataPod's namespace; the contract is the one the
	// directory publishes.
	root := pki.EncodeCertificates(e.networkRoot())
	memberKeys := e.secret(ns, specs.MemberKeySecretName(m))
	member := e.secret(ns, specs.MemberSecretName(m))
	for _, c := range []struct {
		cert, key string
		data      bool
	}{{specs.KeyMemberCert, specs.KeyMemberKey, false}, {specs.KeyMemberDataCert, specs.KeyMemberDataKey, true}} {
		key, err := pki.ParseKey(memberKeys.Data[c.key])
		if err != nil {
			t.Fatal(err)
		}
		id := verifyChain(t, member.Data[c.cert], root, key)
		if id.Role != pki.RoleMember || id.ID != mid.String() || id.ServiceID != sid || id.Data != c.data {
			t.Errorf("%s verifies as %+v, want member %s of service %d (data %v)", c.cert, id, mid, sid, c.data)
		}
	}
	if string(member.Data[specs.KeyContract]) != string(rd.contract) {
		t.Errorf("the member Secret's contract is not the one the directory publishes")
	}
	if member.Annotations[specs.AnnotationPublished] == "" {
		t.Errorf("the member Secret does not record the publication of the member-data certificate")
	}

	// The directory has the member-data certificate.
	dc := e.directoryClient(rd.addr, sid, nil)
	dataChain, err := pki.ParseCertificates(member.Data[specs.KeyMemberDataCert])
	if err != nil {
		t.Fatal(err)
	}
	if back, err := dc.MemberDataCert(ctx, mid); err != nil || !back[0].Equal(dataChain[0]) {
		t.Errorf("member-data certificate from the directory: %v", err)
	}

	// Nothing went through cert-manager, and nothing needs a finalizer.
	var crs cmv1.CertificateRequestList
	if err := e.c.List(ctx, &crs, client.MatchingLabels{byodav1alpha1.LabelMembership: m.Name}); err != nil {
		t.Fatal(err)
	}
	if len(crs.Items) != 0 || len(m.Finalizers) != 0 {
		t.Errorf("%d CertificateRequests, finalizers %v", len(crs.Items), m.Finalizers)
	}
	e.checkDNSEndpoint(ns, m.Name, pki.MemberName(sid, mid, network), "A", "192.0.2.90")

	// The DataPod serves it.
	var dep appsv1.Deployment
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(dp), &dep); err != nil {
		t.Fatal(err)
	}
	e.checkPodDeployment(&dep, uuid.MustParse(dp.Status.AccountID), map[uint32]uuid.UUID{sid: mid})

	// The directory of 4712 is not the directory of 4713: its TLS
	// certificate does not name that service.
	errors0, _ := counterValue("controller_runtime_reconcile_errors_total", "membership")
	passes0, _ := counterValue("controller_runtime_reconcile_total", "membership")
	bad := newRemoteMembership(ns, "dora-impostor", "dora", 4713, "https://"+rd.addr)
	e.create(bad)
	e.waitCondition(bad, byodav1alpha1.ConditionCertificateReady, metav1.ConditionFalse, byodav1alpha1.ReasonDirectoryUnreachable)
	if c := meta.FindStatusCondition(bad.Status.Conditions, byodav1alpha1.ConditionCertificateReady); !strings.Contains(c.Message, "service.service-4713."+network) {
		t.Errorf("CertificateReady message %q does not say which certificate was wanted", c.Message)
	}
	// Looked at again every retry interval (2s here): a few passes, none
	// of them an error.
	time.Sleep(5 * time.Second)
	errors1, _ := counterValue("controller_runtime_reconcile_errors_total", "membership")
	passes1, _ := counterValue("controller_runtime_reconcile_total", "membership")
	if errors1 != errors0 {
		t.Errorf("%v reconcile errors while the directory was refused; want a condition and a requeue", errors1-errors0)
	}
	if passes1-passes0 < 2 || passes1-passes0 > 30 {
		t.Errorf("%v membership passes in 5s with a 2s retry interval", passes1-passes0)
	}
	var keys corev1.SecretList
	if err := e.c.List(ctx, &keys, client.InNamespace(ns), client.MatchingLabels{byodav1alpha1.LabelMembership: bad.Name}); err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 0 {
		t.Errorf("the refused Membership made %d Secrets; the contract comes first", len(keys.Items))
	}
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(dp), dp); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dp.Status.Memberships, []byodav1alpha1.JoinedMembership{{Name: m.Name, ServiceID: sid, MemberID: mid.String()}}) {
		t.Errorf("DataPod memberships %v", dp.Status.Memberships)
	}
}

// testRemoteMembershipFault: a certificate the directory signs exists only
// in its answer, so the operator stores it at once. A directory that signs
// the member's TLS certificate and then fails on the member-data CSR
// leaves the TLS certificate stored; the DataPod does not serve the
// half-made membership; and once the directory recovers, the operator
// asks for the member-data certificate as the member, and the membership
// becomes Ready. (Without the early store, the member would be registered
// at the directory with no certificate to prove it, for good.)
func (e *env) testRemoteMembershipFault(t *testing.T) {
	e = e.sub(t)
	const sid = 4714
	var faulty atomic.Bool
	faulty.Store(true)
	rd := e.startFaultyDirectory(sid, &faulty)
	ns := e.kube.CreateNamespace(t, "remote-fault")
	dp := newDataPod(ns, "emil", "192.0.2.91")
	m := newRemoteMembership(ns, "emil-elsewhere", "emil", sid, "https://"+rd.addr)
	e.create(dp, m)
	e.waitCondition(m, byodav1alpha1.ConditionCertificateReady, metav1.ConditionFalse, byodav1alpha1.ReasonDirectoryUnreachable)
	if c := meta.FindStatusCondition(m.Status.Conditions, byodav1alpha1.ConditionCertificateReady); !strings.Contains(c.Message, "injected fault") {
		t.Errorf("CertificateReady message %q does not pass on the directory's answer", c.Message)
	}
	member := e.secret(ns, specs.MemberSecretName(m))
	if len(member.Data[specs.KeyMemberCert]) == 0 || len(member.Data[specs.KeyMemberDataCert]) != 0 {
		t.Errorf("member Secret: %d bytes of member.crt, %d of member-data.crt; want the TLS certificate only",
			len(member.Data[specs.KeyMemberCert]), len(member.Data[specs.KeyMemberDataCert]))
	}
	e.waitCondition(dp, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "")
	if len(dp.Status.Memberships) != 0 {
		t.Errorf("the DataPod serves %v before the member-data certificate exists", dp.Status.Memberships)
	}

	faulty.Store(false)
	e.waitAllTrue(m, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined)
	if got := e.secret(ns, specs.MemberSecretName(m)); string(got.Data[specs.KeyMemberCert]) != string(member.Data[specs.KeyMemberCert]) {
		t.Errorf("the member TLS certificate changed after the fault; want the one stored")
	}
}
