package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoda-go/byoda/test/testenv"
)

// TestObjectStoreUnavailable stops the S3 server under a store: writes fail
// with ErrUnavailable (and nothing of them is visible), reads keep
// answering from memory, and once the server is back writes work again and
// a fresh store restores every acknowledged write.
func TestObjectStoreUnavailable(t *testing.T) {
	srv := testenv.StartS3(t)
	objects := s3Objects(t, srv)
	opts := testOptions(t, objects, kitchenContract(t))
	s := openStore(t, opts)
	ctx := context.Background()
	rec := func(i int) map[string]any {
		return map[string]any{"item_id": uid(i), "name": fmt.Sprint(i), "kind": "k"}
	}
	acked := map[string]bool{}
	for i := range 20 {
		mustAppend(t, s, "items", rec(i))
		acked[fmt.Sprint(i)] = true
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"name": "before"}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)

	srv.Stop()
	writes := []struct {
		name string
		do   func() error
	}{
		{"append", func() error { _, err := s.Append(ctx, "items", rec(100)); return err }},
		{"mutate", func() error { _, err := s.Mutate(ctx, "profile", map[string]any{"name": "during"}); return err }},
		{"update", func() error {
			_, err := s.Update(ctx, "items", Filter{{Field: "kind", Op: OpEq, Value: "k"}}, map[string]any{"note": "x"})
			return err
		}},
		{"delete", func() error {
			_, err := s.Delete(ctx, "items", Filter{{Field: "name", Op: OpEq, Value: "1"}})
			return err
		}},
		{"compact", func() error { return s.Compact(ctx) }},
	}
	for _, w := range writes {
		start := time.Now()
		err := w.do()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s with the object store down: %v, want ErrUnavailable saying it is unreachable", w.name, err)
		}
		t.Logf("%s failed after %v: %v", w.name, time.Since(start).Round(time.Millisecond), err)
	}
	// Reads answer from memory, also while a write is waiting on the
	// object store.
	var wg sync.WaitGroup
	wg.Go(func() { s.Append(ctx, "items", rec(101)) })
	if got := dump(t, s); !reflect.DeepEqual(got, before) {
		t.Fatalf("reads changed while the object store was down:\n got %s\nwant %s", short(got), short(before))
	}
	if n, err := s.Counter(ctx, "items", "kind", "k"); err != nil || n != 20 {
		t.Fatalf("Counter while down = %d, %v", n, err)
	}
	wg.Wait()

	srv.Restart(t)
	for i := 20; i < 30; i++ {
		mustAppend(t, s, "items", rec(i))
		acked[fmt.Sprint(i)] = true
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"name": "after"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("Compact after the object store came back: %v", err)
	}
	mustAppend(t, s, "items", rec(30))
	acked["30"] = true

	s = reopen(t, s, opts)
	p := mustQuery(t, s, "items", Query{First: MaxFirst})
	got := map[string]bool{}
	for _, e := range p.Edges {
		got[e.Node.(map[string]any)["name"].(string)] = true
	}
	if !reflect.DeepEqual(got, acked) {
		t.Fatalf("restored %d records %v, want exactly the %d acknowledged", len(got), got, len(acked))
	}
	if rec, _ := s.Get(ctx, "profile"); rec["name"] != "after" {
		t.Fatalf("profile %v", rec)
	}
}
