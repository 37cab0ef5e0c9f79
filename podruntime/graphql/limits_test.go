package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/byoda-go/byoda/internal/requestid"
)

// limitCounter collects what Options.OnLimit is told.
type limitCounter struct {
	mu sync.Mutex
	n  map[Limit]int
}

func (c *limitCounter) onLimit(_ context.Context, l Limit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[Limit]int{}
	}
	c.n[l]++
}

func (c *limitCounter) count(l Limit) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[l]
}

// fanOut is a query whose fragments each spread the next twice, levels
// deep: 2^levels fields if expanded, a few hundred bytes a level as text.
func fanOut(levels int, on, field string) string {
	var sb strings.Builder
	for i := range levels {
		fmt.Fprintf(&sb, "fragment F%d on %s { %s ...F%d ...F%d }\n", i, on, field, i+1, i+1)
	}
	fmt.Fprintf(&sb, "fragment F%d on %s { %s }\n", levels, on, field)
	return sb.String()
}

// postWithin sends a query as an anonymous client that gives up after a
// generous deadline: a hang guard, not a timing.
func postWithin(t *testing.T, ts *testServer, query string) gqlResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer within the deadline: %v", err)
	}
	defer resp.Body.Close()
	r := gqlResponse{Status: resp.StatusCode, Raw: readAll(t, resp)}
	if err := json.Unmarshal([]byte(r.Raw), &r); err != nil {
		t.Fatalf("status %d: %s", resp.StatusCode, r.Raw)
	}
	return r
}

// loadQuery parses and validates a query of es's schema.
func loadQuery(es *executableSchema, query string) (*ast.QueryDocument, gqlerror.List) {
	return gqlparser.LoadQueryWithRules(es.schema, query, rules.NewDefaultRules())
}

// TestComplexityFanOut sends queries whose fragments each spread the next
// twice, 40 levels deep (about 2 KB): counting every spread, as the cost
// model does, is 2^40 fields, so the count must stop at the limit and
// remember each fragment's cost rather than walk them all.
func TestComplexityFanOut(t *testing.T) {
	var limits limitCounter
	ts := newTestServer(t, demoPath, Options{OnLimit: limits.onLimit})
	for name, query := range map[string]string{
		"query":         "{ ...F0 }\n" + fanOut(40, "Query", "__typename"),
		"introspection": "{ __schema { types { ...F0 } } }\n" + fanOut(40, "__Type", "name"),
		"in a page":     "{ addresses_connection(first: 500) { edges { node { ...F0 } } } }\n" + fanOut(40, "address", "city"),
	} {
		t.Run(name, func(t *testing.T) {
			if len(query) > 4096 {
				t.Fatalf("the query is %d bytes", len(query))
			}
			r := postWithin(t, ts, query)
			if len(r.Errors) != 1 || r.Errors[0].code() != codeComplexity || !strings.Contains(r.Errors[0].Message, "over the limit of 50000") {
				t.Fatalf("answer %.300s", r.Raw)
			}
		})
	}
	if n := limits.count(LimitComplexity); n != 3 {
		t.Errorf("OnLimit told of %d complexity refusals; want 3", n)
	}
	// A fan-out that stays within the limit is answered, once: the
	// executor merges the spreads of a fragment.
	r := mustOK(t, postWithin(t, ts, "{ ...F0 }\n"+fanOut(10, "Query", "__typename")))
	if r.Raw != `{"data":{"__typename":"Query"}}` {
		t.Errorf("10 levels: %s", r.Raw)
	}
}

// cancelAfter is a context whose Err reports it cancelled after n calls,
// as the request of a client that hangs up halfway.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestCostWalkWatchesContext counts an operation whose count is large
// (many aliases of __schema, with no limit to stop at) while the request's
// context ends: the walk stops within a few hundred fields of it.
func TestCostWalkWatchesContext(t *testing.T) {
	c := loadContract(t, demoPath)
	es, err := newExecutableSchema(c, newMemData(t, c), Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&sb, " a%d: __schema { types { name fields { name type { name } } } }", i)
	}
	sb.WriteString(" }")
	doc, errs := loadQuery(es, sb.String())
	if errs != nil {
		t.Fatal(errs)
	}
	op := doc.Operations[0]

	w := &costWalk{ctx: context.Background(), es: es, doc: doc, limit: math.MaxInt}
	full := w.selections(op.SelectionSet, introObj{})
	if w.err != nil || w.steps < 20*ctxCheckSteps {
		t.Fatalf("the whole count: %d in %d steps, %v", full, w.steps, w.err)
	}
	for _, checks := range []int{0, 1, 5} {
		w := &costWalk{ctx: &cancelAfter{context.Background(), checks}, es: es, doc: doc, limit: math.MaxInt}
		w.selections(op.SelectionSet, introObj{})
		if !errors.Is(w.err, context.Canceled) || w.steps > (checks+1)*ctxCheckSteps {
			t.Errorf("context ended after %d looks: the walk counted %d fields (of %d in all) and ended with %v", checks, w.steps, full, w.err)
		}
	}
	if _, err := operationCost(&cancelAfter{context.Background(), 0}, es, doc, op, nil, math.MaxInt); !errors.Is(err, context.Canceled) {
		t.Errorf("operationCost with an ended context: %v", err)
	}
}

// TestCostModel checks that the cost of queries without introspection is
// what gqlgen's complexity.Calculate made of them with the schema's
// Complexity, so that the new walk changes no verdict on them.
func TestCostModel(t *testing.T) {
	c := loadContract(t, kindsPath)
	es, err := newExecutableSchema(c, newMemData(t, c), Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		vars  map[string]any
	}{
		{query: `{ profile { name age } }`},
		{query: `{ __typename profile { __typename name } }`},
		{query: `{ events_connection { total_count } }`},
		{query: `{ events_connection(first: 7) { edges { cursor node { title parts { name qty } } } page_info { end_cursor has_next_page } total_count } }`},
		{query: `{ a: events_connection(first: 500) { total_count } b: events_connection(first: 0) { total_count } c: numbers_connection(first: 600) { edges { node } } }`},
		{query: `query($n: Int) { events_connection(first: $n) { edges { node { title } } } }`, vars: map[string]any{"n": json.Number("42")}},
		{query: `query($n: Int) { events_connection(first: $n) { edges { node { title } } } }`},
		{query: `query($n: Int = 3) { events_connection(first: $n) { edges { node { title } } } }`},
		{query: `{ ...Q ... on Query { profile { ...P } } } fragment Q on Query { events_connection(first: 3) { edges { node { ...E ...E } } } } fragment E on event { title count } fragment P on profile { name }`},
		{query: `mutation { append_numbers(value: 3) a: append_numbers(value: 4) }`},
		{query: `subscription { events_updates(filter: {title: {eq: "x"}}) { action node { title parts { name } } origin } }`},
	} {
		doc, errs := loadQuery(es, tc.query)
		if errs != nil {
			t.Fatalf("%s: %v", tc.query, errs)
		}
		op := doc.Operations[0]
		want := complexity.Calculate(context.Background(), es, op, tc.vars)
		got, err := operationCost(context.Background(), es, doc, op, tc.vars, math.MaxInt)
		if err != nil || got != want {
			t.Errorf("%s: cost %d, %v; gqlgen's complexity.Calculate %d", tc.query, got, err, want)
		}
	}
}

// TestIntrospectionCosts: introspection counts toward the cost, as much
// as its answer holds, so that many aliases of __schema are refused before
// any of them is answered, while a client's introspection of the schema
// (GraphiQL's query) is well within the default limit.
func TestIntrospectionCosts(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 1300 {
		fmt.Fprintf(&sb, "a%d:__schema{...S}", i)
	}
	sb.WriteString("} fragment S on __Schema { types { name kind fields { name } } }")
	if sb.Len() > 34<<10 {
		t.Fatalf("the query is %d bytes", sb.Len())
	}
	r := postWithin(t, ts, sb.String())
	if len(r.Errors) != 1 || r.Errors[0].code() != codeComplexity || len(r.Raw) > 1024 {
		t.Fatalf("1300 aliases of __schema: %.300s (%d bytes)", r.Raw, len(r.Raw))
	}
	r = mustOK(t, postWithin(t, ts, `{ a: __type(name: "address") { fields { name } } b: __type(name: "Nope") { name } }`))
	if n := len(dig(r.Data, "a", "fields").([]any)); n != 7 {
		t.Errorf("__type(name: address) has %d fields", n)
	}

	c := loadContract(t, addressbookPath)
	es, err := newExecutableSchema(c, newMemData(t, c), Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	doc, errs := loadQuery(es, introspectionQuery)
	if errs != nil {
		t.Fatal(errs)
	}
	cost, err := operationCost(context.Background(), es, doc, doc.Operations[0], nil, math.MaxInt)
	if err != nil || cost < 5000 || cost > DefaultMaxComplexity/2 {
		t.Errorf("GraphiQL's introspection of the addressbook contract costs %d (%v); want it to count its ~16,000 values, and to be well within the default limit", cost, err)
	}
}

// TestResponseSizeLimit: an answer that grows past MaxResponseBytes is not
// finished; the client gets data null and one error that says the limit,
// and the executor stops writing (the root fields after the one that
// passed the limit never run).
func TestResponseSizeLimit(t *testing.T) {
	const limit = 64 << 10
	var limits limitCounter
	var mu sync.Mutex
	observed := 0
	ts := newTestServer(t, demoPath, Options{MaxResponseBytes: limit, OnLimit: limits.onLimit,
		Observe: func(context.Context, Observation) { mu.Lock(); observed++; mu.Unlock() }})
	long := strings.Repeat("Lange Voorhout ", 70) // about 1 KB
	for i := range 200 {
		q := fmt.Sprintf(`mutation { append_addresses(address_id: %q, created_timestamp: "2025-03-01T12:00:00Z", street: %q, city: "Den Haag", country: "NL") }`, uuidN(i), long)
		mustOK(t, ts.post(t, owner, q, nil))
	}
	mustOK(t, ts.post(t, owner, `{ addresses_connection(first: 50) { edges { node { street } } } }`, nil))

	mu.Lock()
	observed = 0
	mu.Unlock()
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 20 {
		fmt.Fprintf(&sb, " a%d: addresses_connection(first: 100) { edges { node { street city } } }", i)
	}
	sb.WriteString(" }")
	for _, query := range []string{
		`{ addresses_connection(first: 200) { edges { node { street } } total_count } }`,
		sb.String(),
	} {
		r := ts.post(t, owner, query, nil)
		if len(r.Errors) != 1 || r.Errors[0].code() != CodeResponseTooLarge || r.Data != nil ||
			!strings.Contains(r.Errors[0].Message, fmt.Sprintf("the limit of %d bytes", limit)) || len(r.Raw) > 1024 {
			t.Errorf("answer of %d bytes: %.300s", len(r.Raw), r.Raw)
		}
	}
	mu.Lock()
	if observed != 1+1 {
		t.Errorf("%d root fields ran; want 2 (1 of the first query, 1 of the second's 20 before it passed the limit)", observed)
	}
	mu.Unlock()

	// Introspection is bounded the same way.
	small := newTestServer(t, demoPath, Options{MaxResponseBytes: 16 << 10, OnLimit: limits.onLimit})
	r := small.post(t, anonymous, introspectionQuery, nil)
	if len(r.Errors) != 1 || r.Errors[0].code() != CodeResponseTooLarge {
		t.Errorf("introspection over 16 KiB: %.300s", r.Raw)
	}
	if n := limits.count(LimitResponseSize); n != 3 {
		t.Errorf("OnLimit told of %d oversized answers; want 3", n)
	}
}

// TestLimitsCounted checks that OnLimit hears of each refusal for depth
// and body size (complexity, response size and websockets have their own
// tests).
func TestLimitsCounted(t *testing.T) {
	var limits limitCounter
	ts := newTestServer(t, kindsPath, Options{MaxDepth: 4, MaxBodyBytes: 2048, OnLimit: limits.onLimit})
	for range 2 {
		r := ts.post(t, owner, `{ events_connection { edges { node { parts { name } } } } }`, nil)
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("too deep: %s", r.Raw)
		}
	}
	r := ts.post(t, owner, `{ profile { name } }`+strings.Repeat(" ", 4096), nil)
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large: %d %s", r.Status, r.Raw)
	}
	mustOK(t, ts.post(t, owner, `{ profile { name } }`, nil))
	if d, b := limits.count(LimitDepth), limits.count(LimitBodySize); d != 2 || b != 1 {
		t.Errorf("OnLimit: %d depth and %d body size refusals; want 2 and 1", d, b)
	}
}

// TestInternalErrorRequestID: an INTERNAL error names the request's id
// (extensions.request_id, and in its message), and the log line that
// explains it carries the same id.
func TestInternalErrorRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(requestid.LogHandler(slog.NewJSONHandler(&logs, nil)))
	c := loadContract(t, demoPath)
	data := newMemData(t, c)
	for name, d := range map[string]Data{"error": data, "panic": panicData{data}} {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			h, err := NewHandler(c, d, Options{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(requestid.Handler(withTestCaller(h)))
			defer srv.Close()
			ts := &testServer{c: c, data: data, h: h, srv: srv}
			data.mu.Lock()
			data.fail = errors.New("disk on fire")
			data.mu.Unlock()
			defer func() {
				data.mu.Lock()
				data.fail = nil
				data.mu.Unlock()
			}()
			r := ts.post(t, owner, `{ person { given_name } }`, nil)
			if len(r.Errors) != 1 || r.Errors[0].code() != CodeInternal {
				t.Fatalf("answer: %s", r.Raw)
			}
			id, _ := r.Errors[0].Extensions["request_id"].(string)
			if len(id) != 16 || !strings.Contains(r.Errors[0].Message, "the pod's log has the details under request id "+id) {
				t.Fatalf("error %+v: want the request id in extensions.request_id and in the message", r.Errors[0])
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line[requestid.LogKey] != id || line["level"] != "ERROR" {
				t.Errorf("log %s: want one error line with request_id %s", logs.String(), id)
			}
		})
	}
}

// TestOverlapWorkBounded: queries that repeat a response name thousands of
// times, which gqlparser's check that fields merge takes seconds over, are
// refused before it runs; queries that merge fields a normal number of
// times still get its checks.
func TestOverlapWorkBounded(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	var distinct strings.Builder
	distinct.WriteString("{")
	for i := range 50 {
		fmt.Fprintf(&distinct, " ...A%d", i)
	}
	distinct.WriteString(" }")
	for i := range 50 {
		fmt.Fprintf(&distinct, " fragment A%d on Query { %s }", i, strings.Repeat("person { given_name } ", 40))
	}
	for name, query := range map[string]string{
		"repeated field":      "{" + strings.Repeat(" person { given_name }", 1900) + " }",
		"in inline fragments": "{" + strings.Repeat(" ... on Query { person { given_name } }", 1000) + " }",
		"in fragments":        distinct.String(),
		"merged selections":   "{" + strings.Repeat(" person {"+strings.Repeat(" given_name", 40)+" }", 50) + " }",
		"repeated scalar":     "{ person {" + strings.Repeat(" given_name", 3000) + " } }",
	} {
		t.Run(name, func(t *testing.T) {
			r := postWithin(t, ts, query)
			if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "repeats fields of the same name too often") {
				t.Fatalf("%d bytes: %d %.300s", len(query), r.Status, r.Raw)
			}
		})
	}
	mustOK(t, ts.post(t, owner, `{ person { given_name } person { family_name } ...P } fragment P on Query { person { given_name email } }`, nil))
	r := ts.post(t, owner, `{ person { x: given_name x: family_name } }`, nil)
	if r.Status != http.StatusUnprocessableEntity || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "they return conflicting types") && !strings.Contains(r.Errors[0].Message, "different fields") {
		t.Errorf("a conflict: %s", r.Raw)
	}

	c := loadContract(t, addressbookPath)
	s, err := SchemaFor(c)
	if err != nil {
		t.Fatal(err)
	}
	doc, errs := gqlparser.LoadQueryWithRules(s, introspectionQuery, rules.NewDefaultRules())
	if errs != nil {
		t.Fatal(errs)
	}
	if work, _ := mergeWork(doc); work > maxMergeWork/100 {
		t.Errorf("GraphiQL's introspection weighs %d; want it far below the limit", work)
	}
}
