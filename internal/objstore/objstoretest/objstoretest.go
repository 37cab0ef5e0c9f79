// Package objstoretest is the conformance suite for objstore.Store: every
// implementation, local or S3, must pass the same tests, so code built on a
// Store can rely on the guarantees the interface documents.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/byoda-go/byoda/internal/objstore"
)

// Run runs the conformance suite as subtests of t. newStore must return an
// empty store that no other subtest uses (a fresh directory, bucket or
// prefix); it is called once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s objstore.Store)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"List", testList},
		{"ListPagination", testListPagination},
		{"Delete", testDelete},
		{"Large", testLarge},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Create", testCreate},
		{"CreateRace", testCreateRace},
		{"InvalidKeys", testInvalidKeys},
		{"ContextCancelled", testContextCancelled},
		{"KeyConflict", testKeyConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func testPutGet(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	objects := map[string][]byte{
		"plain":              []byte("hello"),
		"empty":              {},
		"nested/deeper/key":  []byte("nested"),
		"binary":             {0, 1, 2, 0xff, '\n', 0},
		"unicode/ключ/键":     []byte("unicode key"),
		"spaces and + signs": []byte("odd characters"),
		"..dots/x.y/.hidden": []byte("dots inside segments are fine"),
	}
	for k, v := range objects {
		mustPut(t, s, k, v)
	}
	for k, want := range objects {
		if got := mustGet(t, s, k); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q, want %q", k, got, want)
		}
	}
	got, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := slices.Sorted(maps.Keys(objects))
	if !slices.Equal(got, want) {
		t.Errorf("List(\"\") = %q, want %q", got, want)
	}

	// The store must keep its own copy of the data.
	data := []byte("original")
	mustPut(t, s, "copy", data)
	copy(data, "CHANGED!")
	if got := mustGet(t, s, "copy"); string(got) != "original" {
		t.Errorf("Get after changing the Put slice = %q, want %q", got, "original")
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	mustPut(t, s, "k", []byte("a longer first value"))
	mustPut(t, s, "k", []byte("short"))
	if got := mustGet(t, s, "k"); string(got) != "short" {
		t.Errorf("Get after overwrite = %q, want %q", got, "short")
	}
	mustPut(t, s, "k", nil)
	if got := mustGet(t, s, "k"); len(got) != 0 {
		t.Errorf("Get after overwrite with empty value = %q, want empty", got)
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	mustPut(t, s, "dir/child", []byte("x"))
	for _, key := range []string{"nothing", "dir/nothing", "no/such/dir", "dir", "dir/child/below"} {
		_, err := s.Get(ctx, key)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) error = %v, want one matching fs.ErrNotExist", key, err)
		}
		if err != nil && !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q) error %q does not name the key", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v, want nil", key, err)
		}
	}
	if got := mustGet(t, s, "dir/child"); string(got) != "x" {
		t.Errorf("Get(dir/child) = %q after deletes of missing keys, want %q", got, "x")
	}
}

func testList(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	keys := []string{"a/1", "a/2", "a/b/c", "a-c", "ab", "b/1", "b/2/3"}
	for _, k := range keys {
		mustPut(t, s, k, []byte(k))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-c", "a/1", "a/2", "a/b/c", "ab", "b/1", "b/2/3"}},
		{"a", []string{"a-c", "a/1", "a/2", "a/b/c", "ab"}},
		{"a/", []string{"a/1", "a/2", "a/b/c"}},
		{"a/b", []string{"a/b/c"}},
		{"a/b/", []string{"a/b/c"}},
		{"a/b/c", []string{"a/b/c"}},
		{"a/b/c/", nil},
		{"a/1", []string{"a/1"}},
		{"a/x", nil},
		{"a/x/", nil},
		{"b/2/", []string{"b/2/3"}},
		{"zzz", nil},
		{"no/such/dir/", nil},
	}
	for _, tc := range tests {
		got, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func testListPagination(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	const n = 1100 // more than one S3 page of 1000
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("many/%04d", i)
	}
	parallel(t, 32, want, func(k string) error {
		return s.Put(ctx, k, []byte(k))
	})
	mustPut(t, s, "other/x", []byte("x"))
	mustPut(t, s, "manz", []byte("x"))

	got, err := s.List(ctx, "many/")
	if err != nil {
		t.Fatalf("List(many/): %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List(many/) returned %d keys, want %d sorted keys many/0000..many/%04d", len(got), n, n-1)
	}
	got, err = s.List(ctx, "many/05")
	if err != nil {
		t.Fatalf("List(many/05): %v", err)
	}
	if !slices.Equal(got, want[500:600]) {
		t.Errorf("List(many/05) returned %d keys, want many/0500..many/0599", len(got))
	}
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List(\"\"): %v", err)
	}
	if len(all) != n+2 || !slices.IsSorted(all) {
		t.Errorf("List(\"\") returned %d keys (sorted %v), want %d sorted", len(all), slices.IsSorted(all), n+2)
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	for _, k := range []string{"d/1", "d/2", "d/sub/3", "e"} {
		mustPut(t, s, k, []byte(k))
	}
	for _, k := range []string{"d/1", "d/sub/3"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) after Delete: error %v, want fs.ErrNotExist", k, err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("second Delete(%q): %v, want nil", k, err)
		}
	}
	got, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"d/2", "e"}; !slices.Equal(got, want) {
		t.Errorf("List after deletes = %q, want %q", got, want)
	}
}

func testLarge(t *testing.T, s objstore.Store) {
	data := make([]byte, 16<<20)
	rand.Read(data)
	want := sha256.Sum256(data)
	mustPut(t, s, "large/object", data)
	got := mustGet(t, s, "large/object")
	if len(got) != len(data) || sha256.Sum256(got) != want {
		t.Errorf("Get of a 16 MiB object: %d bytes with sha256 %x, want %d bytes with sha256 %x",
			len(got), sha256.Sum256(got), len(data), want)
	}
}

// value is what writer w puts on its i-th write: a header naming (w, i) and
// a body derived from it, so any read can be checked for tearing.
func value(w, i int) []byte {
	const size = 64 << 10
	b := make([]byte, 8, size)
	binary.BigEndian.PutUint32(b[0:], uint32(w))
	binary.BigEndian.PutUint32(b[4:], uint32(i))
	seed := sha256.Sum256(b[:8])
	for len(b) < size {
		b = append(b, seed[:]...)
	}
	return b[:size]
}

func isValue(b []byte, writers, writes int) bool {
	if len(b) < 8 {
		return false
	}
	w, i := int(binary.BigEndian.Uint32(b[0:])), int(binary.BigEndian.Uint32(b[4:]))
	return w < writers && i < writes && bytes.Equal(b, value(w, i))
}

func testConcurrentWriters(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	const writers, writes, readers = 8, 10, 4
	var (
		wg        sync.WaitGroup
		done      = make(chan struct{})
		goodReads atomic.Int64
	)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				if err := s.Put(ctx, "shared", value(w, i)); err != nil {
					t.Errorf("writer %d: Put(shared): %v", w, err)
					return
				}
				key := fmt.Sprintf("w/%d/%d", w, i)
				if err := s.Put(ctx, key, value(w, i)); err != nil {
					t.Errorf("writer %d: Put(%s): %v", w, key, err)
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Get(ctx, "shared")
				switch {
				case errors.Is(err, fs.ErrNotExist):
				case err != nil:
					t.Errorf("reader %d: Get(shared): %v", r, err)
					return
				case !isValue(got, writers, writes):
					t.Errorf("reader %d: Get(shared) returned %d bytes that no writer wrote (torn write)", r, len(got))
					return
				default:
					goodReads.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	if t.Failed() {
		return
	}

	if got := mustGet(t, s, "shared"); !isValue(got, writers, writes) {
		t.Errorf("final Get(shared) returned %d bytes that no writer wrote", len(got))
	}
	keys, err := s.List(ctx, "w/")
	if err != nil {
		t.Fatalf("List(w/): %v", err)
	}
	if len(keys) != writers*writes {
		t.Errorf("List(w/) returned %d keys, want %d", len(keys), writers*writes)
	}
	for _, k := range keys {
		var w, i int
		if _, err := fmt.Sscanf(k, "w/%d/%d", &w, &i); err != nil {
			t.Errorf("unexpected key %q", k)
			continue
		}
		if got := mustGet(t, s, k); !bytes.Equal(got, value(w, i)) {
			t.Errorf("Get(%q) does not hold writer %d's write %d", k, w, i)
		}
	}
	t.Logf("%d consistent reads during the writes", goodReads.Load())
}

func testCreate(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	if err := s.Create(ctx, "c/new", []byte("first")); err != nil {
		t.Fatalf("Create of a new key: %v", err)
	}
	err := s.Create(ctx, "c/new", []byte("second"))
	if !errors.Is(err, objstore.ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of an existing key: error %v, want objstore.ErrExist (and fs.ErrExist)", err)
	}
	if !strings.Contains(err.Error(), "c/new") {
		t.Errorf("Create error %q does not name the key", err)
	}
	if got := mustGet(t, s, "c/new"); string(got) != "first" {
		t.Errorf("Get after a losing Create = %q, want %q", got, "first")
	}

	mustPut(t, s, "c/put", []byte("put"))
	if err := s.Create(ctx, "c/put", []byte("create")); !errors.Is(err, objstore.ErrExist) {
		t.Errorf("Create over a Put object: error %v, want objstore.ErrExist", err)
	}

	if err := s.Delete(ctx, "c/new"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Create(ctx, "c/new", []byte("again")); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if got := mustGet(t, s, "c/new"); string(got) != "again" {
		t.Errorf("Get after Create = %q, want %q", got, "again")
	}
	if err := s.Create(ctx, "c/empty", nil); err != nil {
		t.Errorf("Create of an empty object: %v", err)
	}

	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"c/empty", "c/new", "c/put"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q (no staging leftovers)", keys, want)
	}
}

func testCreateRace(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	const rounds, racers = 8, 16
	for round := range rounds {
		key := fmt.Sprintf("fence/%d", round)
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			errs   = make([]error, racers)
			winner = -1
		)
		for r := range racers {
			wg.Go(func() {
				<-start
				errs[r] = s.Create(ctx, key, fmt.Appendf(nil, "racer %d", r))
			})
		}
		close(start)
		wg.Wait()
		for r, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%s: racers %d and %d both won Create", key, winner, r)
			case err == nil:
				winner = r
			case !errors.Is(err, objstore.ErrExist):
				t.Errorf("%s: racer %d: error %v, want objstore.ErrExist", key, r, err)
			}
		}
		if winner < 0 {
			t.Errorf("%s: no racer won Create", key)
			continue
		}
		if got, want := string(mustGet(t, s, key)), fmt.Sprintf("racer %d", winner); got != want {
			t.Errorf("%s holds %q, want the winner's %q", key, got, want)
		}
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	keys := []string{
		"", "/a", "a/", "a//b", "..", ".", "a/../b", "a/./b", "../escape",
		"a\x00b", "a\nb", "\xff", strings.Repeat("k", objstore.MaxKeyLen+1),
		strings.Repeat("s", objstore.MaxSegmentLen+1) + "/x",
	}
	for _, key := range keys {
		ops := map[string]error{
			"Put":    s.Put(ctx, key, []byte("x")),
			"Create": s.Create(ctx, key, []byte("x")),
			"Delete": s.Delete(ctx, key),
		}
		_, ops["Get"] = s.Get(ctx, key)
		for op, err := range ops {
			if !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("%s(%q): error %v, want objstore.ErrInvalidKey", op, key, err)
			} else if !strings.Contains(err.Error(), "invalid key") {
				t.Errorf("%s(%q): error %q does not say the key is invalid", op, key, err)
			}
		}
	}
	for _, prefix := range []string{"/a", "a/../", "a//", "../", "a\x00"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("List(%q): error %v, want objstore.ErrInvalidKey", prefix, err)
		}
	}
	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(keys) != 0 {
		t.Errorf("invalid keys left objects behind: %q", keys)
	}
}

func testContextCancelled(t *testing.T, s objstore.Store) {
	mustPut(t, s, "exists", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, getErr := s.Get(ctx, "exists")
	_, listErr := s.List(ctx, "")
	ops := map[string]error{
		"Put":    s.Put(ctx, "new", []byte("x")),
		"Create": s.Create(ctx, "created", []byte("x")),
		"Delete": s.Delete(ctx, "exists"),
		"Get":    getErr,
		"List":   listErr,
	}
	for op, err := range ops {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v, want context.Canceled", op, err)
		}
	}
	keys, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"exists"}; !slices.Equal(keys, want) {
		t.Errorf("after cancelled operations List = %q, want %q", keys, want)
	}
}

// testKeyConflict checks that a key that is also a prefix of other keys
// either works (S3) or fails cleanly (filesystems), and never damages data.
func testKeyConflict(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	mustPut(t, s, "file", []byte("file"))
	if err := s.Put(ctx, "file/below", []byte("below")); err != nil {
		t.Logf("Put(file/below) with object file: %v", err)
	}
	if got := mustGet(t, s, "file"); string(got) != "file" {
		t.Errorf("Get(file) = %q, want %q", got, "file")
	}

	mustPut(t, s, "dir/child", []byte("child"))
	if err := s.Put(ctx, "dir", []byte("dir")); err != nil {
		t.Logf("Put(dir) with object dir/child: %v", err)
	}
	if err := s.Create(ctx, "dir", []byte("dir")); err != nil && errors.Is(err, objstore.ErrExist) {
		if _, getErr := s.Get(ctx, "dir"); errors.Is(getErr, fs.ErrNotExist) {
			t.Errorf("Create(dir) says it exists (%v), Get(dir) says it does not", err)
		}
	}
	if got := mustGet(t, s, "dir/child"); string(got) != "child" {
		t.Errorf("Get(dir/child) = %q, want %q", got, "child")
	}

	// Once the keys below a name are gone, the name is free for an object.
	if err := s.Delete(ctx, "dir/child"); err != nil {
		t.Fatalf("Delete(dir/child): %v", err)
	}
	if err := s.Delete(ctx, "dir"); err != nil {
		t.Fatalf("Delete(dir): %v", err)
	}
	mustPut(t, s, "dir", []byte("now an object"))
	if got := mustGet(t, s, "dir"); string(got) != "now an object" {
		t.Errorf("Get(dir) = %q, want %q", got, "now an object")
	}
}

func mustPut(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data
}

// parallel runs fn on every item with at most workers at a time, failing
// the test on the first error.
func parallel(t *testing.T, workers int, items []string, fn func(string) error) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first atomic.Pointer[error]
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) || first.Load() != nil {
					return
				}
				if err := fn(items[i]); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		t.Fatal(*err)
	}
}
