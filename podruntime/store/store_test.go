package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
)

func TestMutateMerge(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), kitchenContract(t))
		s := openStore(t, opts)
		ctx := context.Background()

		if rec, err := s.Get(ctx, "profile"); err != nil || rec != nil {
			t.Fatalf("Get of an unset object = %v, %v; want nil, nil", rec, err)
		}
		// The first mutation must bring the required fields.
		_, err := s.Mutate(ctx, "profile", map[string]any{"age": 30})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `missing required field "name"`) {
			t.Fatalf("Mutate without the required field: %v", err)
		}
		steps := []struct {
			patch map[string]any
			want  map[string]any
		}{
			{
				map[string]any{"name": "Suzie", "age": 30, "score": 1.5, "active": true, "nicknames": []any{"suz", "z"}},
				map[string]any{"name": "Suzie", "age": int64(30), "score": 1.5, "active": true, "nicknames": []any{"suz", "z"}},
			},
			{ // fields left out are kept
				map[string]any{"age": 31, "joined": "2025-01-02T03:04:05+01:00"},
				map[string]any{"name": "Suzie", "age": int64(31), "score": 1.5, "active": true, "nicknames": []any{"suz", "z"}, "joined": "2025-01-02T03:04:05+01:00"},
			},
			{ // explicit null clears
				map[string]any{"score": nil, "nicknames": nil, "active": false},
				map[string]any{"name": "Suzie", "age": int64(31), "active": false, "joined": "2025-01-02T03:04:05+01:00"},
			},
			{ // an empty patch changes nothing
				map[string]any{},
				map[string]any{"name": "Suzie", "age": int64(31), "active": false, "joined": "2025-01-02T03:04:05+01:00"},
			},
		}
		for i, st := range steps {
			got, err := s.Mutate(ctx, "profile", st.patch)
			if err != nil {
				t.Fatalf("step %d: Mutate: %v", i, err)
			}
			if !reflect.DeepEqual(got, st.want) {
				t.Fatalf("step %d: Mutate returned %v, want %v", i, got, st.want)
			}
			if got, _ := s.Get(ctx, "profile"); !reflect.DeepEqual(got, st.want) {
				t.Fatalf("step %d: Get = %v, want %v", i, got, st.want)
			}
		}
		// A required field cannot be cleared; nothing changes.
		if _, err := s.Mutate(ctx, "profile", map[string]any{"name": nil, "age": 99}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("clearing a required field: %v", err)
		}
		// Wrong types and unknown fields are the contract's errors.
		for _, bad := range []map[string]any{{"age": "old"}, {"age": 1.5}, {"nope": 1}, {"homepage": "not a uri"}} {
			if _, err := s.Mutate(ctx, "profile", bad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Mutate %v: %v, want ErrInvalid", bad, err)
			}
		}
		if got, _ := s.Get(ctx, "profile"); got["age"] != int64(31) {
			t.Fatalf("a rejected mutation changed the object: %v", got)
		}
		s = reopen(t, s, opts)

		// Deleting the object (an empty filter is allowed for objects).
		if n, err := s.Delete(ctx, "profile", nil); err != nil || n != 1 {
			t.Fatalf("Delete profile = %d, %v", n, err)
		}
		if rec, _ := s.Get(ctx, "profile"); rec != nil {
			t.Fatalf("deleted object still there: %v", rec)
		}
		reopen(t, s, opts)
	})
}

func TestUpdateDelete(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), kitchenContract(t))
		s := openStore(t, opts)
		ctx := context.Background()
		mustAppend(t, s, "items", operatorItems()...)

		// Update merges: only the patched fields change; null clears.
		n, err := s.Update(ctx, "items", Filter{{Field: "kind", Op: OpEq, Value: "fruit"}}, map[string]any{"weight": 9.5, "note": nil})
		if err != nil || n != 3 {
			t.Fatalf("Update = %d, %v; want 3", n, err)
		}
		p := mustQuery(t, s, "items", Query{Filter: Filter{{Field: "weight", Op: OpEq, Value: 9.5}}})
		if names(p) != "apple,banana,Date" {
			t.Fatalf("after update: %s", names(p))
		}
		for _, e := range p.Edges {
			rec := e.Node.(map[string]any)
			if _, ok := rec["note"]; ok || rec["kind"] != "fruit" || rec["size"] == nil {
				t.Fatalf("update did not merge: %v", rec)
			}
		}
		// Updating an indexed field moves the record in the index.
		if n, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "carrot"}}, map[string]any{"kind": "fruit"}); err != nil || n != 1 {
			t.Fatalf("Update kind = %d, %v", n, err)
		}
		if p := mustQuery(t, s, "items", Query{Filter: Filter{{Field: "kind", Op: OpEq, Value: "fruit"}}}); names(p) != "apple,banana,carrot,Date" {
			t.Fatalf("index after update: %s", names(p))
		}
		if p := mustQuery(t, s, "items", Query{Filter: Filter{{Field: "kind", Op: OpEq, Value: "veg"}}}); p.TotalCount != 0 {
			t.Fatalf("old index entry left: %s", names(p))
		}
		// No match: nothing written.
		before := s.Stats().Seq
		if n, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "nothing"}}, map[string]any{"size": 1}); err != nil || n != 0 {
			t.Fatalf("Update without match = %d, %v", n, err)
		}
		if s.Stats().Seq != before {
			t.Fatalf("an update that matched nothing wrote a segment")
		}
		// A filter is required for arrays.
		if _, err := s.Update(ctx, "items", nil, map[string]any{"size": 1}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "filter is required") {
			t.Fatalf("Update without filter: %v", err)
		}
		if _, err := s.Delete(ctx, "items", Filter{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Delete without filter: %v", err)
		}
		// An invalid patch is refused.
		if _, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "apple"}}, map[string]any{"name": nil}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Update clearing a required field: %v", err)
		}
		s = reopen(t, s, opts)

		n, err = s.Delete(ctx, "items", Filter{{Field: "size", Op: OpGt, Value: 2}})
		if err != nil || n != 2 {
			t.Fatalf("Delete = %d, %v; want 2", n, err)
		}
		if p := mustQuery(t, s, "items", Query{}); names(p) != "apple,banana,eggplant" {
			t.Fatalf("after delete: %s", names(p))
		}
		reopen(t, s, opts)
	})
}

func TestProjection(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	mustAppend(t, s, "items", operatorItems()...)
	p := mustQuery(t, s, "items", Query{Fields: []string{"name", "size", "name"}, First: 2})
	want := []any{
		map[string]any{"name": "apple", "size": int64(1)},
		map[string]any{"name": "banana", "size": int64(2)},
	}
	for i, e := range p.Edges {
		if !reflect.DeepEqual(e.Node, want[i]) {
			t.Errorf("edge %d = %v, want %v", i, e.Node, want[i])
		}
	}
	// A projected field the record lacks is left out.
	p = mustQuery(t, s, "items", Query{Fields: []string{"name", "note"}, Filter: Filter{{Field: "name", Op: OpEq, Value: "banana"}}})
	if !reflect.DeepEqual(p.Edges[0].Node, map[string]any{"name": "banana"}) {
		t.Errorf("projection of an absent field: %v", p.Edges[0].Node)
	}
	_, err := s.Query(context.Background(), "items", Query{Fields: []string{"name", "colour"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `unknown field "colour"`) {
		t.Errorf("unknown projected field: %v", err)
	}
}

func TestPageSize(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	recs := make([]any, 600)
	for i := range recs {
		recs[i] = map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)}
	}
	mustAppend(t, s, "items", recs...)
	if p := mustQuery(t, s, "items", Query{}); len(p.Edges) != DefaultFirst || p.TotalCount != 600 || !p.PageInfo.HasNextPage {
		t.Errorf("default page: %d edges, total %d", len(p.Edges), p.TotalCount)
	}
	if p := mustQuery(t, s, "items", Query{First: MaxFirst}); len(p.Edges) != MaxFirst {
		t.Errorf("max page: %d edges", len(p.Edges))
	}
	for _, first := range []int{MaxFirst + 1, -1} {
		_, err := s.Query(context.Background(), "items", Query{First: first})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "want 1 to 500") {
			t.Errorf("first %d: %v", first, err)
		}
	}
}

func TestCounters(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		clock := newFakeClock()
		opts := testOptions(t, b.new(t), kitchenContract(t))
		opts.Clock = clock.Now
		s := openStore(t, opts)
		ctx := context.Background()
		check := func(s *Store, class, field string, v any, want int64) {
			t.Helper()
			n, err := s.Counter(ctx, class, field, v)
			if err != nil || n != want {
				t.Fatalf("Counter(%s.%s = %v) = %d, %v; want %d", class, field, v, n, err, want)
			}
			// The counter always equals a count with an eq filter.
			op := OpEq
			if k := s.tables[class].kinds[s.tables[class].pos[field]]; k == kDateTime {
				op = OpAt
			}
			if c, err := s.Count(ctx, class, Filter{{Field: field, Op: op, Value: v}}); err != nil || int64(c) != want {
				t.Fatalf("Count(%s.%s = %v) = %d, %v; want %d", class, field, v, c, err, want)
			}
		}
		mustAppend(t, s, "items", operatorItems()...)
		check(s, "items", "kind", "fruit", 3)
		check(s, "items", "kind", "veg", 1)
		check(s, "items", "kind", "meat", 0)
		check(s, "items", "size", 2, 1)
		check(s, "items", "size", 2.0, 1)
		check(s, "items", "size", 2.5, 0)

		// An update that changes the value moves the count.
		if _, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "apple"}}, map[string]any{"kind": "veg"}); err != nil {
			t.Fatal(err)
		}
		check(s, "items", "kind", "fruit", 2)
		check(s, "items", "kind", "veg", 2)
		// Clearing the value removes it from the count.
		if _, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "carrot"}}, map[string]any{"kind": nil}); err != nil {
			t.Fatal(err)
		}
		check(s, "items", "kind", "veg", 1)
		// An update that does not touch the field leaves it.
		if _, err := s.Update(ctx, "items", Filter{{Field: "kind", Op: OpEq, Value: "fruit"}}, map[string]any{"note": "x"}); err != nil {
			t.Fatal(err)
		}
		check(s, "items", "kind", "fruit", 2)
		// Delete.
		if _, err := s.Delete(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "banana"}}); err != nil {
			t.Fatal(err)
		}
		check(s, "items", "kind", "fruit", 1)
		s = reopen(t, s, opts)
		check(s, "items", "kind", "fruit", 1)
		check(s, "items", "kind", "veg", 1)

		// Expiry of cache_only records.
		mustAppend(t, s, "cached", map[string]any{"item_id": uid(1), "name": "a", "kind": "news"})
		clock.Advance(30 * time.Minute)
		mustAppend(t, s, "cached", map[string]any{"item_id": uid(2), "name": "b", "kind": "news"})
		check(s, "cached", "kind", "news", 2)
		clock.Advance(31 * time.Minute)
		check(s, "cached", "kind", "news", 1)
		clock.Advance(30 * time.Minute)
		check(s, "cached", "kind", "news", 0)

		// Errors name the field and list the counters.
		_, err := s.Counter(ctx, "items", "name", "x")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"name" is not a counter field; the counter fields are "kind", "size"`) {
			t.Fatalf("Counter of a plain field: %v", err)
		}
		if _, err := s.Counter(ctx, "items", "size", "big"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Counter with a wrong value: %v", err)
		}
	})
}

func TestCacheExpiry(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		clock := newFakeClock()
		opts := testOptions(t, b.new(t), kitchenContract(t))
		opts.Clock = clock.Now
		s := openStore(t, opts)
		ctx := context.Background()
		count := func(s *Store) int {
			t.Helper()
			p := mustQuery(t, s, "cached", Query{First: MaxFirst})
			if len(p.Edges) != p.TotalCount {
				t.Fatalf("%d edges but total_count %d", len(p.Edges), p.TotalCount)
			}
			return p.TotalCount
		}
		for i := range 3 {
			mustAppend(t, s, "cached", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i), "kind": "k"})
			clock.Advance(15 * time.Minute)
		}
		// Appended at 0, 15 and 30 minutes; the TTL is 1h; now is 45.
		if n := count(s); n != 3 {
			t.Fatalf("before expiry: %d records", n)
		}
		clock.Advance(16 * time.Minute)
		if n := count(s); n != 2 {
			t.Fatalf("after the first expired: %d records", n)
		}
		// An update does not extend a record's life.
		if n, err := s.Update(ctx, "cached", Filter{{Field: "kind", Op: OpEq, Value: "k"}}, map[string]any{"note": "touched"}); err != nil || n != 2 {
			t.Fatalf("Update = %d, %v", n, err)
		}
		// A restore on a fresh store does not bring the expired record back.
		s = reopen(t, s, opts)
		clock.Advance(15 * time.Minute)
		if n := count(s); n != 1 {
			t.Fatalf("after the second expired: %d records", n)
		}
		// Expired records never match an update or delete either.
		if n, err := s.Delete(ctx, "cached", Filter{{Field: "kind", Op: OpEq, Value: "k"}}); err != nil || n != 1 {
			t.Fatalf("Delete = %d, %v; want 1", n, err)
		}
		mustAppend(t, s, "cached", map[string]any{"item_id": uid(9), "name": "late", "kind": "k"})
		// Compaction leaves expired records out of storage.
		clock.Advance(2 * time.Hour)
		mustAppend(t, s, "items", map[string]any{"item_id": uid(1), "name": "keeps the log moving"})
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Records != 1 {
			t.Fatalf("%d records in memory after expiry, want 1", st.Records)
		}
		s.Close()
		clock.now = clock.now.Add(-3 * time.Hour) // even a clock set back does not revive them
		s = openStore(t, opts)
		if st := s.Stats(); st.Records != 1 {
			t.Fatalf("restored %d records, want 1: expired records were not purged from storage", st.Records)
		}
	})
}

func TestScalarArrays(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), kitchenContract(t))
		s := openStore(t, opts)
		ctx := context.Background()
		mustAppend(t, s, "tags", "red", "green", "blue", "green")
		mustAppend(t, s, "scores", 1, 2.0, 3)
		if _, err := s.Append(ctx, "scores", 1.5); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Append of a fraction to integers: %v", err)
		}
		if _, err := s.Append(ctx, "tags", map[string]any{"x": 1}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Append of an object to strings: %v", err)
		}
		p := mustQuery(t, s, "tags", Query{Filter: Filter{{Field: "", Op: OpEq, Value: "green"}}})
		if p.TotalCount != 2 || p.Edges[0].Node != "green" {
			t.Fatalf("tags = green: %+v", p)
		}
		p = mustQuery(t, s, "scores", Query{Filter: Filter{{Field: "", Op: OpGt, Value: 1}}})
		if p.TotalCount != 2 || p.Edges[0].Node != int64(2) || p.Edges[1].Node != int64(3) {
			t.Fatalf("scores > 1: %+v", p)
		}
		if n, err := s.Delete(ctx, "tags", Filter{{Field: "", Op: OpEq, Value: "green"}}); err != nil || n != 2 {
			t.Fatalf("Delete = %d, %v", n, err)
		}
		if _, err := s.Update(ctx, "tags", Filter{{Field: "", Op: OpEq, Value: "red"}}, map[string]any{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Update of a scalar array: %v", err)
		}
		reopen(t, s, opts)
	})
}

func TestWrongKind(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	ctx := context.Background()
	if _, err := s.Append(ctx, "profile", map[string]any{"name": "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append to an object: %v", err)
	}
	if _, err := s.Mutate(ctx, "items", map[string]any{"name": "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Mutate of an array: %v", err)
	}
	if _, err := s.Get(ctx, "items"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get of an array: %v", err)
	}
	// A batch with one invalid record adds none.
	_, err := s.Append(ctx, "items", map[string]any{"item_id": uid(1), "name": "ok"}, map[string]any{"item_id": "bad", "name": "x"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "/item_id") {
		t.Errorf("Append with an invalid record: %v", err)
	}
	if n, _ := s.Count(ctx, "items", nil); n != 0 {
		t.Errorf("a rejected batch added %d records", n)
	}
}

// TestReferenceContract stores and restores records of every class of the
// reference's published contract.
func TestReferenceContract(t *testing.T) {
	c := addressbookContract(t)
	opts := testOptions(t, localObjects(t), c)
	s := openStore(t, opts)
	ctx := context.Background()
	if _, err := s.Mutate(ctx, "member", map[string]any{"joined": ts(1), "member_id": uid(1), "schema_versions": []any{"1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(ctx, "person", map[string]any{"given_name": "Suzie", "family_name": "Q", "email": "suzie@example.com"}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		rel := []string{"friend", "family", "colleague"}[i%3]
		mustAppend(t, s, "network_links", map[string]any{"created_timestamp": ts(i), "member_id": uid(i), "relation": rel, "annotations": []any{"a"}})
	}
	if n, err := s.Counter(ctx, "network_links", "relation", "family"); err != nil || n != 10 {
		t.Fatalf("Counter = %d, %v", n, err)
	}
	p := mustQuery(t, s, "network_links", Query{Filter: Filter{{Field: "relation", Op: OpEq, Value: "family"}, {Field: "created_timestamp", Op: OpAfter, Value: ts(10)}}})
	if p.TotalCount != 6 {
		t.Fatalf("family after 10h: %d", p.TotalCount)
	}
	reopen(t, s, opts)
}

// TestConcurrentWriters runs appends, updates and deletes from many
// goroutines (group commit) and checks the result against a restore.
func TestConcurrentWriters(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), kitchenContract(t))
		opts.CompactSegments = 20 // compact in the background, too
		s := openStore(t, opts)
		ctx := context.Background()
		var changes sync.Map
		stop := s.Watch(func(c Change) { changes.Store(c.Cursor, c.Op) })
		defer stop()
		const writers, each = 16, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					id := w*each + i
					if _, err := s.Append(ctx, "items", map[string]any{"item_id": uid(id), "name": fmt.Sprint(id), "kind": fmt.Sprint(w), "size": i}); err != nil {
						t.Error(err)
						return
					}
					if i%5 == 4 {
						if _, err := s.Update(ctx, "items", Filter{{Field: "item_id", Op: OpEq, Value: uid(id - 1)}}, map[string]any{"note": "updated"}); err != nil {
							t.Error(err)
						}
						if _, err := s.Delete(ctx, "items", Filter{{Field: "item_id", Op: OpEq, Value: uid(id - 2)}}); err != nil {
							t.Error(err)
						}
					}
					if _, err := s.Query(ctx, "items", Query{Filter: Filter{{Field: "kind", Op: OpEq, Value: fmt.Sprint(w)}}}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		wantN := writers * (each - each/5)
		if n, _ := s.Count(ctx, "items", nil); n != wantN {
			t.Fatalf("%d records, want %d", n, wantN)
		}
		if n, _ := s.Count(ctx, "items", Filter{{Field: "note", Op: OpEq, Value: "updated"}}); n != writers*each/5 {
			t.Fatalf("%d updated records, want %d", n, writers*each/5)
		}
		for w := range writers {
			if n, _ := s.Counter(ctx, "items", "kind", fmt.Sprint(w)); n != int64(each-each/5) {
				t.Fatalf("counter of writer %d: %d", w, n)
			}
		}
		n := 0
		changes.Range(func(any, any) bool { n++; return true })
		if n != writers*each {
			t.Fatalf("Watch saw %d records, want %d", n, writers*each)
		}
		if st := s.Stats(); st.Seq > uint64(writers*each*3) {
			t.Logf("%d segments for %d writes", st.Seq, writers*each*3)
		}
		reopen(t, s, opts)
	})
}

// TestOrphanedClass shows that a contract version without a class keeps the
// class's records (through compaction) for a later version that has it
// again.
func TestOrphanedClass(t *testing.T) {
	objects := localObjects(t)
	full := kitchenContract(t)
	opts := testOptions(t, objects, full)
	s := openStore(t, opts)
	mustAppend(t, s, "tags", "keep", "me")
	mustAppend(t, s, "items", map[string]any{"item_id": uid(1), "name": "x", "note": "n"})
	s.Close()

	// The same contract without "tags" and without the field "note".
	reduced := dropClass(t, "tags", "note")
	opts2 := opts
	opts2.Contract = reduced
	s = openStore(t, opts2)
	if p := mustQuery(t, s, "items", Query{}); !reflect.DeepEqual(p.Edges[0].Node, map[string]any{"item_id": uid(1), "name": "x"}) {
		t.Fatalf("record under the reduced contract: %v", p.Edges[0].Node)
	}
	mustAppend(t, s, "items", map[string]any{"item_id": uid(2), "name": "y"})
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, opts)
	if p := mustQuery(t, s, "tags", Query{}); p.TotalCount != 2 || p.Edges[1].Node != "me" {
		t.Fatalf("tags lost under a contract without them: %+v", p)
	}
	if p := mustQuery(t, s, "items", Query{}); p.TotalCount != 2 || p.Edges[0].Node.(map[string]any)["note"] != "n" {
		t.Fatalf("field lost under a contract without it: %+v", p.Edges)
	}
	// New ids never reuse old ones.
	c := mustAppend(t, s, "tags", "new")
	if id, _ := decodeCursor(c[0]); id != 3 {
		t.Fatalf("new tag got id %d, want 3", id)
	}
}

func dropClass(t *testing.T, class, field string) *contract.Contract {
	t.Helper()
	data := readKitchen(t)
	data = strings.Replace(data, `"tags": {
                "type": "array",
                "#accesscontrol": {"member": {"permissions": ["read", "append", "delete"]}},
                "items": {"type": "string"}
            },`, "", 1)
	data = strings.Replace(data, `,
                    "note": {"type": "string"}`, "", 1)
	c, err := contract.Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.Class(class) != nil || c.Class("items").Field(field) != nil {
		t.Fatal("test contract edit did not apply")
	}
	return c
}

func TestDefaultPrefix(t *testing.T) {
	a := DefaultPrefix(4712, testMember)
	if a != DefaultPrefix(4712, testMember) || a == DefaultPrefix(4713, testMember) || strings.Contains(a, testMember.String()) {
		t.Fatalf("DefaultPrefix = %q", a)
	}
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))
	opts.Prefix = ""
	s := openStore(t, opts)
	mustAppend(t, s, "tags", "x")
	keys, err := objects.List(context.Background(), a+"/")
	if err != nil || len(keys) < 2 {
		t.Fatalf("objects under the default prefix: %v, %v", keys, err)
	}
	if _, err := Open(context.Background(), Options{Objects: objects, Contract: kitchenContract(t), KEK: testKEK(t), ServiceID: 1}); err == nil || !strings.Contains(err.Error(), "contract is for service 4712") {
		t.Fatalf("Open with a mismatched service id: %v", err)
	}
}

func TestWatch(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	stop := s.Watch(func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		rec, _ := c.Record.(map[string]any)
		got = append(got, fmt.Sprintf("%s %d %v", c.Class, c.Op, rec["name"]))
	})
	mustAppend(t, s, "items", map[string]any{"item_id": uid(1), "name": "a"})
	if _, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "a"}}, map[string]any{"name": "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"name": "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"age": 3}); err != nil {
		t.Fatal(err)
	}
	stop()
	mustAppend(t, s, "items", map[string]any{"item_id": uid(2), "name": "unseen"})
	want := []string{"items 1 a", "items 2 b", "items 3 <nil>", "profile 1 p", "profile 2 p"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
}

// TestRows checks that a page of Rows holds what a page of maps holds, field
// by field and kind by kind, with and without a projection.
func TestRows(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	items := operatorItems()
	items[0].(map[string]any)["labels"] = []any{"x", "y"}
	mustAppend(t, s, "items", items...)
	for _, fields := range [][]string{nil, {"name", "size", "labels"}} {
		maps := mustQuery(t, s, "items", Query{Fields: fields})
		rows := mustQuery(t, s, "items", Query{Fields: fields, Rows: true})
		if len(rows.Edges) != len(maps.Edges) || rows.PageInfo != maps.PageInfo {
			t.Fatalf("fields %v: %d rows %+v, %d maps %+v", fields, len(rows.Edges), rows.PageInfo, len(maps.Edges), maps.PageInfo)
		}
		for i, e := range rows.Edges {
			r := e.Node.(*Row)
			want := maps.Edges[i].Node.(map[string]any)
			if got := rowMap(r); !reflect.DeepEqual(got, want) || e.Cursor != maps.Edges[i].Cursor {
				t.Errorf("fields %v, row %d: %v (cursor %s), want %v (cursor %s)", fields, i, got, e.Cursor, want, maps.Edges[i].Cursor)
			}
		}
	}
	r := mustQuery(t, s, "items", Query{Rows: true}).Edges[0].Node.(*Row)
	for field, want := range map[string]Value{
		"name":    {Kind: ValueString, Str: "apple"},
		"item_id": {Kind: ValueString, Str: uid(1)},
		"created": {Kind: ValueString, Str: ts(1)},
		"size":    {Kind: ValueInt, Int: 1},
		"weight":  {Kind: ValueFloat, Float: 0.5},
		"flag":    {Kind: ValueBool, Int: 1},
		"labels":  {Kind: ValueOther, Other: []any{"x", "y"}},
		"seen":    {},
		"colour":  {},
	} {
		if got := r.Field(field); !reflect.DeepEqual(got, want) {
			t.Errorf("Field(%q) = %+v, want %+v", field, got, want)
		}
	}
	// An array of scalars has no rows: its items are the values.
	mustAppend(t, s, "tags", "green")
	if p := mustQuery(t, s, "tags", Query{Rows: true}); p.Edges[0].Node != "green" {
		t.Errorf("tags with Rows: %v, want the item itself", p.Edges[0].Node)
	}
}

// TestRowsValuesAndRelease: Values()[i] is Query.Fields[i], repeats
// included; a released page's memory serves the next query, whose rows
// hold their own values.
func TestRowsValuesAndRelease(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	mustAppend(t, s, "items", operatorItems()...)
	fields := []string{"size", "name", "size", "seen"}
	p := mustQuery(t, s, "items", Query{Fields: fields, Rows: true})
	r := p.Edges[0].Node.(*Row)
	if vals := r.Values(); len(vals) != len(fields) {
		t.Fatalf("%d values for %d fields", len(vals), len(fields))
	}
	for i, name := range fields {
		if got, want := r.Values()[i], r.Field(name); !reflect.DeepEqual(got, want) {
			t.Errorf("Values()[%d] = %+v, want Field(%q) = %+v", i, got, name, want)
		}
	}
	want := make([]map[string]any, len(p.Edges))
	for i, e := range p.Edges {
		want[i] = rowMap(e.Node.(*Row))
	}
	p.Release()
	p.Release() // a second release does nothing
	for range 3 {
		other := mustQuery(t, s, "items", Query{Fields: []string{"weight"}, Rows: true, First: 1})
		again := mustQuery(t, s, "items", Query{Fields: fields, Rows: true})
		for i, e := range again.Edges {
			if got := rowMap(e.Node.(*Row)); !reflect.DeepEqual(got, want[i]) {
				t.Errorf("row %d after reuse: %v, want %v", i, got, want[i])
			}
		}
		if got := other.Edges[0].Node.(*Row).Field("weight"); got.Kind != ValueFloat {
			t.Errorf("a page in use changed under another query: weight %+v", got)
		}
		again.Release()
		other.Release()
	}
}

// TestCountWithoutFilter checks the count of an unfiltered query, which the
// store takes from its live records rather than a scan, through deletes and
// a restore.
func TestCountWithoutFilter(t *testing.T) {
	opts := testOptions(t, localObjects(t), kitchenContract(t))
	s := openStore(t, opts)
	for i := range 10 {
		mustAppend(t, s, "items", map[string]any{"item_id": uid(i + 1), "name": fmt.Sprint("n", i), "size": i})
	}
	if _, err := s.Delete(context.Background(), "items", Filter{{Field: "size", Op: OpLt, Value: 3}}); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		if p := mustQuery(t, s, "items", Query{First: 2}); p.TotalCount != 7 || len(p.Edges) != 2 || !p.PageInfo.HasNextPage {
			t.Errorf("page: total %d, %d edges, next %v; want 7, 2, true", p.TotalCount, len(p.Edges), p.PageInfo.HasNextPage)
		}
		if n, err := s.Count(context.Background(), "items", nil); n != 7 || err != nil {
			t.Errorf("Count = %d, %v; want 7", n, err)
		}
		if p := mustQuery(t, s, "items", Query{First: 2, SkipCount: true}); p.TotalCount != 0 {
			t.Errorf("SkipCount: total %d, want 0", p.TotalCount)
		}
	}
	check(s)
	check(reopen(t, s, opts))
}

// TestCursors: the cursors a page cuts from one string are those of its
// records, at every varint length of an id.
func TestCursors(t *testing.T) {
	var ids []uint64
	for shift := 0; shift < 64; shift += 7 {
		for _, d := range []uint64{0, 1} {
			if id := uint64(1)<<shift - d; id > 0 {
				ids = append(ids, id)
			}
		}
	}
	ids = append(ids, math.MaxUint64)
	edges := make([]Edge, len(ids))
	setCursors(edges, ids, []byte("scratch to reuse"))
	for i, id := range ids {
		want := encodeCursor(id)
		if cursorLen(id) != len(want) || edges[i].Cursor != want {
			t.Errorf("id %d: cursor %q (length %d), want %q", id, edges[i].Cursor, cursorLen(id), want)
		}
		if got, err := decodeCursor(edges[i].Cursor); err != nil || got != id {
			t.Errorf("id %d: decodes to %d, %v", id, got, err)
		}
	}
}
