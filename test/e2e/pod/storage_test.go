package pod_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/byoda-go/byoda/test/testenv"
)

// writeMarker writes marker into every kind of record the demo service has,
// through GraphQL, and checks that it reads back.
func writeMarker(t testing.TB, p *testPod, marker string) {
	t.Helper()
	tok := p.login(t, demoSID)
	p.ownerGQL(t, demoSID, tok, `mutation($m: String!) { mutate_person(given_name: $m, family_name: "Doe", email: "suzie@example.com") }`,
		map[string]any{"m": marker}).ok(t)
	a := address{uuid.NewString(), time.Now().UTC(), "home", marker, "NL"}
	p.ownerGQL(t, demoSID, tok, appendAddress, a.vars()).ok(t)
	p.ownerGQL(t, demoSID, tok, `mutation($m: String!) { append_tags(value: $m) }`, map[string]any{"m": marker}).ok(t)
	checkMarker(t, p, marker)
}

// checkMarker checks that the pod serves marker back.
func checkMarker(t testing.TB, p *testPod, marker string) {
	t.Helper()
	tok := p.login(t, demoSID)
	r := p.ownerGQL(t, demoSID, tok, `{ person { given_name } addresses_connection { edges { node { city } } } tags_connection { edges { node } } }`, nil).ok(t)
	if strings.Count(r.Raw, marker) != 3 {
		t.Fatalf("the pod does not serve the marker back: %s", r.Raw)
	}
}

func TestNoPlainTextAtRest(t *testing.T) {
	p := newPod(t, podOptions{})
	marker := "MARKER-" + rand.Text()
	writeMarker(t, p, marker)
	// Compactions write snapshots too: restart (which closes the store)
	// and look at everything the pod ever wrote under its data directory.
	p.restart(t)
	checkMarker(t, p, marker)
	p.proc.Stop()
	if n := grepTree(t, p.dataDir, []byte(marker)); n < 3 {
		t.Fatalf("only %d files under the data directory: is the storage elsewhere?", n)
	}
	// Class names do not leak either.
	_ = filepath.WalkDir(p.dataDir, func(path string, _ os.DirEntry, _ error) error {
		if strings.Contains(path, "addresses") || strings.Contains(path, "person") {
			t.Errorf("object name %s names a class", path)
		}
		return nil
	})
}

func TestS3Storage(t *testing.T) {
	s := testenv.StartS3(t)
	s.CreateBucket(t, "pods")
	p := newPod(t, podOptions{
		storage: "s3://pods/byoda?endpoint=" + s.Endpoint + "&region=" + s.Region + "&path_style=true",
		env:     []string{"AWS_ACCESS_KEY_ID=" + s.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + s.SecretAccessKey},
	})
	marker := "MARKER-" + rand.Text()
	writeMarker(t, p, marker)

	// Restart the pod with an empty data directory but for its key: the
	// data comes back from S3.
	p.proc.Stop()
	kek, err := os.ReadFile(filepath.Join(p.dataDir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := os.ReadFile(filepath.Join(p.dataDir, testenv.OwnerPasswordFile))
	p.dataDir = t.TempDir()
	writeFile(t, filepath.Join(p.dataDir, "kek"), string(kek))
	writeFile(t, filepath.Join(p.dataDir, testenv.OwnerPasswordFile), string(pw))
	p.start(t)
	checkMarker(t, p, marker)
	p.proc.Stop()

	// Nothing in the bucket holds the marker.
	client := s.Client(t)
	ctx := context.Background()
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pods")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) < 3 {
		t.Fatalf("only %d objects in the bucket", len(out.Contents))
	}
	for _, o := range out.Contents {
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pods"), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("object %s holds the marker in plain text", *o.Key)
		}
	}
	// Nor anything on the S3 server's disk, or in the pod's data
	// directory.
	grepTree(t, s.Dir, []byte(marker))
	grepTree(t, p.dataDir, []byte(marker))
}

func TestWrongKEK(t *testing.T) {
	p := newPod(t, podOptions{})
	writeMarker(t, p, "hello")
	p.proc.Stop()
	key := make([]byte, 32)
	rand.Read(key)
	kekFile := filepath.Join(p.dataDir, "kek")
	original, _ := os.ReadFile(kekFile)
	writeFile(t, kekFile, base64.URLEncoding.EncodeToString(key))
	proc := testenv.StartProcess(t, "pod-wrong-kek", byodaBin, p.args(testenv.FreePort(t), testenv.FreePort(t)), nil)
	testenv.Eventually(t, 30*time.Second, "pod exits", nil, func(context.Context) error {
		if exited, _ := proc.Exited(); !exited {
			return io.ErrNoProgress
		}
		return nil
	})
	if _, err := proc.Exited(); err == nil || !strings.Contains(proc.Tail(4096), "does not open the data key") {
		t.Fatalf("pod with the wrong key-encryption key: %v\n%s", err, proc.Tail(4096))
	}
	// The data is intact: the right key opens it.
	writeFile(t, kekFile, string(original))
	p.start(t)
	tok := p.login(t, demoSID)
	if r := p.ownerGQL(t, demoSID, tok, `{ person { given_name } }`, nil).ok(t); !strings.Contains(r.Raw, "hello") {
		t.Fatalf("after the right key: %s", r.Raw)
	}

	// No key at all: a clear error, and no key is made.
	os.Remove(kekFile)
	p.proc.Stop()
	proc = testenv.StartProcess(t, "pod-no-kek", byodaBin, p.args(testenv.FreePort(t), testenv.FreePort(t)), nil)
	testenv.Eventually(t, 30*time.Second, "pod exits", nil, func(context.Context) error {
		if exited, _ := proc.Exited(); !exited {
			return io.ErrNoProgress
		}
		return nil
	})
	if !strings.Contains(proc.Tail(4096), "no key-encryption key at") {
		t.Fatalf("pod without a key-encryption key:\n%s", proc.Tail(4096))
	}
	if _, err := os.Stat(kekFile); err == nil {
		t.Fatal("the pod created a key-encryption key")
	}
}
