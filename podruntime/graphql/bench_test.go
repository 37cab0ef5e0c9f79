package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchHandler serves the demo contract over a store (memData) that holds
// n addresses and a person, for the owner. It returns the cursor of the
// address in the middle.
func benchHandler(b *testing.B, n int) (http.Handler, string) {
	b.Helper()
	c := loadContract(b, demoPath)
	data := newMemData(b, c)
	ctx := context.Background()
	if err := data.Mutate(ctx, "person", Record{"given_name": "Suzie", "family_name": "Q", "email": "suzie@example.com"}); err != nil {
		b.Fatal(err)
	}
	countries := []string{"NL", "BE", "DE", "FR"}
	var middle string
	for start := 0; start < n; start += 500 {
		var batch []any
		for i := start; i < min(n, start+500); i++ {
			batch = append(batch, Record{
				"address_id":        uuidN(i),
				"created_timestamp": fmt.Sprintf("2025-01-01T00:00:%02dZ", i%60),
				"label":             "home",
				"street":            fmt.Sprintf("Main St %d", i),
				"postal_code":       "1234 AB",
				"city":              fmt.Sprintf("City %d", i%100),
				"country":           countries[i%len(countries)],
			})
		}
		cursors, err := data.appendCursors(ctx, "addresses", batch...)
		if err != nil {
			b.Fatal(err)
		}
		if start <= n/2 && n/2 < start+500 {
			middle = cursors[n/2-start]
		}
	}
	h, err := NewHandler(c, data, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), owner)))
	}), middle
}

func benchQuery(b *testing.B, h http.Handler, query string) {
	body, err := json.Marshal(map[string]any{"query": query})
	if err != nil {
		b.Fatal(err)
	}
	// Check the answer once, outside the timing.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
	}
}

// BenchmarkConnection runs a first: 20 connection query over 10,000
// records through the HTTP handler (in process, no network): parse cache,
// validation cache, complexity, execution and JSON.
func BenchmarkConnection(b *testing.B) {
	h, middle := benchHandler(b, 10_000)
	b.Run("first20", func(b *testing.B) {
		benchQuery(b, h, `{ addresses_connection(first: 20) { edges { cursor node { address_id created_timestamp label street postal_code city country } } page_info { end_cursor has_next_page } total_count } }`)
	})
	b.Run("first20_after_filter", func(b *testing.B) {
		benchQuery(b, h, `{ addresses_connection(first: 20, after: "`+middle+`", filter: {country: {eq: "NL"}}) { edges { cursor node { address_id city country } } page_info { end_cursor has_next_page } total_count } }`)
	})
}

// BenchmarkObject reads the person object.
func BenchmarkObject(b *testing.B) {
	h, _ := benchHandler(b, 0)
	benchQuery(b, h, `{ person { given_name family_name email } }`)
}
