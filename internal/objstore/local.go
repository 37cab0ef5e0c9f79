package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Local is a Store in a directory on a local filesystem, the default for a
// single machine. Objects are files under <dir>/objects/, one per key, with
// each "/"-separated key segment a directory level. Writes are staged in
// <dir>/tmp/, which no key can reach, so a half-written temporary file never
// appears as an object or in List.
//
// Put writes and fsyncs a temporary file, renames it into place and fsyncs
// the directory; Create hard-links the temporary file into place, which the
// filesystem refuses atomically when the name exists. Objects are readable
// only by the owner (0600, directories 0700): they belong to one pod.
type Local struct {
	objects string
	tmp     string
}

var _ Store = (*Local)(nil)

const (
	localObjectsDir = "objects"
	localTmpDir     = "tmp"

	// staleTmpAge is how old a temporary file must be before NewLocal
	// removes it as a leftover of a crashed writer. Writers finish in
	// seconds, so an hour leaves a wide margin for another process that
	// shares the directory.
	staleTmpAge = time.Hour

	// publishAttempts bounds retries of a rename or link whose directory was
	// removed in between by a concurrent Delete tidying empty directories.
	publishAttempts = 5
)

// NewLocal returns a Store in dir, creating dir and its layout if needed.
// Temporary files older than an hour, left by a crash, are removed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("local object store: directory is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local object store %s: %w", dir, err)
	}
	l := &Local{
		objects: filepath.Join(abs, localObjectsDir),
		tmp:     filepath.Join(abs, localTmpDir),
	}
	for _, d := range []string{abs, l.objects, l.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("local object store: %w", err)
		}
	}
	l.removeStaleTemps()
	return l, nil
}

// String names the store in messages.
func (l *Local) String() string { return "file://" + filepath.Dir(l.objects) }

// Put stores data under key, replacing any existing object atomically.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	if err := l.write(ctx, key, data, os.Rename); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Create stores data under key only if key holds no object yet; otherwise it
// returns an error matching ErrExist.
func (l *Local) Create(ctx context.Context, key string, data []byte) error {
	link := func(tmp, final string) error {
		err := os.Link(tmp, final)
		if errors.Is(err, fs.ErrExist) {
			if fi, statErr := os.Lstat(final); statErr == nil && fi.IsDir() {
				return err // a prefix of other keys, reported by keyConflict
			}
			return ErrExist
		}
		return err
	}
	if err := l.write(ctx, key, data, link); err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	return nil
}

// write stages data in a synced temporary file and publishes it at key's
// path with publish (rename or link), then syncs the directory.
func (l *Local) write(ctx context.Context, key string, data []byte, publish func(tmp, final string) error) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := l.writeTemp(data)
	if err != nil {
		return err
	}
	// After a rename the name is gone; after a link (or a failure) this
	// removes the staging name.
	defer os.Remove(tmp)
	if err := ctx.Err(); err != nil {
		return err
	}

	final := l.path(key)
	dir := filepath.Dir(final)
	for attempt := 1; ; attempt++ {
		if err = l.mkdirs(dir); err == nil {
			err = publish(tmp, final)
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == publishAttempts {
			break
		}
	}
	if err != nil {
		if errors.Is(err, ErrExist) {
			return err
		}
		return keyConflict(key, err)
	}
	return syncDir(dir)
}

func (l *Local) writeTemp(data []byte) (string, error) {
	f, err := os.CreateTemp(l.tmp, "obj-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// mkdirs creates dir and its missing parents below the objects directory,
// syncing each parent that gained an entry so the new path survives a crash.
func (l *Local) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(l.objects, dir)
	if err != nil || rel == "." {
		return err
	}
	cur := l.objects
	for seg := range strings.SplitSeq(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, seg)
		switch err := os.Mkdir(next, 0o700); {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return err
		}
		cur = next
	}
	return nil
}

// keyConflict explains the errors a filesystem gives when a key and another
// key's directory collide ("a" and "a/b"); other errors pass unchanged.
func keyConflict(key string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("a parent of key %q is an object, and a key cannot be both an object and a prefix of other keys: %w", key, err)
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST), errors.Is(err, syscall.ENOTEMPTY):
		return fmt.Errorf("key %q is a prefix of other keys, and a key cannot be both an object and a prefix of other keys: %w", key, err)
	}
	return err
}

// Get returns the object stored under key, or an error matching
// fs.ErrNotExist.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	data, err := os.ReadFile(l.path(key))
	if err != nil {
		// A directory, or a path through an object, is no object either.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
			return nil, fmt.Errorf("get %s: %w", key, ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return data, nil
}

// Delete removes the object under key; a missing key is not an error.
// Directories left empty are removed too.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	final := l.path(key)
	err := syscall.Unlink(final)
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return nil
	case err != nil:
		return fmt.Errorf("delete %s: %w", key, &fs.PathError{Op: "unlink", Path: final, Err: err})
	}
	dir := filepath.Dir(final)
	if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// Tidy up empty directories so the key's name is free to become an
	// object again. Rmdir fails on a directory that is not empty, which
	// ends the walk; a writer racing with this retries its publish.
	for ; dir != l.objects; dir = filepath.Dir(dir) {
		if syscall.Rmdir(dir) != nil {
			break
		}
	}
	return nil
}

// List returns the sorted keys that start with prefix.
func (l *Local) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	// Walk from the deepest directory the prefix names completely; the
	// last, partial segment filters names below it.
	start := l.objects
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(l.objects, filepath.FromSlash(prefix[:i]))
	}
	keys := []string{}
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			// Entries vanish under concurrent deletes, and the start
			// directory is missing when nothing has the prefix.
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if path == l.objects {
			return nil
		}
		rel, err := filepath.Rel(l.objects, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			dirPrefix := name + "/"
			if !strings.HasPrefix(dirPrefix, prefix) && !strings.HasPrefix(prefix, dirPrefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(name, prefix) {
			keys = append(keys, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	// A walk visits "a/b" before "a-c"; callers get byte order, as from S3.
	slices.Sort(keys)
	return keys, nil
}

func (l *Local) path(key string) string {
	return filepath.Join(l.objects, filepath.FromSlash(key))
}

func (l *Local) removeStaleTemps() {
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-staleTmpAge)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(l.tmp, e.Name()))
		}
	}
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}
