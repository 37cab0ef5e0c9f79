// Package pod_test runs byoda pods as separate processes and talks to them
// over real TLS: the owner port with JWTs, the peer port with client
// certificates, websockets for subscriptions, local and S3 storage.
package pod_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// The services of the test network.
const (
	network = "byoda.test"
	// demoSID is the service of the project's sample contract.
	demoSID uint32 = 4711
	// otherSID is a service no pod joins.
	otherSID uint32 = 999
)

var (
	// byodaBin is the byoda binary built for this run.
	byodaBin string
	// pkiDir is the network's PKI directory, shared by every pod and
	// client of the run.
	pkiDir string
	// addressbookSID is the service of ../shared/contracts/addressbook.json.
	addressbookSID uint32
	demoContract   = filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json")
	// addressbookContract is read from the shared contracts, never copied
	// into the repository.
	addressbookContract = filepath.Join(testenv.RepoRoot(), "..", "shared", "contracts", "addressbook.json")
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// End-to-end tests run pods as processes: not with -short
		// (make test-unit).
		fmt.Println("skipping the pod end-to-end tests with -short")
		return 0
	}
	tmp, err := os.MkdirTemp("", "byoda-e2e-pod-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// BYODA_E2E_RACE=1 builds byoda with the race detector.
	if byodaBin, err = testenv.BuildByoda(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	raw, err := contract.ReadFile(addressbookContract)
	if err != nil {
		fmt.Fprintln(os.Stderr, "addressbook contract:", err)
		return 1
	}
	c, err := contract.Parse(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "addressbook contract:", err)
		return 1
	}
	addressbookSID = c.ServiceID
	pkiDir = filepath.Join(tmp, "pki")
	now := time.Now()
	dir, err := pki.InitNetwork(pkiDir, network, now)
	if err == nil {
		for _, sid := range []uint32{demoSID, addressbookSID, otherSID} {
			if err = dir.CreateService(sid, now); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "create PKI:", err)
		return 1
	}
	return m.Run()
}

// openPKI opens the run's PKI directory.
func openPKI(t testing.TB) *pki.Dir {
	t.Helper()
	d, err := pki.OpenDir(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newMember creates a member of service sid.
func newMember(t testing.TB, sid uint32) uuid.UUID {
	t.Helper()
	mid, err := openPKI(t).CreateMember(sid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mid
}

// pkiInit creates another network of the same name in dir, with the demo
// service: its certificates look right but chain to another root.
func pkiInit(dir string) (*pki.Dir, error) {
	d, err := pki.InitNetwork(dir, network, time.Now())
	if err != nil {
		return nil, err
	}
	return d, d.CreateService(demoSID, time.Now())
}
