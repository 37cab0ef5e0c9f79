package testenv

import (
	"database/sql"
	"testing"
)

func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	url := pg.NewDatabase(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO t (v) VALUES ($1)`, "x'); DROP TABLE t; --"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(t.Context(), `SELECT v FROM t`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "x'); DROP TABLE t; --" {
		t.Errorf("read %q", v)
	}
	// A second database is empty.
	other, err := sql.Open("pgx", pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(t.Context(), `SELECT v FROM t`); err == nil {
		t.Error("a new database has the table of another")
	}
	db.Close()
	other.Close()
	pg.stop()
	if exited, _ := pg.Process.Exited(); !exited {
		t.Error("postgres still runs after stop")
	}
}
