package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// TestWatchClass checks what a filtered watch reports: appends and updates
// of records that match after the change, deletes (with the deleted record)
// of records that matched before it, and updates that move a record into or
// out of the filter, each evaluated by the filter engine Query uses, on the
// stored record.
func TestWatchClass(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	ctx := context.Background()
	filter := Filter{{Field: "name", Op: OpGlob, Value: "[AB]*"}}
	var mu sync.Mutex
	var got []string
	stop, err := s.WatchClass("items", filter, func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		rec, _ := c.Record.(map[string]any)
		got = append(got, fmt.Sprintf("%d %v was=%t now=%t", c.Op, rec["name"], c.WasMatched, c.Matched))
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := func(name string) Filter { return Filter{{Field: "name", Op: OpEq, Value: name}} }
	mustAppend(t, s, "items",
		map[string]any{"item_id": uid(1), "name": "Amsterdam"},
		map[string]any{"item_id": uid(2), "name": "Utrecht"},
		map[string]any{"item_id": uid(3), "name": "Berlin"})
	mustAppend(t, s, "tags", "Amsterdam") // another class
	for _, step := range []struct {
		name      string
		update    bool
		from, to  string
		wantCount int
	}{
		{"update inside the filter", true, "Amsterdam", "Antwerp", 2},
		{"update out of the filter", true, "Berlin", "Cologne", 1},
		{"update into the filter", true, "Utrecht", "Bonn", 2},
		{"update outside the filter", true, "Cologne", "Dresden", 2},
		{"delete of a matching record", false, "Antwerp", "", 1},
		{"delete of another record", false, "Dresden", "", 1},
	} {
		var n int
		if step.update {
			n, err = s.Update(ctx, "items", byName(step.from), map[string]any{"name": step.to})
		} else {
			n, err = s.Delete(ctx, "items", byName(step.from))
		}
		if err != nil || n != 1 {
			t.Fatalf("%s: %d %v", step.name, n, err)
		}
		if c, err := s.Count(ctx, "items", filter); err != nil || c != step.wantCount {
			t.Fatalf("%s: Count %d %v; want %d", step.name, c, err, step.wantCount)
		}
	}
	stop()
	mustAppend(t, s, "items", map[string]any{"item_id": uid(4), "name": "Aachen"})
	want := []string{
		"1 Amsterdam was=false now=true",
		"1 Berlin was=false now=true",
		"2 Antwerp was=true now=true",
		"2 Cologne was=true now=false",
		"2 Bonn was=false now=true",
		"3 Antwerp was=true now=false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n%q\nwant\n%q", got, want)
	}

	if _, err := s.WatchClass("items", Filter{{Field: "nope", Op: OpEq, Value: "x"}}, func(Change) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a filter on an unknown field: %v", err)
	}
	if _, err := s.WatchClass("nope", nil, func(Change) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an unknown class: %v", err)
	}
}

// TestWatchClassBatches changes one record from many goroutines at once,
// so that group commit puts several changes of it in one segment: each
// change must be judged against the record as the change before it left
// it, so that the reports chain (each WasMatched is the Matched before it)
// and the last one says what the store holds.
func TestWatchClassBatches(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	ctx := context.Background()
	mustAppend(t, s, "items", map[string]any{"item_id": uid(1), "name": "x", "size": 0})
	var mu sync.Mutex
	var changes []Change
	stop, err := s.WatchClass("items", Filter{{Field: "size", Op: OpLt, Value: 50}}, func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	seq0 := s.Stats().Seq
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				size := (w*25 + i) % 100 // half of them in the filter
				if _, err := s.Update(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "x"}}, map[string]any{"size": size}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := s.Delete(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	p := mustQuery(t, s, "items", Query{})
	if len(p.Edges) != 0 {
		t.Fatalf("the record is still there")
	}
	mu.Lock()
	defer mu.Unlock()
	matched := true // size 0
	for i, c := range changes {
		if c.WasMatched != matched {
			t.Fatalf("change %d (%+v): WasMatched %t, but the change before left Matched %t", i, c, c.WasMatched, matched)
		}
		size, _ := c.Record.(map[string]any)["size"].(int64)
		if c.Op == ChangeUpdate && c.Matched != (size < 50) {
			t.Fatalf("change %d: size %d, Matched %t", i, size, c.Matched)
		}
		matched = c.Matched
	}
	if matched {
		t.Fatalf("the reports leave the record matched, but it was deleted")
	}
	t.Logf("%d updates in %d segments, %d reported", 8*25, s.Stats().Seq-seq0, len(changes))
}
