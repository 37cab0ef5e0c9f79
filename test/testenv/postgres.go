package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	// The PostgreSQL driver, registered as "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
)

const postgresInstall = "hack/postgres.sh (Debian package postgresql)"

// Postgres is a PostgreSQL server of its own for a test: a temporary
// cluster made with initdb, listening on a free loopback port with trust
// authentication for the user "byoda", without fsync. It is stopped by
// its PID (a fast shutdown, SIGINT to the postmaster) in t.Cleanup and its
// files removed.
type Postgres struct {
	// Addr is the host:port on 127.0.0.1 the server listens on.
	Addr string
	// Process is the postmaster.
	Process *Process

	dir   string
	count atomic.Int64
}

// postgresUser is the superuser of the test clusters.
const postgresUser = "byoda"

// StartPostgres starts a PostgreSQL server from the machine's packages
// (Debian's postgresql, /usr/lib/postgresql/<version>/bin, or initdb and
// postgres on the PATH). PostgreSQL refuses to run as root, so under root it
// runs as the postgres system user (or nobody).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb, postgres := postgresBinaries(t)
	cred, err := postgresCredential()
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	// Not t.TempDir(): its parents are private to the test's user, and
	// the server may run as another.
	dir, err := os.MkdirTemp("", "byoda-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), initdb, "--pgdata="+data, "--username="+postgresUser,
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg := &Postgres{dir: dir}
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		p := startProcess(t, "postgres", postgres, []string{
			"-D", data,
			"-h", "127.0.0.1",
			"-p", strconv.Itoa(port),
			"-k", "", // no Unix socket: TCP on loopback only
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
			"-c", "log_min_messages=warning",
		}, nil, cred)
		pg.Addr, pg.Process = Addr(port), p
		t.Cleanup(pg.stop)
		err := pg.wait(t.Context())
		if err == nil {
			return pg
		}
		if strings.Contains(p.Tail(8<<10), "could not bind") && attempt < 3 {
			t.Logf("postgres: port %d taken; retrying on another", port)
			pg.stop()
			continue
		}
		t.Fatalf("start PostgreSQL: %v\n%s", err, p.Tail(8<<10))
	}
}

// postgresBinaries finds initdb and postgres.
func postgresBinaries(t testing.TB) (initdb, postgres string) {
	t.Helper()
	skipIfShort(t, "PostgreSQL")
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest version first: 15 before 9.6.
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(a)), ".")[0])
		vb, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(b)), ".")[0])
		return vb - va
	})
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(i) && isExecutable(p) {
			return i, p
		}
	}
	i, err1 := exec.LookPath("initdb")
	p, err2 := exec.LookPath("postgres")
	if err1 != nil || err2 != nil {
		t.Fatalf("PostgreSQL is not installed (no initdb and postgres): run %s", postgresInstall)
	}
	return i, p
}

// postgresCredential returns the user to run PostgreSQL as: nil (this
// process's user) unless that is root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither the postgres nor the nobody user exists to run the server as")
}

// wait waits until the server accepts connections.
func (pg *Postgres) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pg.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		if exited, perr := pg.Process.Exited(); exited {
			return fmt.Errorf("postgres exited (%v); last error: %w", perr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the server by its PID with a fast shutdown (SIGINT: clients are
// disconnected, nothing is waited for), then SIGKILL after 10 seconds.
func (pg *Postgres) stop() {
	p := pg.Process
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = syscall.Kill(p.Pid(), syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// URL returns the connection URL of database db as the superuser.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", postgresUser, pg.Addr, db)
}

// NewDatabase creates an empty database of its own for a test and returns
// its connection URL.
func (pg *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", pg.count.Add(1))
	db, err := sql.Open("pgx", pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The name is made here, not taken from input: CREATE DATABASE takes
	// no parameters.
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pg.URL(name)
}
