package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Location is a parsed store URL: exactly one of LocalDir and S3 is set.
type Location struct {
	// LocalDir is the directory of a Local store (file:///abs/dir).
	LocalDir string

	// S3 configures an S3 store (s3://bucket/prefix?...). Credentials are
	// never part of a URL; they come from the standard AWS chain.
	S3 *S3Config
}

// ParseURL parses a store URL:
//
//	file:///abs/dir
//	s3://bucket[/prefix][?endpoint=http://127.0.0.1:7070&region=us-east-1&path_style=true]
//
// Unknown query parameters are errors, so a misspelt option is not silently
// ignored.
func ParseURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("object store URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(raw, u)
	case "s3":
		return parseS3URL(raw, u)
	case "":
		return Location{}, fmt.Errorf("object store URL %q has no scheme: want file:///abs/dir or s3://bucket/prefix", raw)
	default:
		return Location{}, fmt.Errorf("object store URL %q: unsupported scheme %q: want file or s3", raw, u.Scheme)
	}
}

func parseFileURL(raw string, u *url.URL) (Location, error) {
	switch {
	case u.Opaque != "" || !filepath.IsAbs(u.Path):
		return Location{}, fmt.Errorf("object store URL %q: want an absolute path, file:///abs/dir", raw)
	case u.Host != "" && u.Host != "localhost":
		return Location{}, fmt.Errorf("object store URL %q: host %q: a file URL names a local directory, file:///abs/dir", raw, u.Host)
	case u.RawQuery != "" || u.Fragment != "":
		return Location{}, fmt.Errorf("object store URL %q: a file URL takes no query or fragment", raw)
	}
	return Location{LocalDir: filepath.Clean(u.Path)}, nil
}

func parseS3URL(raw string, u *url.URL) (Location, error) {
	if u.User != nil {
		return Location{}, fmt.Errorf("object store URL %q: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use another standard AWS credential source", redact(u))
	}
	if u.Host == "" {
		return Location{}, fmt.Errorf("object store URL %q: no bucket: want s3://bucket/prefix", raw)
	}
	if u.Fragment != "" {
		return Location{}, fmt.Errorf("object store URL %q: an s3 URL takes no fragment", raw)
	}
	cfg := &S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("object store URL %q: query: %w", raw, err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return Location{}, fmt.Errorf("object store URL %q: parameter %q given %d times", raw, name, len(values))
		}
		v := values[0]
		switch name {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Location{}, fmt.Errorf("object store URL %q: path_style=%q: want true or false", raw, v)
			}
			cfg.UsePathStyle = b
		default:
			return Location{}, fmt.Errorf("object store URL %q: unknown parameter %q: want endpoint, region or path_style", raw, name)
		}
	}
	if err := cfg.validate(); err != nil {
		return Location{}, fmt.Errorf("object store URL %q: %w", raw, err)
	}
	return Location{S3: cfg}, nil
}

// URL returns the store URL of l, the form ParseURL reads back. Static S3
// credentials are never part of it.
func (l Location) URL() string {
	if l.S3 == nil {
		return (&url.URL{Scheme: "file", Path: l.LocalDir}).String()
	}
	q := url.Values{}
	if l.S3.Endpoint != "" {
		q.Set("endpoint", l.S3.Endpoint)
	}
	if l.S3.Region != "" {
		q.Set("region", l.S3.Region)
	}
	if l.S3.UsePathStyle {
		q.Set("path_style", "true")
	}
	u := url.URL{Scheme: "s3", Host: l.S3.Bucket, RawQuery: q.Encode()}
	if l.S3.Prefix != "" {
		u.Path = "/" + l.S3.Prefix
	}
	return u.String()
}

// Redact returns a store URL fit for logs and status: without user info or
// query (endpoints are not secret, but nothing is gained by showing them).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// redact hides the userinfo of a URL, which may hold a secret.
func redact(u *url.URL) string {
	c := *u
	c.User = url.User("REDACTED")
	return c.String()
}

// Open returns the Store a URL names (see ParseURL): a Local store for a
// file URL, an S3 store for an s3 URL. This is the one place where the
// backend is chosen.
func Open(ctx context.Context, raw string) (Store, error) {
	loc, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case loc.LocalDir != "":
		return NewLocal(loc.LocalDir)
	case loc.S3 != nil:
		return NewS3(ctx, *loc.S3)
	}
	return nil, errors.New("object store URL: no backend")
}
