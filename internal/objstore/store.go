package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"
)

// Store holds objects (byte slices) under keys. Keys are paths separated by
// "/" that satisfy ValidateKey. Every method takes a context and returns its
// error; implementations are safe for concurrent use by many goroutines.
//
// A key must not be both an object and a directory-like prefix of other keys
// ("a" and "a/b"): stores that map keys onto a filesystem (Local, and
// POSIX-backed S3 servers such as versitygw) cannot hold both, so portable
// callers never do it. Such a write fails with an error; it never damages
// the existing object.
type Store interface {
	// Put stores data under key, replacing any existing object atomically.
	Put(ctx context.Context, key string, data []byte) error

	// Get returns the object stored under key. A missing key is an error
	// that matches fs.ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)

	// List returns every key that starts with prefix, sorted. The prefix is
	// a plain string prefix ("a/b" matches "a/b", "a/bc" and "a/b/c"); the
	// empty prefix lists the whole store. No match is an empty result, not
	// an error.
	List(ctx context.Context, prefix string) ([]string, error)

	// Delete removes the object under key. Deleting a missing key is not an
	// error, so a retried Delete is harmless.
	Delete(ctx context.Context, key string) error

	// Create stores data under key only if no object exists there yet. It is
	// atomic: of many concurrent creators exactly one succeeds, the others
	// get an error that matches ErrExist. Write-ahead logs and fencing rely
	// on this.
	Create(ctx context.Context, key string, data []byte) error
}

// objectError is a sentinel error that also matches a standard fs error, so
// callers can test for either.
type objectError struct {
	msg    string
	target error
}

func (e *objectError) Error() string { return e.msg }
func (e *objectError) Unwrap() error { return e.target }

var (
	// ErrExist is returned by Create when the key already holds an object.
	// It matches fs.ErrExist.
	ErrExist error = &objectError{"object already exists", fs.ErrExist}

	// ErrNotExist is returned when a key holds no object. It matches
	// fs.ErrNotExist, which is what callers should test for.
	ErrNotExist error = &objectError{"object does not exist", fs.ErrNotExist}

	// ErrAccessDenied is returned when the object store refuses the
	// credentials or the request. It matches fs.ErrPermission.
	ErrAccessDenied error = &objectError{"access denied", fs.ErrPermission}

	// ErrInvalidKey is returned for a key or prefix that breaks the rules of
	// ValidateKey. It matches fs.ErrInvalid.
	ErrInvalidKey error = &objectError{"invalid key", fs.ErrInvalid}
)

const (
	// MaxKeyLen is the longest key in bytes, S3's limit.
	MaxKeyLen = 1024

	// MaxSegmentLen is the longest "/"-separated segment of a key in bytes:
	// the file name limit of common filesystems, which Local and
	// POSIX-backed S3 servers map segments onto.
	MaxSegmentLen = 255
)

// ValidateKey reports whether key can name an object in every Store. A key
// is 1 to MaxKeyLen bytes of UTF-8 without control characters, made of
// "/"-separated segments that are non-empty, at most MaxSegmentLen bytes and
// neither "." nor "..". So a key never starts or ends with "/" and cannot
// escape a directory. The error matches ErrInvalidKey and names the key.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: key is empty", ErrInvalidKey)
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// validatePrefix checks a List prefix: every complete segment follows the key
// rules; the last, partial segment may be empty (a prefix ending in "/") or
// any fragment of a valid segment.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(prefix, seg); err != nil {
			return err
		}
	}
	if last := segs[len(segs)-1]; len(last) > MaxSegmentLen {
		return invalidKey(prefix, fmt.Sprintf("segment longer than %d bytes", MaxSegmentLen))
	}
	return nil
}

func checkChars(key string) error {
	if len(key) > MaxKeyLen {
		return invalidKey(key, fmt.Sprintf("%d bytes, longer than %d", len(key), MaxKeyLen))
	}
	if !utf8.ValidString(key) {
		return invalidKey(key, "not valid UTF-8")
	}
	if strings.HasPrefix(key, "/") {
		return invalidKey(key, `starts with "/"`)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return invalidKey(key, fmt.Sprintf("control character %U", r))
		}
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch {
	case seg == "":
		return invalidKey(key, `empty segment (leading, trailing or double "/")`)
	case seg == "." || seg == "..":
		return invalidKey(key, fmt.Sprintf("%q segment", seg))
	case len(seg) > MaxSegmentLen:
		return invalidKey(key, fmt.Sprintf("segment longer than %d bytes", MaxSegmentLen))
	}
	return nil
}

func invalidKey(key, reason string) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidKey, quoteKey(key), reason)
}

// quoteKey quotes a key for an error message, shortening very long keys so
// the message stays readable.
func quoteKey(key string) string {
	const show = 80
	if len(key) > show {
		return fmt.Sprintf("%q...", key[:show])
	}
	return fmt.Sprintf("%q", key)
}

// isCtxErr reports whether err comes from a cancelled or expired context.
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
