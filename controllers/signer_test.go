package controllers

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/directory/service"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

// testDirectory is a real service directory (directory/service) over real
// TLS on loopback, with a PKI made by internal/pki.
type testDirectory struct {
	pki  *pki.Dir
	root *x509.Certificate
	url  string
}

const testNetwork = "byoda.test"

func startTestDirectory(t *testing.T, sid uint32) *testDirectory {
	t.Helper()
	now := time.Now()
	d, err := pki.InitNetwork(t.TempDir(), testNetwork, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(sid, now); err != nil {
		t.Fatal(err)
	}
	root, err := d.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	members, err := d.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: sid, Network: testNetwork})
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
	nd, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", "contracts", "addressbook-demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["service_id"] = sid
	raw, _ = json.Marshal(doc)
	signed, err := contract.SignAsService(raw, contract.Signer{Key: data.Key, Chain: data.Chain}, now)
	if err == nil {
		signed, err = contract.SignAsNetwork(signed, contract.Signer{Key: nd.Key, Chain: nd.Chain}, now)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := registry.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "service.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := service.New(service.Config{Network: testNetwork, Root: root, MembersCA: members, ServiceData: data.Chain,
		TLS: tlsKP.TLSCertificate(), Contract: signed, Store: store, RegistrationRate: -1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	return &testDirectory{pki: d, root: root, url: "https://" + l.Addr().String()}
}

// memberSlots returns the TLS and data slots of a new member of sid.
func memberSlots(t *testing.T, sid uint32, mid uuid.UUID) []slot {
	t.Helper()
	var keys [2]crypto.Signer
	for i := range keys {
		k, err := pki.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return []slot{
		{File: "member", Name: pki.MemberName(sid, mid, testNetwork), Key: keys[0]},
		{File: "member-data", Name: pki.MemberDataName(sid, mid, testNetwork), Key: keys[1], Data: true},
	}
}

// TestDirectorySigner has a real service directory sign a member's
// certificates over REST: the TLS certificate anonymously, the data
// certificate and a renewal as the member; what it signs verifies under
// the network root and is for the member's keys, which never leave the
// test.
func TestDirectorySigner(t *testing.T) {
	const sid = 4711
	td := startTestDirectory(t, sid)
	rs := &remoteService{sid: sid, network: testNetwork, url: td.url, root: td.root}
	mid := uuid.New()
	slots := memberSlots(t, sid, mid)
	ctx := t.Context()
	pass := func(now time.Time) *directorySigner {
		return &directorySigner{svc: rs, now: func() time.Time { return now }, retry: time.Minute}
	}
	roots := x509.NewCertPool()
	roots.AddCert(td.root)
	verify := func(res issue, s slot, rev int) {
		t.Helper()
		if !res.Ready || res.Held.Revision != rev {
			t.Fatalf("%s: ready %v revision %d (%s); want revision %d", s.Name, res.Ready, res.Held.Revision, res.Waiting, rev)
		}
		chain, err := pki.ParseCertificates(res.Held.Chain)
		if err != nil {
			t.Fatal(err)
		}
		id, err := pki.Verify(chain, roots, time.Now())
		if err != nil || id.Name != s.Name || id.Role != pki.RoleMember || id.Data != s.Data {
			t.Fatalf("%s: verifies as %+v, %v", s.Name, id, err)
		}
		if _, err := pki.NewKeyPair(s.Key, chain); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}

	// A data certificate needs the member's own certificate first.
	res, err := pass(time.Now()).issue(ctx, slots[1], held{})
	if err != nil || res.Ready || !res.Said || !strings.Contains(res.Waiting, "Waiting for the member's TLS certificate") {
		t.Fatalf("data slot before the TLS slot: %+v, %v", res, err)
	}

	// One pass: the TLS certificate (first come), then the data
	// certificate as the member. Both are fresh: only the answer has them.
	p := pass(time.Now())
	tlsRes, err := p.issue(ctx, slots[0], held{})
	if err != nil {
		t.Fatal(err)
	}
	verify(tlsRes, slots[0], 1)
	dataRes, err := p.issue(ctx, slots[1], held{})
	if err != nil {
		t.Fatal(err)
	}
	verify(dataRes, slots[1], 1)
	if !tlsRes.Fresh || !dataRes.Fresh || string(tlsRes.Held.RootCA) != string(pki.EncodeCertificates(td.root)) {
		t.Errorf("signed certificates not fresh (%v %v) or without the root", tlsRes.Fresh, dataRes.Fresh)
	}

	// A later pass keeps what is stored and asks for nothing.
	p = pass(time.Now())
	again, err := p.issue(ctx, slots[0], tlsRes.Held)
	if err != nil || !again.Ready || again.Fresh || again.Held.Revision != 1 || again.Next <= 0 {
		t.Fatalf("stored TLS certificate: %+v, %v", again, err)
	}
	if again, err = p.issue(ctx, slots[1], dataRes.Held); err != nil || !again.Ready || again.Fresh {
		t.Fatalf("stored data certificate: %+v, %v", again, err)
	}

	// Past two thirds of the lifetime: renewed as the member.
	leaf, _ := pki.ParseCertificates(tlsRes.Held.Chain)
	late := specs.RenewAt(leaf[0].NotBefore, leaf[0].NotAfter).Add(time.Hour)
	p = pass(late)
	renewed, err := p.issue(ctx, slots[0], tlsRes.Held)
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.Fresh || renewed.Held.Revision != 2 || string(renewed.Held.Chain) == string(tlsRes.Held.Chain) {
		t.Errorf("renewal: fresh %v revision %d, new chain %v", renewed.Fresh, renewed.Held.Revision, string(renewed.Held.Chain) != string(tlsRes.Held.Chain))
	}

	// Someone else's key for a registered member id: refused (first come),
	// with what to do.
	other := memberSlots(t, sid, mid)
	res, err = pass(time.Now()).issue(ctx, other[0], held{})
	if err != nil || res.Ready || !res.Failed || res.Reason != byodav1alpha1.ReasonDirectoryRefused ||
		!strings.Contains(res.Waiting, "409") || !strings.Contains(res.Waiting, "join as a new member") || res.Next != time.Minute {
		t.Errorf("second registration of %s: %+v, %v", mid, res, err)
	}
}

// TestDirectorySignerChecksTheDirectory: the operator trusts a directory
// only as the service's TLS name under the network root, and checks what
// it signs.
func TestDirectorySignerChecksTheDirectory(t *testing.T) {
	td := startTestDirectory(t, 4711)
	ctx := t.Context()

	// The directory of 4711 is not the directory of 4712.
	rs := &remoteService{sid: 4712, network: testNetwork, url: td.url, root: td.root}
	d := &directorySigner{svc: rs, now: time.Now, retry: time.Minute}
	res, err := d.issue(ctx, memberSlots(t, 4712, uuid.New())[0], held{})
	if err != nil || !res.Failed || res.Reason != byodav1alpha1.ReasonDirectoryUnreachable || !strings.Contains(res.Waiting, "service.service-4712."+testNetwork) {
		t.Errorf("directory of another service: %+v, %v", res, err)
	}

	// Another network's root.
	otherNet, err := pki.InitNetwork(t.TempDir(), testNetwork, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := otherNet.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	rs = &remoteService{sid: 4711, network: testNetwork, url: td.url, root: otherRoot}
	d = &directorySigner{svc: rs, now: time.Now, retry: time.Minute}
	res, err = d.issue(ctx, memberSlots(t, 4711, uuid.New())[0], held{})
	if err != nil || !res.Failed || res.Reason != byodav1alpha1.ReasonDirectoryUnreachable || !strings.Contains(res.Waiting, "certificate") {
		t.Errorf("directory under another root: %+v, %v", res, err)
	}

	// Nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	rs = &remoteService{sid: 4711, network: testNetwork, url: closed, root: td.root}
	d = &directorySigner{svc: rs, now: time.Now, retry: time.Minute}
	if res, err = d.issue(ctx, memberSlots(t, 4711, uuid.New())[0], held{}); err != nil || !res.Failed ||
		res.Reason != byodav1alpha1.ReasonDirectoryUnreachable || res.Next != time.Minute {
		t.Errorf("nothing listening: %+v, %v", res, err)
	}
}

// TestDirectorySignerRefusesWrongCertificate injects a fault: a directory
// with the service's own TLS certificate and members CA that signs the
// member's name for another key. The signer refuses it.
func TestDirectorySignerRefusesWrongCertificate(t *testing.T) {
	const sid = 4711
	now := time.Now()
	d, err := pki.InitNetwork(t.TempDir(), testNetwork, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(sid, now); err != nil {
		t.Fatal(err)
	}
	root, _ := d.RootCertificate()
	members, err := d.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: sid, Network: testNetwork})
	if err != nil {
		t.Fatal(err)
	}
	tlsKP, err := d.ServiceKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+directory.PathServiceMember, func(w http.ResponseWriter, r *http.Request) {
		var req directory.CSRRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		csrs, _ := pki.ParseCSR([]byte(req.CSR))
		other, _ := pki.GenerateKey()
		forged, _ := pki.CreateCSR(other, csrs.Subject.CommonName)
		cert, err := members.Sign(forged, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		leaf, issuers := directory.PEMChain(members.Chain(cert))
		_ = directory.WriteJSON(w, http.StatusCreated, directory.SignedCert{SignedCert: leaf, CertChain: issuers,
			NetworkRootCA: string(pki.EncodeCertificates(root))})
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- directory.Serve(ctx, l, mux, directory.ServerTLS(tlsKP.TLSCertificate()), slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })

	rs := &remoteService{sid: sid, network: testNetwork, url: "https://" + l.Addr().String(), root: root}
	ds := &directorySigner{svc: rs, now: time.Now, retry: time.Minute}
	s := memberSlots(t, sid, uuid.New())[0]
	res, err := ds.issue(t.Context(), s, held{})
	if err != nil || res.Ready || !res.Failed || res.Reason != byodav1alpha1.ReasonDirectoryRefused ||
		!strings.Contains(res.Waiting, "not for "+s.Name+" and this key") {
		t.Errorf("forged certificate: %+v, %v", res, err)
	}
	if ds.member != nil {
		t.Errorf("the signer learned a forged member certificate")
	}
}
