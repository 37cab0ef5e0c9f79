package graphql

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestAppendResponse checks the fast path writes what json.Marshal writes,
// up to encoding/json's HTML escaping.
func TestAppendResponse(t *testing.T) {
	yes := true
	for name, resp := range map[string]*graphql.Response{
		"data":        {Data: json.RawMessage(`{"person":{"name":"<Suzie & Mike>"}}`)},
		"null data":   {},
		"errors":      {Data: json.RawMessage(`{"person":null}`), Errors: gqlerror.List{{Message: "forbidden", Path: ast.Path{ast.PathName("person")}, Extensions: map[string]any{"code": "FORBIDDEN"}}}},
		"extensions":  {Data: json.RawMessage(`{}`), Extensions: map[string]any{"cost": 3}},
		"incremental": {Data: json.RawMessage(`{}`), Label: "x", HasNext: &yes},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			got := appendResponse(nil, resp)
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("not JSON: %s: %v", got, err)
			}
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestPostFallsBackToGqlgen checks that what the fast path does not take
// still gets gqlgen's answers: graphql-response+json clients and invalid
// operations.
func TestPostFallsBackToGqlgen(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	for _, tc := range []struct {
		accept, body, contentType string
		status                    int
	}{
		{"", `{"query":"{ person { given_name } }"}`, "application/json", http.StatusOK},
		{"application/graphql-response+json", `{"query":"{ person { given_name } }"}`, "application/graphql-response+json", http.StatusOK},
		{"", `{"query":"{ person { nope } }"}`, "application/json", http.StatusUnprocessableEntity},
		{"application/graphql-response+json", `{"query":"{ person { nope } }"}`, "application/graphql-response+json", http.StatusBadRequest},
		{"", `{"query":`, "application/json", http.StatusBadRequest},
	} {
		req, err := http.NewRequest(http.MethodPost, ts.srv.URL, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("Accept %q, body %s: %d %s; want %d %s", tc.accept, tc.body, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.contentType)
		}
	}
}
