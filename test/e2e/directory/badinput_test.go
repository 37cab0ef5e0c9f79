package directory_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/internal/pki"
)

// badCerts are client certificates a directory must refuse, whatever the
// endpoint: a chain to another root with the very same names, an expired
// certificate, a certificate of another network, and a data certificate.
func badCerts(t *testing.T) map[string]tls.Certificate {
	t.Helper()
	out := map[string]tls.Certificate{}
	// Another network named byoda.test: right names, wrong root.
	forged, err := pki.InitNetwork(t.TempDir(), network, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	aid, err := forged.CreateAccount(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := forged.AccountKey(aid)
	if err != nil {
		t.Fatal(err)
	}
	out["forged"] = kp.TLSCertificate()
	// Expired: signed by the real accounts CA two years ago.
	real := openPKI(t)
	accounts, err := real.CA(pki.Subject{Kind: pki.KindAccountsCA, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	old, err := accounts.Issue(accountName(uuid.New()), accounts.Certificate().NotBefore.Add(pki.ClockSkew+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !old.Cert.NotAfter.Before(time.Now()) {
		// The accounts CA is younger than a leaf's validity: make the
		// expired certificate with a CA of its own past.
		past := time.Now().AddDate(-3, 0, 0)
		pd, err := pki.InitNetwork(t.TempDir(), network, past)
		if err != nil {
			t.Fatal(err)
		}
		pa, err := pd.CA(pki.Subject{Kind: pki.KindAccountsCA, Network: network})
		if err != nil {
			t.Fatal(err)
		}
		if old, err = pa.Issue(accountName(uuid.New()), past); err != nil {
			t.Fatal(err)
		}
	}
	out["expired"] = old.TLSCertificate()
	foreign, err := pki.InitNetwork(t.TempDir(), "example.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	faid, err := foreign.CreateAccount(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fkp, err := foreign.AccountKey(faid)
	if err != nil {
		t.Fatal(err)
	}
	out["foreign network"] = fkp.TLSCertificate()
	raid, err := real.CreateAccount(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dkp, err := real.AccountDataKey(raid)
	if err != nil {
		t.Fatal(err)
	}
	out["data certificate"] = dkp.TLSCertificate()
	return out
}

type rawResult struct {
	status int
	body   string
	// msg is the message of a JSON error body, else the body.
	msg    string
	header http.Header
}

func send(t *testing.T, c *http.Client, method, url, contentType string, body []byte) rawResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := rawResult{status: resp.StatusCode, body: string(data), msg: string(data), header: resp.Header}
	var eb directory.ErrorBody
	if json.Unmarshal(data, &eb) == nil && len(eb.Errors) == 1 {
		r.msg = eb.Errors[0].Message
	}
	return r
}

// TestNetworkBadInput sends the network directory what a careless or
// hostile caller would: each gets a clear error, nothing changes, and the
// directory keeps answering.
func TestNetworkBadInput(t *testing.T) {
	stores(t, func(t *testing.T, st store) {
		d := startDirectory(t, dirOptions{database: st.url(t)})
		ctx := t.Context()
		svc := registerService(t, d, 4711)
		if _, err := d.client(t, svc.tls).SubmitContract(ctx, 4711, svc.sign(t, contractFor(t, 4711, 1, "demo"))); err != nil {
			t.Fatal(err)
		}
		aid := uuid.New()
		acct := newIdentity(t, accountName(aid))
		signed, err := d.client(t, nil).AccountCSR(ctx, acct.csr(t), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		acctCert := acct.keyPair(t, signed).TLSCertificate()
		before, err := d.client(t, nil).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// Certificates the directory did not vouch for, on every endpoint
		// that looks at certificates, anonymous ones included.
		csrBody := func(name string) []byte {
			return []byte(`{"csr": ` + jsonString(string(pki.EncodeCSR(newIdentity(t, name).csr(t)))) + `}`)
		}
		for what, cert := range badCerts(t) {
			c := d.rawClient(&cert)
			for _, req := range []struct {
				method, path string
				body         []byte
			}{
				{"POST", directory.PathAccount, csrBody(accountName(uuid.New()))},
				{"PUT", directory.PathAccount, nil},
				{"POST", directory.PathService, csrBody(pki.ServiceCAName(8000, network))},
				{"PUT", directory.ServicePath(4711), []byte(`{"certchain": ""}`)},
				{"PATCH", directory.ServicePath(4711), []byte(`{}`)},
				{"PUT", directory.PathMember, nil},
			} {
				r := send(t, c, req.method, d.url(req.path), "application/json", req.body)
				if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "client certificate") {
					t.Errorf("%s certificate, %s %s: %d %s", what, req.method, req.path, r.status, r.body)
				}
			}
		}

		anon := d.rawClient(nil)
		svcCert := svc.tls.TLSCertificate()
		acctClient := d.rawClient(&acctCert)
		big := bytes.Repeat([]byte("a"), directory.MaxCSRBody+1)
		sqlAddr := []byte(`{"address": "'; DROP TABLE accounts; --"}`)
		tests := []struct {
			name         string
			c            *http.Client
			method, path string
			ctype        string
			body         []byte
			status       int
			want         string
		}{
			{"CSR of another kind", anon, "POST", directory.PathAccount, "application/json", csrBody(pki.ServiceCAName(1, network)), 403, "this endpoint signs only"},
			{"member CSR at account", anon, "POST", directory.PathAccount, "application/json", csrBody(pki.MemberName(4711, uuid.New(), network)), 403, "this endpoint signs only"},
			{"account CSR at service", anon, "POST", directory.PathService, "application/json", csrBody(accountName(uuid.New())), 403, "this endpoint signs only"},
			{"CSR of another network", anon, "POST", directory.PathAccount, "application/json", []byte(`{"csr": ` + jsonString(string(pki.EncodeCSR(newIdentity(t, pki.AccountName(uuid.New(), "example.test")).csr(t)))) + `}`), 400, `network "example.test"`},
			{"not a CSR", anon, "POST", directory.PathAccount, "application/json", []byte(`{"csr": "'; DROP TABLE accounts; --"}`), 400, "no CERTIFICATE REQUEST"},
			{"empty CSR", anon, "POST", directory.PathAccount, "application/json", []byte(`{"csr": ""}`), 400, "csr: empty"},
			{"unknown field", anon, "POST", directory.PathAccount, "application/json", []byte(`{"csr": "x", "admin": true}`), 400, `unknown field "admin"`},
			{"not JSON", anon, "POST", directory.PathAccount, "application/json", []byte(`csr=1`), 400, "want a JSON object"},
			{"two objects", anon, "POST", directory.PathAccount, "application/json", []byte(`{"csr": "x"} {}`), 400, "data after the JSON object"},
			{"no body", anon, "POST", directory.PathAccount, "application/json", nil, 400, "empty body"},
			{"form content", anon, "POST", directory.PathAccount, "application/x-www-form-urlencoded", []byte(`csr=x`), 415, "want application/json"},
			{"oversized CSR body", anon, "POST", directory.PathAccount, "application/json", big, 413, "request body too large"},
			{"oversized contract", d.rawClient(&svcCert), "PATCH", directory.ServicePath(4711), "application/json", bytes.Repeat([]byte(" "), directory.MaxContractBody+1), 413, "request body too large"},
			{"SQL as address", acctClient, "PUT", directory.PathAccount, "application/json", sqlAddr, 400, "not an IP address"},
			{"multicast address", acctClient, "PUT", directory.PathAccount, "application/json", []byte(`{"address": "224.0.0.1"}`), 400, "not a unicast address"},
			{"unspecified address", acctClient, "PUT", directory.PathAccount, "application/json", []byte(`{"address": "::"}`), 400, "not a unicast address"},
			{"SQL as service id", anon, "GET", directory.PathServiceID + "1'%20OR%20'1'='1", "", nil, 400, "service id"},
			{"service id overflow", anon, "GET", directory.PathServiceID + "4294967296", "", nil, 400, "service id"},
			{"service id with zeros", anon, "GET", directory.PathServiceID + "04711", "", nil, 400, "without leading zeros"},
			{"SQL as after", anon, "GET", directory.PathServices + "?after=1'%20OR%201=1", "", nil, 400, "after:"},
			{"semicolon in the query", anon, "GET", directory.PathServices + "?after=1;DROP%20TABLE%20services", "", nil, 400, "invalid semicolon separator"},
			{"unknown query parameter", anon, "GET", directory.PathServices + "?skip=1", "", nil, 400, `query parameter "skip": unknown`},
			{"limit too large", anon, "GET", directory.PathServices + "?limit=100000", "", nil, 400, "want a number from 1 to 1000"},
			{"limit zero", anon, "GET", directory.PathServices + "?limit=0", "", nil, 400, "want a number from 1 to 1000"},
			{"unknown path", anon, "GET", "/api/v1/network/../../etc/passwd", "", nil, 404, ""},
			{"unknown endpoint", anon, "GET", "/api/v1/network/accounts", "", nil, 404, "no such endpoint"},
			{"wrong method", anon, "DELETE", directory.PathAccount, "", nil, 405, "method not allowed; use POST, PUT"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := send(t, tt.c, tt.method, d.url(tt.path), tt.ctype, tt.body)
				if r.status != tt.status || !strings.Contains(r.msg, tt.want) {
					t.Errorf("%s %s: %d %s; want %d containing %q", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
				}
				if !strings.HasPrefix(r.body, `{"errors":[{"message":`) {
					t.Errorf("error body is not the JSON error shape: %s", r.body)
				}
			})
		}

		// A contract whose strings are SQL is data: stored and listed as is.
		evil := `'; DROP TABLE services; --`
		if _, err := d.client(t, svc.tls).SubmitContract(ctx, 4711, svc.sign(t, contractFor(t, 4711, 2, evil))); err != nil {
			t.Fatalf("contract named with SQL: %v", err)
		}
		list, err := d.client(t, nil).Services(ctx, nil, 10)
		if err != nil || len(list.Services) != 1 || list.Services[0].Name != evil {
			t.Errorf("listing: %+v %v", list, err)
		}

		// Nothing changed, and the directory still answers.
		after, err := d.client(t, nil).Status(ctx)
		if err != nil {
			t.Fatalf("status after the bad input: %v", err)
		}
		if fmt.Sprint(after.Counts) != fmt.Sprint(before.Counts) {
			t.Errorf("counts changed from %v to %v", before.Counts, after.Counts)
		}
		wantAddrs(t, d.dns, accountName(aid), "192.0.2.1")
		if exited, err := d.proc.Exited(); exited {
			t.Fatalf("directory exited: %v", err)
		}
	})
}
