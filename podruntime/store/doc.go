// Package store is a pod's data store: the records of one membership,
// shaped by the service's contract, held in memory for fast queries and
// kept durable and encrypted in an object store (internal/objstore: a local
// directory or S3).
//
// # Data model and API
//
// Each top-level class of the contract is a table. An object class holds at
// most one record (Get, Mutate); an array class holds records in the order
// they were appended (Append, Query, Update, Delete, Count). Records are
// maps of field names to values as encoding/json decodes them; the contract
// validates every record and patch. Mutate and Update merge: fields a patch
// leaves out keep their values, fields it sets to nil are cleared.
//
// Queries take a Filter (conditions on fields, AND-ed; see Op for the
// operators of each field type), a page size (DefaultFirst, at most
// MaxFirst), an opaque cursor to start after and a field projection. A Page
// carries the edges, whether there is a next page, and the number of
// records that match the filter on all pages. Fields marked "index" (or
// "primary_key") have an in-memory index that eq, vin and at conditions
// use; the others are scanned. Fields marked "counter" have a count per
// value (Counter), exact under every operation. Records of cache_only
// classes expire after the contract's duration by the injected clock: they
// are never returned or counted after that, are purged from memory when
// first noticed, and leave storage at the next compaction.
//
// Watch reports every committed change, for subscriptions.
//
// # Encryption
//
// Every object the store writes is a Fernet token (AES-128-CBC and
// HMAC-SHA256, sealed by internal/fernet) under the store's data key, except the data key itself,
// which is stored only wrapped by the runtime's key-encryption key
// (KeyWrapper; FernetKEK wraps it in another Fernet token). The data key
// is made once, with create-if-absent so that two stores opening an empty
// prefix at once agree on one key; a wrapped key that does not unwrap is an
// error (ErrWrongKey), never a reason to make a new one. Object names are
// sequence numbers (see below): class and field names, ids and values exist
// only inside the tokens. The store writes no data to local disk: at most
// a high-water mark (see below), a sequence number.
//
// Each token's plaintext starts with a header naming the object's kind and
// sequence number, which is checked against the name it was read from, so
// an altered, truncated, swapped or foreign object fails with ErrCorrupt
// naming the object, and is never read as data.
//
// # Durability: log, group commit, snapshots
//
// Objects under the store's prefix:
//
//	k                        the wrapped data key
//	w/<seq:20>               write-ahead log segment number seq
//	s/<seq:20>               snapshot manifest: covers segments up to seq
//	c/<seq:20>-<nonce>-<i>   chunk i of that snapshot
//
// Every change is planned by a single committer goroutine as whole records
// to put and ids to delete, written as the next log segment with Create
// (create-if-absent), and applied in memory only when that write has
// succeeded; only then does the call return. Requests that arrive while a
// segment is being written are batched into the next one (group commit). A
// write that fails changes nothing in memory; one whose outcome is unknown
// is settled by the next write at the same sequence number, which finds the
// earlier segment there (and applies it) or takes the number itself, so the
// log never has a gap or a duplicate.
//
// When the log since the last snapshot passes CompactSegments segments or
// CompactBytes (and the size of the last snapshot), a background compaction
// writes all live records as encrypted chunks, then the manifest (listing
// each chunk's size and SHA-256) with Create, and only then deletes the
// segments, manifests and chunks the new snapshot replaces. A store opening
// reads the latest manifest and its chunks, then the segments after it,
// fetching in parallel; a crash at any step leaves a complete snapshot and
// log to restore from, with at worst some unreferenced objects that the next
// compaction deletes.
//
// # Fencing
//
// One writer per prefix. Opening a store loads it, then writes a claim as
// the next log segment. A second writer on the same prefix therefore
// collides with the other's segment names: whichever writes a sequence
// number the other has taken gets objstore.ErrExist, finds a segment that is
// not its own, and is fenced (ErrFenced) for good: it refuses every write
// and keeps answering reads. Claims are never deleted, so a writer that has
// been idle since another opened still collides with that claim even after
// compactions removed the segments around it.
//
// # Lost objects: data key, rolled-back log
//
// Open refuses, and writes nothing, when the object store has lost what
// the store wrote:
//
//   - The data key is missing but the prefix holds a log (segments,
//     snapshots): ErrDataKeyMissing, naming the key object to restore from
//     a backup. A new key could never read the log, so none is made. (A
//     store that finds the key missing lists the prefix and, if it holds
//     objects, reads the key again: another store opening the empty prefix
//     at once may have created it and claimed the log meanwhile.)
//   - With Options.MarkFile, the log ends before the high-water mark: the
//     newest segment the store last knew durable, kept in that local file.
//     Deleted newest segments, or an object store restored from an older
//     backup, look like a shorter log from the object store alone; the
//     mark tells them apart. Open fails with a *RollbackError
//     (ErrRolledBack) naming the segment found, the mark, the mark file and
//     the missing segments. Options.AcceptRollback opens the older log on
//     purpose (with a warning) and resets the mark; it is meant for one
//     start. A store under the object store that is newer than the mark is
//     normal (the mark file was lost or is behind) and opens.
//
// The mark only ever names a segment whose Create succeeded (or that was
// read back from the object store), so it cannot refuse a normal restart,
// crashes included. It is written atomically (temporary file, fsync,
// rename, fsync of the directory) when Open and Close return, and in the
// background as commits go by, at most every 100 ms: no commit waits for
// the local disk, and after a crash the mark may lag the log by the last
// ~100 ms of commits, a rollback of which goes unnoticed. The mark is only
// as durable as its file: a pod whose state directory is lost (an emptyDir
// in Kubernetes when the Pod is replaced) starts a new mark from what the
// object store holds, and a rollback before that is not seen.
//
// # Object store unavailable
//
// Reads never touch the object store. Writes fail with ErrUnavailable as
// soon as the object store's own bounded retries give up (or WriteTimeout
// passes), and work again once it is back.
package store
