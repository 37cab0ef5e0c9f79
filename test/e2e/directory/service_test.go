package directory_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// contractFileName is the contract file of startService, in the
// service's data directory (svcProc.dataDir).
const contractFileName = "contract.json"

// svcProc is a running byoda service.
type svcProc struct {
	sid      uint32
	https    string
	proc     *testenv.Process
	roots    *x509.CertPool
	contract []byte
	dataDir  string
}

// serviceContract returns the demo contract of service sid, countersigned,
// with email matching set by match and casesensitive.
func serviceContract(t *testing.T, sid uint32, match string, caseSensitive bool) []byte {
	t.Helper()
	raw := string(contractFor(t, sid, 1, fmt.Sprintf("search-%d", sid)))
	old := `"match": "exact",
                                        "casesensitive": false`
	if !strings.Contains(raw, old) {
		t.Fatal("the demo contract's email permission changed; update the test")
	}
	raw = strings.Replace(raw, old, fmt.Sprintf(`"match": %q,
                                        "casesensitive": %v`, match, caseSensitive), 1)
	return countersigned(t, sid, []byte(raw))
}

// countersigned returns raw signed by service sid and countersigned by the
// network, as byoda service wants its contract.
func countersigned(t *testing.T, sid uint32, raw []byte) []byte {
	t.Helper()
	d := openPKI(t)
	svc, err := d.ServiceDataKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	net, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	out, err := contract.SignAsService(raw, contract.Signer{Key: svc.Key, Chain: svc.Chain}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out, err = contract.SignAsNetwork(out, contract.Signer{Key: net.Key, Chain: net.Chain}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out
}

func startService(t *testing.T, sid uint32, signed []byte, database string, extra ...string) *svcProc {
	t.Helper()
	dataDir := t.TempDir()
	file := filepath.Join(dataDir, contractFileName)
	if err := os.WriteFile(file, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	d := openPKI(t)
	roots, err := d.Roots()
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		s := &svcProc{sid: sid, https: testenv.Addr(testenv.FreePort(t)), roots: roots, contract: signed, dataDir: dataDir}
		args := []string{"service", "--pki-dir", pkiDir, "--service-id", itoa(sid), "--contract", file,
			"--data-dir", dataDir, "--listen", s.https, "--registration-rate", "-1", "--log-level", "debug"}
		if database != "" {
			args = append(args, "--database", database)
		}
		s.proc = testenv.StartProcess(t, "service", byodaBin, append(args, extra...), nil)
		noRaces(t, s.proc)
		err := testenv.Wait(t.Context(), time.Minute, s.proc, func(ctx context.Context) error {
			_, err := s.client(t, nil).Status(ctx)
			return err
		})
		if err == nil {
			return s
		}
		if strings.Contains(s.proc.Tail(8<<10), "address already in use") && attempt < 3 {
			s.proc.Stop()
			continue
		}
		t.Fatalf("service directory not ready: %v\n%s", err, s.proc.Tail(16<<10))
	}
}

func (s *svcProc) client(t testing.TB, kp *pki.KeyPair) *client.Client {
	t.Helper()
	o := client.Options{Roots: s.roots, ServerName: pki.ServiceName(s.sid, network)}
	if kp != nil {
		c := kp.TLSCertificate()
		o.Certificate = &c
	}
	c, err := client.New("https://"+s.https, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawClient returns an anonymous HTTP client of the directory, for what the
// client package does not read (metrics).
func (s *svcProc) rawClient() *http.Client {
	tc := &tls.Config{RootCAs: s.roots, ServerName: pki.ServiceName(s.sid, network)}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
}

func (s *svcProc) url(path string) string { return "https://" + s.https + path }

// join registers a new member through the directory and returns its TLS and
// member-data key pairs.
func (s *svcProc) join(t *testing.T) (uuid.UUID, *pki.KeyPair, *pki.KeyPair) {
	t.Helper()
	mid := uuid.New()
	tlsID := newIdentity(t, pki.MemberName(s.sid, mid, network))
	signed, err := s.client(t, nil).MemberCSR(t.Context(), tlsID.csr(t))
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	tlsKP := tlsID.keyPair(t, signed)
	dataID := newIdentity(t, pki.MemberDataName(s.sid, mid, network))
	dsigned, err := s.client(t, tlsKP).MemberCSR(t.Context(), dataID.csr(t))
	if err != nil {
		t.Fatalf("member-data certificate: %v", err)
	}
	return mid, tlsKP, dataID.keyPair(t, dsigned)
}

// TestServiceDirectory runs a service directory through every endpoint and
// its authentication rule.
func TestServiceDirectory(t *testing.T) {
	signed := serviceContract(t, svcExact, "exact", false)
	stores(t, func(t *testing.T, st store) {
		s := startService(t, svcExact, signed, st.url(t))
		ctx := t.Context()
		anon := s.client(t, nil)

		got, err := anon.ServiceContract(ctx)
		if err != nil || !bytes.Equal(got, signed) {
			t.Fatalf("GET contract: %v", err)
		}
		if _, err := contract.Verify(got, s.roots, network, time.Now()); err != nil {
			t.Errorf("published contract: %v", err)
		}

		// Joining: first come, then the member's own certificate.
		mid := uuid.New()
		tlsID := newIdentity(t, pki.MemberName(svcExact, mid, network))
		joined, err := anon.MemberCSR(ctx, tlsID.csr(t))
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		id, err := pki.Verify(joined.Chain, s.roots, time.Now())
		if err != nil || id.Role != pki.RoleMember || id.ServiceID != svcExact || id.ID != mid.String() {
			t.Fatalf("member certificate: %v %+v", err, id)
		}
		if joined.DataChain[0].Subject.CommonName != pki.ServiceDataName(svcExact, network) || !joined.Root.Equal(mustRoot(t)) {
			t.Errorf("answer: data %s, root %s", joined.DataChain[0].Subject.CommonName, joined.Root.Subject.CommonName)
		}
		_, err = anon.MemberCSR(ctx, newIdentity(t, pki.MemberName(svcExact, mid, network)).csr(t))
		wantStatus(t, "second join", err, http.StatusConflict, "is registered already")
		tlsKP := tlsID.keyPair(t, joined)
		own := s.client(t, tlsKP)
		dataID := newIdentity(t, pki.MemberDataName(svcExact, mid, network))
		dsigned, err := own.MemberCSR(ctx, dataID.csr(t))
		if err != nil {
			t.Fatalf("member-data CSR: %v", err)
		}
		dataKP := dataID.keyPair(t, dsigned)
		if _, err := own.MemberCSR(ctx, newIdentity(t, pki.MemberName(svcExact, mid, network)).csr(t)); err != nil {
			t.Errorf("renewal: %v", err)
		}
		_, err = anon.MemberCSR(ctx, newIdentity(t, pki.MemberDataName(svcExact, uuid.New(), network)).csr(t))
		wantStatus(t, "anonymous member-data CSR", err, http.StatusUnauthorized, "needs the member's own TLS certificate")
		other, otherTLS, otherData := s.join(t)
		_, err = s.client(t, otherTLS).MemberCSR(ctx, newIdentity(t, pki.MemberDataName(svcExact, mid, network)).csr(t))
		wantStatus(t, "CSR for another member", err, http.StatusForbidden, "only "+pki.MemberName(svcExact, mid, network))
		_, err = anon.MemberCSR(ctx, newIdentity(t, pki.MemberName(svcOther, uuid.New(), network)).csr(t))
		wantStatus(t, "member of another service", err, http.StatusForbidden, "not a member name of service 6001")
		_, err = anon.MemberCSR(ctx, newIdentity(t, accountName(uuid.New())).csr(t))
		wantStatus(t, "account CSR", err, http.StatusForbidden, "not a member name of service 6001")

		// Publishing the member-data certificate.
		pub, err := own.PublishMemberData(ctx, 1, dataKP.Chain, "")
		if err != nil || pub.Name != pki.MemberName(svcExact, mid, network) {
			t.Fatalf("PUT member version: %+v %v", pub, err)
		}
		certs, err := anon.MemberDataCert(ctx, mid)
		if err != nil || len(certs) != len(dataKP.Chain) || !certs[0].Equal(dataKP.Cert) {
			t.Fatalf("GET member-data certificate: %v", err)
		}
		_, err = own.PublishMemberData(ctx, 1, otherData.Chain, "")
		wantStatus(t, "another member's data certificate", err, http.StatusBadRequest, "want your member-data certificate")
		_, err = own.PublishMemberData(ctx, 1, tlsKP.Chain, "")
		wantStatus(t, "TLS certificate as data", err, http.StatusBadRequest, "want your member-data certificate")
		_, err = own.PublishMemberData(ctx, 2, dataKP.Chain, "")
		wantStatus(t, "a future contract version", err, http.StatusBadRequest, "is at version 1")
		_, err = anon.PublishMemberData(ctx, 1, dataKP.Chain, "")
		wantStatus(t, "anonymous", err, http.StatusUnauthorized, "needs a client certificate")
		svcTLS, err := openPKI(t).ServiceKey(svcExact)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.client(t, svcTLS).PublishMemberData(ctx, 1, dataKP.Chain, "")
		wantStatus(t, "service certificate", err, http.StatusForbidden, "takes the TLS certificate of a member")
		_, err = anon.MemberDataCert(ctx, other)
		wantStatus(t, "certificate never published", err, http.StatusNotFound, "has published no member-data certificate")
		_, err = anon.MemberDataCert(ctx, uuid.New())
		wantStatus(t, "unknown member", err, http.StatusNotFound, "has published no member-data certificate")

		// Search: values the members push, answered as the contract says
		// (exact, case-insensitive).
		if err := own.SetSearchValues(ctx, []directory.SearchValue{{Class: "person", Field: "email", Value: "Alice@Example.TEST"}}); err != nil {
			t.Fatalf("PUT search values: %v", err)
		}
		if err := s.client(t, otherTLS).SetSearchValues(ctx, []directory.SearchValue{
			{Class: "person", Field: "email", Value: "alice@example.test"},
			{Class: "person", Field: "email", Value: "bob@example.test"}}); err != nil {
			t.Fatal(err)
		}
		res, err := own.Search(ctx, "person", "email", "ALICE@example.test")
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		if want := sortedIDs(mid, other); !slices.Equal(sortedStrings(res.MemberIDs), want) || res.Match != "exact" || res.CaseSensitive {
			t.Errorf("search = %+v, want %v", res, want)
		}
		for _, v := range []string{"alice", "alice@example.tes", "%", "_lice@example.test", "' OR '1'='1", "alice@example.test' --"} {
			res, err := own.Search(ctx, "person", "email", v)
			if err != nil || len(res.MemberIDs) != 0 {
				t.Errorf("search %q = %+v, %v; want no member", v, res, err)
			}
		}
		// The service itself may search too.
		if res, err := s.client(t, svcTLS).Search(ctx, "person", "email", "bob@example.test"); err != nil || len(res.MemberIDs) != 1 {
			t.Errorf("search by the service: %+v %v", res, err)
		}
		// Replacing the values forgets the old ones.
		if err := s.client(t, otherTLS).SetSearchValues(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if res, _ := own.Search(ctx, "person", "email", "bob@example.test"); len(res.MemberIDs) != 0 {
			t.Errorf("a removed value is still found: %v", res.MemberIDs)
		}
		many := make([]directory.SearchValue, directory.MaxSearchValues+1)
		for i := range many {
			many[i] = directory.SearchValue{Class: "person", Field: "email", Value: fmt.Sprint(i)}
		}
		for _, tt := range []struct {
			name   string
			values []directory.SearchValue
			want   string
		}{
			{"field without the search right", []directory.SearchValue{{Class: "person", Field: "given_name", Value: "Alice"}}, "does not give the service the search right"},
			{"unknown class", []directory.SearchValue{{Class: "persons", Field: "email", Value: "a"}}, `has no class "persons"`},
			{"unknown field", []directory.SearchValue{{Class: "person", Field: "mail", Value: "a"}}, `has no field "mail"`},
			{"SQL as class", []directory.SearchValue{{Class: "person'; DROP TABLE search_values; --", Field: "email", Value: "a"}}, "has no class"},
			{"empty value", []directory.SearchValue{{Class: "person", Field: "email", Value: ""}}, "empty value"},
			{"long value", []directory.SearchValue{{Class: "person", Field: "email", Value: strings.Repeat("a", directory.MaxSearchValueLen+1)}}, "want at most 1024"},
			{"too many values", many, "want at most 64"},
		} {
			err := own.SetSearchValues(ctx, tt.values)
			wantStatus(t, tt.name, err, http.StatusBadRequest, tt.want)
		}
		if res, _ := own.Search(ctx, "person", "email", "alice@example.test"); len(res.MemberIDs) != 1 {
			t.Errorf("a refused PUT changed the values: %v", res.MemberIDs)
		}
		_, err = own.Search(ctx, "person", "given_name", "Alice")
		wantStatus(t, "search without the right", err, http.StatusForbidden, "does not give the service the search right")
		_, err = anon.Search(ctx, "person", "email", "alice@example.test")
		wantStatus(t, "anonymous search", err, http.StatusUnauthorized, "needs a client certificate")
		err = anon.SetSearchValues(ctx, nil)
		wantStatus(t, "anonymous search values", err, http.StatusUnauthorized, "needs a client certificate")
		acct, err := openPKI(t).CreateAccount(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		acctKP, err := openPKI(t).AccountKey(acct)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.client(t, acctKP).Search(ctx, "person", "email", "a")
		wantStatus(t, "search by an account", err, http.StatusForbidden, "search takes the TLS certificate of a member")

		status, err := anon.Status(ctx)
		if err != nil || status.Counts["members"] != 2 || status.ServiceID == nil || *status.ServiceID != svcExact || status.ContractVersion != 1 || status.Storage != st.name {
			t.Errorf("status %+v, %v", status, err)
		}
	})
}

// TestServiceSearchMatching runs directories whose contracts ask for prefix
// and case-sensitive matching, and for regex matching, which the directory
// does not offer.
func TestServiceSearchMatching(t *testing.T) {
	s := startService(t, svcPrefix, serviceContract(t, svcPrefix, "prefix", true), "")
	ctx := t.Context()
	a, aTLS, _ := s.join(t)
	b, bTLS, _ := s.join(t)
	for kp, v := range map[*pki.KeyPair]string{aTLS: "Alice@example.test", bTLS: "alice@example.test"} {
		if err := s.client(t, kp).SetSearchValues(ctx, []directory.SearchValue{{Class: "person", Field: "email", Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string][]string{
		"Ali":                {a.String()},
		"Alic":               {a.String()},
		"ali":                {b.String()},
		"alice@example.test": {b.String()},
		"ALI":                nil,
		"a%":                 nil,
	} {
		res, err := s.client(t, aTLS).Search(ctx, "person", "email", q)
		if err != nil || !slices.Equal(res.MemberIDs, want) || res.Match != "prefix" || !res.CaseSensitive {
			t.Errorf("search %q = %+v, %v; want %v", q, res, err, want)
		}
	}

	r := startService(t, svcRegex, serviceContract(t, svcRegex, "regex", false), "")
	_, rTLS, _ := r.join(t)
	if err := r.client(t, rTLS).SetSearchValues(ctx, []directory.SearchValue{{Class: "person", Field: "email", Value: "x@example.test"}}); err != nil {
		t.Fatal(err)
	}
	_, err := r.client(t, rTLS).Search(ctx, "person", "email", ".*")
	wantStatus(t, "regex search", err, http.StatusBadRequest, `asks for "regex" matching; the service directory offers exact and prefix`)
}

func sortedIDs(ids ...uuid.UUID) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id.String())
	}
	return sortedStrings(out)
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func openPKI(t testing.TB) *pki.Dir { return testenv.OpenPKI(t, pkiDir) }

// TestServiceBadInput sends a service directory bad certificates, bodies
// and paths.
func TestServiceBadInput(t *testing.T) {
	stores(t, func(t *testing.T, st store) {
		s := startService(t, svcExact, serviceContract(t, svcExact, "exact", false), st.url(t))
		_, memberTLS, _ := s.join(t)
		before, err := s.client(t, nil).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rawClient := func(kp *pki.KeyPair) *http.Client {
			var c *tlsCert
			if kp != nil {
				cc := kp.TLSCertificate()
				c = &cc
			}
			return httpClient(s.roots, pki.ServiceName(svcExact, network), c)
		}
		csrBody := []byte(`{"csr": ` + jsonString(string(pki.EncodeCSR(newIdentity(t, pki.MemberName(svcExact, uuid.New(), network)).csr(t)))) + `}`)
		for what, cert := range badCerts(t) {
			c := httpClient(s.roots, pki.ServiceName(svcExact, network), &cert)
			for _, req := range []struct {
				method, path string
				body         []byte
			}{
				{"POST", directory.PathServiceMember, csrBody},
				{"PUT", directory.MemberVersionPath(1), []byte(`{"certchain": ""}`)},
				{"PUT", directory.PathSearchValues, []byte(`{"values": []}`)},
				{"GET", directory.PathSearch + "?class=person&field=email&value=a", nil},
			} {
				r := send(t, c, req.method, s.url(req.path), "application/json", req.body)
				if r.status != http.StatusUnauthorized || !strings.Contains(r.msg, "client certificate") {
					t.Errorf("%s certificate, %s %s: %d %s", what, req.method, req.path, r.status, r.body)
				}
			}
		}
		member := rawClient(memberTLS)
		anon := rawClient(nil)
		tests := []struct {
			name         string
			c            *http.Client
			method, path string
			body         []byte
			status       int
			want         string
		}{
			{"oversized CSR", anon, "POST", directory.PathServiceMember, bytes.Repeat([]byte("x"), directory.MaxCSRBody+1), 413, "request body too large"},
			{"oversized search values", member, "PUT", directory.PathSearchValues, bytes.Repeat([]byte(" "), directory.MaxSearchBody+1), 413, "request body too large"},
			{"oversized chain", member, "PUT", directory.MemberVersionPath(1), bytes.Repeat([]byte(" "), directory.MaxChainBody+1), 413, "request body too large"},
			{"version not a number", member, "PUT", directory.PathMemberVersion + "one", []byte(`{}`), 400, `contract version "one"`},
			{"version with zeros", member, "PUT", directory.PathMemberVersion + "01", []byte(`{}`), 400, `contract version "01"`},
			{"version zero", member, "PUT", directory.PathMemberVersion + "0", []byte(`{}`), 400, `contract version "0"`},
			{"garbage chain", member, "PUT", directory.MemberVersionPath(1), []byte(`{"certchain": "'; DROP TABLE service_members; --"}`), 400, "no CERTIFICATE PEM block"},
			{"SQL member cert file", anon, "GET", directory.PathMemberCerts + "member-data-x'%20OR%201=1-cert.pem", nil, 404, "want member-data-<member id>-cert.pem"},
			{"upper-case member id", anon, "GET", directory.PathMemberCerts + "member-data-" + strings.ToUpper(uuid.New().String()) + "-cert.pem", nil, 404, "lower-case member id"},
			{"search without value", member, "GET", directory.PathSearch + "?class=person&field=email", nil, 400, "empty value"},
			{"search with two values", member, "GET", directory.PathSearch + "?class=person&field=email&value=a&value=b", nil, 400, "given 2 times"},
			{"search with a semicolon", member, "GET", directory.PathSearch + "?class=person;field=email", nil, 400, "invalid semicolon"},
			{"search with unknown parameter", member, "GET", directory.PathSearch + "?class=person&field=email&value=a&limit=1000000", nil, 400, `query parameter "limit": unknown`},
			{"unknown endpoint", anon, "GET", "/api/v1/service/members", nil, 404, "no such endpoint of the service directory"},
			{"wrong method", anon, "DELETE", directory.PathContract, nil, 405, "method not allowed; use GET"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := send(t, tt.c, tt.method, s.url(tt.path), "application/json", tt.body)
				if r.status != tt.status || !strings.Contains(r.msg, tt.want) {
					t.Errorf("%s %s: %d %s; want %d containing %q", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
				}
			})
		}
		after, err := s.client(t, nil).Status(t.Context())
		if err != nil {
			t.Fatalf("status after the bad input: %v", err)
		}
		if fmt.Sprint(after.Counts) != fmt.Sprint(before.Counts) {
			t.Errorf("counts changed from %v to %v", before.Counts, after.Counts)
		}
	})
}

// TestServiceRefusesBadContract starts byoda service with contracts it must
// not publish: it exits with an error that says why.
func TestServiceRefusesBadContract(t *testing.T) {
	d := openPKI(t)
	svc, err := d.ServiceDataKey(svcExact)
	if err != nil {
		t.Fatal(err)
	}
	serviceOnly, err := contract.SignAsService(contractFor(t, svcExact, 1, "x"), contract.Signer{Key: svc.Key, Chain: svc.Chain}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sid  uint32
		raw  []byte
		want string
	}{
		{"not countersigned", svcExact, serviceOnly, "no network signature"},
		{"unsigned", svcExact, contractFor(t, svcExact, 1, "x"), "no service signature"},
		{"another service's contract", svcPrefix, serviceContract(t, svcExact, "exact", false), "the members CA is members-ca.members-ca-6002.byoda.test; the contract is of service 6001"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "contract.json")
			if err := os.WriteFile(file, tt.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(byodaBin, "service", "--pki-dir", pkiDir, "--service-id", itoa(tt.sid), "--contract", file,
				"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0").CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Errorf("byoda service: %v\n%s\nwant an error containing %q", err, out, tt.want)
			}
		})
	}
}

// TestServiceAddressbook runs the directory of the reference's own
// addressbook contract, loaded unchanged (and signed here: its published
// signatures are empty), and searches its email field as its permission
// says: exact and case-insensitive.
func TestServiceAddressbook(t *testing.T) {
	raw, err := contract.ReadFile(addressbookContract)
	if err != nil {
		t.Fatal(err)
	}
	d := openPKI(t)
	svc, err := d.ServiceDataKey(svcAddressbook)
	if err != nil {
		t.Fatal(err)
	}
	net, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := contract.SignAsService(raw, contract.Signer{Key: svc.Key, Chain: svc.Chain}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if signed, err = contract.SignAsNetwork(signed, contract.Signer{Key: net.Key, Chain: net.Chain}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := startService(t, svcAddressbook, signed, "")
	mid, tlsKP, dataKP := s.join(t)
	ctx := t.Context()
	own := s.client(t, tlsKP)
	if _, err := own.PublishMemberData(ctx, 1, dataKP.Chain, ""); err != nil {
		t.Fatal(err)
	}
	if err := own.SetSearchValues(ctx, []directory.SearchValue{{Class: "person", Field: "email", Value: "Steven@Example.TEST"}}); err != nil {
		t.Fatal(err)
	}
	res, err := own.Search(ctx, "person", "email", "steven@example.test")
	if err != nil || len(res.MemberIDs) != 1 || res.MemberIDs[0] != mid.String() || res.CaseSensitive {
		t.Errorf("search = %+v, %v", res, err)
	}
}

// TestServiceContractReload replaces a running service directory's
// contract file: a newer version the network countersigned is served
// without a restart; a version that is not newer, one the network did not
// countersign, another service's and a file that is not there are refused
// (logged and counted), and the directory goes on serving what it had.
func TestServiceContractReload(t *testing.T) {
	v1 := countersigned(t, svcExact, contractFor(t, svcExact, 1, "reload"))
	s := startService(t, svcExact, v1, "", "--contract-reload-interval", "50ms")
	file := filepath.Join(s.dataDir, contractFileName)
	replace := func(raw []byte) {
		t.Helper()
		// As a ConfigMap's volume does: a new file moved over the old.
		tmp := file + ".new"
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	serves := func(version int, raw []byte) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the directory serves version %d", version), s.proc, func(ctx context.Context) error {
			st, err := s.client(t, nil).Status(ctx)
			if err != nil {
				return err
			}
			if st.ContractVersion != version {
				return fmt.Errorf("status says version %d", st.ContractVersion)
			}
			got, err := s.client(t, nil).ServiceContract(ctx)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, raw) {
				return errors.New("the contract served is not the one in the file")
			}
			return nil
		})
	}
	reloads := func(outcome string) int {
		t.Helper()
		r := send(t, s.rawClient(), "GET", s.url(directory.PathMetrics), "", nil)
		samples, err := testenv.ParseMetrics(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		n, ok := samples[`byoda_service_directory_contract_reloads_total{outcome="`+outcome+`"}`]
		if !ok {
			t.Fatalf("no reload metric of outcome %s in\n%s", outcome, r.body)
		}
		return int(n)
	}
	refused := func(what string, raw []byte, outcome, log string) {
		t.Helper()
		before := reloads(outcome)
		if raw == nil {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		} else {
			replace(raw)
		}
		testenv.Eventually(t, 10*time.Second, what+" refused", s.proc, func(context.Context) error {
			if reloads(outcome) <= before {
				return errors.New("not counted yet")
			}
			if !strings.Contains(s.proc.Tail(64<<10), log) {
				return fmt.Errorf("no log line with %q", log)
			}
			return nil
		})
	}

	v2raw := testenv.ContractVersion(t, contractFor(t, svcExact, 1, "reload"), 2,
		map[string]any{"/jsonschema/$defs/address/properties/floor": map[string]any{"type": "string"}})
	v2 := countersigned(t, svcExact, v2raw)
	replace(v2)
	serves(2, v2)
	if n := reloads("updated"); n != 1 {
		t.Errorf("%d updates counted; want 1", n)
	}

	svc, err := openPKI(t).ServiceDataKey(svcExact)
	if err != nil {
		t.Fatal(err)
	}
	v3raw := testenv.ContractVersion(t, v2raw, 3, nil)
	serviceOnly, err := contract.SignAsService(v3raw, contract.Signer{Key: svc.Key, Chain: svc.Chain}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused("version 1 again", v1, "refused", "only a higher version replaces it")
	refused("a version the network did not countersign", serviceOnly, "refused", "no network signature")
	refused("another service's contract", serviceContract(t, svcPrefix, "exact", false), "refused", "not of this directory's service")
	refused("a missing file", nil, "unreadable", "Cannot read the contract file")
	serves(2, v2)

	v3 := countersigned(t, svcExact, v3raw)
	replace(v3)
	serves(3, v3)
}
