package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/byoda-go/byoda/internal/objstore"
)

// faulty wraps an object store to inject failures: after `budget` more
// changes every call fails (a crash, as far as the object store can tell),
// or a Create stores its object but reports a failure (a timeout after the
// server acted), or a Create fails and its object lands later.
type faulty struct {
	objstore.Store
	mu      sync.Mutex
	armed   bool
	budget  int
	tripped bool

	ambiguous int // the next n Creates store, then fail
	lost      int // the next n Creates fail without storing...
	late      bool
	delayed   map[string][]byte // ...and land when the key is next read
}

var errInjected = errors.New("injected failure: connection reset")

func (f *faulty) arm(budget int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.budget, f.tripped = true, budget, false
}

func (f *faulty) hasTripped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tripped
}

// change counts one change against the budget and reports whether it may
// go ahead.
func (f *faulty) change() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return nil
	}
	if f.budget <= 0 {
		f.tripped = true
		return errInjected
	}
	f.budget--
	return nil
}

func (f *faulty) crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tripped
}

func (f *faulty) Put(ctx context.Context, key string, data []byte) error {
	if err := f.change(); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, data)
}

func (f *faulty) Delete(ctx context.Context, key string) error {
	if err := f.change(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, key)
}

func (f *faulty) Create(ctx context.Context, key string, data []byte) error {
	if err := f.change(); err != nil {
		return err
	}
	f.mu.Lock()
	mode := ""
	switch {
	case f.ambiguous > 0:
		f.ambiguous--
		mode = "ambiguous"
	case f.lost > 0:
		f.lost--
		mode = "lost"
		if f.late {
			if f.delayed == nil {
				f.delayed = map[string][]byte{}
			}
			f.delayed[key] = data
		}
	}
	f.mu.Unlock()
	switch mode {
	case "ambiguous":
		if err := f.Store.Create(ctx, key, data); err != nil {
			return err
		}
		return fmt.Errorf("create %s: %w", key, context.DeadlineExceeded)
	case "lost":
		return fmt.Errorf("create %s: %w", key, errInjected)
	}
	return f.Store.Create(ctx, key, data)
}

func (f *faulty) Get(ctx context.Context, key string) ([]byte, error) {
	if f.crashed() {
		return nil, errInjected
	}
	f.mu.Lock()
	data, ok := f.delayed[key]
	delete(f.delayed, key)
	f.mu.Unlock()
	if ok {
		// The delayed request lands just after this read misses it.
		_, err := f.Store.Get(ctx, key)
		if landErr := f.Store.Create(ctx, key, data); landErr != nil {
			return nil, fmt.Errorf("land the delayed create: %w", landErr)
		}
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *faulty) List(ctx context.Context, prefix string) ([]string, error) {
	if f.crashed() {
		return nil, errInjected
	}
	return f.Store.List(ctx, prefix)
}

// buildHistory writes data with a snapshot and log segments after it, as a
// store that has run for a while has.
func buildHistory(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	for i := range 40 {
		mustAppend(t, s, "items", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i), "kind": fmt.Sprint(i % 3), "note": strings.Repeat("x", 100)})
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"name": "before"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 60; i++ {
		mustAppend(t, s, "items", map[string]any{"item_id": uid(i), "name": fmt.Sprint(i), "kind": fmt.Sprint(i % 3)})
	}
	if _, err := s.Update(ctx, "items", Filter{{Field: "kind", Op: OpEq, Value: "1"}}, map[string]any{"note": "updated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "items", Filter{{Field: "kind", Op: OpEq, Value: "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mutate(ctx, "profile", map[string]any{"name": "after"}); err != nil {
		t.Fatal(err)
	}
}

// TestCompactionCrashPoints crashes a compaction after each of its object
// store changes in turn (chunks, manifest, each deletion) and checks that a
// fresh store restores exactly the data, and can go on writing and
// compacting.
func TestCompactionCrashPoints(t *testing.T) {
	for point := 0; ; point++ {
		objects := localObjects(t)
		f := &faulty{Store: objects}
		opts := testOptions(t, f, kitchenContract(t))
		opts.ChunkSize = 1 << 10 // several chunks
		opts.CompactSegments = -1
		s := openStore(t, opts)
		buildHistory(t, s)
		want := dump(t, s)

		f.arm(point)
		err := s.Compact(context.Background())
		crashed := f.hasTripped()
		s.Close()
		if !crashed {
			if err != nil {
				t.Fatalf("compaction without a crash: %v", err)
			}
			t.Logf("compaction makes %d changes; crashed after each of them", point)
			break
		}
		if err == nil {
			t.Fatalf("crash point %d: compaction reported success", point)
		}

		opts.Objects = objects
		s2 := openStore(t, opts)
		if got := dump(t, s2); !reflect.DeepEqual(got, want) {
			t.Fatalf("crash point %d: restored data differs:\n got %s\nwant %s", point, short(got), short(want))
		}
		mustAppend(t, s2, "items", map[string]any{"item_id": uid(1000), "name": "after crash"})
		if err := s2.Compact(context.Background()); err != nil {
			t.Fatalf("crash point %d: compaction after restore: %v", point, err)
		}
		reopen(t, s2, opts)
	}
}

// TestInDoubtWrite covers a segment write whose outcome is unknown to the
// writer: it stored the segment but reported a failure, or it failed and
// stored it later. The write is reported as failed and not applied; the
// next write finds out what happened, applies the segment if it landed,
// and never leaves a gap or a duplicate.
func TestInDoubtWrite(t *testing.T) {
	rec := func(i int) map[string]any { return map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)} }
	tests := []struct {
		name      string
		setup     func(f *faulty)
		wantFirst bool // the failed record turns out to be stored
	}{
		{"stored but reported failed", func(f *faulty) { f.ambiguous = 1 }, true},
		{"failed and not stored", func(f *faulty) { f.lost = 1 }, false},
		{"failed and stored after the check", func(f *faulty) { f.lost, f.late = 1, true }, true},
		{"failed three times", func(f *faulty) { f.lost = 3 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objects := localObjects(t)
			f := &faulty{Store: objects}
			opts := testOptions(t, f, kitchenContract(t))
			s := openStore(t, opts)
			ctx := context.Background()
			mustAppend(t, s, "items", rec(0))
			tc.setup(f)
			_, err := s.Append(ctx, "items", rec(1))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Append during the failure: %v, want ErrUnavailable", err)
			}
			// Not applied: a failed write is not visible.
			if n, _ := s.Count(ctx, "items", nil); n != 1 {
				t.Fatalf("%d records after a failed write, want 1", n)
			}
			for i := 2; ; i++ {
				_, err = s.Append(ctx, "items", rec(i))
				if err == nil {
					break
				}
				if !errors.Is(err, ErrUnavailable) || i > 5 {
					t.Fatalf("Append %d: %v", i, err)
				}
			}
			p := mustQuery(t, s, "items", Query{First: MaxFirst})
			got := names(p)
			has1 := strings.HasPrefix(got, "0,1,")
			if has1 != tc.wantFirst {
				t.Fatalf("records %s: the in-doubt record is there: %t, want %t", got, has1, tc.wantFirst)
			}
			opts.Objects = objects
			reopen(t, s, opts)
		})
	}
}

func TestFencing(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		rec := func(i int) map[string]any { return map[string]any{"item_id": uid(i), "name": fmt.Sprint(i)} }

		t.Run("second writer", func(t *testing.T) {
			opts := testOptions(t, b.new(t), kitchenContract(t))
			a := openStore(t, opts)
			mustAppend(t, a, "items", rec(1))
			b := openStore(t, opts)
			mustAppend(t, b, "items", rec(2))
			for i := 3; i < 5; i++ {
				_, err := a.Append(ctx, "items", rec(i))
				if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "another writer") {
					t.Fatalf("first writer's append %d: %v, want ErrFenced", i, err)
				}
			}
			if _, err := a.Mutate(ctx, "profile", map[string]any{"name": "x"}); !errors.Is(err, ErrFenced) {
				t.Fatalf("first writer's mutate: %v", err)
			}
			// The fenced store still answers reads from what it had.
			if p := mustQuery(t, a, "items", Query{}); names(p) != "1" {
				t.Fatalf("fenced store reads %s", names(p))
			}
			mustAppend(t, b, "items", rec(5))
			c := reopen(t, b, opts)
			if p := mustQuery(t, c, "items", Query{}); names(p) != "1,2,5" {
				t.Fatalf("after fencing: %s", names(p))
			}
		})

		t.Run("idle writer after compaction", func(t *testing.T) {
			opts := testOptions(t, b.new(t), kitchenContract(t))
			a := openStore(t, opts)
			mustAppend(t, a, "items", rec(1))
			b := openStore(t, opts)
			for i := 2; i < 30; i++ {
				mustAppend(t, b, "items", rec(i))
			}
			if err := b.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			// Compaction removed the old segments but not b's claim, which
			// is where a's next write goes.
			if _, err := a.Append(ctx, "items", rec(100)); !errors.Is(err, ErrFenced) {
				t.Fatalf("idle writer's append after compaction: %v, want ErrFenced", err)
			}
			c := reopen(t, b, opts)
			if n, _ := c.Count(ctx, "items", nil); n != 29 {
				t.Fatalf("%d records, want 29", n)
			}
		})

		t.Run("concurrent opens", func(t *testing.T) {
			opts := testOptions(t, b.new(t), kitchenContract(t))
			stores := make([]*Store, 4)
			var wg sync.WaitGroup
			for i := range stores {
				wg.Go(func() {
					s, err := Open(ctx, opts)
					if err != nil {
						t.Error(err)
						return
					}
					stores[i] = s
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			ok := 0
			for i, s := range stores {
				if _, err := s.Append(ctx, "items", rec(i)); err == nil {
					ok++
				} else if !errors.Is(err, ErrFenced) {
					t.Fatalf("store %d: %v", i, err)
				}
				defer s.Close()
			}
			if ok != 1 {
				t.Fatalf("%d of the stores opened at once could write, want exactly 1", ok)
			}
		})
	})
}

// TestCorruption alters, truncates, swaps and removes objects of a store and
// checks that opening it fails with an error naming the object, never
// returning data from it; once the object is put back the store opens.
func TestCorruption(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		objects := b.new(t)
		opts := testOptions(t, objects, kitchenContract(t))
		opts.CompactSegments = -1
		opts.ChunkSize = 1 << 10
		s := openStore(t, opts)
		buildHistory(t, s)
		want := dump(t, s)
		s.Close()

		lay := layout{prefix: "pods/test/"}
		keys, err := objects.List(ctx, "pods/test/")
		if err != nil {
			t.Fatal(err)
		}
		var seg, nextSeg, chunk, man string
		for _, k := range keys {
			switch {
			case strings.HasPrefix(k, lay.prefix+chunkDir) && chunk == "":
				chunk = k
			case strings.HasPrefix(k, lay.prefix+manifestDir):
				man = k
			case strings.HasPrefix(k, lay.prefix+segmentDir):
				seg, nextSeg = nextSeg, k // the last two segments
			}
		}
		if seg == "" || chunk == "" || man == "" {
			t.Fatalf("store lacks objects to corrupt: %v", keys)
		}
		get := func(key string) []byte {
			data, err := objects.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
		flip := func(key string, i int) func() {
			data := get(key)
			data[i%len(data)] ^= 0x01
			return func() { objects.Put(ctx, key, data) }
		}
		tests := []struct {
			name   string
			key    string
			change func() func() // returns nothing; the test restores the original
			want   error
			msg    string
		}{
			{"segment altered", seg, func() func() { return flip(seg, 60) }, ErrCorrupt, "authentication failed"},
			{"segment altered at the end", seg, func() func() { return flip(seg, len(get(seg))-1) }, ErrCorrupt, "authentication failed"},
			{"segment truncated", seg, func() func() { d := get(seg); return func() { objects.Put(ctx, seg, d[:len(d)/2]) } }, ErrCorrupt, "truncated"},
			{"segment empty", seg, func() func() { return func() { objects.Put(ctx, seg, nil) } }, ErrCorrupt, "authentication failed"},
			{"segment swapped", nextSeg, func() func() { d := get(seg); return func() { objects.Put(ctx, nextSeg, d) } }, ErrCorrupt, "holds another object"},
			{"segment missing", seg, func() func() { return func() { objects.Delete(ctx, seg) } }, ErrCorrupt, "is missing"},
			{"chunk altered", chunk, func() func() { return flip(chunk, 100) }, ErrCorrupt, "does not match its snapshot manifest"},
			{"chunk truncated", chunk, func() func() { d := get(chunk); return func() { objects.Put(ctx, chunk, d[:len(d)-10]) } }, ErrCorrupt, "does not match its snapshot manifest"},
			{"chunk missing", chunk, func() func() { return func() { objects.Delete(ctx, chunk) } }, ErrCorrupt, "is missing"},
			{"manifest altered", man, func() func() { return flip(man, 30) }, ErrCorrupt, "authentication failed"},
			{"data key altered", lay.key(), func() func() { return flip(lay.key(), 40) }, ErrWrongKey, "altered"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				orig := get(tc.key)
				tc.change()()
				_, err := Open(ctx, opts)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || (tc.want == ErrCorrupt && !strings.Contains(err.Error(), tc.key)) {
					t.Fatalf("Open: %v\nwant %v naming %s and saying %q", err, tc.want, tc.key, tc.msg)
				}
				if err := objects.Put(ctx, tc.key, orig); err != nil {
					t.Fatal(err)
				}
				s := openStore(t, opts)
				if got := dump(t, s); !reflect.DeepEqual(got, want) {
					t.Fatalf("after repair the data differs")
				}
				s.Close()
			})
		}
	})
}

func TestWrongKeys(t *testing.T) {
	ctx := context.Background()
	objects := localObjects(t)
	opts := testOptions(t, objects, kitchenContract(t))
	s := openStore(t, opts)
	mustAppend(t, s, "tags", "x")
	s.Close()
	wrapped, err := objects.Get(ctx, "pods/test/k")
	if err != nil {
		t.Fatal(err)
	}

	other, err := NewFernetKEK(mustKey())
	if err != nil {
		t.Fatal(err)
	}
	bad := opts
	bad.KEK = other
	if _, err := Open(ctx, bad); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "pods/test/k") {
		t.Fatalf("Open with another KEK: %v, want ErrWrongKey", err)
	}
	// The data key was not replaced.
	if again, _ := objects.Get(ctx, "pods/test/k"); string(again) != string(wrapped) {
		t.Fatal("a failed unwrap replaced the data key")
	}
	// A rotated KEK list with the old key second still opens it.
	rotated, err := NewFernetKEK(mustKey(), testKEKKey)
	if err != nil {
		t.Fatal(err)
	}
	good := opts
	good.KEK = rotated
	s = openStore(t, good)
	if p := mustQuery(t, s, "tags", Query{}); p.TotalCount != 1 {
		t.Fatalf("after KEK rotation: %d tags", p.TotalCount)
	}
	s.Close()

	wrongMember := opts
	wrongMember.MemberID[0] ^= 0xff
	if _, err := Open(ctx, wrongMember); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "belongs to service 4712, member "+testMember.String()) {
		t.Fatalf("Open for another member: %v", err)
	}
	if _, err := NewFernetKEK("not a key"); err == nil {
		t.Fatal("NewFernetKEK accepted garbage")
	}
	// Object store unavailable at open: a clear error, no key made.
	empty := localObjects(t)
	broken := &faulty{Store: empty}
	broken.arm(0)
	opts.Objects = broken
	opts.MarkFile = "" // the mark of the store above would rightly refuse an empty one
	if _, err := Open(ctx, opts); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open on a failing object store: %v", err)
	}
	if _, err := empty.Get(ctx, "pods/test/k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed open left a data key: %v", err)
	}
}
