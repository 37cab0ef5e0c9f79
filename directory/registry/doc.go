// Package registry is the storage of the directories: what the network
// directory has registered (accounts, services with their certificates and
// contracts, members, and the DNS records of all of them) and what a
// service directory has registered (its members, their member-data
// certificates and the values they make searchable).
//
// # Two SQL dialects, one implementation
//
// DB speaks database/sql to SQLite (pure Go, modernc.org/sqlite) in a local
// file, the embedded default, and to PostgreSQL (pgx) when one machine is
// not enough. Open picks the dialect from the URL: "sqlite:<path>" or
// "postgres://...". The statements are written once in the SQL both
// understand (ON CONFLICT, RETURNING, $n parameters) and every value is a
// parameter, never spliced into the text. Both pass one conformance suite,
// registrytest, PostgreSQL as a real server (test/testenv.StartPostgres).
//
// # Migrations
//
// The schema is a list of numbered migrations, applied in order at Open in
// one transaction each and recorded in schema_migrations, so that a
// directory upgraded in place brings its database along. On PostgreSQL an
// advisory lock keeps two directories starting at once from applying the
// same migration twice; SQLite's write lock does the same.
//
// # DNS records and the serial
//
// Every registration that publishes an address writes a row of
// dns_records in the same transaction, stamped with the next value of the
// zone serial, a counter in a row of its own. Taking that row's lock is the
// last step of the transaction, so transactions that change records commit
// in serial order: a reader that has seen serial n and asks for the records
// after n (RecordsSince) never misses one that commits later with a lower
// serial. The DNS server's in-memory view follows the registry this way,
// from one process or several sharing a PostgreSQL database.
//
// # Search values
//
// Searchable values are stored as bytes, with a case-folded copy, so that
// exact and prefix comparisons are byte comparisons with the same answer on
// both databases whatever their collation.
package registry
