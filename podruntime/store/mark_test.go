package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/objstore"
)

// readMarkFile returns the sequence number in a mark file for the store
// under prefix, 0 if there is none.
func readMarkFile(t testing.TB, file, prefix string) uint64 {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	p, seq, err := parseMark(data)
	if err != nil || p != prefix {
		t.Fatalf("mark file %s: prefix %q, %v:\n%s", file, p, err, data)
	}
	return seq
}

// listAll returns every object of the store with its content, to show
// that a refused Open changed nothing.
func listAll(t testing.TB, objects objstore.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := objects.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		data, err := objects.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(data)
	}
	return out
}

func sameObjects(t testing.TB, objects objstore.Store, want map[string]string, what string) {
	t.Helper()
	got := listAll(t, objects)
	if reflect.DeepEqual(got, want) {
		return
	}
	var diff []string
	for k, v := range got {
		if w, ok := want[k]; !ok {
			diff = append(diff, "added "+k)
		} else if w != v {
			diff = append(diff, "changed "+k)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			diff = append(diff, "removed "+k)
		}
	}
	slices.Sort(diff)
	t.Fatalf("%s changed the object store: %s", what, strings.Join(diff, ", "))
}

// TestDataKeyMissing deletes the wrapped data key of a store with data and
// checks that Open refuses it, naming the object and what to do, without
// writing anything (before the fix it made a new key and then failed on
// the log, which the new key cannot read); once the key is restored the
// store opens with its data.
func TestDataKeyMissing(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		for _, tc := range []struct {
			name    string
			history func(t *testing.T, s *Store)
		}{
			{"snapshot and log", func(t *testing.T, s *Store) { buildHistory(t, s) }},
			{"claim only", func(t *testing.T, s *Store) {}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				objects := b.new(t)
				opts := testOptions(t, objects, kitchenContract(t))
				opts.CompactSegments = -1
				s := openStore(t, opts)
				tc.history(t, s)
				want := dump(t, s)
				s.Close()

				lay := layout{prefix: "pods/test/"}
				wrapped, err := objects.Get(ctx, lay.key())
				if err != nil {
					t.Fatal(err)
				}
				if err := objects.Delete(ctx, lay.key()); err != nil {
					t.Fatal(err)
				}
				before := listAll(t, objects)
				_, err = Open(ctx, opts)
				if !errors.Is(err, ErrDataKeyMissing) {
					t.Fatalf("Open without the data key: %v, want ErrDataKeyMissing", err)
				}
				for _, s := range []string{"pods/test/k is missing", "restore pods/test/k from a backup; byoda never makes a new data key for existing data"} {
					if !strings.Contains(err.Error(), s) {
						t.Fatalf("Open without the data key: %v\nwant it to say %q", err, s)
					}
				}
				sameObjects(t, objects, before, "a refused Open")

				if err := objects.Put(ctx, lay.key(), wrapped); err != nil {
					t.Fatal(err)
				}
				s = openStore(t, opts)
				if got := dump(t, s); !reflect.DeepEqual(got, want) {
					t.Fatalf("after the key was restored the data differs:\n got %s\nwant %s", short(got), short(want))
				}
			})
		}
	})
}

// beforeList runs a function before the first List, to interleave another
// store's work at that point.
type beforeList struct {
	objstore.Store
	once sync.Once
	fn   func()
}

func (b *beforeList) List(ctx context.Context, prefix string) ([]string, error) {
	b.once.Do(b.fn)
	return b.Store.List(ctx, prefix)
}

// TestDataKeyCreatedConcurrently opens a store on an empty prefix while
// another one creates the key and claims the log just after the first
// found the key missing: the first then sees a log without (so it
// thought) a key, and must read the key again rather than take it for a
// lost one. Then many stores are opened on an empty prefix at once.
func TestDataKeyCreatedConcurrently(t *testing.T) {
	ctx := context.Background()
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))
	opts.MarkFile = ""
	first := opts
	first.Objects = &beforeList{Store: objects, fn: func() {
		other := openStore(t, opts)
		mustAppend(t, other, "tags", "x")
		other.Close()
	}}
	s := openStore(t, first)
	if n, _ := s.Count(ctx, "tags", nil); n != 1 {
		t.Fatalf("%d tags, want the other store's 1", n)
	}

	for round := range 5 {
		opts.Objects = localObjects(t)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				s, err := Open(ctx, opts)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, store %d: %v", round, i, err)
			}
		}
	}
}

// segmentKeys returns the keys of the log segments of the store under
// pods/test/, in order.
func segmentKeys(t testing.TB, objects objstore.Store) []string {
	t.Helper()
	keys, err := objects.List(context.Background(), "pods/test/"+segmentDir)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestRollback deletes the newest log segments of a store (as someone with
// access to the bucket could, or as a restore from an older backup does)
// and checks that Open refuses it with the mark and the position found,
// changing nothing; that AcceptRollback opens the older log and resets the
// mark; and that the next normal Open works.
func TestRollback(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		objects := b.new(t)
		opts := testOptions(t, objects, kitchenContract(t))
		opts.CompactSegments = -1
		s := openStore(t, opts)
		buildHistory(t, s)
		for i := 100; i < 110; i++ {
			mustAppend(t, s, "items", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)})
		}
		mark := s.Stats().Seq
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readMarkFile(t, opts.MarkFile, "pods/test/"); got != mark {
			t.Fatalf("mark after Close = %d, want the store's position %d", got, mark)
		}

		segs := segmentKeys(t, objects)
		for _, k := range segs[len(segs)-3:] {
			if err := objects.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		found := mark - 3
		before := listAll(t, objects)
		_, err := Open(ctx, opts)
		var rb *RollbackError
		if !errors.Is(err, ErrRolledBack) || !errors.As(err, &rb) {
			t.Fatalf("Open on a log without its newest segments: %v, want ErrRolledBack", err)
		}
		if rb.Mark != mark || rb.Found != found {
			t.Fatalf("RollbackError mark %d, found %d; want %d, %d", rb.Mark, rb.Found, mark, found)
		}
		for _, want := range []string{
			fmt.Sprintf("ends at segment %d, but segment %d was durable before", found, mark),
			"high-water mark in " + opts.MarkFile,
			fmt.Sprintf("pods/test/w/%020d to pods/test/w/%020d", found+1, mark),
			"AcceptRollback",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("Open: %v\nwant it to say %q", err, want)
			}
		}
		sameObjects(t, objects, before, "a refused Open")
		if got := readMarkFile(t, opts.MarkFile, "pods/test/"); got != mark {
			t.Fatalf("a refused Open changed the mark to %d", got)
		}

		accept := opts
		accept.AcceptRollback = true
		s = openStore(t, accept)
		if n, _ := s.Count(ctx, "items", nil); n != 47 { // 60 appended, 20 deleted, and 7 of the last 10
			t.Fatalf("%d items on the accepted older log, want 47", n)
		}
		pos := s.Stats().Seq
		if got := readMarkFile(t, opts.MarkFile, "pods/test/"); got != pos || pos >= mark {
			t.Fatalf("mark after an accepted rollback = %d, want the new position %d (below the old mark %d)", got, pos, mark)
		}
		mustAppend(t, s, "items", map[string]any{"item_id": uid(200), "name": "after restore"})
		s.Close()
		s = openStore(t, opts) // no AcceptRollback needed any more
		if n, _ := s.Count(ctx, "items", nil); n != 48 {
			t.Fatalf("%d items after the restore and one append, want 48", n)
		}
	})
}

// TestRollbackToNothing removes every object of a store, its data key
// included: Open must refuse it rather than start a new, empty store.
func TestRollbackToNothing(t *testing.T) {
	ctx := context.Background()
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))
	s := openStore(t, opts)
	mustAppend(t, s, "tags", "x")
	mark := s.Stats().Seq
	s.Close()
	keys, err := objects.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		objects.Delete(ctx, k)
	}
	_, err = Open(ctx, opts)
	var rb *RollbackError
	if !errors.As(err, &rb) || rb.Found != 0 || rb.Mark != mark || !strings.Contains(err.Error(), "holds no log under pods/test/") {
		t.Fatalf("Open on an emptied store: %v, want a RollbackError saying there is no log", err)
	}
	sameObjects(t, objects, map[string]string{}, "a refused Open")

	opts.AcceptRollback = true
	s = openStore(t, opts)
	if n, _ := s.Count(ctx, "tags", nil); n != 0 {
		t.Fatalf("%d tags in the new store", n)
	}
}

// TestMarkFollowsCommits checks that the mark is written in the background
// while the store runs (not only by Close), and that it never names a
// segment the store has not made durable.
func TestMarkFollowsCommits(t *testing.T) {
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))
	s := openStore(t, opts)
	for i := range 20 {
		mustAppend(t, s, "items", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)})
	}
	want := s.Stats().Seq
	deadline := time.Now().Add(30 * time.Second) // a bound for a hang, not a speed
	for {
		got := readMarkFile(t, opts.MarkFile, "pods/test/")
		if got > want {
			t.Fatalf("mark %d is past the store's position %d", got, want)
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mark stayed at %d while the store is at %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMarkFile covers the mark file itself: one left by a store under
// another prefix is replaced, an unreadable one is refused with its name
// (and replaced under AcceptRollback), and no temporary files stay behind.
func TestMarkFile(t *testing.T) {
	ctx := context.Background()
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))

	other := opts
	other.Prefix = "pods/other"
	s := openStore(t, other)
	for range 5 {
		mustAppend(t, s, "tags", "x")
	}
	s.Close()
	s = openStore(t, opts) // the mark of pods/other says 6; pods/test is new
	s.Close()
	if got := readMarkFile(t, opts.MarkFile, "pods/test/"); got != 1 {
		t.Fatalf("mark %d, want pods/test's own position 1", got)
	}

	if err := os.WriteFile(opts.MarkFile, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "high-water mark "+opts.MarkFile+" is unreadable") || !strings.Contains(err.Error(), "AcceptRollback") {
		t.Fatalf("Open with a damaged mark: %v", err)
	}
	accept := opts
	accept.AcceptRollback = true
	s = openStore(t, accept)
	s.Close()
	if got := readMarkFile(t, opts.MarkFile, "pods/test/"); got != 2 {
		t.Fatalf("mark %d after replacing a damaged one, want 2", got)
	}
	entries, err := os.ReadDir(filepath.Dir(opts.MarkFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("state directory holds %d files, want only the mark", len(entries))
	}
}

// TestMarkRestarts reopens a store many times as it is written by
// concurrent writers with automatic compactions, after explicit
// compactions and after writes whose outcome was unknown: no normal
// restart is taken for a rollback.
func TestMarkRestarts(t *testing.T) {
	objects := localObjects(t)
	f := &faulty{Store: objects}
	opts := testOptions(t, f, kitchenContract(t))
	opts.CompactSegments = 10
	ctx := context.Background()
	next := 0
	for round := range 6 {
		s, err := Open(ctx, opts)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			start := next + w*25
			wg.Go(func() {
				for i := start; i < start+25; i++ {
					if _, err := s.Append(ctx, "items", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		next += 200
		switch round % 3 {
		case 1:
			if err := s.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		case 2:
			// A write stored but reported failed, then abandoned in doubt:
			// the mark must not count it, the log has it.
			f.ambiguous = 1
			if _, err := s.Append(ctx, "items", map[string]any{"item_id": uid(next), "name": "in doubt"}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("in-doubt append: %v", err)
			}
			next++
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, opts)
	if n, _ := s.Count(ctx, "items", nil); n != 6*200+2 {
		t.Fatalf("%d items, want %d", n, 6*200+2)
	}
}
