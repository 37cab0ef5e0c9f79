package podruntime

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

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
	return &storeData{st: st, c: c, sid: "4711", metrics: newMetrics()}
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
	// The executor normalizes date-time operators; the adapter maps them
	// back to the store's.
	for _, tc := range []struct {
		op   graphql.Op
		want int
	}{
		{graphql.OpEq, 1}, {graphql.OpNe, 4}, {graphql.OpGt, 2}, {graphql.OpLt, 2}, {graphql.OpGe, 3}, {graphql.OpLe, 3},
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
	ch, err := d.Watch(ctx, "addresses")
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
	if _, err := d.Watch(context.Background(), "nope"); !errors.Is(err, graphql.ErrInvalid) {
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
