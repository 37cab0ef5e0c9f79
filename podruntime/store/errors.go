package store

import "errors"

// Errors the store returns, for callers to test with errors.Is. Each is
// wrapped with the details: which class, field, operator or object.
var (
	// ErrInvalid marks a request the caller got wrong: an unknown class or
	// field, a filter operator the field's type does not have, a record the
	// contract rejects, a bad cursor or page size. Retrying it cannot help.
	ErrInvalid = errors.New("invalid request")

	// ErrUnavailable marks a write that was not acknowledged because the
	// object store could not be reached or failed. Nothing of the write is
	// visible; it may be retried once the object store is back.
	ErrUnavailable = errors.New("object store unavailable")

	// ErrFenced means another writer has taken over the store's prefix
	// (usually the same pod started elsewhere). The store refuses every
	// further write; reads still answer from the data it holds.
	ErrFenced = errors.New("another writer took over the store")

	// ErrCorrupt means an object of the store is missing, altered or
	// truncated. The error names the object; no data from it is used.
	ErrCorrupt = errors.New("store object corrupt")

	// ErrWrongKey means the store's wrapped data key cannot be unwrapped
	// with the key-encryption key that was supplied. The store never makes
	// a new data key in that case, since that would orphan all its data.
	ErrWrongKey = errors.New("wrong key-encryption key")

	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("store closed")
)

// Errors Open returns when the object store no longer holds what the store
// wrote to it. Neither is ever repaired by writing: the operator restores
// from a backup, or accepts the older data on purpose.
var (
	// ErrDataKeyMissing means the store has a log (segments or snapshots)
	// but its wrapped data key object is gone. The store never makes a new
	// data key for existing data; the message names the object to restore.
	ErrDataKeyMissing = errors.New("data key missing")

	// ErrRolledBack means the log in the object store ends before the
	// store's high-water mark (Options.MarkFile): segments that were
	// durable have been deleted, or the object store was restored from an
	// older backup. Errors of this kind are *RollbackError.
	ErrRolledBack = errors.New("store log rolled back")
)
