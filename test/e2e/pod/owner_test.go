package pod_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const personQuery = `{ person { given_name family_name email nicknames } }`

func TestOwnerObject(t *testing.T) {
	p := newPod(t, podOptions{})
	tok := p.login(t, demoSID)

	// Nothing stored yet.
	r := p.ownerGQL(t, demoSID, tok, personQuery, nil).ok(t)
	if r.Data["person"] != nil {
		t.Fatalf("person before any mutation: %s", r.Raw)
	}
	// A first mutation must set the required fields.
	r = p.ownerGQL(t, demoSID, tok, `mutation { mutate_person(given_name: "Suzie") }`, nil)
	if !slices.Contains(r.codes(), "BAD_USER_INPUT") {
		t.Fatalf("mutation without the required family_name: %s", r.Raw)
	}
	p.ownerGQL(t, demoSID, tok, `mutation($n: [String!]) {
		mutate_person(given_name: "Suzie", family_name: "Doe", email: "suzie@example.com", nicknames: $n)
	}`, map[string]any{"n": []string{"suz", "sd"}}).ok(t)
	// A later mutation merges.
	p.ownerGQL(t, demoSID, tok, `mutation { mutate_person(given_name: "Susan") }`, nil).ok(t)

	r = p.ownerGQL(t, demoSID, tok, personQuery, nil).ok(t)
	want := `{"email":"suzie@example.com","family_name":"Doe","given_name":"Susan","nicknames":["suz","sd"]}`
	if got := compact(t, r.Data["person"]); got != want {
		t.Fatalf("person = %s, want %s", got, want)
	}

	// Restart on the same storage: the data is still there.
	p.restart(t)
	tok = p.login(t, demoSID)
	r = p.ownerGQL(t, demoSID, tok, personQuery, nil).ok(t)
	if got := compact(t, r.Data["person"]); got != want {
		t.Fatalf("after restart person = %s, want %s", got, want)
	}
}

func compact(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const appendAddress = `mutation($id: UUID!, $ts: DateTime!, $label: String, $street: String, $city: String!, $country: String!) {
	append_addresses(address_id: $id, created_timestamp: $ts, label: $label, street: $street, city: $city, country: $country)
}`

type address struct {
	id      string
	ts      time.Time
	label   string
	city    string
	country string
}

func (a address) vars() map[string]any {
	return map[string]any{"id": a.id, "ts": a.ts.Format(time.RFC3339), "label": a.label, "street": "Main street 1", "city": a.city, "country": a.country}
}

// cities returns the cities of a connection's edges.
func cities(t testing.TB, r *gqlResponse, field string) []string {
	t.Helper()
	page, _ := r.Data[field].(map[string]any)
	edges, _ := page["edges"].([]any)
	var out []string
	for _, e := range edges {
		node, _ := e.(map[string]any)["node"].(map[string]any)
		out = append(out, fmt.Sprint(node["city"]))
	}
	return out
}

func TestOwnerArray(t *testing.T) {
	p := newPod(t, podOptions{})
	tok := p.login(t, demoSID)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	addrs := []address{
		{uuid.NewString(), base, "home", "Amsterdam", "NL"},
		{uuid.NewString(), base.Add(time.Hour), "work", "Berlin", "DE"},
		{uuid.NewString(), base.Add(2 * time.Hour), "other", "Paris", "FR"},
		{uuid.NewString(), base.Add(3 * time.Hour), "home", "Rotterdam", "NL"},
		{uuid.NewString(), base.Add(4 * time.Hour), "work", "Utrecht", "NL"},
	}
	for _, a := range addrs {
		p.ownerGQL(t, demoSID, tok, appendAddress, a.vars()).ok(t)
	}

	q := `query($f: address_filter, $first: Int, $after: String) {
		addresses_connection(filter: $f, first: $first, after: $after) {
			total_count
			edges { cursor origin node { address_id city label created_timestamp } }
			page_info { end_cursor has_next_page }
		}
	}`
	query := func(filter map[string]any, first int, after string) *gqlResponse {
		t.Helper()
		vars := map[string]any{"f": filter, "first": first}
		if after != "" {
			vars["after"] = after
		}
		return p.ownerGQL(t, demoSID, tok, q, vars).ok(t)
	}
	pageInfo := func(r *gqlResponse) (string, bool, float64) {
		page := r.Data["addresses_connection"].(map[string]any)
		pi := page["page_info"].(map[string]any)
		end, _ := pi["end_cursor"].(string)
		return end, pi["has_next_page"].(bool), page["total_count"].(float64)
	}

	// Filters: string eq, vin, regex, glob; date-time after; AND-ed.
	for _, tc := range []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"none", nil, []string{"Amsterdam", "Berlin", "Paris", "Rotterdam", "Utrecht"}},
		{"eq", map[string]any{"country": map[string]any{"eq": "NL"}}, []string{"Amsterdam", "Rotterdam", "Utrecht"}},
		{"vin", map[string]any{"label": map[string]any{"vin": []string{"work", "other"}}}, []string{"Berlin", "Paris", "Utrecht"}},
		{"regex", map[string]any{"city": map[string]any{"regex": "^[BP]"}}, []string{"Berlin", "Paris"}},
		{"glob", map[string]any{"city": map[string]any{"glob": "*dam"}}, []string{"Amsterdam", "Rotterdam"}},
		{"after", map[string]any{"created_timestamp": map[string]any{"after": base.Add(90 * time.Minute).Format(time.RFC3339)}}, []string{"Paris", "Rotterdam", "Utrecht"}},
		{"and", map[string]any{"country": map[string]any{"eq": "NL"}, "created_timestamp": map[string]any{"atbefore": base.Add(3 * time.Hour).Format(time.RFC3339)}}, []string{"Amsterdam", "Rotterdam"}},
		{"uuid", map[string]any{"address_id": map[string]any{"eq": addrs[2].id}}, []string{"Paris"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := query(tc.filter, 20, "")
			if got := cities(t, r, "addresses_connection"); !slices.Equal(got, tc.want) {
				t.Fatalf("cities = %v, want %v", got, tc.want)
			}
		})
	}

	// Pagination: pages of two, following end_cursor.
	var all []string
	after := ""
	for page := 0; ; page++ {
		r := query(nil, 2, after)
		all = append(all, cities(t, r, "addresses_connection")...)
		end, next, total := pageInfo(r)
		if total != 5 {
			t.Fatalf("total_count = %v, want 5", total)
		}
		if !next {
			break
		}
		if page > 3 {
			t.Fatal("pagination does not end")
		}
		after = end
	}
	if want := []string{"Amsterdam", "Berlin", "Paris", "Rotterdam", "Utrecht"}; !slices.Equal(all, want) {
		t.Fatalf("paged cities = %v, want %v", all, want)
	}
	// Each edge carries the pod's member id as its origin.
	r := query(nil, 1, "")
	edge := r.Data["addresses_connection"].(map[string]any)["edges"].([]any)[0].(map[string]any)
	if edge["origin"] != p.members[demoSID].String() {
		t.Fatalf("origin = %v, want %s", edge["origin"], p.members[demoSID])
	}

	// Update by filter, then delete by filter.
	r = p.ownerGQL(t, demoSID, tok, `mutation { update_addresses(filter: {country: {eq: "NL"}}, label: "other") }`, nil).ok(t)
	if n := r.Data["update_addresses"]; n != float64(3) {
		t.Fatalf("update_addresses = %v, want 3", n)
	}
	r = query(map[string]any{"label": map[string]any{"eq": "other"}}, 20, "")
	if got, want := cities(t, r, "addresses_connection"), []string{"Amsterdam", "Paris", "Rotterdam", "Utrecht"}; !slices.Equal(got, want) {
		t.Fatalf("after update: %v, want %v", got, want)
	}
	r = p.ownerGQL(t, demoSID, tok, `mutation { delete_from_addresses(filter: {city: {vin: ["Paris", "Berlin"]}}) }`, nil).ok(t)
	if n := r.Data["delete_from_addresses"]; n != float64(2) {
		t.Fatalf("delete_from_addresses = %v, want 2", n)
	}
	want := []string{"Amsterdam", "Rotterdam", "Utrecht"}
	if got := cities(t, query(nil, 20, ""), "addresses_connection"); !slices.Equal(got, want) {
		t.Fatalf("after delete: %v, want %v", got, want)
	}
	// An empty filter does not delete everything.
	r = p.ownerGQL(t, demoSID, tok, `mutation { delete_from_addresses(filter: {}) }`, nil)
	if len(r.Errors) == 0 {
		t.Fatalf("delete with an empty filter: %s", r.Raw)
	}

	// Scalar arrays too.
	for _, tag := range []string{"go", "p2p", "graphs"} {
		p.ownerGQL(t, demoSID, tok, `mutation($v: String!) { append_tags(value: $v) }`, map[string]any{"v": tag}).ok(t)
	}
	p.ownerGQL(t, demoSID, tok, `mutation { delete_from_tags(filter: {eq: "p2p"}) }`, nil).ok(t)

	// Restart: the same data comes back.
	p.restart(t)
	tok = p.login(t, demoSID)
	if got := cities(t, query(nil, 20, ""), "addresses_connection"); !slices.Equal(got, want) {
		t.Fatalf("after restart: %v, want %v", got, want)
	}
	r = p.ownerGQL(t, demoSID, tok, `{ tags_connection { edges { node } } }`, nil).ok(t)
	if got := compact(t, r.Data["tags_connection"]); got != `{"edges":[{"node":"go"},{"node":"graphs"}]}` {
		t.Fatalf("tags after restart: %s", got)
	}
}

func TestStatusAndMetrics(t *testing.T) {
	p := newPod(t, podOptions{})
	status, body := do(t, p.owner, http.MethodGet, "https://"+p.ownerAddr+"/api/v1/status", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("status: %d %s", status, body)
	}
	var st struct {
		AccountID string `json:"account_id"`
		Services  []struct {
			ServiceID   uint32 `json:"service_id"`
			MemberID    string `json:"member_id"`
			GraphQLPath string `json:"graphql_path"`
		} `json:"services"`
		Storage struct {
			OK bool `json:"ok"`
		} `json:"storage"`
		UptimeSeconds float64 `json:"uptime_seconds"`
		Version       string  `json:"version"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.AccountID != p.account.String() || len(st.Services) != 1 || st.Services[0].ServiceID != demoSID ||
		st.Services[0].MemberID != p.members[demoSID].String() || !st.Storage.OK || st.Version == "" {
		t.Fatalf("status = %s", body)
	}

	tok := p.login(t, demoSID)
	p.ownerGQL(t, demoSID, tok, `{ tags_connection { total_count } }`, nil).ok(t)
	p.ownerGQL(t, demoSID, "", `{ person { given_name } }`, nil) // anonymous: FORBIDDEN
	status, body = do(t, p.owner, http.MethodGet, "https://"+p.ownerAddr+"/metrics", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{
		`byoda_pod_http_requests_total{outcome="ok",port="owner",route="data",service="4711"} 1`,
		`byoda_pod_http_requests_total{outcome="error",port="owner",route="data",service="4711"} 1`,
		`byoda_pod_data_operations_total{class="tags",operation="query",outcome="ok",service="4711"} 1`,
		`byoda_pod_logins_total{outcome="ok"} 1`,
		`byoda_pod_http_request_duration_seconds_bucket{port="owner",route="data",service="4711",le=`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
