package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migration is one step of the schema. Its SQL is the same in both
// dialects but for the names of a few types, which migrate substitutes:
// {blob} is BLOB in SQLite and BYTEA in PostgreSQL.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations are applied in order; a released migration is never changed,
// only followed by new ones.
var migrations = []migration{
	{1, "network and service registries", []string{
		`CREATE TABLE accounts (
			account_id TEXT PRIMARY KEY,
			cert_chain TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE services (
			service_id BIGINT PRIMARY KEY,
			ca_chain TEXT NOT NULL,
			data_chain TEXT NOT NULL DEFAULT '',
			contract {blob},
			version INTEGER NOT NULL DEFAULT 0,
			name TEXT NOT NULL DEFAULT '',
			description TEXT NOT NULL DEFAULT '',
			owner TEXT NOT NULL DEFAULT '',
			website TEXT NOT NULL DEFAULT '',
			supportemail TEXT NOT NULL DEFAULT '',
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE members (
			service_id BIGINT NOT NULL REFERENCES services (service_id),
			member_id TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			PRIMARY KEY (service_id, member_id)
		)`,
		`CREATE TABLE dns_serial (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			serial BIGINT NOT NULL
		)`,
		`INSERT INTO dns_serial (id, serial) VALUES (1, 0)`,
		`CREATE TABLE dns_records (
			name TEXT PRIMARY KEY,
			addr TEXT NOT NULL,
			serial BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE INDEX dns_records_serial ON dns_records (serial)`,
		`CREATE TABLE service_members (
			service_id BIGINT NOT NULL,
			member_id TEXT NOT NULL,
			tls_chain TEXT NOT NULL,
			data_chain TEXT NOT NULL DEFAULT '',
			contract_version INTEGER NOT NULL DEFAULT 0,
			addr TEXT NOT NULL DEFAULT '',
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			PRIMARY KEY (service_id, member_id)
		)`,
		`CREATE TABLE search_values (
			service_id BIGINT NOT NULL,
			member_id TEXT NOT NULL,
			class TEXT NOT NULL,
			field TEXT NOT NULL,
			value {blob} NOT NULL,
			folded {blob} NOT NULL,
			PRIMARY KEY (service_id, class, field, value, member_id)
		)`,
		`CREATE INDEX search_values_folded ON search_values (service_id, class, field, folded)`,
		`CREATE INDEX search_values_member ON search_values (service_id, member_id)`,
	}},
}

// SchemaVersion is the version of the newest migration.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies the migrations the database lacks.
func (r *DB) migrate(ctx context.Context) error {
	// Even CREATE TABLE IF NOT EXISTS fails on PostgreSQL when two
	// sessions run it at once: it too waits for the lock.
	err := r.tx(ctx, func(tx *sql.Tx) error {
		if err := r.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		err := r.tx(ctx, func(tx *sql.Tx) error {
			if err := r.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range m.stmts {
				if _, err := tx.ExecContext(ctx, r.dialectSQL(stmt)); err != nil {
					return fmt.Errorf("%s: %w", stmt, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, r.stamp())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	var newest int
	if err := r.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if newest > SchemaVersion() {
		return fmt.Errorf("the database has schema version %d, newer than this byoda's %d; run a newer byoda", newest, SchemaVersion())
	}
	return nil
}

// lockMigrations keeps other directories from migrating the same
// PostgreSQL database until tx ends. SQLite needs nothing: its
// transactions begin with the write lock.
func (r *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if r.dialect != Postgres {
		return nil
	}
	// The key is arbitrary but fixed ("byoda" in ASCII).
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(427677442145)`)
	return err
}

func (r *DB) dialectSQL(stmt string) string {
	blob := "BLOB"
	if r.dialect == Postgres {
		blob = "BYTEA"
	}
	return strings.ReplaceAll(stmt, "{blob}", blob)
}
