package podruntime

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
)

// benchPod is a pod with n addresses and a family member, served in
// process without TLS: what the pod itself costs per request.
func benchPod(b testing.TB, n int) (*Pod, *membership, uuid.UUID) {
	b.Helper()
	tp := newTestPKI(b)
	p, err := New(context.Background(), testConfig(b, tp))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.closeStores)
	m := p.membership(demoSID)
	ctx := context.Background()
	family := uuid.New()
	if _, err := m.store.Mutate(ctx, "person", map[string]any{"given_name": "Suzie", "family_name": "Doe", "email": "s@example.com"}); err != nil {
		b.Fatal(err)
	}
	if _, err := m.store.Append(ctx, "network_links", map[string]any{"member_id": family.String(), "relation": "family", "created_timestamp": "2025-01-01T00:00:00Z"}); err != nil {
		b.Fatal(err)
	}
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 500 {
		var batch []any
		for j := i; j < min(n, i+500); j++ {
			batch = append(batch, map[string]any{
				"address_id": uuid.NewString(), "created_timestamp": ts.Add(time.Duration(j) * time.Minute).Format(time.RFC3339),
				"label": "home", "street": fmt.Sprintf("Main street %d", j), "city": "Amsterdam", "country": "NL",
			})
		}
		if _, err := m.store.Append(ctx, "addresses", batch...); err != nil {
			b.Fatal(err)
		}
	}
	return p, m, family
}

func BenchmarkGraphQL(b *testing.B) {
	p, m, family := benchPod(b, 10_000)
	caller, err := m.relations(context.Background(), family.String())
	if err != nil || len(caller) != 1 {
		b.Fatalf("relations: %v %v", caller, err)
	}
	for _, bc := range []struct{ name, query string }{
		{"object", `{ person { given_name family_name email } }`},
		{"list20", `{ addresses_connection(first: 20) { edges { cursor node { address_id created_timestamp label street postal_code city country } } page_info { end_cursor has_next_page } } }`},
	} {
		body := `{"query":` + fmt.Sprintf("%q", bc.query) + `}`
		b.Run(bc.name+"/executor", func(b *testing.B) {
			ctx := graphql.WithCaller(context.Background(), contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"family"}, Distance: 1})
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequestWithContext(ctx, http.MethodPost, m.path, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				m.graphql.ServeHTTP(w, r)
				if w.Code != 200 || strings.Contains(w.Body.String(), `"errors"`) {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
		b.Run(bc.name+"/peer-handler", func(b *testing.B) {
			// With the route wrapper, metrics and the network_links
			// lookup, as the peer port runs it (identity given).
			h := p.route(portPeer, "data", "4711", func(w http.ResponseWriter, r *http.Request) error {
				caller := contract.Caller{Entity: contract.EntityAnyMember}
				rels, err := m.relations(r.Context(), family.String())
				if err != nil {
					return err
				}
				if len(rels) > 0 {
					caller = contract.Caller{Entity: contract.EntityNetwork, Relations: rels, Distance: 1}
				}
				m.graphql.ServeHTTP(w, r.WithContext(graphql.WithCaller(r.Context(), caller)))
				return nil
			})
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, m.path, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
	b.Run("store-query20", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.data.Query(context.Background(), "addresses", graphql.Query{First: 20}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
