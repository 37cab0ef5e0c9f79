package p2p_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/test/testenv"
)

// testPod is a byoda pod process on its own loopback address, and its
// owner, logged in.
type testPod struct {
	name     string
	addr     netip.Addr
	account  uuid.UUID
	members  map[uint32]uuid.UUID
	dataDir  string
	password string
	extra    []string
	proc     *testenv.Process
	owner    *http.Client
	tokens   map[uint32]string
}

// startPod creates an account and a membership of each service in sids
// (the demo service when none), registers the pod's names in DNS and
// starts it, with extra flags.
func startPod(t testing.TB, name string, sids []uint32, extra ...string) *testPod {
	t.Helper()
	if len(sids) == 0 {
		sids = []uint32{demoSID}
	}
	dir := openPKI(t)
	a := testenv.NewPodAccount(t, dir)
	a.Owner.Timeout = 60 * time.Second
	p := &testPod{
		name:     name,
		addr:     addrs.take(),
		account:  a.ID,
		members:  map[uint32]uuid.UUID{},
		dataDir:  a.DataDir,
		password: a.Password,
		extra:    extra,
		owner:    a.Owner,
		tokens:   map[uint32]string{},
	}
	register(t, pki.AccountName(a.ID, network), p.addr)
	for _, sid := range sids {
		mid, err := dir.CreateMember(sid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.members[sid] = mid
		register(t, pki.MemberName(sid, mid, network), p.addr)
	}
	p.start(t)
	return p
}

// args is the pod's command line.
func (p *testPod) args() []string {
	args := []string{"pod",
		"--network", network,
		"--pki-dir", pkiDir,
		"--account", p.account.String(),
		"--data-dir", p.dataDir,
		"--listen", p.ownerAddr(),
		"--peer-listen", netip.AddrPortFrom(p.addr, uint16(peerPort)).String(),
		"--owner-password-file", filepath.Join(p.dataDir, testenv.OwnerPasswordFile),
		"--dns-server", dnsAddr,
		"--network-peer-port", strconv.Itoa(peerPort),
		"--log-level", "debug",
	}
	for _, sid := range slices.Sorted(func(yield func(uint32) bool) {
		for sid := range p.members {
			if !yield(sid) {
				return
			}
		}
	}) {
		args = append(args, "--contract", contractFiles[sid], "--member", fmt.Sprintf("%d=%s", sid, p.members[sid]))
	}
	return append(args, p.extra...)
}

func (p *testPod) ownerAddr() string { return netip.AddrPortFrom(p.addr, uint16(ownerPort)).String() }

// mid is the pod's member id of service sid.
func (p *testPod) mid(sid uint32) uuid.UUID { return p.members[sid] }

// start runs the pod and waits until its status answers.
func (p *testPod) start(t testing.TB) {
	t.Helper()
	p.proc = testenv.StartProcess(t, p.name+"-"+p.account.String()[:8], byodaBin, p.args(), []string{"GORACE=halt_on_error=1"})
	testenv.Eventually(t, 30*time.Second, "pod "+p.name+" ready", p.proc, func(ctx context.Context) error {
		return testenv.HTTPOK(ctx, p.owner, "https://"+p.ownerAddr()+"/api/v1/status")
	})
}

// token logs the owner in for service sid, once.
func (p *testPod) token(t testing.TB, sid uint32) string {
	t.Helper()
	if tok := p.tokens[sid]; tok != "" {
		return tok
	}
	body, _ := json.Marshal(map[string]any{"username": p.account.String(), "password": p.password, "service_id": sid})
	status, data := p.post(t, "/api/v1/pod/authtoken", body, "")
	var resp struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(data, &resp); status != http.StatusOK || err != nil || resp.AuthToken == "" {
		t.Fatalf("log in to %s: %d %s", p.name, status, data)
	}
	p.tokens[sid] = resp.AuthToken
	return resp.AuthToken
}

func (p *testPod) post(t testing.TB, path string, body []byte, token string) (int, []byte) {
	t.Helper()
	status, data, err := p.postErr(path, body, token)
	if err != nil {
		t.Fatalf("%s %s: %v", p.name, path, err)
	}
	return status, data
}

// postErr posts body to path of the owner port; it is for goroutines other
// than the test's, which may not end the test.
func (p *testPod) postErr(path string, body []byte, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+p.ownerAddr()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.owner.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// gql sends a GraphQL request for service sid as the pod's owner.
func (p *testPod) gql(t testing.TB, sid uint32, query string, vars map[string]any) *gqlResp {
	t.Helper()
	return p.gqlExt(t, sid, query, vars, nil)
}

// gqlExt is gql with request extensions.
func (p *testPod) gqlExt(t testing.TB, sid uint32, query string, vars, ext map[string]any) *gqlResp {
	t.Helper()
	body, err := json.Marshal(peer.Request{Query: query, Variables: vars, Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	status, data := p.post(t, peer.DataPath(sid), body, p.token(t, sid))
	return parseResp(t, status, data)
}

// link makes the pod's owner link member mid with relation, in sid.
func (p *testPod) link(t testing.TB, sid uint32, mid uuid.UUID, relation string) {
	t.Helper()
	p.gql(t, sid, `mutation($m: UUID!, $r: String!, $ts: DateTime!) {
		append_network_links(member_id: $m, relation: $r, created_timestamp: $ts) }`,
		map[string]any{"m": mid.String(), "r": relation, "ts": now()}).ok(t)
}

// addAddress appends an address whose street names the pod, and returns
// its id.
func (p *testPod) addAddress(t testing.TB, city string) string {
	t.Helper()
	id := uuid.NewString()
	p.gql(t, demoSID, `mutation($id: UUID!, $ts: DateTime!, $s: String, $c: String!) {
		append_addresses(address_id: $id, created_timestamp: $ts, label: "home", street: $s, city: $c, country: "NL") }`,
		map[string]any{"id": id, "ts": now(), "s": p.name + " street", "c": city}).ok(t)
	return id
}

// addProfile appends a profile (service profilesSID) and returns its id.
func (p *testPod) addProfile(t testing.TB) string {
	t.Helper()
	id := uuid.NewString()
	p.gql(t, profilesSID, `mutation($id: UUID!, $ts: DateTime!, $n: String!) {
		append_profiles(profile_id: $id, created_timestamp: $ts, name: $n) }`,
		map[string]any{"id": id, "ts": now(), "n": p.name}).ok(t)
	return id
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// metrics reads the pod's /metrics: each sample by its name and sorted
// labels, such as byoda_pod_recursive_refusals_total{reason="depth",service="4711"}.
func (p *testPod) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := p.owner.Get("https://" + p.ownerAddr() + "/metrics")
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	out, err := testenv.ParseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("%s /metrics: %v", p.name, err)
	}
	return out
}

// refusals is the pod's byoda_pod_recursive_refusals_total of service sid
// and reason.
func refusals(m map[string]float64, sid uint32, reason string) float64 {
	return m[fmt.Sprintf(`byoda_pod_recursive_refusals_total{reason=%q,service="%d"}`, reason, sid)]
}

// peerCalls is the pod's byoda_pod_peer_calls_total of sid and outcome.
func peerCalls(m map[string]float64, sid uint32, outcome string) float64 {
	return m[fmt.Sprintf(`byoda_pod_peer_calls_total{outcome=%q,service="%d"}`, outcome, sid)]
}

// gqlResp is a GraphQL response.
type gqlResp struct {
	Status     int                        `json:"-"`
	Data       map[string]json.RawMessage `json:"data"`
	Errors     []gqlError                 `json:"errors"`
	Extensions map[string]json.RawMessage `json:"extensions"`
	Raw        string                     `json:"-"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string   { s, _ := e.Extensions["code"].(string); return s }
func (e gqlError) reason() string { s, _ := e.Extensions["reason"].(string); return s }

func parseResp(t testing.TB, status int, data []byte) *gqlResp {
	t.Helper()
	r := &gqlResp{Status: status, Raw: string(data)}
	if err := json.Unmarshal(data, r); err != nil {
		t.Fatalf("response is not JSON (%d): %v: %.2000s", status, err, data)
	}
	return r
}

// ok fails the test if the response has errors.
func (r *gqlResp) ok(t testing.TB) *gqlResp {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("GraphQL request failed: %d %.4000s", r.Status, r.Raw)
	}
	return r
}

// refused fails the test unless the response is one error with code and,
// when reason is not empty, extensions.reason.
func (r *gqlResp) refused(t testing.TB, code, reason string) gqlError {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].code() != code || (reason != "" && r.Errors[0].reason() != reason) {
		t.Fatalf("want one error %s (reason %q), got %d %.3000s", code, reason, r.Status, r.Raw)
	}
	return r.Errors[0]
}

// connPage is a C_page.
type connPage struct {
	Edges []struct {
		Cursor string         `json:"cursor"`
		Origin *string        `json:"origin"`
		Node   map[string]any `json:"node"`
	} `json:"edges"`
	PageInfo struct {
		EndCursor   string `json:"end_cursor"`
		HasNextPage bool   `json:"has_next_page"`
	} `json:"page_info"`
	TotalCount int `json:"total_count"`
}

// page reads the connection field of the response.
func (r *gqlResp) page(t testing.TB, field string) *connPage {
	t.Helper()
	var p *connPage
	if err := json.Unmarshal(r.Data[field], &p); err != nil || p == nil {
		t.Fatalf("no %s in the answer (%v): %.3000s", field, err, r.Raw)
	}
	return p
}

// unansweredPeer is an entry of extensions.unanswered_peers.
type unansweredPeer struct {
	MemberID string `json:"member_id"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
	Via      string `json:"via"`
}

func (r *gqlResp) unanswered(t testing.TB) []unansweredPeer {
	t.Helper()
	raw, ok := r.Extensions["unanswered_peers"]
	if !ok {
		return nil
	}
	var list []unansweredPeer
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("extensions.unanswered_peers: %v: %s", err, raw)
	}
	return list
}

// record is one edge of a recursive answer: the pod it came from (by
// name) and the record's id.
type record struct{ from, id string }

// records lists the edges of a page as records, naming each origin after
// the pod of pods whose member id of sid it is (an edge without an origin
// after self, the pod asked).
func records(t testing.TB, p *connPage, self string, sid uint32, idField string, pods ...*testPod) []record {
	t.Helper()
	var out []record
	for _, e := range p.Edges {
		from := self
		if e.Origin != nil {
			from = "?" + *e.Origin
			for _, q := range pods {
				if q.mid(sid).String() == *e.Origin {
					from = q.name
				}
			}
		}
		id, _ := e.Node[idField].(string)
		out = append(out, record{from: from, id: id})
	}
	return out
}

// dialAddr dials addr: the test's clients reach pods by address.
func dialAddr(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
