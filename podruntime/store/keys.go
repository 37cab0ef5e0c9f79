package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/fernet"
	"github.com/byoda-go/byoda/internal/objstore"
)

// KeyWrapper protects the store's data key with a key-encryption key (KEK)
// that the pod runtime holds, for example in a Kubernetes Secret or a KMS.
// The store keeps its data key only as WrapKey's output, beside the data.
type KeyWrapper interface {
	// WrapKey encrypts and authenticates a data key.
	WrapKey(plain []byte) ([]byte, error)
	// UnwrapKey reverses WrapKey. It fails for a blob wrapped under another
	// KEK or altered since.
	UnwrapKey(wrapped []byte) ([]byte, error)
}

// FernetKEK is a KeyWrapper that encrypts the data key with Fernet. The
// first key wraps; every key is tried to unwrap, so a KEK can be rotated by
// listing the new key first while the old one is still needed.
type FernetKEK struct {
	keys []*fernet.Key
}

var _ KeyWrapper = (*FernetKEK)(nil)

// NewFernetKEK returns a FernetKEK for keys in Fernet's encoding (URL-safe
// or standard base64 of 32 bytes, or hex), as a runtime reads them from its
// secret.
func NewFernetKEK(keys ...string) (*FernetKEK, error) {
	if len(keys) == 0 {
		return nil, errors.New("key-encryption key: none given")
	}
	ks := make([]*fernet.Key, len(keys))
	for i, s := range keys {
		k, err := fernet.DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key %d: want 32 bytes in base64 or hex: %w", i+1, err)
		}
		ks[i] = k
	}
	return &FernetKEK{keys: ks}, nil
}

// WrapKey encrypts plain under the first key.
func (k *FernetKEK) WrapKey(plain []byte) ([]byte, error) {
	return fernet.Seal(k.keys[0], plain, time.Now())
}

// UnwrapKey decrypts wrapped with whichever key wrapped it.
func (k *FernetKEK) UnwrapKey(wrapped []byte) ([]byte, error) {
	msg, err := fernet.Open(k.keys, wrapped)
	if err != nil {
		return nil, errors.New("not a Fernet token of any of the key-encryption keys")
	}
	return msg, nil
}

// sealer encrypts and authenticates the store's objects with its data key.
type sealer struct {
	keys []*fernet.Key
}

func (s *sealer) seal(plain []byte) ([]byte, error) {
	tok, err := fernet.Seal(s.keys[0], plain, time.Now())
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return tok, nil
}

// open authenticates and decrypts the object stored under name, and checks
// that its header says it is the object of that kind and sequence number,
// so that an object copied under another name is caught too. It returns
// the body after the header.
func (s *sealer) open(name string, tok []byte, kind byte, seq uint64) ([]byte, error) {
	plain, err := fernet.Open(s.keys, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: authentication failed: the object was altered or truncated, or is not this store's (%d bytes)", ErrCorrupt, name, len(tok))
	}
	d := decoder{buf: plain}
	magic, k, n := d.fixed(len(objMagic)), d.byte(), d.uvarint()
	if d.err != nil || string(magic) != objMagic || k != kind || n != seq {
		return nil, fmt.Errorf("%w: %s: holds another object (kind %d, sequence %d)", ErrCorrupt, name, k, n)
	}
	return plain[d.off:], nil
}

// Object header: every object's plaintext starts with objMagic, its kind
// and its sequence number.
const objMagic = "BYS1"

const (
	objSegment  byte = 1 // a write-ahead log segment
	objChunk    byte = 2 // a chunk of a snapshot
	objManifest byte = 3 // a snapshot's manifest
	objKey      byte = 4 // the wrapped data key (under the KEK, not the data key)
)

func header(kind byte, seq uint64) *encoder {
	e := &encoder{buf: make([]byte, 0, 256)}
	e.raw([]byte(objMagic))
	e.byte(kind)
	e.uvarint(seq)
	return e
}

// loadKey reads the store's data key, or creates it if the store is new.
// The key object is written with Create, so of two stores opened on an
// empty prefix at once, both end up with the one key that won. A key that
// exists but does not unwrap is an error; it is never replaced. Nor is a
// missing key, when the store has a log: a new key could not read it.
func (s *Store) loadKey(ctx context.Context) (*fernet.Key, error) {
	name := s.layout.key()
	data, err := s.objects.Get(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		var isNew bool
		if data, isNew, err = s.checkNew(ctx); err != nil {
			return nil, err
		}
		if isNew {
			var k *fernet.Key
			if k, err = s.createKey(ctx, name); k != nil || !errors.Is(err, objstore.ErrExist) {
				return k, err
			}
			// Another store created the key first: use that one.
			data, err = s.objects.Get(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read data key: %w", ErrUnavailable, err)
	}
	plain, err := s.opts.KEK.UnwrapKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: the data key in %s does not unwrap with the key-encryption key (%v): "+
			"the key-encryption key is not the one the store was created with, or the object was altered; "+
			"no new data key is made, since that would make the stored data unreadable",
			ErrWrongKey, name, err)
	}
	d := decoder{buf: plain}
	magic, kind, _ := d.fixed(len(objMagic)), d.byte(), d.uvarint()
	sid, mid, key := d.uint32(), d.fixed(16), d.fixed(32)
	if d.err != nil || !d.done() || string(magic) != objMagic || kind != objKey {
		return nil, fmt.Errorf("%w: %s: the unwrapped data key is malformed", ErrCorrupt, name)
	}
	if got := uuid.UUID(mid); sid != s.opts.ServiceID || got != s.opts.MemberID {
		return nil, fmt.Errorf("%w: the store at %s belongs to service %d, member %s, not service %d, member %s",
			ErrInvalid, s.layout.prefix, sid, got, s.opts.ServiceID, s.opts.MemberID)
	}
	var k fernet.Key
	copy(k[:], key)
	return &k, nil
}

// checkNew is called when the data key is missing. It reports whether the
// store is new: nothing under its prefix, and no high-water mark that says
// otherwise. If the prefix holds objects, the key is read again, as
// another store may have created it meanwhile (a store writes its key
// before anything else) and then returned; if it is still missing the
// store has lost it, and ErrDataKeyMissing names it. Nothing is written.
func (s *Store) checkNew(ctx context.Context) (data []byte, isNew bool, err error) {
	name := s.layout.key()
	keys, err := s.objects.List(ctx, s.layout.prefix)
	if err != nil {
		return nil, false, fmt.Errorf("%w: list the store's objects: %w", ErrUnavailable, err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == name })
	if len(keys) == 0 {
		return nil, true, s.checkMark(0)
	}
	data, err = s.objects.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("%w: %s is missing, but the store holds %d other objects (such as %s): "+
			"restore %s from a backup; byoda never makes a new data key for existing data",
			ErrDataKeyMissing, name, len(keys), keys[len(keys)-1], name)
	case err != nil:
		return nil, false, fmt.Errorf("%w: read data key: %w", ErrUnavailable, err)
	}
	return data, false, nil
}

// createKey makes a data key and stores it wrapped, unless the store has
// one already (an error matching objstore.ErrExist).
func (s *Store) createKey(ctx context.Context, name string) (*fernet.Key, error) {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	wrapped, err := s.opts.KEK.WrapKey(s.keyPlaintext(&k))
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	switch err := s.objects.Create(ctx, name, wrapped); {
	case errors.Is(err, objstore.ErrExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: store data key: %w", ErrUnavailable, err)
	}
	return &k, nil
}

func (s *Store) keyPlaintext(k *fernet.Key) []byte {
	e := header(objKey, 0)
	e.putUint32(s.opts.ServiceID)
	e.raw(s.opts.MemberID[:])
	e.raw(k[:])
	return e.buf
}
