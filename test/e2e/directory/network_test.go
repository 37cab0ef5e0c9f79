package directory_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	mdns "github.com/miekg/dns"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// testService is a service as the tests play it: it registers its service
// CA with the directory and makes its other certificates itself, as a real
// service would with its own CA.
type testService struct {
	sid     uint32
	ca      *pki.CA
	tls     *pki.KeyPair
	data    *pki.KeyPair
	members *pki.CA
}

func registerService(t *testing.T, d *dirProc, sid uint32) *testService {
	t.Helper()
	id := newIdentity(t, pki.ServiceCAName(sid, network))
	signed, err := d.client(t, nil).ServiceCSR(t.Context(), id.csr(t))
	if err != nil {
		t.Fatalf("register service %d: %v", sid, err)
	}
	return newTestService(t, sid, id.keyPair(t, signed))
}

func newTestService(t *testing.T, sid uint32, caKP *pki.KeyPair) *testService {
	t.Helper()
	ca, err := pki.NewCA(caKP)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := &testService{sid: sid, ca: ca}
	if s.tls, err = ca.Issue(pki.ServiceName(sid, network), now); err != nil {
		t.Fatal(err)
	}
	if s.data, err = ca.Issue(pki.ServiceDataName(sid, network), now); err != nil {
		t.Fatal(err)
	}
	mkp, err := ca.Issue(pki.MembersCAName(sid, network), now)
	if err != nil {
		t.Fatal(err)
	}
	if s.members, err = pki.NewCA(mkp); err != nil {
		t.Fatal(err)
	}
	return s
}

// member makes a member of the service: its TLS key pair.
func (s *testService) member(t *testing.T) (uuid.UUID, *pki.KeyPair) {
	t.Helper()
	mid := uuid.New()
	kp, err := s.members.Issue(pki.MemberName(s.sid, mid, network), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mid, kp
}

// contractFor returns the demo contract made into one of service sid at
// version v, with name as its name.
func contractFor(t *testing.T, sid uint32, v int, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(demoContract)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(name)
	s := strings.Replace(string(raw), `"service_id": 4711,`, fmt.Sprintf(`"service_id": %d,`, sid), 1)
	s = strings.Replace(s, `"version": 1,`, fmt.Sprintf(`"version": %d,`, v), 1)
	s = strings.Replace(s, `"name": "addressbook-demo",`, `"name": `+string(enc)+`,`, 1)
	return []byte(s)
}

// signAsService signs a contract with the service's data key.
func (s *testService) sign(t *testing.T, raw []byte) []byte {
	t.Helper()
	out, err := contract.SignAsService(raw, contract.Signer{Key: s.data.Key, Chain: s.data.Chain}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAccounts registers accounts: first come, the account's own
// certificate afterwards, DNS records that follow at once.
func TestAccounts(t *testing.T) {
	stores(t, func(t *testing.T, st store) {
		d := startDirectory(t, dirOptions{database: st.url(t)})
		ctx := t.Context()
		anon := d.client(t, nil)

		aid := uuid.New()
		acct := newIdentity(t, accountName(aid))
		signed, err := anon.AccountCSR(ctx, acct.csr(t), "")
		if err != nil {
			t.Fatalf("register account: %v", err)
		}
		kp := acct.keyPair(t, signed)
		id, err := pki.Verify(kp.Chain, d.roots, time.Now())
		if err != nil || id.Role != pki.RoleAccount || id.ID != aid.String() || id.Data {
			t.Fatalf("signed account certificate: %v, %+v", err, id)
		}
		if !signed.Root.Equal(mustRoot(t)) || signed.DataChain[0].Subject.CommonName != pki.NetworkDataName(network) {
			t.Errorf("answer root %s, data %s", signed.Root.Subject.CommonName, signed.DataChain[0].Subject.CommonName)
		}
		// The registration published the source address; DNS answers it
		// as soon as the registration has returned.
		wantAddrs(t, d.dns, accountName(aid), "127.0.0.1")

		// First come: a second registration of the id, with another key,
		// is refused and changes nothing.
		thief := newIdentity(t, accountName(aid))
		_, err = anon.AccountCSR(ctx, thief.csr(t), "192.0.2.66")
		wantStatus(t, "second registration", err, http.StatusConflict, "is registered already")
		wantAddrs(t, d.dns, accountName(aid), "127.0.0.1")

		// The account itself renews, and gets its data certificate; a
		// stranger gets neither.
		own := d.client(t, kp)
		renewed, err := own.AccountCSR(ctx, newIdentity(t, accountName(aid)).csr(t), "")
		if err != nil || renewed.Chain[0].Subject.CommonName != accountName(aid) {
			t.Fatalf("renewal: %v", err)
		}
		dataID := newIdentity(t, pki.AccountDataName(aid, network))
		data, err := own.AccountCSR(ctx, dataID.csr(t), "")
		if err != nil {
			t.Fatalf("data certificate: %v", err)
		}
		if did, err := pki.Verify(data.Chain, d.roots, time.Now()); err != nil || !did.Data {
			t.Errorf("data certificate: %v %+v", err, did)
		}
		_, err = anon.AccountCSR(ctx, newIdentity(t, pki.AccountDataName(aid, network)).csr(t), "")
		wantStatus(t, "anonymous data CSR", err, http.StatusUnauthorized, "needs the account's own TLS certificate")
		other := uuid.New()
		_, err = own.AccountCSR(ctx, newIdentity(t, accountName(other)).csr(t), "")
		wantStatus(t, "CSR for another account", err, http.StatusForbidden, "only "+accountName(other))
		_, err = own.AccountCSR(ctx, newIdentity(t, pki.AccountDataName(other, network)).csr(t), "")
		wantStatus(t, "data CSR for another account", err, http.StatusForbidden, "only "+accountName(other))
		// A data certificate is no TLS identity.
		dataKP := dataID.keyPair(t, data)
		_, err = d.client(t, dataKP).PublishAccount(ctx, "")
		wantStatus(t, "PUT with a data certificate", err, http.StatusUnauthorized, "data certificate")

		// PUT moves the record; DNS answers the new address at once.
		for _, a := range []string{"192.0.2.10", "2001:db8::10", "192.0.2.11"} {
			got, err := own.PublishAccount(ctx, a)
			if err != nil || got.Address != a || got.Name != accountName(aid) {
				t.Fatalf("PUT account %s: %+v, %v", a, got, err)
			}
			wantAddrs(t, d.dns, accountName(aid), a)
		}
		_, err = anon.PublishAccount(ctx, "")
		wantStatus(t, "anonymous PUT", err, http.StatusUnauthorized, "needs a client certificate")

		// A named address.
		named := uuid.New()
		if _, err := anon.AccountCSR(ctx, newIdentity(t, accountName(named)).csr(t), "192.0.2.44"); err != nil {
			t.Fatal(err)
		}
		wantAddrs(t, d.dns, accountName(named), "192.0.2.44")

		status, err := anon.Status(ctx)
		if err != nil || status.Counts["accounts"] != 2 || status.Storage != st.name || status.Network != network {
			t.Errorf("status %+v, %v", status, err)
		}
	})
}

func mustRoot(t *testing.T) *x509.Certificate {
	t.Helper()
	d := openPKI(t)
	root, err := d.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestServices registers services, their data certificates and contracts.
func TestServices(t *testing.T) {
	stores(t, func(t *testing.T, st store) {
		d := startDirectory(t, dirOptions{database: st.url(t)})
		ctx := t.Context()
		anon := d.client(t, nil)
		svc := registerService(t, d, 4711)
		other := registerService(t, d, 4712)

		// First come.
		_, err := anon.ServiceCSR(ctx, newIdentity(t, pki.ServiceCAName(4711, network)).csr(t))
		wantStatus(t, "second registration", err, http.StatusConflict, "service id 4711 is taken")
		// The service itself renews its CA; another service cannot.
		if _, err := d.client(t, svc.tls).ServiceCSR(ctx, newIdentity(t, pki.ServiceCAName(4711, network)).csr(t)); err != nil {
			t.Errorf("renewal: %v", err)
		}
		_, err = d.client(t, other.tls).ServiceCSR(ctx, newIdentity(t, pki.ServiceCAName(4711, network)).csr(t))
		wantStatus(t, "renewal by another service", err, http.StatusForbidden, "only service.service-4711")
		// Only service CA names.
		_, err = anon.ServiceCSR(ctx, newIdentity(t, pki.ServiceName(4799, network)).csr(t))
		wantStatus(t, "service TLS CSR", err, http.StatusForbidden, "signs only service-ca.service-ca-<service id>")

		// PUT: the data certificate and the DNS record.
		own := d.client(t, svc.tls)
		got, err := own.PublishServiceData(ctx, 4711, svc.data.Chain, "")
		if err != nil || got.Name != "service.service-4711."+network || got.Address != "127.0.0.1" {
			t.Fatalf("PUT service: %+v %v", got, err)
		}
		wantAddrs(t, d.dns, "service.service-4711."+network, "127.0.0.1")
		_, err = own.PublishServiceData(ctx, 4711, other.data.Chain, "")
		wantStatus(t, "PUT another service's data certificate", err, http.StatusBadRequest, "want the service's data certificate")
		_, err = own.PublishServiceData(ctx, 4711, svc.tls.Chain, "")
		wantStatus(t, "PUT the TLS certificate as data", err, http.StatusBadRequest, "want the service's data certificate")
		_, err = d.client(t, other.tls).PublishServiceData(ctx, 4711, svc.data.Chain, "")
		wantStatus(t, "PUT by another service", err, http.StatusForbidden, "only service.service-4711")
		_, err = anon.PublishServiceData(ctx, 4711, svc.data.Chain, "")
		wantStatus(t, "anonymous PUT", err, http.StatusUnauthorized, "needs a client certificate")

		// PATCH: countersigned after the service's signature verifies,
		// only for a higher version.
		v1 := svc.sign(t, contractFor(t, 4711, 1, "first"))
		signed, err := own.SubmitContract(ctx, 4711, v1)
		if err != nil {
			t.Fatalf("PATCH: %v", err)
		}
		c, err := contract.Verify(signed, d.roots, network, time.Now())
		if err != nil || c.Version != 1 || c.Name != "first" {
			t.Fatalf("countersigned contract: %v", err)
		}
		fetched, err := anon.Contract(ctx, 4711)
		if err != nil || !bytes.Equal(fetched, signed) {
			t.Errorf("GET contract: %v", err)
		}
		_, err = own.SubmitContract(ctx, 4711, v1)
		wantStatus(t, "same version", err, http.StatusConflict, "version 1 is not higher")
		v3 := svc.sign(t, contractFor(t, 4711, 3, "third"))
		if _, err := own.SubmitContract(ctx, 4711, v3); err != nil {
			t.Fatalf("PATCH v3: %v", err)
		}
		_, err = own.SubmitContract(ctx, 4711, svc.sign(t, contractFor(t, 4711, 2, "second")))
		wantStatus(t, "lower version", err, http.StatusConflict, "version 2 is not higher")
		_, err = own.SubmitContract(ctx, 4711, contractFor(t, 4711, 4, "unsigned"))
		wantStatus(t, "unsigned", err, http.StatusBadRequest, "no service signature")
		tampered := bytes.Replace(svc.sign(t, contractFor(t, 4711, 5, "tampered")), []byte(`"tampered"`), []byte(`"tampereD"`), 1)
		_, err = own.SubmitContract(ctx, 4711, tampered)
		wantStatus(t, "tampered", err, http.StatusBadRequest, "the signature does not match the contract")
		_, err = own.SubmitContract(ctx, 4711, other.sign(t, contractFor(t, 4711, 6, "by another")))
		wantStatus(t, "signed by another service", err, http.StatusBadRequest, "want data.service-data-4711")
		_, err = own.SubmitContract(ctx, 4711, svc.sign(t, contractFor(t, 4712, 7, "other sid")))
		wantStatus(t, "contract of another service", err, http.StatusBadRequest, "want data.service-data-4712")
		_, err = own.SubmitContract(ctx, 4711, signed)
		wantStatus(t, "countersigned already", err, http.StatusBadRequest, "network signature already")
		_, err = d.client(t, other.tls).SubmitContract(ctx, 4711, svc.sign(t, contractFor(t, 4711, 9, "x")))
		wantStatus(t, "PATCH by another service", err, http.StatusForbidden, "only service.service-4711")
		_, err = own.SubmitContract(ctx, 4711, []byte(`{"service_id": 4711, "version": 10}`))
		wantStatus(t, "invalid contract", err, http.StatusBadRequest, "contract:")
		if fetched, _ := anon.Contract(ctx, 4711); !bytes.Contains(fetched, []byte(`"third"`)) {
			t.Error("a refused PATCH changed the contract")
		}
		_, err = anon.Contract(ctx, 4712)
		wantStatus(t, "contract of a service without one", err, http.StatusNotFound, "no countersigned contract")
		_, err = anon.Contract(ctx, 99)
		wantStatus(t, "contract of an unknown service", err, http.StatusNotFound, "not registered")

		// The paged listing holds the services with contracts.
		for sid := uint32(5000); sid < 5012; sid++ {
			s := registerService(t, d, sid)
			if _, err := d.client(t, s.tls).SubmitContract(ctx, sid, s.sign(t, contractFor(t, sid, 1, "svc-"+itoa(sid)))); err != nil {
				t.Fatal(err)
			}
		}
		var listed []uint32
		var after *uint32
		for range 10 {
			page, err := anon.Services(ctx, after, 5)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Services {
				listed = append(listed, s.ServiceID)
			}
			if page.Next == nil {
				break
			}
			if len(page.Services) != 5 {
				t.Errorf("a page before the last has %d services", len(page.Services))
			}
			after = page.Next
		}
		want := []uint32{4711}
		for sid := uint32(5000); sid < 5012; sid++ {
			want = append(want, sid)
		}
		if fmt.Sprint(listed) != fmt.Sprint(want) {
			t.Errorf("listed %v, want %v", listed, want)
		}
	})
}

// TestMembers publishes members' DNS records.
func TestMembers(t *testing.T) {
	stores(t, func(t *testing.T, st store) {
		d := startDirectory(t, dirOptions{database: st.url(t)})
		ctx := t.Context()
		svc := registerService(t, d, 4711)
		mid, kp := svc.member(t)
		name := pki.MemberName(4711, mid, network)
		got, err := d.client(t, kp).PublishMember(ctx, "")
		if err != nil || got.Name != name {
			t.Fatalf("PUT member: %+v %v", got, err)
		}
		wantAddrs(t, d.dns, name, "127.0.0.1")
		if _, err := d.client(t, kp).PublishMember(ctx, "192.0.2.33"); err != nil {
			t.Fatal(err)
		}
		wantAddrs(t, d.dns, name, "192.0.2.33")

		// A member of a service the network does not know: its CA was
		// never registered here (made by a CA of the same network, as
		// byoda pki does).
		dir := openPKI(t)
		services, err := dir.CA(pki.Subject{Kind: pki.KindServicesCA, Network: network})
		if err != nil {
			t.Fatal(err)
		}
		offline, err := services.Issue(pki.ServiceCAName(99, network), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, stranger := newTestService(t, 99, offline).member(t)
		_, err = d.client(t, stranger).PublishMember(ctx, "")
		wantStatus(t, "member of an unknown service", err, http.StatusNotFound, "service 99 is not registered")

		_, err = d.client(t, nil).PublishMember(ctx, "")
		wantStatus(t, "anonymous", err, http.StatusUnauthorized, "needs a client certificate")
		_, err = d.client(t, svc.tls).PublishMember(ctx, "")
		wantStatus(t, "a service certificate", err, http.StatusForbidden, "takes a member's TLS certificate")
	})
}

// TestDNS asks dig and a miekg client for the records of a registered
// account, member and service, and for names nobody registered.
func TestDNS(t *testing.T) {
	dig := testenv.SystemBinary(t, "dig", "hack/pdns.sh (Debian package dnsutils)")
	d := startDirectory(t, dirOptions{})
	ctx := t.Context()
	aid := uuid.New()
	if _, err := d.client(t, nil).AccountCSR(ctx, newIdentity(t, accountName(aid)).csr(t), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	svc := registerService(t, d, 4711)
	if _, err := d.client(t, svc.tls).PublishServiceData(ctx, 4711, svc.data.Chain, "2001:db8::2"); err != nil {
		t.Fatal(err)
	}
	mid, kp := svc.member(t)
	if _, err := d.client(t, kp).PublishMember(ctx, "192.0.2.3"); err != nil {
		t.Fatal(err)
	}
	records := map[string]string{
		accountName(aid):                   "192.0.2.1",
		"service.service-4711." + network:  "2001:db8::2",
		pki.MemberName(4711, mid, network): "192.0.2.3",
		"dir." + network:                   "127.0.0.1",
	}
	for name, addr := range records {
		wantAddrs(t, d.dns, name, addr)
		qtype := "A"
		if strings.Contains(addr, ":") {
			qtype = "AAAA"
		}
		host, port := splitHostPort(t, d.dns)
		for _, proto := range []string{"+notcp", "+tcp"} {
			out := runDig(t, dig, "@"+host, "-p", port, proto, "+short", name, qtype)
			if strings.TrimSpace(out) != addr {
				t.Errorf("dig %s %s %s = %q, want %s", proto, name, qtype, out, addr)
			}
		}
	}
	host, port := splitHostPort(t, d.dns)
	for _, name := range []string{accountName(uuid.New()), "nobody." + network, "members-4711." + network + ".x"} {
		out := runDig(t, dig, "@"+host, "-p", port, name, "A")
		if !strings.Contains(out, "status: NXDOMAIN") && !strings.Contains(out, "status: REFUSED") {
			t.Errorf("dig %s:\n%s", name, out)
		}
		if strings.HasSuffix(name, network) && !strings.Contains(out, "status: NXDOMAIN") {
			t.Errorf("dig %s: want NXDOMAIN:\n%s", name, out)
		}
	}
	if r := lookup(t, d.dns, "udp", accountName(uuid.New()), mdns.TypeA); r.Rcode != mdns.RcodeNameError || len(r.Ns) != 1 {
		t.Errorf("unknown account: %s, authority %v", mdns.RcodeToString[r.Rcode], r.Ns)
	}
	// The apex: SOA and NS (the directory) with glue.
	r := lookup(t, d.dns, "udp", network, mdns.TypeNS)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.NS).Ns != "dir."+network+"." || len(addrsOfExtra(r)) != 1 {
		t.Errorf("NS: %v / %v", r.Answer, r.Extra)
	}
	if r := lookup(t, d.dns, "tcp", network, mdns.TypeSOA); len(r.Answer) != 1 {
		t.Errorf("SOA: %v", r.Answer)
	}
}

func addrsOfExtra(r *mdns.Msg) []mdns.RR {
	var out []mdns.RR
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == mdns.TypeA || rr.Header().Rrtype == mdns.TypeAAAA {
			out = append(out, rr)
		}
	}
	return out
}

// TestRestart stops a directory and starts it again on the same SQLite
// file: registrations and DNS records survive.
func TestRestart(t *testing.T) {
	dataDir := t.TempDir()
	d := startDirectory(t, dirOptions{dataDir: dataDir})
	aid := uuid.New()
	if _, err := d.client(t, nil).AccountCSR(t.Context(), newIdentity(t, accountName(aid)).csr(t), "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	d.proc.Stop()
	d = startDirectory(t, dirOptions{dataDir: dataDir})
	wantAddrs(t, d.dns, accountName(aid), "192.0.2.9")
	_, err := d.client(t, nil).AccountCSR(t.Context(), newIdentity(t, accountName(aid)).csr(t), "")
	wantStatus(t, "registration after restart", err, http.StatusConflict, "is registered already")
}

// TestSharedPostgres runs two directories on one PostgreSQL database: a
// registration made through one is answered by the other's DNS.
func TestSharedPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	db := pg.NewDatabase(t)
	a := startDirectory(t, dirOptions{database: db})
	b := startDirectory(t, dirOptions{database: db})
	aid := uuid.New()
	if _, err := a.client(t, nil).AccountCSR(t.Context(), newIdentity(t, accountName(aid)).csr(t), "192.0.2.70"); err != nil {
		t.Fatal(err)
	}
	// b reads the registry every 250 ms; 30 s is a bound for a hang.
	eventually(t, 30*time.Second, func() error {
		r := lookup(t, b.dns, "udp", accountName(aid), mdns.TypeA)
		if got := addrsOf(r); len(got) != 1 || got[0] != "192.0.2.70" {
			return fmt.Errorf("b answers %v", got)
		}
		return nil
	})
	// First come holds across both.
	_, err := b.client(t, nil).AccountCSR(t.Context(), newIdentity(t, accountName(aid)).csr(t), "")
	wantStatus(t, "registration through the other directory", err, http.StatusConflict, "is registered already")
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRateLimit sends more anonymous registrations from one address than
// the directory allows.
func TestRateLimit(t *testing.T) {
	d := startDirectory(t, dirOptions{registrationRate: "0.001"})
	anon := d.client(t, nil)
	var accepted, limited int
	var lastKP *pki.KeyPair
	for range 25 {
		id := newIdentity(t, accountName(uuid.New()))
		s, err := anon.AccountCSR(t.Context(), id.csr(t), "")
		switch client.StatusOf(err) {
		case 0:
			if err != nil {
				t.Fatal(err)
			}
			accepted++
			lastKP = id.keyPair(t, s)
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("registration: %v", err)
		}
	}
	if accepted != 20 || limited != 5 {
		t.Errorf("%d accepted, %d refused; want the burst of 20 and then 429", accepted, limited)
	}
	resp, err := d.rawClient(nil).Post(d.url(directory.PathAccount), "application/json",
		strings.NewReader(`{"csr": `+jsonString(string(pki.EncodeCSR(newIdentity(t, accountName(uuid.New())).csr(t))))+`}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	// An account's own requests are not anonymous registrations.
	if _, err := d.client(t, lastKP).PublishAccount(t.Context(), ""); err != nil {
		t.Errorf("PUT by an account while anonymous registrations are limited: %v", err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
