package podruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/store"
)

func newTestData(t *testing.T) *storeData {
	t.Helper()
	raw, err := contract.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &storeData{st: openTestStore(t, c), c: c, sid: "4711", metrics: newMetrics()}
}

// openTestStore opens a store of contract c on local objects in a
// temporary directory, closed when the test ends.
func openTestStore(t *testing.T, c *contract.Contract) *store.Store {
	t.Helper()
	objects, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kek, err := store.NewFernetKEK("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{Objects: objects, MemberID: uuid.New(), Contract: c, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func addr(i int, ts time.Time) graphql.Record {
	return graphql.Record{
		"address_id":        uuid.NewString(),
		"created_timestamp": ts.Format(time.RFC3339),
		"city":              fmt.Sprintf("city-%d", i),
		"country":           "NL",
	}
}

func TestStoreDataQuery(t *testing.T) {
	d := newTestData(t)
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if err := d.Append(ctx, "addresses", addr(i, base.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	// The schema's date-time operators are the store's.
	for _, tc := range []struct {
		op   graphql.Op
		want int
	}{
		{graphql.OpAt, 1}, {graphql.OpNat, 4}, {graphql.OpAfter, 2}, {graphql.OpBefore, 2}, {graphql.OpAtAfter, 3}, {graphql.OpAtBefore, 3},
	} {
		f := graphql.Filter{{Field: "created_timestamp", Op: tc.op, Value: base.Add(2 * time.Hour)}}
		page, err := d.Query(ctx, "addresses", graphql.Query{Filter: f, First: 20})
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		if len(page.Edges) != tc.want || page.TotalCount != tc.want {
			t.Errorf("%s: %d edges, total %d; want %d", tc.op, len(page.Edges), page.TotalCount, tc.want)
		}
	}
	// First 0 asks for the count only.
	page, err := d.Query(ctx, "addresses", graphql.Query{})
	if err != nil || len(page.Edges) != 0 || page.TotalCount != 5 {
		t.Fatalf("count only: %+v %v", page, err)
	}
	// Pages and cursors pass through.
	page, err = d.Query(ctx, "addresses", graphql.Query{First: 2, Fields: []string{"city"}})
	if err != nil || len(page.Edges) != 2 || !page.PageInfo.HasNextPage || page.PageInfo.EndCursor == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	obj := page.Edges[0].Node.(graphql.Object)
	if v := obj.Field("city"); v.Kind != graphql.ValueString || v.Str != "city-0" {
		t.Errorf("projected node's city = %+v, want the string city-0", v)
	}
	if v := obj.Field("street"); v.Kind != graphql.ValueNone {
		t.Errorf("projected node's street = %+v, want none: the query did not ask for it", v)
	}
	page, err = d.Query(ctx, "addresses", graphql.Query{First: 20, After: page.PageInfo.EndCursor})
	if err != nil || len(page.Edges) != 3 || page.PageInfo.HasNextPage {
		t.Fatalf("second page: %+v %v", page, err)
	}
	// Store errors become the executor's kinds.
	_, err = d.Query(ctx, "addresses", graphql.Query{First: 20, After: "bogus"})
	if !errors.Is(err, graphql.ErrInvalid) || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad cursor: %v; want ErrInvalid of both packages", err)
	}
	if _, err := d.Delete(ctx, "addresses", nil); !errors.Is(err, graphql.ErrInvalid) {
		t.Errorf("delete without a filter: %v", err)
	}
	n, err := d.Update(ctx, "addresses", graphql.Filter{{Field: "city", Op: graphql.OpIn, Value: []string{"city-1", "city-3"}}}, graphql.Record{"label": "work"})
	if err != nil || n != 2 {
		t.Fatalf("update: %d %v", n, err)
	}
	n, err = d.Delete(ctx, "addresses", graphql.Filter{{Field: "label", Op: graphql.OpEq, Value: "work"}})
	if err != nil || n != 2 {
		t.Fatalf("delete: %d %v", n, err)
	}
}

func TestStoreDataWatch(t *testing.T) {
	d := newTestData(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := d.Watch(ctx, "addresses", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Append(context.Background(), "tags", "not watched"); err != nil {
		t.Fatal(err)
	}
	if err := d.Append(context.Background(), "addresses", addr(1, time.Now())); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-ch:
		if c.Action != graphql.ChangeAppend || c.Node.(map[string]any)["city"] != "city-1" {
			t.Fatalf("change = %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	// A reader that does not keep up misses changes; writers do not wait.
	for i := range watchBuffer + 10 {
		if err := d.Append(context.Background(), "addresses", addr(i, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	n := 0
	for range ch {
		n++
	}
	if n != watchBuffer {
		t.Errorf("%d changes buffered, want %d", n, watchBuffer)
	}
	if _, err := d.Watch(context.Background(), "nope", nil); !errors.Is(err, graphql.ErrInvalid) {
		t.Errorf("watch of an unknown class: %v", err)
	}
}

func TestMapStoreError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("x: %w", store.ErrInvalid), graphql.ErrInvalid},
		{fmt.Errorf("x: %w", store.ErrUnavailable), graphql.ErrUnavailable},
		{fmt.Errorf("x: %w", store.ErrFenced), graphql.ErrUnavailable},
		{store.ErrClosed, graphql.ErrUnavailable},
	} {
		got := mapStoreError(tc.err)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.err) || got.Error() != tc.err.Error() {
			t.Errorf("mapStoreError(%v) = %v; want it to match %v and keep the message", tc.err, got, tc.want)
		}
	}
	corrupt := fmt.Errorf("x: %w", store.ErrCorrupt)
	if got := mapStoreError(corrupt); got != corrupt {
		t.Errorf("a corrupt object should stay an internal error, got %v", got)
	}
	if mapStoreError(nil) != nil {
		t.Error("nil is not nil")
	}
}

// TestLimitMetrics: a query the GraphQL handler refuses for a limit is
// counted in the pod's metrics, by service and limit.
func TestLimitMetrics(t *testing.T) {
	p, m, _ := benchPod(t, 0)
	// 2^30 fields by fragments spread twice at each level, and 15 pages of
	// 500 items of 7 fields.
	var fragments strings.Builder
	for i := range 30 {
		fmt.Fprintf(&fragments, " fragment F%d on Query { __typename ...F%d ...F%d }", i, i+1, i+1)
	}
	for _, q := range []string{
		`{ ...F0 }` + fragments.String() + ` fragment F30 on Query { __typename }`,
		`{` + strings.Repeat(` addresses_connection(first: 500) { edges { node { street city country label address_id } } }`, 15) + ` }`,
	} {
		body, _ := json.Marshal(map[string]string{"query": q})
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(graphql.WithCaller(t.Context(), contract.Caller{Entity: contract.EntityMember}), http.MethodPost, m.path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		m.graphql.ServeHTTP(w, r)
		if !strings.Contains(w.Body.String(), "COMPLEXITY_LIMIT_EXCEEDED") {
			t.Fatalf("%.80s: %s", q, w.Body)
		}
	}
	var got dto.Metric
	if err := p.metrics.limits.WithLabelValues("4711", string(graphql.LimitComplexity)).Write(&got); err != nil || got.GetCounter().GetValue() != 2 {
		t.Errorf("byoda_pod_graphql_limits_total{service=4711,limit=complexity} = %v (%v); want 2", got.GetCounter().GetValue(), err)
	}
}
