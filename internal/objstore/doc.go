// Package objstore is byoda's object storage: a small key/value interface
// (Store) with two implementations, a local directory (Local) and S3 or an
// S3-compatible server (S3). The pod's encrypted data store, its write-ahead
// logs and its fencing tokens are built on it, so every implementation gives
// the same guarantees, checked by the shared conformance suite in
// objstore/objstoretest:
//
//   - a successful Put or Create is durable and atomic: a reader sees the
//     whole old value or the whole new one, never a torn write;
//   - Create is create-if-absent: of many concurrent creators of one key,
//     exactly one succeeds and the others get ErrExist;
//   - a missing key is an error that matches fs.ErrNotExist;
//   - keys follow one set of rules everywhere (ValidateKey), so data can move
//     between backends unchanged.
//
// Open picks the backend from a URL (file:///abs/dir or
// s3://bucket/prefix?endpoint=...), the one place where that choice is made.
package objstore
