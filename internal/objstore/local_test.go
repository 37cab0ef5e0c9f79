package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/objstore/objstoretest"
)

func newLocal(t testing.TB) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return s
}

func TestLocalConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return newLocal(t) })
}

// TestLocalLeavesNoTempFiles checks the staging directory is empty after
// puts, creates (won and lost) and overwrites, and that files and
// directories are private to the owner.
func TestLocalLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if err := s.Put(ctx, fmt.Sprintf("p/%d", i%4), []byte("data")); err != nil {
				t.Errorf("Put: %v", err)
			}
			err := s.Create(ctx, "c/fence", []byte("data"))
			if err != nil && !errors.Is(err, objstore.ErrExist) {
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	// A failed write (a key conflict) must clean up too.
	if err := s.Put(ctx, "p/0/below", []byte("x")); err == nil {
		t.Errorf("Put(p/0/below) with object p/0 succeeded, want a key conflict error")
	} else if !strings.Contains(err.Error(), "prefix of other keys") {
		t.Errorf("Put(p/0/below) error %q does not explain the key conflict", err)
	}

	tmp, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 0 {
		t.Errorf("staging directory holds %d leftover files, want none", len(tmp))
	}

	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if path != dir && fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "[c/fence p/0 p/1 p/2 p/3]"; fmt.Sprint(keys) != want {
		t.Errorf("List = %v, want %v", keys, want)
	}
}

// TestLocalReopen checks that data survives a new Local on the same
// directory, as after a restart, and that stale staging files are ignored.
func TestLocalReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "a/b", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	// A crash between staging and publishing leaves a file in tmp/.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "obj-crashed"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get(t.Context(), "a/b")
	if err != nil || string(got) != "kept" {
		t.Fatalf("Get after reopen = %q, %v; want %q", got, err, "kept")
	}
	keys, err := s2.List(t.Context(), "")
	if err != nil || fmt.Sprint(keys) != "[a/b]" {
		t.Errorf("List after reopen = %v, %v; want [a/b]", keys, err)
	}
}

func TestLocalNewErrors(t *testing.T) {
	if _, err := objstore.NewLocal(""); err == nil {
		t.Error("NewLocal(\"\") succeeded, want an error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.NewLocal(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("NewLocal on a file: error %v, want one naming %s", err, file)
	}
}

func BenchmarkLocalPut(b *testing.B) {
	s := newLocal(b)
	benchmarkPut(b, s)
}

func BenchmarkLocalGet(b *testing.B) {
	s := newLocal(b)
	benchmarkGet(b, s)
}

const benchSize = 4 << 10

func benchmarkPut(b *testing.B, s objstore.Store) {
	data := bytes.Repeat([]byte("x"), benchSize)
	ctx := context.Background()
	b.SetBytes(benchSize)
	for i := 0; b.Loop(); i++ {
		if err := s.Put(ctx, fmt.Sprintf("bench/%d", i%1000), data); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkGet(b *testing.B, s objstore.Store) {
	data := bytes.Repeat([]byte("x"), benchSize)
	ctx := context.Background()
	if err := s.Put(ctx, "bench/get", data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := s.Get(ctx, "bench/get"); err != nil {
			b.Fatal(err)
		}
	}
}
