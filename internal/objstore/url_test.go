package objstore_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/test/testenv"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want objstore.Location
	}{
		{"file:///var/lib/byoda", objstore.Location{LocalDir: "/var/lib/byoda"}},
		{"file://localhost/var/lib/byoda/", objstore.Location{LocalDir: "/var/lib/byoda"}},
		{"s3://bucket", objstore.Location{S3: &objstore.S3Config{Bucket: "bucket"}}},
		{"s3://bucket/pods/alice/", objstore.Location{S3: &objstore.S3Config{Bucket: "bucket", Prefix: "pods/alice"}}},
		{
			"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true",
			objstore.Location{S3: &objstore.S3Config{
				Bucket: "bucket", Prefix: "prefix", Endpoint: "http://127.0.0.1:9000",
				Region: "eu-west-1", UsePathStyle: true,
			}},
		},
	}
	for _, tc := range tests {
		got, err := objstore.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURL(%q) = %+v (S3 %+v), want %+v (S3 %+v)", tc.url, got, got.S3, tc.want, tc.want.S3)
		}
		// The URL a Location builds parses back into the same Location.
		back, err := objstore.ParseURL(got.URL())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("ParseURL(%q.URL() = %q) = %+v, %v; want %+v", tc.url, got.URL(), back, err, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1": "s3://bucket/prefix",
		"s3://key:secret@bucket/prefix":                                      "s3://bucket/prefix",
		"file:///var/lib/byoda":                                              "file:///var/lib/byoda",
		"%":                                                                  "(unparsable)",
	} {
		if got := objstore.Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q; want %q", raw, got, want)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"", "no scheme"},
		{"/var/lib/byoda", "no scheme"},
		{"http://example.com/x", `unsupported scheme "http"`},
		{"file://relative/dir", `host "relative"`},
		{"file:relative", "absolute path"},
		{"file:///dir?x=1", "no query"},
		{"s3://", "no bucket"},
		{"s3:///prefix", "no bucket"},
		{"s3://bucket:9000/x", "colons"},
		{"s3://key:secret@bucket/x", "credentials do not belong in the URL"},
		{"s3://bucket/x?endpont=http://x", `unknown parameter "endpont"`},
		{"s3://bucket/x?path_style=maybe", "path_style"},
		{"s3://bucket/x?region=a&region=b", "given 2 times"},
		{"s3://bucket/x?endpoint=127.0.0.1:9000", "want http://host:port"},
		{"s3://bucket/a/../b", "invalid key"},
		{"s3://bucket/x#frag", "fragment"},
	}
	for _, tc := range tests {
		_, err := objstore.ParseURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q): error %v, want one containing %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(tc.url, "secret@") {
			t.Errorf("ParseURL(%q): error %q leaks the secret", tc.url, err)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := objstore.Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatalf("Open(file): %v", err)
	}
	if _, ok := s.(*objstore.Local); !ok {
		t.Fatalf("Open(file) = %T, want *objstore.Local", s)
	}
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// An s3 URL takes its credentials from the standard AWS chain; here the
	// environment, with shared config files out of the way.
	srv := testenv.StartS3(t)
	srv.CreateBucket(t, "opened")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_REGION", "")
	s, err = objstore.Open(t.Context(), "s3://opened/pods/alice?path_style=true&endpoint="+srv.Endpoint)
	if err != nil {
		t.Fatalf("Open(s3): %v", err)
	}
	if _, ok := s.(*objstore.S3); !ok {
		t.Fatalf("Open(s3) = %T, want *objstore.S3", s)
	}
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatalf("Put through an opened S3 store: %v", err)
	}
	out, err := srv.Client(t).ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("opened")})
	if err != nil || len(out.Contents) != 1 || *out.Contents[0].Key != "pods/alice/k" {
		t.Errorf("bucket holds %v (%v), want the one object pods/alice/k", out, err)
	}
}

func TestValidateKey(t *testing.T) {
	for _, key := range []string{"a", "a/b", "a.b/.c/..d", "ключ", strings.Repeat("x", objstore.MaxSegmentLen)} {
		if err := objstore.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q): %v", key, err)
		}
	}
	long := strings.Repeat("y", 2000)
	err := objstore.ValidateKey(long)
	if !errors.Is(err, objstore.ErrInvalidKey) || len(err.Error()) > 200 {
		t.Errorf("ValidateKey of a 2000-byte key: error %q, want a short ErrInvalidKey", err)
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts stays inside a
// directory when joined to it, as Local does.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../x", "a/./b", "a//b", "/abs", "a\x00", "ключ/键"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if objstore.ValidateKey(key) != nil {
			return
		}
		root := "/store/objects"
		p := filepath.Join(root, filepath.FromSlash(key))
		if !strings.HasPrefix(p, root+"/") || filepath.ToSlash(p[len(root)+1:]) != key {
			t.Errorf("valid key %q maps to %q, outside or not one-to-one", key, p)
		}
	})
}

func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{"file:///a", "s3://b/p?endpoint=http://h:1&region=r&path_style=1", "s3://u:p@b", "file://x/y", "%zz"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		loc, err := objstore.ParseURL(raw)
		if err != nil {
			return
		}
		if (loc.LocalDir == "") == (loc.S3 == nil) {
			t.Errorf("ParseURL(%q) = %+v, want exactly one backend", raw, loc)
		}
		if loc.LocalDir != "" && !filepath.IsAbs(loc.LocalDir) {
			t.Errorf("ParseURL(%q) gave a relative directory %q", raw, loc.LocalDir)
		}
	})
}
