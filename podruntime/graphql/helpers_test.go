package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/contract"
)

const (
	// addressbookPath is the reference's published contract, shared by the
	// project and never copied into the repository.
	addressbookPath = "../../../shared/contracts/addressbook.json"
	demoPath        = "../../config/samples/contracts/addressbook-demo.json"
	// kindsPath is a test contract with a field of every kind.
	kindsPath = "testdata/kinds.json"
)

// callerHeader carries the test's caller as JSON; the test server's
// middleware puts it in the request context as the pod's auth would.
const callerHeader = "X-Test-Caller"

func loadContract(t testing.TB, path string) *contract.Contract {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Parse(b)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return c
}

// Callers of the tests.
var (
	owner     = contract.Caller{Entity: contract.EntityMember}
	service   = contract.Caller{Entity: contract.EntityService}
	anyMember = contract.Caller{Entity: contract.EntityAnyMember}
	anonymous = contract.Caller{Entity: contract.EntityAnonymous}
)

func network(relation string) contract.Caller {
	return contract.Caller{Entity: contract.EntityNetwork, Relations: []string{relation}, Distance: 1}
}

type testServer struct {
	c    *contract.Contract
	data *memData
	h    http.Handler
	srv  *httptest.Server
}

// withTestCaller is the test's stand-in for the pod's authentication.
func withTestCaller(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(callerHeader); v != "" {
			var c contract.Caller
			if err := json.Unmarshal([]byte(v), &c); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r = r.WithContext(WithCaller(r.Context(), c))
		}
		h.ServeHTTP(w, r)
	})
}

func newTestServer(t testing.TB, path string, opts Options) *testServer {
	t.Helper()
	c := loadContract(t, path)
	data := newMemData(t, c)
	h, err := NewHandler(c, data, opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	ts := &testServer{c: c, data: data, h: withTestCaller(h)}
	ts.srv = httptest.NewServer(ts.h)
	t.Cleanup(ts.srv.Close)
	return ts
}

// gqlResponse is a GraphQL response as a client decodes it.
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

func (e gqlError) code() string { c, _ := e.Extensions["code"].(string); return c }

// pathString renders a path like "person.email" or "x.edges.0.node".
func (e gqlError) pathString() string {
	var parts []string
	for _, p := range e.Path {
		switch p := p.(type) {
		case string:
			parts = append(parts, p)
		case float64:
			parts = append(parts, strconv.FormatFloat(p, 'f', -1, 64))
		}
	}
	return strings.Join(parts, ".")
}

// post sends one GraphQL request as caller and decodes the answer.
func (ts *testServer) post(t testing.TB, caller contract.Caller, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body := map[string]any{"query": query}
	if vars != nil {
		body["variables"] = vars
	}
	return ts.postBody(t, caller, body)
}

func (ts *testServer) postBody(t testing.TB, caller contract.Caller, body any) gqlResponse {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return ts.send(t, caller, http.MethodPost, "/", "application/json", bytes.NewReader(b))
}

func (ts *testServer) send(t testing.TB, caller contract.Caller, method, target, contentType string, body io.Reader) gqlResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, ts.srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	cb, _ := json.Marshal(caller)
	req.Header.Set(callerHeader, string(cb))
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := gqlResponse{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s %s: status %d, body is not JSON: %v\n%s", method, target, resp.StatusCode, err, raw)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d: %s", method, target, resp.StatusCode, raw)
	}
	return r
}

// mustOK fails the test unless the response has no errors.
func mustOK(t testing.TB, r gqlResponse) gqlResponse {
	t.Helper()
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("status %d, errors: %s", r.Status, r.Raw)
	}
	return r
}

// dig follows keys and indexes into decoded JSON.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		case int:
			l, ok := v.([]any)
			if !ok || p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

// errorAt returns the error of the response at path, if any.
func (r gqlResponse) errorAt(path string) (gqlError, bool) {
	for _, e := range r.Errors {
		if e.pathString() == path {
			return e, true
		}
	}
	return gqlError{}, false
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
