package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/byoda-go/byoda/internal/objstore"
)

// atRestMarker is the name of a field, part of a class name and part of
// record values in testdata/contracts/marker.json.
const atRestMarker = "zebraquartzmarker"

// TestNothingPlainAtRest writes records whose field name, class name and
// values carry a marker, through the log, a snapshot and the log after it,
// then scans every byte the store wrote (file contents, file names and
// extended attributes; for S3 also every object through the API) for the
// marker and the other names: there must be none.
func TestNothingPlainAtRest(t *testing.T) {
	secrets := []string{atRestMarker, "secretnote", "value ", "updated ", "a note about"}
	forBackends(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		var objects objstore.Store
		root := t.TempDir() // the local store's directory
		if b.s3 == nil {
			l, err := objstore.NewLocal(root)
			if err != nil {
				t.Fatal(err)
			}
			objects = l
		} else {
			objects = b.new(t)
			root = b.s3.Dir
			scanS3After := objects.(*objstore.S3)
			defer func() { scanS3(t, b, scanS3After, secrets) }()
		}
		opts := testOptions(t, objects, markerContract(t))
		opts.ChunkSize = 4 << 10
		s := openStore(t, opts)
		for i := range 100 {
			mustAppend(t, s, "zebraquartzmarkerclass", map[string]any{atRestMarker: fmt.Sprintf("value %s %d", atRestMarker, i), "seq": i})
		}
		if _, err := s.Mutate(ctx, "secretnote", map[string]any{atRestMarker: "a note about " + atRestMarker}); err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 100; i < 120; i++ {
			mustAppend(t, s, "zebraquartzmarkerclass", map[string]any{atRestMarker: fmt.Sprintf("value %s %d", atRestMarker, i), "seq": i})
		}
		if _, err := s.Update(ctx, "zebraquartzmarkerclass", Filter{{Field: "seq", Op: OpLt, Value: 10}}, map[string]any{atRestMarker: "updated " + atRestMarker}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = openStore(t, opts)
		if n, _ := s.Count(ctx, "zebraquartzmarkerclass", Filter{{Field: atRestMarker, Op: OpRegex, Value: atRestMarker}}); n != 120 {
			t.Fatalf("the marker records did not survive: %d", n)
		}
		s.Close()

		files, size := scanTree(t, root, secrets)
		if files == 0 || size == 0 {
			t.Fatalf("scanned nothing under %s", root)
		}
		t.Logf("%d files, %d bytes under %s: no marker", files, size, root)
	})
}

// scanTree checks every file, directory name and extended attribute under
// root.
func scanTree(t *testing.T, root string, secrets []string) (files int, size int64) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		checkBytes(t, "name "+rel, []byte(rel), secrets)
		checkXattrs(t, path, secrets)
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		size += int64(len(data))
		checkBytes(t, path, data, secrets)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, size
}

func checkXattrs(t *testing.T, path string, secrets []string) {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := syscall.Listxattr(path, buf)
	if err != nil || n == 0 {
		return
	}
	for name := range strings.SplitSeq(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		checkBytes(t, path+" xattr name", []byte(name), secrets)
		val := make([]byte, 64<<10)
		if m, err := syscall.Getxattr(path, name, val); err == nil {
			checkBytes(t, path+" xattr "+name, val[:m], secrets)
		}
	}
}

func checkBytes(t *testing.T, where string, data []byte, secrets []string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for _, s := range secrets {
		if bytes.Contains(lower, []byte(strings.ToLower(s))) {
			t.Errorf("%s contains %q in plain text", where, s)
		}
	}
}

// scanS3 reads every object of the store's bucket through the S3 API.
func scanS3(t *testing.T, b backend, objects *objstore.S3, secrets []string) {
	t.Helper()
	ctx := context.Background()
	bucket := strings.TrimSuffix(strings.TrimPrefix(objects.String(), "s3://"), "/")
	client := b.s3.Client(t)
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) == 0 {
		t.Fatalf("bucket %s is empty", bucket)
	}
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		checkBytes(t, "key "+key, []byte(key), secrets)
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, "object "+key, data, secrets)
		for k, v := range obj.Metadata {
			checkBytes(t, "metadata of "+key, []byte(k+"="+v), secrets)
		}
	}
}
