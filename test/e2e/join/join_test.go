// Package join_test runs a byoda network as processes, outside any
// cluster: byoda directory (SQLite, with its DNS server), the demo
// service's byoda service, and two byoda pods that register their
// accounts, join the service and publish their names through the
// directories. One pod asks the other, found through the directory's DNS,
// for its family's addresses; then the service publishes contract
// versions that add a field (taken up without a restart) and that remove
// one (refused).
package join_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/devnet/directories"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

const (
	network = "byoda.test"
	sid     = 4711
)

var byodaBin string

func TestMain(m *testing.M) {
	os.Exit(testenv.RunSuite(m, "join", func(s *testenv.Suite) error {
		byodaBin = s.Byoda
		return nil
	}))
}

// world is the network: its PKI directory (the CAs, which only the
// directories use), the directory processes and the pods.
type world struct {
	pki      *pki.Dir
	roots    *x509.CertPool
	dirData  string
	dirURL   string
	dns      string
	dirProc  *testenv.Process
	svcPort  int
	svcData  string
	svcProc  *testenv.Process
	resolver *net.Resolver
}

// freePortOn returns a TCP port free on every one of addrs.
func freePortOn(t *testing.T, addrs ...string) int {
	t.Helper()
	for range 20 {
		port := testenv.FreePort(t)
		ok := true
		for _, a := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free on %v", addrs)
	return 0
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d, err := testenv.InitPKI(filepath.Join(t.TempDir(), "pki"), network, sid)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{pki: d, dirData: t.TempDir(), svcData: t.TempDir()}
	if w.roots, err = d.Roots(); err != nil {
		t.Fatal(err)
	}
	httpsPort, dnsPort := testenv.FreePort(t), testenv.FreeDNSPort(t)
	w.dirURL, w.dns = "https://"+testenv.Addr(httpsPort), testenv.Addr(dnsPort)
	w.dirProc = testenv.StartProcess(t, "directory", byodaBin, []string{"directory",
		"--pki-dir", d.Path(), "--data-dir", w.dirData,
		"--listen", testenv.Addr(httpsPort), "--dns-listen", w.dns, "--address", "127.0.0.1",
		"--dns-ttl", "1s", "--registration-rate", "-1", "--dns-rate", "-1", "--log-level", "debug",
	}, nil)
	testenv.Eventually(t, time.Minute, "network directory ready", w.dirProc, func(ctx context.Context) error {
		c, err := w.directory().Client(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Status(ctx)
		return err
	})
	w.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.dns)
	}}
	// The service's operator registers the service with the network
	// directory, which publishes its address.
	w.svcPort = testenv.FreePort(t)
	if err := w.directory().RegisterService(t.Context(), d, sid, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	return w
}

// directory is the network directory as its clients reach it.
func (w *world) directory() directories.Directory {
	return directories.Directory{URL: w.dirURL, CertFile: filepath.Join(w.dirData, "tls.crt"), Network: network}
}

func (w *world) serviceURL() string {
	return fmt.Sprintf("https://%s:%d", pki.ServiceName(sid, network), w.svcPort)
}

// publish has the network countersign contract raw and (re)starts the
// service's directory with it, as its operator does for a new version.
func (w *world) publish(t *testing.T, raw []byte) {
	t.Helper()
	signed, err := w.directory().SubmitContract(t.Context(), w.pki, raw)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "contract.json")
	if err := os.WriteFile(file, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if w.svcProc != nil {
		w.svcProc.Stop()
	}
	w.svcProc = testenv.StartProcess(t, "service", byodaBin, []string{"service",
		"--pki-dir", w.pki.Path(), "--service-id", strconv.Itoa(sid), "--contract", file,
		"--data-dir", w.svcData, "--listen", testenv.Addr(w.svcPort), "--registration-rate", "-1", "--log-level", "debug",
	}, nil)
	var want struct {
		Version int `json:"version"`
	}
	_ = json.Unmarshal(raw, &want)
	testenv.Eventually(t, time.Minute, "service directory ready", w.svcProc, func(ctx context.Context) error {
		c, err := client.New(w.serviceURL(), client.Options{Roots: w.roots, Resolver: w.resolver})
		if err != nil {
			return err
		}
		defer c.Close()
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if st.ContractVersion != want.Version {
			return fmt.Errorf("serves version %d", st.ContractVersion)
		}
		return nil
	})
}

// pod is a byoda pod process outside any cluster.
type pod struct {
	name     string
	addr     string
	account  uuid.UUID
	password string
	owner    string // https://<aid>.accounts.<net>:port
	proc     *testenv.Process
	http     *http.Client
	token    string
	member   string
}

// startPod runs a pod on addr whose PKI directory holds only the network's
// root: it registers its account with the network directory and joins the
// service through its directory.
func (w *world) startPod(t *testing.T, name, addr string, ownerPort, peerPort int) *pod {
	t.Helper()
	dir, password := testenv.NewPodDataDir(t)
	podPKI := filepath.Join(dir, "pki")
	rel, _ := pki.RelPaths(pki.Subject{Kind: pki.KindRootCA, Network: network})
	root, err := os.ReadFile(filepath.Join(w.pki.Path(), rel))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(podPKI, rel), root, 0o644)
	writeFile(t, filepath.Join(podPKI, pki.NetworkFile), pki.NetworkJSON(network), 0o644)
	p := &pod{name: name, addr: addr, account: uuid.New(), password: password}
	p.owner = fmt.Sprintf("https://%s:%d", pki.AccountName(p.account, network), ownerPort)
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: w.resolver}
	p.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: w.roots},
	}}
	t.Cleanup(p.http.CloseIdleConnections)
	p.proc = testenv.StartProcess(t, "pod-"+name, byodaBin, []string{"pod",
		"--network", network, "--pki-dir", podPKI, "--account", p.account.String(), "--data-dir", dir,
		"--listen", net.JoinHostPort(addr, strconv.Itoa(ownerPort)),
		"--peer-listen", net.JoinHostPort(addr, strconv.Itoa(peerPort)),
		"--owner-password-file", filepath.Join(dir, testenv.OwnerPasswordFile),
		"--join", w.serviceURL(),
		"--directory", w.dirURL, "--directory-ca", filepath.Join(w.dirData, "tls.crt"),
		"--dns-server", w.dns, "--network-peer-port", strconv.Itoa(peerPort),
		"--auto-upgrade", "--contract-poll-interval", "300ms",
		"--log-level", "debug",
	}, []string{"GORACE=halt_on_error=1"})
	// The owner reaches the pod by its account's name, which the network
	// directory's DNS resolves.
	testenv.Eventually(t, time.Minute, name+" ready", p.proc, func(ctx context.Context) error {
		_, err := p.status(ctx)
		return err
	})
	return p
}

func writeFile(t *testing.T, file string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, mode); err != nil {
		t.Fatal(err)
	}
}

type serviceStatus struct {
	ServiceID       uint32 `json:"service_id"`
	ContractVersion int    `json:"contract_version"`
	MemberID        string `json:"member_id"`
	ServiceURL      string `json:"service_url"`
	Conditions      []struct {
		Type, Status, Reason, Message string
	} `json:"conditions"`
}

func (p *pod) status(ctx context.Context) (*serviceStatus, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.owner+"/api/v1/status", nil)
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Services []serviceStatus `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	for i := range st.Services {
		if st.Services[i].ServiceID == sid {
			return &st.Services[i], nil
		}
	}
	return nil, fmt.Errorf("the pod has not joined service %d", sid)
}

func (p *pod) post(t *testing.T, path string, body any, out any) {
	t.Helper()
	if status := p.postStatus(t, path, body, out); status != http.StatusOK {
		t.Fatalf("%s %s: %d", p.name, path, status)
	}
}

// postStatus posts body as JSON and decodes the answer, whatever its
// status, into out.
func (p *pod) postStatus(t *testing.T, path string, body any, out any) int {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.owner+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(answer, out); err != nil {
		t.Fatalf("%s %s: %d %v: %s", p.name, path, resp.StatusCode, err, answer)
	}
	return resp.StatusCode
}

func (p *pod) login(t *testing.T) {
	t.Helper()
	var lr struct {
		AuthToken string `json:"auth_token"`
		MemberID  string `json:"member_id"`
	}
	p.post(t, "/api/v1/pod/authtoken", map[string]any{"username": p.account.String(), "password": p.password, "service_id": sid}, &lr)
	p.token, p.member = lr.AuthToken, lr.MemberID
}

type graphqlAnswer struct {
	Data       map[string]json.RawMessage `json:"data"`
	Errors     []struct{ Message string } `json:"errors"`
	Extensions map[string]json.RawMessage `json:"extensions"`
}

func (p *pod) graphql(t *testing.T, query string, vars map[string]any) graphqlAnswer {
	t.Helper()
	var ans graphqlAnswer
	status := p.postStatus(t, fmt.Sprintf("/api/v1/data/service-%d", sid), map[string]any{"query": query, "variables": vars}, &ans)
	if status != http.StatusOK && len(ans.Errors) == 0 {
		t.Fatalf("%s: GraphQL answered %d without errors", p.name, status)
	}
	return ans
}

func (p *pod) mustGraphQL(t *testing.T, query string, vars map[string]any) graphqlAnswer {
	t.Helper()
	ans := p.graphql(t, query, vars)
	if len(ans.Errors) > 0 {
		t.Fatalf("%s: %s: %v", p.name, query, ans.Errors)
	}
	return ans
}

const appendAddress = `mutation($id: UUID!, $ts: DateTime!, $c: String!, $n: String!) {
	append_addresses(address_id: $id, created_timestamp: $ts, city: $c, country: $n) }`

func (p *pod) addAddress(t *testing.T, city string) {
	t.Helper()
	p.mustGraphQL(t, appendAddress, map[string]any{"id": uuid.NewString(), "ts": time.Now().UTC().Format(time.RFC3339), "c": city, "n": "NL"})
}

func (p *pod) link(t *testing.T, to *pod, relation string) {
	t.Helper()
	p.mustGraphQL(t, `mutation($ts: DateTime!, $m: UUID!, $r: String!) { append_network_links(created_timestamp: $ts, member_id: $m, relation: $r) }`,
		map[string]any{"ts": time.Now().UTC().Format(time.RFC3339), "m": to.member, "r": relation})
}

// familyCities asks p, and through it the pods it links to as family, for
// addresses: the cities by the member id of the pod they came from.
func (p *pod) familyCities(t *testing.T, fields string) map[string][]string {
	t.Helper()
	ans := p.mustGraphQL(t, `{ addresses_connection(depth: 1, relations: ["family"]) { edges { origin node { `+fields+` } } } }`, nil)
	if u := ans.Extensions["unanswered_peers"]; len(u) > 0 && string(u) != "null" && string(u) != "[]" {
		t.Fatalf("%s: unanswered peers %s", p.name, u)
	}
	var conn struct {
		Edges []struct {
			Origin string         `json:"origin"`
			Node   map[string]any `json:"node"`
		} `json:"edges"`
	}
	if err := json.Unmarshal(ans.Data["addresses_connection"], &conn); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range conn.Edges {
		v := fmt.Sprint(e.Node["city"])
		if f, ok := e.Node["floor"]; ok && f != nil {
			v += "/" + fmt.Sprint(f)
		}
		out[e.Origin] = append(out[e.Origin], v)
	}
	return out
}

// TestJoinThroughDirectories is must-show 3 and 4 of joining through the
// directories.
func TestJoinThroughDirectories(t *testing.T) {
	w := newWorld(t)
	v1, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	w.publish(t, v1)

	// Two pods on addresses of their own, with the network's peer port.
	ownerPort := freePortOn(t, "127.0.0.2", "127.0.0.3")
	peerPort := freePortOn(t, "127.0.0.2", "127.0.0.3")
	suzie := w.startPod(t, "suzie", "127.0.0.2", ownerPort, peerPort)
	mike := w.startPod(t, "mike", "127.0.0.3", ownerPort, peerPort)
	for _, p := range []*pod{suzie, mike} {
		p.login(t)
		// Its names are in the network directory's DNS, at its address.
		for _, name := range []string{pki.AccountName(p.account, network), p.member + ".members-4711." + network} {
			addrs, err := w.resolver.LookupHost(t.Context(), name)
			if err != nil || len(addrs) != 1 || addrs[0] != p.addr {
				t.Fatalf("DNS %s = %v %v; want %s", name, addrs, err, p.addr)
			}
		}
		st, err := p.status(t.Context())
		if err != nil || st.ServiceURL != w.serviceURL() || st.ContractVersion != 1 {
			t.Fatalf("%s's status: %+v %v", p.name, st, err)
		}
	}

	// Must-show 3: Suzie's pod asks Mike's, found through the directory's
	// DNS, for the family's addresses.
	suzie.addAddress(t, "Amsterdam")
	mike.addAddress(t, "Brussels")
	suzie.link(t, mike, "family")
	mike.link(t, suzie, "family")
	got := suzie.familyCities(t, "city")
	if len(got[mike.member]) != 1 || got[mike.member][0] != "Brussels" || len(got[suzie.member]) != 1 || got[suzie.member][0] != "Amsterdam" {
		t.Fatalf("family addresses by origin: %v; want Amsterdam from %s (Suzie), Brussels from %s (Mike)", got, suzie.member, mike.member)
	}

	// Must-show 4: version 2 adds a field; the pods serve it without a
	// restart.
	const floorQuery = `{ addresses_connection { edges { node { city floor } } } }`
	if ans := suzie.graphql(t, floorQuery, nil); len(ans.Errors) == 0 {
		t.Fatal("version 1 serves floor")
	}
	v2 := testenv.ContractVersion(t, v1, 2, map[string]any{"/jsonschema/$defs/address/properties/floor": map[string]any{"type": "string"}})
	w.publish(t, v2)
	for _, p := range []*pod{suzie, mike} {
		testenv.Eventually(t, time.Minute, p.name+" serves version 2", p.proc, func(ctx context.Context) error {
			st, err := p.status(ctx)
			if err != nil {
				return err
			}
			if st.ContractVersion != 2 || len(st.Conditions) != 1 || st.Conditions[0].Reason != "Upgraded" {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
	}
	pids := map[string]int{suzie.name: suzie.proc.Pid(), mike.name: mike.proc.Pid()}
	mike.mustGraphQL(t, `mutation($id: UUID!, $ts: DateTime!) { append_addresses(address_id: $id, created_timestamp: $ts, city: "Ghent", country: "BE", floor: "3") }`,
		map[string]any{"id": uuid.NewString(), "ts": time.Now().UTC().Format(time.RFC3339)})
	got = suzie.familyCities(t, "city floor")
	if !contains(got[mike.member], "Ghent/3") || !contains(got[mike.member], "Brussels") || !contains(got[suzie.member], "Amsterdam") {
		t.Fatalf("family addresses with floors under version 2: %v", got)
	}

	// Version 3 removes a field: refused, with a message in the log and
	// the status; version 2 is served on.
	v3 := testenv.ContractVersion(t, v2, 3, map[string]any{"/jsonschema/properties/person/properties/birthday": nil})
	w.publish(t, v3)
	for _, p := range []*pod{suzie, mike} {
		testenv.Eventually(t, time.Minute, p.name+" refuses version 3", p.proc, func(ctx context.Context) error {
			st, err := p.status(ctx)
			if err != nil {
				return err
			}
			if len(st.Conditions) != 1 || st.Conditions[0].Reason != "UpgradeRefused" {
				return fmt.Errorf("status %+v", st)
			}
			if st.ContractVersion != 2 || !strings.Contains(st.Conditions[0].Message, `field "birthday" of class "person" was removed`) {
				return fmt.Errorf("refused, but status %+v", st)
			}
			return nil
		})
		logged := strings.Count(p.proc.Tail(1<<20), `"msg":"Refused a contract upgrade that changes or removes"`)
		if logged != 1 {
			t.Errorf("%s logged the refusal %d times; want once", p.name, logged)
		}
		if exited, err := p.proc.Exited(); exited || p.proc.Pid() != pids[p.name] {
			t.Fatalf("%s restarted or exited (%v)", p.name, err)
		}
	}
	got = suzie.familyCities(t, "city floor")
	if !contains(got[mike.member], "Ghent/3") {
		t.Fatalf("after refusing version 3: %v", got)
	}
	if err := mike.graphql(t, `{ person { birthday } }`, nil); len(err.Errors) > 0 {
		t.Fatalf("version 2's birthday is no longer served: %v", err.Errors)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
