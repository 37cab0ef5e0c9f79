package testenv

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// BuildByoda builds the byoda binary from the repository into dir and
// returns its path, for suites that run byoda as processes (from TestMain,
// so without a testing.TB). BYODA_E2E_RACE=1 builds it with the race
// detector.
func BuildByoda(dir string) (string, error) {
	bin := filepath.Join(dir, "byoda")
	args := []string{"build", "-o", bin}
	if os.Getenv("BYODA_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Dir = RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build byoda: %w", err)
	}
	return bin, nil
}

// Suite is what an end-to-end suite's TestMain prepares once for all of its
// tests (RunSuite).
type Suite struct {
	// Byoda is the byoda binary built for the run.
	Byoda string
	// Dir is a temporary directory for the run's files, removed when the
	// suite ends.
	Dir string

	cleanups []func()
}

// Cleanup registers f to run after the suite's tests, the last registered
// first, as t.Cleanup does for a test.
func (s *Suite) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// RunSuite runs an end-to-end suite from its TestMain and returns the exit
// code for os.Exit. The suites run byoda as processes, so under -short
// (make test-unit) it runs none of their tests. Otherwise it builds byoda
// (BuildByoda) into a new temporary directory, calls setup (when not nil),
// runs the tests, then the cleanups setup registered, and removes the
// directory. A failed build or setup fails the suite with its error.
func RunSuite(m *testing.M, name string, setup func(s *Suite) error) int {
	flag.Parse()
	if testing.Short() {
		fmt.Printf("skipping the %s end-to-end tests with -short\n", name)
		return 0
	}
	tmp, err := os.MkdirTemp("", "byoda-e2e-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	s := &Suite{Dir: tmp}
	defer func() {
		for i := len(s.cleanups) - 1; i >= 0; i-- {
			s.cleanups[i]()
		}
	}()
	if s.Byoda, err = BuildByoda(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if setup != nil {
		if err := setup(s); err != nil {
			fmt.Fprintf(os.Stderr, "%s end-to-end suite: %v\n", name, err)
			return 1
		}
	}
	return m.Run()
}

// InitPKI makes a test network's PKI directory in dir as `byoda pki init`
// and `byoda pki service` do: the network's CAs and keys, and those of each
// service of sids.
func InitPKI(dir, network string, sids ...uint32) (*pki.Dir, error) {
	now := time.Now()
	d, err := pki.InitNetwork(dir, network, now)
	if err != nil {
		return nil, fmt.Errorf("create PKI: %w", err)
	}
	for _, sid := range sids {
		if err := d.CreateService(sid, now); err != nil {
			return nil, fmt.Errorf("create PKI: service %d: %w", sid, err)
		}
	}
	return d, nil
}

// OpenPKI opens the PKI directory dir (InitPKI), failing the test when it
// cannot.
func OpenPKI(t testing.TB, dir string) *pki.Dir {
	t.Helper()
	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ContractVersion returns contract base at version v with changes at JSON
// pointers into it (without ~ escapes): a nil value deletes the member, any
// other value sets it. Tests make the next versions of a contract with it,
// such as one that adds a field and one that removes one.
func ContractVersion(t testing.TB, base []byte, v int, changes map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = v
	for ptr, val := range changes {
		toks := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
		cur := doc
		for _, tok := range toks[:len(toks)-1] {
			next, ok := cur[tok].(map[string]any)
			if !ok {
				t.Fatalf("contract has no object at %s of %s", tok, ptr)
			}
			cur = next
		}
		if val == nil {
			delete(cur, toks[len(toks)-1])
		} else {
			cur[toks[len(toks)-1]] = val
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// OwnerPasswordFile is the file of NewPodDataDir's data directory that holds
// the owner's password, for a pod's --owner-password-file.
const OwnerPasswordFile = "owner-password"

// NewPodDataDir makes a data directory for a byoda pod in t.TempDir(), with
// a new random key-encryption key in kek (where a pod reads it unless told
// otherwise) and a new random owner password in OwnerPasswordFile. It
// returns the directory and the password.
func NewPodDataDir(t testing.TB) (dir, password string) {
	t.Helper()
	dir, password = t.TempDir(), rand.Text()
	kek := make([]byte, 32)
	rand.Read(kek)
	for name, content := range map[string]string{
		"kek":             base64.URLEncoding.EncodeToString(kek),
		OwnerPasswordFile: password,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, password
}

// PodAccount is a new account of a test network with a data directory for
// its pod and a client of the pod's owner port.
type PodAccount struct {
	// ID is the account's id.
	ID uuid.UUID
	// DataDir and Password are the pod's, from NewPodDataDir.
	DataDir  string
	Password string
	// Owner is an HTTPS client for the owner port: it trusts the network's
	// roots and expects the account's name (pki.AccountName) from the
	// server. Its timeout is 30 s; its idle connections are closed in
	// t.Cleanup.
	Owner *http.Client
}

// NewPodAccount creates an account in the network's PKI directory dir, as
// `byoda pki account` does, with a data directory for its pod.
func NewPodAccount(t testing.TB, dir *pki.Dir) *PodAccount {
	t.Helper()
	aid, err := dir.CreateAccount(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	a := &PodAccount{ID: aid}
	a.DataDir, a.Password = NewPodDataDir(t)
	a.Owner = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: pki.AccountName(aid, dir.Network())},
		},
	}
	t.Cleanup(a.Owner.CloseIdleConnections)
	return a
}
