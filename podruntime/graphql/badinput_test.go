package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBadInput sends what clients get wrong and checks that each gets a
// clear error with a code, never a 500, and changes nothing.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{MaxDepth: 3, MaxComplexity: 2000})
	seedAddresses(t, ts)
	for _, tc := range []struct {
		name       string
		query      string
		vars       map[string]any
		status     int
		code, text string
	}{
		{"malformed", `{ person { given_name `, nil, 422, "GRAPHQL_PARSE_FAILED", "Expected Name"},
		{"no operation", ``, nil, 422, "GRAPHQL_VALIDATION_FAILED", "no operation"},
		{"unknown field", `{ person { shoe_size } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", `Cannot query field "shoe_size" on type "person"`},
		{"unknown class", `{ pets_connection { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", `Cannot query field "pets_connection"`},
		{"wrong argument type", `{ addresses_connection(first: "ten") { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "Int cannot represent"},
		{"wrong variable type", `query($f: Int) { addresses_connection(first: $f) { total_count } }`, map[string]any{"f": true}, 422, "GRAPHQL_VALIDATION_FAILED", "cannot use bool as Int"},
		{"integer variable as a string", `query($f: Int) { addresses_connection(first: $f) { total_count } }`, map[string]any{"f": "10"}, 200, CodeBadUserInput, `argument first: want an integer, got "10"`},
		{"int literal beyond 64 bits", `{ addresses_connection(first: 99999999999999999999) { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "32-bit"},
		{"int literal beyond 32 bits", `{ addresses_connection(first: 99999999999) { total_count } }`, nil, 200, CodeBadUserInput, "argument first is 99999999999; want 0 to 500"},
		{"float out of range", `mutation { update_addresses(filter: {}, street: 1e999) }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "String cannot represent"},
		{"first above the limit", `{ addresses_connection(first: 1000) { total_count } }`, nil, 200, CodeBadUserInput, "argument first is 1000; want 0 to 500"},
		{"negative first", `{ addresses_connection(first: -1) { total_count } }`, nil, 200, CodeBadUserInput, "argument first is -1"},
		{"recursive query", `{ addresses_connection(depth: 1) { total_count } }`, nil, 200, CodeNotImplemented, "this pod does not query other pods"},
		{"remote member", `{ addresses_connection(remote_member_id: "` + uuidN(1) + `") { total_count } }`, nil, 200, CodeNotImplemented, "this pod does not query other pods"},
		{"negative depth", `{ addresses_connection(depth: -1) { total_count } }`, nil, 200, CodeBadUserInput, "argument depth is -1; want 0 or more"},
		{"recursive append", `mutation { append_tags(value: "x", depth: 2) }`, nil, 200, CodeBadUserInput, "an append goes to one pod: want 0"},
		{"remote append", `mutation { append_tags(value: "x", remote_member_id: "` + uuidN(1) + `") }`, nil, 200, CodeNotImplemented, "this pod does not talk to other pods"},
		{"bad uuid literal", `{ addresses_connection(filter: {address_id: {eq: "nope"}}) { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "UUID cannot represent"},
		{"uuid as a huge number", `{ addresses_connection(filter: {address_id: {eq: 123456789012345678901234567890}}) { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "UUID cannot represent"},
		{"bad date-time literal", `{ addresses_connection(filter: {created_timestamp: {after: "yesterday"}}) { total_count } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "DateTime cannot represent"},
		{"bad uuid variable", `query($id: UUID) { addresses_connection(filter: {address_id: {eq: $id}}) { total_count } }`, map[string]any{"id": "nope"}, 200, CodeBadUserInput, "argument filter.address_id.eq: want a UUID"},
		{"bad regex", `{ addresses_connection(filter: {city: {regex: "(unclosed"}}) { total_count } }`, nil, 200, CodeBadUserInput, "argument filter.city.regex: want a regular expression"},
		{"pattern too long", `{ addresses_connection(filter: {city: {glob: "` + strings.Repeat("*", 2000) + `"}}) { total_count } }`, nil, 200, CodeBadUserInput, "want at most 1024"},
		{"missing required argument", `mutation { append_addresses(address_id: "` + uuidN(9) + `", created_timestamp: "2025-01-01T00:00:00Z", city: "X") }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", `argument "country" of type "String!" is required`},
		{"value the contract refuses", `mutation { append_addresses(address_id: "` + uuidN(9) + `", created_timestamp: "2025-01-01T00:00:00Z", city: "X", country: "NL", label: "castle") }`, nil, 200, CodeBadUserInput, `/label: want one of "home", "work", "other"`},
		{"mutation without fields", `mutation { update_addresses(filter: {city: {eq: "Utrecht"}}) }`, nil, 200, CodeBadUserInput, "give at least one field"},
		{"too deep", `{ addresses_connection { edges { node { city } } } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "the operation nests fields 4 deep; the limit is 3"},
		{"too deep through a fragment", `{ addresses_connection { ...E } } fragment E on addresses_page { edges { node { city } } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "4 deep"},
		{"too complex", `{ a: addresses_connection(first: 500) { total_count page_info { end_cursor } } b: addresses_connection(first: 500) { total_count page_info { end_cursor } } }`, nil, 200, "COMPLEXITY_LIMIT_EXCEEDED", "the operation costs at least 3002, over the limit of 2000"},
		{"subscription field in a query", `{ addresses_updates { action } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", `Cannot query field "addresses_updates" on type "Query"`},
		{"skip without a boolean", `query($s: Boolean) { person @skip(if: $s) { given_name } }`, nil, 422, "GRAPHQL_VALIDATION_FAILED", "Boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.data.snapshot()
			r := ts.post(t, owner, tc.query, tc.vars)
			if r.Status != tc.status {
				t.Errorf("status %d; want %d: %s", r.Status, tc.status, r.Raw)
			}
			if len(r.Errors) == 0 {
				t.Fatalf("no error: %s", r.Raw)
			}
			if tc.code != "" && r.Errors[0].code() != tc.code {
				t.Errorf("code %q; want %q: %s", r.Errors[0].code(), tc.code, r.Raw)
			}
			if !strings.Contains(r.Errors[0].Message, tc.text) {
				t.Errorf("message %q; want it to contain %q", r.Errors[0].Message, tc.text)
			}
			if ts.data.snapshot() != before {
				t.Errorf("the data changed")
			}
		})
	}
}

// TestScalarLiterals checks the literals of the schema's own scalars,
// which gqlparser does not, wherever they appear.
func TestScalarLiterals(t *testing.T) {
	ts := newTestServer(t, kindsPath, Options{})
	base := `event_id: "` + uuidN(1) + `", at: "2025-01-01T00:00:00Z", title: "t", `
	for _, tc := range []struct{ args, want string }{
		{`related: 123456789012345678901234567890`, "UUID cannot represent 123456789012345678901234567890"},
		{`related: [1, "` + uuidN(2) + `"]`, "UUID cannot represent 1"},
		{`related: "nope"`, `UUID cannot represent "nope"`},
		{`related: [true]`, "UUID cannot represent true"},
		{`parts: [{name: "n"}], tags: ["x"], related: [{a: 1}]`, "UUID cannot represent {a:1}"},
	} {
		r := ts.post(t, owner, `mutation { append_events(`+base+tc.args+`) }`, nil)
		if r.Status != http.StatusUnprocessableEntity || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, tc.want) {
			t.Errorf("%s: %s; want 422 and %q", tc.args, r.Raw, tc.want)
		}
	}
	mustOK(t, ts.post(t, owner, `mutation { append_events(`+base+`related: "`+uuidN(2)+`") }`, nil))
	r := mustOK(t, ts.post(t, owner, `{ events_connection { edges { node { related } } } }`, nil))
	if !strings.Contains(r.Raw, `"related":["`+uuidN(2)+`"]`) {
		t.Errorf("a single UUID is a list of one: %s", r.Raw)
	}
}

// TestDepthLimit checks the limit at its edge, and that introspection does
// not count.
func TestDepthLimit(t *testing.T) {
	ts := newTestServer(t, kindsPath, Options{MaxDepth: 4})
	mustOK(t, ts.post(t, owner, `{ events_connection { edges { node { title } } } }`, nil))
	r := ts.post(t, owner, `{ events_connection { edges { node { parts { name } } } } }`, nil)
	if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "nests fields 5 deep; the limit is 4") {
		t.Errorf("5 deep: %s", r.Raw)
	}
	r = ts.post(t, owner, `{ ...A } fragment A on Query { events_connection { ...B } } fragment B on events_page { edges { node { parts { name } } } }`, nil)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Raw, "5 deep") {
		t.Errorf("5 deep through fragments: %s", r.Raw)
	}
	mustOK(t, ts.post(t, owner, introspectionQuery, nil))
}

// TestComplexityLimit: an operation's cost is remembered only when it
// cannot change: the same text is refused every time, and with variables
// each request is costed with its own page size.
func TestComplexityLimit(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{MaxComplexity: 2000})
	const tooComplex = `{ a: addresses_connection(first: 500) { total_count page_info { end_cursor } } b: addresses_connection(first: 500) { total_count page_info { end_cursor } } }`
	for i := range 2 {
		r := ts.post(t, owner, tooComplex, nil)
		if len(r.Errors) == 0 || r.Errors[0].code() != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("request %d: %s; want COMPLEXITY_LIMIT_EXCEEDED", i+1, r.Raw)
		}
	}
	const paged = `query($n: Int) { a: addresses_connection(first: $n) { total_count page_info { end_cursor } } b: addresses_connection(first: $n) { total_count page_info { end_cursor } } }`
	for _, tc := range []struct {
		first   int
		refused bool
	}{{10, false}, {500, true}, {10, false}} {
		r := ts.post(t, owner, paged, map[string]any{"n": tc.first})
		if refused := len(r.Errors) > 0 && r.Errors[0].code() == "COMPLEXITY_LIMIT_EXCEEDED"; refused != tc.refused {
			t.Errorf("first %d: %s; want refused %v", tc.first, r.Raw, tc.refused)
		}
	}
}

// TestRequestLimits covers what is wrong before GraphQL starts.
func TestRequestLimits(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{MaxBodyBytes: 1024})
	big := fmt.Sprintf(`{"query": "{ person { given_name } }", "variables": {"pad": %q}}`, strings.Repeat("x", 2000))
	for _, tc := range []struct {
		name, method, contentType, body string
		status                          int
		text                            string
	}{
		{"body too large", http.MethodPost, "application/json", big, http.StatusRequestEntityTooLarge, "request body too large"},
		{"not JSON", http.MethodPost, "application/json", `{"query": `, http.StatusBadRequest, "could not be decoded"},
		{"query not a string", http.MethodPost, "application/json", `{"query": 5}`, http.StatusBadRequest, "could not be decoded"},
		{"wrong content type", http.MethodPost, "text/plain", `{"query": "{ person { given_name } }"}`, http.StatusUnsupportedMediaType, "want application/json"},
		{"unsupported method", http.MethodPut, "application/json", `{}`, http.StatusBadRequest, "transport not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.send(t, owner, tc.method, "/", tc.contentType, strings.NewReader(tc.body))
			if r.Status != tc.status || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, tc.text) {
				t.Errorf("status %d: %s; want %d and %q", r.Status, r.Raw, tc.status, tc.text)
			}
		})
	}
	// Without Content-Length the limit holds too.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body too large: status %d", rec.Code)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// panicData panics in Get, as a bug in a Data would.
type panicData struct{ *memData }

func (panicData) Get(context.Context, string) (Record, error) { panic("secret internal state") }

func TestDataErrors(t *testing.T) {
	var logs bytes.Buffer
	opts := Options{Logger: slogTo(&logs)}
	ts := newTestServer(t, demoPath, opts)
	seedAddresses(t, ts)

	ts.data.fail = errors.New("disk on fire at /var/secret")
	r := ts.post(t, owner, `{ addresses_connection { total_count } tags_connection { total_count } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) != 2 || r.Errors[0].code() != CodeInternal || strings.Contains(r.Raw, "disk on fire") {
		t.Errorf("internal error: %s", r.Raw)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the log lacks the error: %s", logs.String())
	}
	ts.data.fail = fmt.Errorf("%w: object store timed out", ErrUnavailable)
	r = ts.post(t, owner, `{ addresses_connection { total_count } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].code() != CodeUnavailable || r.Errors[0].pathString() != "addresses_connection" {
		t.Errorf("unavailable: %s", r.Raw)
	}
	ts.data.fail = nil

	// A panic in Data is an INTERNAL error on its field; the others answer.
	c := loadContract(t, demoPath)
	h, err := NewHandler(c, panicData{newMemData(t, c)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	pts := &testServer{c: c, h: withTestCaller(h)}
	pts.srv = httptest.NewServer(pts.h)
	defer pts.srv.Close()
	r = pts.post(t, owner, `{ person { given_name } tags_connection { total_count } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].code() != CodeInternal || r.Errors[0].pathString() != "person" ||
		strings.Contains(r.Raw, "secret internal state") || dig(r.Data, "tags_connection", "total_count") != float64(0) {
		t.Errorf("panic: %s", r.Raw)
	}
	if !strings.Contains(logs.String(), "secret internal state") {
		t.Errorf("the log lacks the panic")
	}
}

// FuzzQuery sends arbitrary queries and variables through the handler: the
// answer is always JSON with a status below 500.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		`{ person { given_name email } }`,
		`{ addresses_connection(first: 2, filter: {city: {regex: "a"}}) { edges { cursor node { city } } page_info { has_next_page } } }`,
		`mutation { append_tags(value: "x") }`,
		`query($f: address_filter) { addresses_connection(filter: $f) { total_count } }`,
		`{ __schema { types { name fields { name } } } }`,
		`{ ...F } fragment F on Query { person { __typename } }`,
		`subscription { addresses_counter }`,
	} {
		f.Add(seed, `{"f": {"city": {"eq": "x"}}}`)
	}
	c := loadContract(f, demoPath)
	h, err := NewHandler(c, newMemData(f, c), Options{})
	if err != nil {
		f.Fatal(err)
	}
	h = withTestCaller(h)
	f.Fuzz(func(t *testing.T, query, vars string) {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(validJSON(vars))})
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(callerHeader, `{"Entity":1}`)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, query, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON for %q: %s", query, rec.Body)
		}
	})
}

// validJSON returns s when it is a JSON object, else null.
func validJSON(s string) string {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return "null"
	}
	return s
}
