package graphql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestObjectQueryAndMutate(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})

	r := mustOK(t, ts.post(t, owner, `{ person { given_name } }`, nil))
	if v, ok := r.Data["person"]; !ok || v != nil {
		t.Fatalf("person before any mutation = %v; want null", r.Raw)
	}

	// A first mutation must set the required fields.
	r = ts.post(t, owner, `mutation { mutate_person(given_name: "Suzie") }`, nil)
	if e, ok := r.errorAt("mutate_person"); !ok || e.code() != CodeBadUserInput || !strings.Contains(e.Message, `missing required field "family_name"`) {
		t.Fatalf("mutate without a required field: %s", r.Raw)
	}

	mustOK(t, ts.post(t, owner, `mutation { mutate_person(given_name: "Suzie", family_name: "Q", email: "suzie@example.com", nicknames: ["sq", "suze"]) }`, nil))
	r = mustOK(t, ts.post(t, owner, `{ person { given_name family_name email nicknames homepage_url } }`, nil))
	want := map[string]any{"given_name": "Suzie", "family_name": "Q", "email": "suzie@example.com", "nicknames": []any{"sq", "suze"}, "homepage_url": nil}
	if got := r.Data["person"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("person = %v; want %v", got, want)
	}
	// The response keeps the order of the query.
	if !strings.Contains(r.Raw, `{"given_name":"Suzie","family_name":"Q","email"`) {
		t.Errorf("fields out of query order: %s", r.Raw)
	}

	// Fields left out keep their value; null clears one.
	mustOK(t, ts.post(t, owner, `mutation($h: String) { mutate_person(homepage_url: $h, nicknames: null) }`, map[string]any{"h": "https://suzie.example/"}))
	r = mustOK(t, ts.post(t, owner, `{ person { given_name nicknames homepage_url } }`, nil))
	want = map[string]any{"given_name": "Suzie", "nicknames": nil, "homepage_url": "https://suzie.example/"}
	if got := r.Data["person"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("person = %v; want %v", got, want)
	}

	// A required field cannot be cleared; a bad value names the field.
	before := ts.data.snapshot()
	r = ts.post(t, owner, `mutation { mutate_person(family_name: null) }`, nil)
	if e, ok := r.errorAt("mutate_person"); !ok || e.code() != CodeBadUserInput || e.Extensions["pointer"] != "/family_name" {
		t.Fatalf("clearing a required field: %s", r.Raw)
	}
	r = ts.post(t, owner, `mutation { mutate_person(email: "not an email") }`, nil)
	if e, ok := r.errorAt("mutate_person"); !ok || e.code() != CodeBadUserInput || e.Extensions["pointer"] != "/email" || !strings.Contains(e.Message, "email address") {
		t.Fatalf("bad email: %s", r.Raw)
	}
	if r.Data["mutate_person"] != nil {
		t.Errorf("refused mutation returned %v", r.Data["mutate_person"])
	}
	if ts.data.snapshot() != before {
		t.Errorf("refused mutations changed the data")
	}
}

// appendAddress appends one address as the owner.
func appendAddress(t *testing.T, ts *testServer, id, ts8601, label, city, country string) {
	t.Helper()
	q := fmt.Sprintf(`mutation { append_addresses(address_id: %q, created_timestamp: %q, label: %q, city: %q, country: %q) }`, id, ts8601, label, city, country)
	r := mustOK(t, ts.post(t, owner, q, nil))
	if r.Data["append_addresses"] != float64(1) {
		t.Fatalf("append_addresses = %v", r.Data["append_addresses"])
	}
}

func uuidN(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// seedAddresses appends five addresses, one a day from 1 March 2025.
func seedAddresses(t *testing.T, ts *testServer) {
	t.Helper()
	for i, a := range []struct{ label, city, country string }{
		{"home", "Amsterdam", "NL"},
		{"work", "Utrecht", "NL"},
		{"home", "Antwerp", "BE"},
		{"other", "Berlin", "DE"},
		{"work", "Amstelveen", "NL"},
	} {
		appendAddress(t, ts, uuidN(i+1), fmt.Sprintf("2025-03-%02dT12:00:00Z", i+1), a.label, a.city, a.country)
	}
}

// cities returns the cities of an addresses_connection answer.
func cities(r gqlResponse, key string) []string {
	var out []string
	edges, _ := dig(r.Data, key, "edges").([]any)
	for _, e := range edges {
		out = append(out, fmt.Sprint(dig(e, "node", "city")))
	}
	return out
}

func TestConnectionFilters(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	seedAddresses(t, ts)
	for _, tc := range []struct {
		name, filter string
		want         []string
	}{
		{"no filter", `{}`, []string{"Amsterdam", "Utrecht", "Antwerp", "Berlin", "Amstelveen"}},
		{"string eq", `{country: {eq: "NL"}}`, []string{"Amsterdam", "Utrecht", "Amstelveen"}},
		{"string ne", `{country: {ne: "NL"}}`, []string{"Antwerp", "Berlin"}},
		{"string vin", `{country: {vin: ["BE", "DE"]}}`, []string{"Antwerp", "Berlin"}},
		{"string nin", `{city: {nin: ["Amsterdam", "Berlin"]}}`, []string{"Utrecht", "Antwerp", "Amstelveen"}},
		{"string regex", `{city: {regex: "^Am.*(dam|veen)$"}}`, []string{"Amsterdam", "Amstelveen"}},
		{"string glob", `{city: {glob: "A*p"}}`, []string{"Antwerp"}},
		{"string glob ?", `{city: {glob: "?trecht"}}`, []string{"Utrecht"}},
		{"two fields AND", `{country: {eq: "NL"}, label: {eq: "work"}}`, []string{"Utrecht", "Amstelveen"}},
		{"two operators AND", `{city: {glob: "A*", ne: "Antwerp"}}`, []string{"Amsterdam", "Amstelveen"}},
		{"uuid eq", fmt.Sprintf(`{address_id: {eq: %q}}`, strings.ToUpper(uuidN(3))), []string{"Antwerp"}},
		{"uuid ne", fmt.Sprintf(`{address_id: {ne: %q}}`, uuidN(3)), []string{"Amsterdam", "Utrecht", "Berlin", "Amstelveen"}},
		{"date-time at", `{created_timestamp: {at: "2025-03-02T13:00:00+01:00"}}`, []string{"Utrecht"}},
		{"date-time nat", `{created_timestamp: {nat: "2025-03-02T12:00:00Z"}}`, []string{"Amsterdam", "Antwerp", "Berlin", "Amstelveen"}},
		{"date-time after", `{created_timestamp: {after: "2025-03-03T12:00:00Z"}}`, []string{"Berlin", "Amstelveen"}},
		{"date-time before", `{created_timestamp: {before: "2025-03-02T12:00:00Z"}}`, []string{"Amsterdam"}},
		{"date-time atafter", `{created_timestamp: {atafter: "2025-03-04T12:00:00Z"}}`, []string{"Berlin", "Amstelveen"}},
		{"date-time atbefore", `{created_timestamp: {atbefore: "2025-03-02T12:00:00Z"}}`, []string{"Amsterdam", "Utrecht"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustOK(t, ts.post(t, owner, `{ addresses_connection(filter: `+tc.filter+`) { edges { node { city } } total_count } }`, nil))
			if got := cities(r, "addresses_connection"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cities = %v; want %v", got, tc.want)
			}
			if n := dig(r.Data, "addresses_connection", "total_count"); n != float64(len(tc.want)) {
				t.Errorf("total_count = %v; want %d", n, len(tc.want))
			}
		})
	}
}

// TestNumberFilters uses the kinds contract, whose records have integers,
// numbers and booleans, and an array of integers.
func TestNumberFilters(t *testing.T) {
	ts := newTestServer(t, kindsPath, Options{})
	for i := 1; i <= 5; i++ {
		q := fmt.Sprintf(`mutation { append_events(event_id: %q, at: "2025-01-0%dT00:00:00Z", title: "e%d", count: %d, weight: %g, done: %t) append_numbers(value: %d) }`,
			uuidN(i), i, i, i*10, float64(i)/2, i%2 == 0, i*100)
		mustOK(t, ts.post(t, owner, q, nil))
	}
	titles := func(r gqlResponse) []string {
		var out []string
		edges, _ := dig(r.Data, "events_connection", "edges").([]any)
		for _, e := range edges {
			out = append(out, fmt.Sprint(dig(e, "node", "title")))
		}
		return out
	}
	for _, tc := range []struct {
		name, filter string
		want         []string
	}{
		{"int eq", `{count: {eq: 30}}`, []string{"e3"}},
		{"int ne", `{count: {ne: 30}}`, []string{"e1", "e2", "e4", "e5"}},
		{"int gt", `{count: {gt: 30}}`, []string{"e4", "e5"}},
		{"int lt", `{count: {lt: 30}}`, []string{"e1", "e2"}},
		{"int egt", `{count: {egt: 30}}`, []string{"e3", "e4", "e5"}},
		{"int elt", `{count: {elt: 30}}`, []string{"e1", "e2", "e3"}},
		{"float gt", `{weight: {gt: 1.5}}`, []string{"e4", "e5"}},
		{"float elt int literal", `{weight: {elt: 1}}`, []string{"e1", "e2"}},
		{"boolean eq", `{done: {eq: true}}`, []string{"e2", "e4"}},
		{"boolean ne", `{done: {ne: true}}`, []string{"e1", "e3", "e5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustOK(t, ts.post(t, owner, `{ events_connection(filter: `+tc.filter+`) { edges { node { title } } } }`, nil))
			if got := titles(r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("titles = %v; want %v", got, tc.want)
			}
		})
	}
	r := mustOK(t, ts.post(t, anonymous, `{ numbers_connection(filter: {egt: 200, lt: 500}) { edges { node } total_count } }`, nil))
	var nums []any
	for _, e := range dig(r.Data, "numbers_connection", "edges").([]any) {
		nums = append(nums, dig(e, "node"))
	}
	if !reflect.DeepEqual(nums, []any{float64(200), float64(300), float64(400)}) {
		t.Errorf("numbers = %v", nums)
	}
}

func TestPagination(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	seedAddresses(t, ts)
	const q = `query($after: String) { addresses_connection(first: 2, after: $after) { edges { cursor node { city } } page_info { end_cursor has_next_page } total_count } }`
	var got []string
	after := any(nil)
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		r := mustOK(t, ts.post(t, owner, q, map[string]any{"after": after}))
		got = append(got, cities(r, "addresses_connection")...)
		if n := dig(r.Data, "addresses_connection", "total_count"); n != float64(5) {
			t.Errorf("total_count = %v on page %d; want 5", n, page)
		}
		edges := dig(r.Data, "addresses_connection", "edges").([]any)
		end := dig(r.Data, "addresses_connection", "page_info", "end_cursor")
		if end != dig(edges[len(edges)-1], "cursor") {
			t.Errorf("end_cursor %v is not the last edge's cursor", end)
		}
		if dig(r.Data, "addresses_connection", "page_info", "has_next_page") != true {
			break
		}
		after = end
	}
	if want := []string{"Amsterdam", "Utrecht", "Antwerp", "Berlin", "Amstelveen"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pages gave %v; want %v", got, want)
	}
	// first: 0 asks for the count only; the default page is 20.
	r := mustOK(t, ts.post(t, owner, `{ a: addresses_connection(first: 0) { edges { cursor } total_count page_info { end_cursor has_next_page } } b: addresses_connection { edges { cursor } } }`, nil))
	if e := dig(r.Data, "a", "edges"); e == nil || len(e.([]any)) != 0 || dig(r.Data, "a", "total_count") != float64(5) || dig(r.Data, "a", "page_info", "end_cursor") != nil {
		t.Errorf("first: 0 gave %s", r.Raw)
	}
	if n := len(dig(r.Data, "b", "edges").([]any)); n != 5 {
		t.Errorf("default page has %d edges; want all 5", n)
	}
	// Storage is told when the client does not want total_count, under any
	// alias, so it can stop counting.
	for query, skip := range map[string]bool{
		`{ addresses_connection(first: 2) { edges { cursor } } }`:             true,
		`{ addresses_connection(first: 2) { edges { cursor } total_count } }`: false,
		`{ addresses_connection(first: 2) { n: total_count } }`:               false,
	} {
		mustOK(t, ts.post(t, owner, query, nil))
		ts.data.mu.Lock()
		got := ts.data.lastQuery.SkipCount
		ts.data.mu.Unlock()
		if got != skip {
			t.Errorf("%s: SkipCount = %t; want %t", query, got, skip)
		}
	}
	// A cursor Data does not know is the client's mistake.
	r = ts.post(t, owner, `{ addresses_connection(after: "nonsense") { total_count } }`, nil)
	if e, ok := r.errorAt("addresses_connection"); !ok || e.code() != CodeBadUserInput || !strings.Contains(e.Message, "nonsense") {
		t.Errorf("bad cursor: %s", r.Raw)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	seedAddresses(t, ts)

	r := mustOK(t, ts.post(t, owner, `mutation { update_addresses(filter: {country: {eq: "NL"}, label: {eq: "work"}}, street: "Main St 1") }`, nil))
	if r.Data["update_addresses"] != float64(2) {
		t.Fatalf("update_addresses = %v; want 2", r.Data["update_addresses"])
	}
	r = mustOK(t, ts.post(t, owner, `{ addresses_connection(filter: {street: {eq: "Main St 1"}}) { edges { node { city street } } } }`, nil))
	if got := cities(r, "addresses_connection"); !reflect.DeepEqual(got, []string{"Utrecht", "Amstelveen"}) {
		t.Errorf("updated = %v", got)
	}

	// The contract checks a patch: a required field cannot be cleared.
	before := ts.data.snapshot()
	r = ts.post(t, owner, `mutation { update_addresses(filter: {}, city: null) }`, nil)
	if e, ok := r.errorAt("update_addresses"); !ok || e.code() != CodeBadUserInput || e.Extensions["pointer"] != "/city" {
		t.Errorf("clearing a required field: %s", r.Raw)
	}
	r = ts.post(t, owner, `mutation { update_addresses(filter: {}) }`, nil)
	if _, ok := r.errorAt("update_addresses"); !ok {
		t.Errorf("update without fields: %s", r.Raw)
	}
	if ts.data.snapshot() != before {
		t.Errorf("refused updates changed the data")
	}

	r = mustOK(t, ts.post(t, owner, `mutation { delete_from_addresses(filter: {city: {glob: "Am*"}}) }`, nil))
	if r.Data["delete_from_addresses"] != float64(2) {
		t.Fatalf("delete_from_addresses = %v; want 2", r.Data["delete_from_addresses"])
	}
	r = mustOK(t, ts.post(t, owner, `{ addresses_connection { edges { node { city } } } }`, nil))
	if got := cities(r, "addresses_connection"); !reflect.DeepEqual(got, []string{"Utrecht", "Antwerp", "Berlin"}) {
		t.Errorf("after delete = %v", got)
	}

	// Arrays of scalars.
	for _, tag := range []string{"red", "green", "blue"} {
		mustOK(t, ts.post(t, owner, `mutation($t: String!) { append_tags(value: $t) }`, map[string]any{"t": tag}))
	}
	r = mustOK(t, ts.post(t, owner, `mutation { delete_from_tags(filter: {regex: "e{2}"}) }`, nil))
	if r.Data["delete_from_tags"] != float64(1) {
		t.Errorf("delete_from_tags = %v; want 1", r.Data["delete_from_tags"])
	}
	r = mustOK(t, ts.post(t, anonymous, `{ tags_connection { edges { node } } }`, nil))
	if !strings.Contains(r.Raw, `"edges":[{"node":"red"},{"node":"blue"}]`) {
		t.Errorf("tags = %s", r.Raw)
	}
}

// TestNestedRecords appends records with arrays of records in them, with
// variables, and reads them back.
func TestNestedRecords(t *testing.T) {
	ts := newTestServer(t, kindsPath, Options{MemberID: uuidN(99)})
	vars := map[string]any{"parts": []any{map[string]any{"name": "wheel", "qty": 4}, map[string]any{"name": "seat"}}, "id": uuidN(1)}
	mustOK(t, ts.post(t, owner, `mutation($parts: [part_input!], $id: UUID!) { append_events(event_id: $id, at: "2025-01-01T00:00:00Z", title: "bike", tags: ["a", "b"], parts: $parts, weight: 2.5) }`, vars))
	r := mustOK(t, ts.post(t, owner, `{ events_connection { edges { origin node { __typename title weight tags parts { __typename name qty } note } } } }`, nil))
	want := `{"events_connection":{"edges":[{"origin":"` + uuidN(99) + `","node":{"__typename":"event","title":"bike","weight":2.5,"tags":["a","b"],"parts":[{"__typename":"part","name":"wheel","qty":4},{"__typename":"part","name":"seat","qty":null}],"note":null}}]}}`
	if !strings.Contains(r.Raw, want) {
		t.Errorf("got %s\nwant data %s", r.Raw, want)
	}
	// Records GraphQL or the contract rejects change nothing.
	before := ts.data.snapshot()
	for _, q := range []string{
		`mutation { append_events(event_id: "` + uuidN(2) + `", at: "2025-01-01T00:00:00Z", title: "x", count: 1.5) }`,
		`mutation { append_events(event_id: "` + uuidN(2) + `", at: "2025-01-01T00:00:00Z", title: "x", parts: [{qty: 1}]) }`,
		`mutation { append_events(event_id: "` + uuidN(2) + `", at: "2025-01-01T00:00:00Z", title: "x", parts: [{name: "n", qty: "1"}]) }`,
	} {
		if r := ts.post(t, owner, q, nil); len(r.Errors) == 0 {
			t.Errorf("accepted %s", q)
		}
	}
	r = ts.post(t, owner, `mutation($p: [part_input!]) { append_events(event_id: "`+uuidN(2)+`", at: "2025-01-01T00:00:00Z", title: "x", parts: $p) }`,
		map[string]any{"p": []any{map[string]any{"name": "a"}, map[string]any{"name": "b", "qty": "12"}}})
	if e, ok := r.errorAt("append_events"); !ok || e.code() != CodeBadUserInput || !strings.Contains(e.Message, `argument parts[1].qty: want an integer, got "12"`) {
		t.Errorf("bad nested variable: %s", r.Raw)
	}
	if ts.data.snapshot() != before {
		t.Errorf("refused appends changed the data")
	}
}

func TestAliasesFragmentsVariables(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	seedAddresses(t, ts)
	mustOK(t, ts.post(t, owner, `mutation { mutate_person(given_name: "Suzie", family_name: "Q") }`, nil))
	q := `
query Book($nl: String!, $withStreet: Boolean!, $skipCount: Boolean = true) {
  __typename
  me: person { ...Names first: given_name }
  dutch: addresses_connection(filter: {country: {eq: $nl}}, first: 2) {
    __typename
    total_count @skip(if: $skipCount)
    edges { node { ... on address { city } ...Street } }
  }
  others: addresses_connection(filter: {country: {ne: $nl}}) {
    count: total_count
    edges { node { city } node { country } }
  }
}
fragment Names on person { given_name family_name __typename }
fragment Street on address { street @include(if: $withStreet) label }`
	r := mustOK(t, ts.post(t, owner, q, map[string]any{"nl": "NL", "withStreet": false}))
	want := `{"data":{"__typename":"Query",` +
		`"me":{"given_name":"Suzie","family_name":"Q","__typename":"person","first":"Suzie"},` +
		`"dutch":{"__typename":"addresses_page","edges":[{"node":{"city":"Amsterdam","label":"home"}},{"node":{"city":"Utrecht","label":"work"}}]},` +
		`"others":{"count":2,"edges":[{"node":{"city":"Antwerp","country":"BE"}},{"node":{"city":"Berlin","country":"DE"}}]}}}`
	if r.Raw != want {
		t.Errorf("got  %s\nwant %s", r.Raw, want)
	}
	// The same text with other variables: nothing of the first request's
	// fields is reused.
	r = mustOK(t, ts.post(t, owner, q, map[string]any{"nl": "NL", "withStreet": true, "skipCount": false}))
	if !strings.Contains(r.Raw, `"dutch":{"__typename":"addresses_page","total_count":3,`) || !strings.Contains(r.Raw, `"street":`) {
		t.Errorf("other variables: %s", r.Raw)
	}
	// Literal directives, asked twice: the second answer is the first.
	lit := `{ addresses_connection(first: 1) { total_count @skip(if: true) edges { node { city street @include(if: false) } } } }`
	first := mustOK(t, ts.post(t, owner, lit, nil)).Raw
	if again := mustOK(t, ts.post(t, owner, lit, nil)).Raw; again != first || strings.Contains(first, "street") || strings.Contains(first, "total_count") {
		t.Errorf("literal directives: %s, then %s", first, again)
	}
	// The operation is picked by name.
	body := map[string]any{"query": `query A { person { given_name } } query B { tags_connection { total_count } }`, "operationName": "B"}
	r = mustOK(t, ts.postBody(t, owner, body))
	if r.Raw != `{"data":{"tags_connection":{"total_count":0}}}` {
		t.Errorf("operation B: %s", r.Raw)
	}
}

// introspectionQuery is the query GraphiQL sends (graphql-js
// getIntrospectionQuery with descriptions, specifiedByURL and
// isRepeatable).
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations isRepeatable args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestIntrospection(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	r := mustOK(t, ts.post(t, anonymous, `{ __schema { types { name } } }`, nil))
	var names []string
	for _, ty := range dig(r.Data, "__schema", "types").([]any) {
		names = append(names, dig(ty, "name").(string))
	}
	for _, want := range []string{"Query", "Mutation", "Subscription", "person", "address", "addresses_page", "address_filter", "DateTime", "UUID", "__Schema"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("__schema.types lacks %s", want)
		}
	}

	r = mustOK(t, ts.post(t, anonymous, introspectionQuery, nil))
	if dig(r.Data, "__schema", "queryType", "name") != "Query" || dig(r.Data, "__schema", "subscriptionType", "name") != "Subscription" {
		t.Errorf("root types: %v", dig(r.Data, "__schema", "queryType"))
	}
	var conn any
	for _, ty := range dig(r.Data, "__schema", "types").([]any) {
		if dig(ty, "name") == "Query" {
			for _, f := range dig(ty, "fields").([]any) {
				if dig(f, "name") == "addresses_connection" {
					conn = f
				}
			}
		}
		if dig(ty, "name") == "DateTime" && dig(ty, "specifiedByURL") == nil {
			t.Errorf("DateTime has no specifiedByURL")
		}
	}
	if conn == nil || dig(conn, "args", 1, "name") != "first" || dig(conn, "args", 1, "defaultValue") != "20" {
		t.Errorf("addresses_connection: %v", conn)
	}

	r = mustOK(t, ts.post(t, anonymous, `{ __type(name: "PageInfo") { kind fields { name type { kind ofType { name } } } } nope: __type(name: "Nope") { name } }`, nil))
	want := `{"data":{"__type":{"kind":"OBJECT","fields":[{"name":"end_cursor","type":{"kind":"SCALAR","ofType":null}},{"name":"has_next_page","type":{"kind":"NON_NULL","ofType":{"name":"Boolean"}}}]},"nope":null}}`
	if r.Raw != want {
		t.Errorf("__type:\n got %s\nwant %s", r.Raw, want)
	}

	off := newTestServer(t, demoPath, Options{DisableIntrospection: true})
	r = off.post(t, anonymous, `{ __schema { types { name } } }`, nil)
	if e, ok := r.errorAt("__schema"); !ok || !strings.Contains(e.Message, "introspection is disabled") {
		t.Errorf("introspection disabled: %s", r.Raw)
	}
}

func TestPersistedQueries(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	query := `{ tags_connection { total_count } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

	r := ts.postBody(t, anonymous, map[string]any{"extensions": ext})
	if len(r.Errors) != 1 || r.Errors[0].code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash: %s", r.Raw)
	}
	mustOK(t, ts.postBody(t, anonymous, map[string]any{"query": query, "extensions": ext}))
	r = mustOK(t, ts.postBody(t, anonymous, map[string]any{"extensions": ext}))
	if r.Raw != `{"data":{"tags_connection":{"total_count":0}}}` {
		t.Errorf("by hash: %s", r.Raw)
	}
	// Over GET, as CDNs like it.
	extJSON := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%x"}}`, sum)
	r = mustOK(t, ts.send(t, anonymous, http.MethodGet, "/?extensions="+url.QueryEscape(extJSON), "", nil))
	if r.Raw != `{"data":{"tags_connection":{"total_count":0}}}` {
		t.Errorf("by hash over GET: %s", r.Raw)
	}
	r = ts.postBody(t, anonymous, map[string]any{"query": `{ person { email } }`, "extensions": ext})
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "hash does not match") {
		t.Errorf("wrong hash: %s", r.Raw)
	}
}

func TestGETAndGraphiQL(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	r := mustOK(t, ts.send(t, anonymous, http.MethodGet, "/?query="+url.QueryEscape(`{ tags_connection { total_count } }`), "", nil))
	if r.Raw != `{"data":{"tags_connection":{"total_count":0}}}` {
		t.Errorf("GET: %s", r.Raw)
	}
	r = ts.send(t, owner, http.MethodGet, "/?query="+url.QueryEscape(`mutation { append_tags(value: "x") }`), "", nil)
	if r.Status != http.StatusNotAcceptable || ts.data.snapshot() != newMemData(t, ts.c).snapshot() {
		t.Errorf("mutation over GET: status %d %s", r.Status, r.Raw)
	}

	req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/api/v1/data/service-4711", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page strings.Builder
	_, _ = fmt.Fprint(&page, readAll(t, resp))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page.String(), "graphiql") {
		t.Errorf("GraphiQL: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(page.String(), "/api/v1/data/service-4711") {
		t.Errorf("GraphiQL does not post to its own path")
	}
}

func TestObserve(t *testing.T) {
	var (
		mu  sync.Mutex
		obs []Observation
	)
	ts := newTestServer(t, demoPath, Options{Observe: func(_ context.Context, o Observation) {
		mu.Lock()
		defer mu.Unlock()
		o.Duration = 0
		obs = append(obs, o)
	}})
	ts.post(t, anonymous, `{ person { given_name } tags_connection { total_count } __typename }`, nil)
	ts.post(t, owner, `mutation { append_tags(value: "x") }`, nil)
	ts.post(t, service, `subscription { tags_counter }`, nil)
	mu.Lock()
	defer mu.Unlock()
	want := []Observation{
		{Class: "person", Field: "person", Operation: "query", Outcome: CodeForbidden},
		{Class: "tags", Field: "tags_connection", Operation: "query", Outcome: OutcomeOK},
		{Field: "__typename", Operation: "query", Outcome: OutcomeOK},
		{Class: "tags", Field: "append_tags", Operation: "mutation", Outcome: OutcomeOK},
		{Class: "tags", Field: "tags_counter", Operation: "subscription", Outcome: CodeForbidden},
	}
	if !reflect.DeepEqual(obs, want) {
		t.Errorf("observations:\n got %+v\nwant %+v", obs, want)
	}
}
