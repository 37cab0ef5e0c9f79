package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/objstore/objstoretest"
	"github.com/byoda-go/byoda/test/testenv"
)

var bucketSeq atomic.Int64

// newS3 returns a store in a fresh bucket on srv.
func newS3(t testing.TB, srv *testenv.S3) *objstore.S3 {
	t.Helper()
	bucket := fmt.Sprintf("objstore-%d", bucketSeq.Add(1))
	srv.CreateBucket(t, bucket)
	return newS3In(t, srv, bucket, srv.SecretAccessKey)
}

func newS3In(t testing.TB, srv *testenv.S3, bucket, secret string) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(context.Background(), objstore.S3Config{
		Bucket:          bucket,
		Endpoint:        srv.Endpoint,
		Region:          srv.Region,
		UsePathStyle:    true,
		AccessKeyID:     srv.AccessKeyID,
		SecretAccessKey: secret,
	})
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

func TestS3Conformance(t *testing.T) {
	srv := testenv.StartS3(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return newS3(t, srv) })
}

// TestS3PrefixConformance runs the suite on stores that share one bucket
// under different prefixes, which must not see each other's keys.
func TestS3PrefixConformance(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.CreateBucket(t, "shared")
	// An object beside the prefixes, sharing their first characters, must
	// never show up in a store.
	other, err := objstore.NewS3(t.Context(), objstore.S3Config{
		Bucket: "shared", Prefix: "pods", Endpoint: srv.Endpoint, Region: srv.Region,
		UsePathStyle: true, AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Put(t.Context(), "pod-1-outside", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewS3(context.Background(), objstore.S3Config{
			Bucket:          "shared",
			Prefix:          fmt.Sprintf("pods/pod-%d", n.Add(1)),
			Endpoint:        srv.Endpoint,
			Region:          srv.Region,
			UsePathStyle:    true,
			AccessKeyID:     srv.AccessKeyID,
			SecretAccessKey: srv.SecretAccessKey,
		})
		if err != nil {
			t.Fatalf("NewS3: %v", err)
		}
		return s
	})
}

func TestS3WrongSecretRefused(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.CreateBucket(t, "creds")
	s := newS3In(t, srv, "creds", "not-the-secret")
	ctx := t.Context()

	_, getErr := s.Get(ctx, "some/key")
	_, listErr := s.List(ctx, "")
	for op, err := range map[string]error{
		"Put":    s.Put(ctx, "some/key", []byte("x")),
		"Get":    getErr,
		"List":   listErr,
		"Create": s.Create(ctx, "some/key", []byte("x")),
		"Delete": s.Delete(ctx, "some/key"),
	} {
		if !errors.Is(err, objstore.ErrAccessDenied) {
			t.Errorf("%s with a wrong secret: error %v, want objstore.ErrAccessDenied", op, err)
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s with a wrong secret looks like a missing object: %v", op, err)
		}
		msg := err.Error()
		if op == "Put" {
			t.Logf("Put with a wrong secret: %v", err)
		}
		for _, want := range []string{"credentials", srv.AccessKeyID, "s3://creds/"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s error %q does not mention %q", op, msg, want)
			}
		}
		if strings.Contains(msg, "not-the-secret") {
			t.Errorf("%s error %q leaks the secret", op, msg)
		}
	}

	// An unknown access key is refused as clearly, never taken for a
	// missing object.
	unknown, err := objstore.NewS3(ctx, objstore.S3Config{
		Bucket: "creds", Endpoint: srv.Endpoint, Region: srv.Region, UsePathStyle: true,
		AccessKeyID: "AKNOBODY", SecretAccessKey: srv.SecretAccessKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = unknown.Get(ctx, "some/key")
	if !errors.Is(err, objstore.ErrAccessDenied) || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "AKNOBODY") {
		t.Errorf("Get with an unknown access key: error %v, want objstore.ErrAccessDenied naming AKNOBODY", err)
	}
}

func TestS3MissingBucket(t *testing.T) {
	srv := testenv.StartS3(t)
	s := newS3In(t, srv, "no-such-bucket", srv.SecretAccessKey)
	_, err := s.Get(t.Context(), "key")
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("Get in a missing bucket: error %v, want a missing-bucket error that is not fs.ErrNotExist", err)
	}
}

// TestS3ServerStopped checks that a stopped server makes requests fail on
// their own, well before the caller's deadline, with a clear error, and that
// the store works again once the server is back.
func TestS3ServerStopped(t *testing.T) {
	srv := testenv.StartS3(t)
	s := newS3(t, srv)
	if err := s.Put(t.Context(), "before", []byte("x")); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := s.Put(ctx, "during", []byte("x"))
	if err == nil {
		t.Fatal("Put with the server stopped succeeded")
	}
	t.Logf("Put with the server stopped: %v", err)
	if ctx.Err() != nil {
		t.Fatalf("Put with the server stopped ran into the caller's one-minute deadline instead of failing: %v", err)
	}
	for _, want := range []string{"put", "s3://", "during", "unreachable", srv.Endpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Put error %q does not mention %q", err, want)
		}
	}
	if _, err := s.Get(ctx, "before"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get with the server stopped: error %v, want an unreachable error, not fs.ErrNotExist", err)
	}

	srv.Restart(t)
	if err := s.Put(t.Context(), "after", []byte("y")); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	got, err := s.Get(t.Context(), "before")
	if err != nil || string(got) != "x" {
		t.Errorf("Get(before) after restart = %q, %v; want %q", got, err, "x")
	}
}

func BenchmarkS3Put(b *testing.B) {
	srv := testenv.StartS3(b)
	benchmarkPut(b, newS3(b, srv))
}

func BenchmarkS3Get(b *testing.B) {
	srv := testenv.StartS3(b)
	benchmarkGet(b, newS3(b, srv))
}
