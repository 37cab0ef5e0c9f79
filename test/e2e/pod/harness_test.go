package pod_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// podOptions say how to run a test pod.
type podOptions struct {
	// contracts are the contract files, with their service ids; default
	// the demo contract.
	contracts map[uint32]string
	// storage is the --storage URL; default local storage in the data
	// directory.
	storage string
	// env is extra environment, such as S3 credentials.
	env []string
}

// testPod is a byoda pod process and what a test needs to talk to it.
type testPod struct {
	opts        podOptions
	account     uuid.UUID
	accountName string
	members     map[uint32]uuid.UUID
	dataDir     string
	password    string
	ownerAddr   string
	peerAddr    string
	proc        *testenv.Process
	owner       *http.Client
}

// newPod creates an account and a membership of each service in the PKI
// directory, a data directory with a key-encryption key and an owner
// password, and starts the pod.
func newPod(t testing.TB, opts podOptions) *testPod {
	t.Helper()
	if opts.contracts == nil {
		opts.contracts = map[uint32]string{demoSID: demoContract}
	}
	a := testenv.NewPodAccount(t, openPKI(t))
	p := &testPod{
		opts:        opts,
		account:     a.ID,
		accountName: pki.AccountName(a.ID, network),
		members:     map[uint32]uuid.UUID{},
		dataDir:     a.DataDir,
		password:    a.Password,
		owner:       a.Owner,
	}
	for sid := range opts.contracts {
		p.members[sid] = newMember(t, sid)
	}
	p.start(t)
	return p
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// args returns the pod's command line for the given ports.
func (p *testPod) args(ownerPort, peerPort int) []string {
	args := []string{"pod",
		"--network", network,
		"--pki-dir", pkiDir,
		"--account", p.account.String(),
		"--data-dir", p.dataDir,
		"--listen", testenv.Addr(ownerPort),
		"--peer-listen", testenv.Addr(peerPort),
		"--owner-password-file", filepath.Join(p.dataDir, testenv.OwnerPasswordFile),
		"--log-level", "debug",
	}
	if p.opts.storage != "" {
		args = append(args, "--storage", p.opts.storage)
	}
	for sid, file := range p.opts.contracts {
		args = append(args, "--contract", file, "--member", fmt.Sprintf("%d=%s", sid, p.members[sid]))
	}
	return args
}

// start runs the pod on free ports and waits until its status answers.
func (p *testPod) start(t testing.TB) {
	t.Helper()
	var last string
	for range 3 {
		ownerPort, peerPort := testenv.FreePort(t), testenv.FreePort(t)
		p.ownerAddr, p.peerAddr = testenv.Addr(ownerPort), testenv.Addr(peerPort)
		// A pod built with the race detector dies on the first race, so
		// that the test sees it.
		env := append([]string{"GORACE=halt_on_error=1"}, p.opts.env...)
		p.proc = testenv.StartProcess(t, "pod-"+p.account.String()[:8], byodaBin, p.args(ownerPort, peerPort), env)
		err := p.waitReady(30 * time.Second)
		if err == nil {
			return
		}
		last = err.Error() + "\n" + p.proc.Tail(8<<10)
		p.proc.Stop()
		if !strings.Contains(last, "address already in use") {
			break
		}
	}
	t.Fatalf("pod did not start: %s", last)
}

// waitReady polls the status endpoint until it answers 200.
func (p *testPod) waitReady(timeout time.Duration) error {
	return testenv.Wait(context.Background(), timeout, p.proc, func(ctx context.Context) error {
		return testenv.HTTPOK(ctx, p.owner, "https://"+p.ownerAddr+"/api/v1/status")
	})
}

// restart stops the pod and starts it again on the same data.
func (p *testPod) restart(t testing.TB) {
	t.Helper()
	p.proc.StopCleanly(t)
	p.owner.CloseIdleConnections()
	p.start(t)
}

func (p *testPod) dataURL(sid uint32) string {
	return "https://" + p.ownerAddr + "/api/v1/data/service-" + strconv.FormatUint(uint64(sid), 10)
}

// login logs the owner in for service sid and returns the token.
func (p *testPod) login(t testing.TB, sid uint32) string {
	t.Helper()
	status, body := p.postJSON(t, "/api/v1/pod/authtoken", map[string]any{
		"username": p.account.String(), "password": p.password, "service_id": sid,
	})
	if status != http.StatusOK {
		t.Fatalf("login: %d %s", status, body)
	}
	var resp struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.AuthToken == "" {
		t.Fatalf("login: %v: %s", err, body)
	}
	return resp.AuthToken
}

// postJSON posts v to a path of the owner port.
func (p *testPod) postJSON(t testing.TB, path string, v any) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, p.owner, http.MethodPost, "https://"+p.ownerAddr+path, data, map[string]string{"Content-Type": "application/json"})
}

// do sends a request and returns the status and body.
func do(t testing.TB, c *http.Client, method, url string, body []byte, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// gqlResponse is a GraphQL response with its HTTP status.
type gqlResponse struct {
	Status int
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
	Raw    string
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

func (e gqlError) pathString() string {
	parts := make([]string, len(e.Path))
	for i, p := range e.Path {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}

// codes lists the codes of the response's errors.
func (r *gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, e.code())
	}
	return out
}

// ok fails the test if the response has errors.
func (r *gqlResponse) ok(t testing.TB) *gqlResponse {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("GraphQL request failed: %d %s", r.Status, r.Raw)
	}
	return r
}

// forbidden reports whether the response has a FORBIDDEN error at path.
func (r *gqlResponse) forbidden(path string) bool {
	for _, e := range r.Errors {
		if e.code() == "FORBIDDEN" && e.pathString() == path {
			return true
		}
	}
	return false
}

// graphQL posts a query to url with client and extra headers.
func graphQL(t testing.TB, c *http.Client, url string, headers map[string]string, query string, vars map[string]any) *gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	status, data := do(t, c, http.MethodPost, url, body, h)
	return parseGQL(t, status, data)
}

func parseGQL(t testing.TB, status int, data []byte) *gqlResponse {
	t.Helper()
	r := &gqlResponse{Status: status, Raw: string(data)}
	if err := json.Unmarshal(data, r); err != nil {
		t.Fatalf("response is not JSON (%d): %v: %s", status, err, data)
	}
	return r
}

// ownerGQL sends a query to service sid on the owner port, with the token
// when it is not empty.
func (p *testPod) ownerGQL(t testing.TB, sid uint32, token, query string, vars map[string]any) *gqlResponse {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return graphQL(t, p.owner, p.dataURL(sid), h, query, vars)
}

// peer is a client of the peer port with a certificate.
type peer struct {
	name   string
	client *http.Client
}

// newPeer returns a client that presents kp to pod p's peer port.
func newPeer(t testing.TB, p *testPod, name string, kp *pki.KeyPair, sid uint32) *peer {
	t.Helper()
	roots, err := openPKI(t).Roots()
	if err != nil {
		t.Fatal(err)
	}
	serverName := p.accountName
	if mid, ok := p.members[sid]; ok {
		serverName = fmt.Sprintf("%s.members-%d.%s", mid, sid, network)
	}
	c := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				MinVersion:   tls.VersionTLS13,
				RootCAs:      roots,
				ServerName:   serverName,
				Certificates: []tls.Certificate{kp.TLSCertificate()},
			},
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return &peer{name: name, client: c}
}

// memberPeer creates a new member of sid and returns it with a client.
func memberPeer(t testing.TB, p *testPod, sid uint32) (uuid.UUID, *peer) {
	t.Helper()
	mid := newMember(t, sid)
	kp, err := openPKI(t).MemberKey(sid, mid)
	if err != nil {
		t.Fatal(err)
	}
	return mid, newPeer(t, p, "member "+mid.String(), kp, sid)
}

// gql sends a query to service sid of pod p's peer port.
func (c *peer) gql(t testing.TB, p *testPod, sid uint32, query string, vars map[string]any) *gqlResponse {
	t.Helper()
	url := "https://" + p.peerAddr + "/api/v1/data/service-" + strconv.FormatUint(uint64(sid), 10)
	return graphQL(t, c.client, url, nil, query, vars)
}

// link makes the owner of p link member mid with relation, in service sid.
func (p *testPod) link(t testing.TB, sid uint32, token string, mid uuid.UUID, relation string) {
	t.Helper()
	p.ownerGQL(t, sid, token, `mutation($m: UUID!, $r: String!, $ts: DateTime!) {
		append_network_links(member_id: $m, relation: $r, created_timestamp: $ts)
	}`, map[string]any{"m": mid.String(), "r": relation, "ts": time.Now().UTC().Format(time.RFC3339)}).ok(t)
}
