package podruntime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
)

// TestConcurrentPages runs list queries, each goroutine with its own
// selection of fields, while records are appended and deleted: the pages'
// pooled memory, the shared per-query caches and the store's string arena
// (grown and rebuilt under the readers) must never mix one record's or one
// query's values into another. Every record's created_timestamp follows from
// the number in its street, so a value from another record shows.
func TestConcurrentPages(t *testing.T) {
	_, m, _ := benchPod(t, 2_000)
	ctx := graphql.WithCaller(context.Background(), contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"family"}, Distance: 1})
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	selections := [][]string{
		{"street", "created_timestamp"},
		{"created_timestamp", "city", "street"},
		{"label", "street", "address_id", "created_timestamp"},
		{"street", "street2: street", "created_timestamp", "country"},
	}
	query := func(fields []string, first int, after string) (map[string]any, error) {
		q := fmt.Sprintf(`{ addresses_connection(first: %d, after: %q) { edges { node { %s } } page_info { end_cursor } } }`,
			first, after, strings.Join(fields, " "))
		body, _ := json.Marshal(map[string]string{"query": q})
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, m.path, strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		m.graphql.ServeHTTP(w, r)
		var resp struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 || len(resp.Errors) > 0 {
			return nil, fmt.Errorf("%d %v: %s", w.Code, err, w.Body)
		}
		return resp.Data["addresses_connection"].(map[string]any), nil
	}
	check := func(fields []string, node map[string]any) error {
		if len(node) != len(fields) {
			return fmt.Errorf("node %v has %d fields, want %v", node, len(node), fields)
		}
		street, _ := node["street"].(string)
		j, err := strconv.Atoi(strings.TrimPrefix(street, "Main street "))
		if err != nil {
			return fmt.Errorf("street %q", street)
		}
		if want := base.Add(time.Duration(j) * time.Minute).Format(time.RFC3339); node["created_timestamp"] != want {
			return fmt.Errorf("%s has created_timestamp %v, want %s", street, node["created_timestamp"], want)
		}
		if s2, ok := node["street2"]; ok && s2 != street {
			return fmt.Errorf("street %q, street2 %q", street, s2)
		}
		return nil
	}

	done := make(chan struct{})
	var writers sync.WaitGroup
	writers.Go(func() {
		for j := 2_000; ; j++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := m.store.Append(context.Background(), "addresses", map[string]any{
				"address_id": uuid.NewString(), "created_timestamp": base.Add(time.Duration(j) * time.Minute).Format(time.RFC3339),
				"label": "work", "street": fmt.Sprintf("Main street %d", j), "city": "Utrecht", "country": "NL",
			}); err != nil {
				t.Error(err)
				return
			}
			if j%3 == 0 {
				filter := graphql.Filter{{Field: "street", Op: graphql.OpEq, Value: fmt.Sprintf("Main street %d", j-1_990)}}
				if _, err := m.data.Delete(context.Background(), "addresses", filter); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	var readers sync.WaitGroup
	for g := range 8 {
		readers.Go(func() {
			fields := selections[g%len(selections)]
			after := ""
			for range 150 {
				page, err := query(fields, 1+g*3, after)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range page["edges"].([]any) {
					if err := check(fields, e.(map[string]any)["node"].(map[string]any)); err != nil {
						t.Error(err)
						return
					}
				}
				after, _ = page["page_info"].(map[string]any)["end_cursor"].(string)
			}
		})
	}
	readers.Wait()
	close(done)
	writers.Wait()
}
