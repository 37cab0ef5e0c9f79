package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fernet/fernet-go"
	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/test/testenv"
)

// pkgDir is this package's directory, found from this file so that tests
// can read files outside the repository (the shared reference contract).
func pkgDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func loadContract(t testing.TB, path string) *contract.Contract {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return c
}

func kitchenContract(t testing.TB) *contract.Contract {
	return loadContract(t, filepath.Join(pkgDir(), "testdata", "contracts", "kitchen.json"))
}

func markerContract(t testing.TB) *contract.Contract {
	return loadContract(t, filepath.Join(pkgDir(), "testdata", "contracts", "marker.json"))
}

// addressbookContract is the reference's published contract, shared by the
// project outside the repository.
func addressbookContract(t testing.TB) *contract.Contract {
	return loadContract(t, filepath.Join(pkgDir(), "..", "..", "..", "shared", "contracts", "addressbook.json"))
}

func demoContract(t testing.TB) *contract.Contract {
	return loadContract(t, filepath.Join(pkgDir(), "..", "..", "config", "samples", "contracts", "addressbook-demo.json"))
}

var (
	testMember = uuid.MustParse("6d0a1f4e-3c2b-4a59-9e1d-8b7c6a5f4e3d")
	testKEKKey = mustKey()
)

// mustKey returns a new Fernet key, encoded. crypto/rand.Read never fails.
func mustKey() string {
	var k fernet.Key
	rand.Read(k[:])
	return k.Encode()
}

func testKEK(t testing.TB) *FernetKEK {
	t.Helper()
	kek, err := NewFernetKEK(testKEKKey)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// fakeClock is an injected clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testOptions returns the options of a store on objects, with a
// high-water mark in a fresh directory: every test that reopens a store
// also checks that a normal restart is not taken for a rollback.
func testOptions(t testing.TB, objects objstore.Store, c *contract.Contract) Options {
	return Options{
		Objects:  objects,
		Prefix:   "pods/test",
		MemberID: testMember,
		Contract: c,
		KEK:      testKEK(t),
		MarkFile: filepath.Join(t.TempDir(), "state", "test.hwm"),
	}
}

// openStore opens a store and closes it when the test ends.
func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func localObjects(t testing.TB) objstore.Store {
	t.Helper()
	l, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// backend makes empty object stores of one kind.
type backend struct {
	name string
	new  func(t testing.TB) objstore.Store
	s3   *testenv.S3 // nil for local
}

var bucketSeq atomic.Int64

// s3Objects returns a store in a new bucket of srv.
func s3Objects(t testing.TB, srv *testenv.S3) *objstore.S3 {
	t.Helper()
	bucket := fmt.Sprintf("store-test-%d", bucketSeq.Add(1))
	srv.CreateBucket(t, bucket)
	s, err := objstore.NewS3(context.Background(), s3Config(srv, bucket))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func s3Config(srv *testenv.S3, bucket string) objstore.S3Config {
	return objstore.S3Config{
		Bucket:          bucket,
		Endpoint:        srv.Endpoint,
		Region:          srv.Region,
		UsePathStyle:    true,
		AccessKeyID:     srv.AccessKeyID,
		SecretAccessKey: srv.SecretAccessKey,
	}
}

// forBackends runs fn as a subtest on the local backend and on a real S3
// server (versitygw; skipped under -short).
func forBackends(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("local", func(t *testing.T) {
		fn(t, backend{name: "local", new: localObjects})
	})
	t.Run("s3", func(t *testing.T) {
		srv := testenv.StartS3(t)
		fn(t, backend{name: "s3", s3: srv, new: func(t testing.TB) objstore.Store { return s3Objects(t, srv) }})
	})
}

func uid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// dump reads every record of every class, for comparing two stores.
func dump(t testing.TB, s *Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	for _, c := range s.contract.Classes {
		if c.Kind == contract.KindObject {
			rec, err := s.Get(ctx, c.Name)
			if err != nil {
				t.Fatalf("Get %s: %v", c.Name, err)
			}
			out[c.Name] = rec
			continue
		}
		var edges []Edge
		q := Query{First: MaxFirst}
		for {
			p, err := s.Query(ctx, c.Name, q)
			if err != nil {
				t.Fatalf("Query %s: %v", c.Name, err)
			}
			edges = append(edges, p.Edges...)
			if !p.PageInfo.HasNextPage {
				break
			}
			q.After = p.PageInfo.EndCursor
		}
		out[c.Name] = edges
	}
	return out
}

// reopen closes s, opens a new store on the same objects and checks that it
// holds exactly what s held.
func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	want := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := openStore(t, opts)
	got := dump(t, s2)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored store differs from the one that wrote it:\n got %s\nwant %s", short(got), short(want))
	}
	return s2
}

func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 4000 {
		return s[:4000] + "..."
	}
	return s
}

// names returns the "name" field of each edge's record, joined by commas.
func names(p *Page) string {
	var out []string
	for _, e := range p.Edges {
		out = append(out, fmt.Sprint(e.Node.(map[string]any)["name"]))
	}
	return strings.Join(out, ",")
}

func mustAppend(t testing.TB, s *Store, class string, recs ...any) []string {
	t.Helper()
	cursors, err := s.Append(context.Background(), class, recs...)
	if err != nil {
		t.Fatalf("Append %s: %v", class, err)
	}
	return cursors
}

func mustQuery(t testing.TB, s *Store, class string, q Query) *Page {
	t.Helper()
	p, err := s.Query(context.Background(), class, q)
	if err != nil {
		t.Fatalf("Query %s %+v: %v", class, q, err)
	}
	return p
}

func readKitchen(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pkgDir(), "testdata", "contracts", "kitchen.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// rowMap returns a Row as the map record Query returns without Rows.
func rowMap(r *Row) map[string]any {
	m := make(map[string]any, len(r.vals))
	for i, v := range r.vals {
		pos := i
		if r.proj != nil {
			pos = r.proj[i]
		}
		if v.Kind != ValueNone {
			m[r.t.fields[pos]] = v.Any()
		}
	}
	return m
}
