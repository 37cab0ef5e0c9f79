package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	// The two database drivers, registered as "pgx" and "sqlite".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Errors of the registry, returned wrapped.
var (
	// ErrExists is a registration of an id that is taken.
	ErrExists = errors.New("already registered")
	// ErrNotFound is a lookup or update of something never registered.
	ErrNotFound = errors.New("not registered")
	// ErrStale is a contract whose version is not higher than the one the
	// registry holds.
	ErrStale = errors.New("version not higher than the registered one")
	// ErrInvalid is a value neither database can store the same way, such
	// as text with a NUL character.
	ErrInvalid = errors.New("invalid value")
)

// Dialect is the SQL database behind a DB.
type Dialect string

// The dialects Open supports.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options tune a DB.
type Options struct {
	// Now is the clock that stamps rows; nil means time.Now.
	Now func() time.Time
	// MaxOpenConns bounds the connections to the database; zero means 16
	// for PostgreSQL and 4 for SQLite.
	MaxOpenConns int
}

// DB is a registry in a SQL database. It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect Dialect
	now     func() time.Time
	// writeMu serializes writes to SQLite, which takes one writer at a
	// time: writers queue here instead of in SQLite's busy handler, which
	// sleeps for milliseconds between retries. It is unused for
	// PostgreSQL.
	writeMu sync.Mutex
}

// Open opens the registry at dbURL and applies the migrations it lacks:
//
//	sqlite:<path>                    a SQLite file, created if missing (0600)
//	postgres://user@host:port/db?... a PostgreSQL database (postgresql:// too)
//
// A relative SQLite path is relative to the working directory.
func Open(ctx context.Context, dbURL string, o Options) (*DB, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	var (
		db      *sql.DB
		dialect Dialect
		err     error
	)
	switch {
	case strings.HasPrefix(dbURL, "sqlite:"):
		dialect = SQLite
		db, err = openSQLite(strings.TrimPrefix(dbURL, "sqlite:"))
		if o.MaxOpenConns == 0 {
			o.MaxOpenConns = 4
		}
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		dialect = Postgres
		if _, perr := url.Parse(dbURL); perr != nil {
			// The parse error quotes the URL, password and all.
			return nil, errors.New("open registry: the database URL is not a valid URL; want postgres://user:password@host:port/db")
		}
		db, err = sql.Open("pgx", dbURL)
		if o.MaxOpenConns == 0 {
			o.MaxOpenConns = 16
		}
	default:
		return nil, fmt.Errorf("open registry: database URL %q: want sqlite:<path> or postgres://user@host/db", redact(dbURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	db.SetMaxOpenConns(o.MaxOpenConns)
	db.SetMaxIdleConns(o.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	r := &DB{db: db, dialect: dialect, now: o.Now}
	if err := r.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry: %w", err)
	}
	return r, nil
}

// openSQLite opens a SQLite file in WAL mode. Transactions begin
// IMMEDIATE, taking the write lock at once, so that two writers queue on
// busy_timeout instead of failing when both try to upgrade a read lock.
func openSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("database URL sqlite: needs a file path, such as sqlite:/var/lib/byoda/directory.db")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	// Create the file with mode 0600 before SQLite does (0644).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return sql.Open("sqlite", "file:"+path+"?"+q.Encode())
}

// redact hides a password in a database URL for error messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Dialect returns which database the registry is in.
func (r *DB) Dialect() Dialect { return r.dialect }

// Close closes the database.
func (r *DB) Close() error { return r.db.Close() }

// Ping checks that the database answers.
func (r *DB) Ping(ctx context.Context) error { return r.db.PingContext(ctx) }

// stamp is the time rows are stamped with: Unix milliseconds.
func (r *DB) stamp() int64 { return r.now().UnixMilli() }

// lockWrites takes the SQLite write lock; the caller calls the function
// it returns when done.
func (r *DB) lockWrites() func() {
	if r.dialect != SQLite {
		return func() {}
	}
	r.writeMu.Lock()
	return r.writeMu.Unlock
}

// exec runs one statement that writes.
func (r *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer r.lockWrites()()
	return r.db.ExecContext(ctx, query, args...)
}

// tx runs f in a transaction, committing when it returns nil.
func (r *DB) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	defer r.lockWrites()()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
