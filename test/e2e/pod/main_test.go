// Package pod_test runs byoda pods as separate processes and talks to them
// over real TLS: the owner port with JWTs, the peer port with client
// certificates, websockets for subscriptions, local and S3 storage.
package pod_test

import (
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
	os.Exit(testenv.RunSuite(m, "pod", setup))
}

// setup reads the addressbook contract's service id and makes the run's
// PKI.
func setup(s *testenv.Suite) error {
	byodaBin = s.Byoda
	raw, err := contract.ReadFile(addressbookContract)
	if err != nil {
		return fmt.Errorf("addressbook contract: %w", err)
	}
	c, err := contract.Parse(raw)
	if err != nil {
		return fmt.Errorf("addressbook contract: %w", err)
	}
	addressbookSID = c.ServiceID
	pkiDir = filepath.Join(s.Dir, "pki")
	_, err = testenv.InitPKI(pkiDir, network, demoSID, addressbookSID, otherSID)
	return err
}

// openPKI opens the run's PKI directory.
func openPKI(t testing.TB) *pki.Dir { return testenv.OpenPKI(t, pkiDir) }

// newMember creates a member of service sid.
func newMember(t testing.TB, sid uint32) uuid.UUID {
	t.Helper()
	mid, err := openPKI(t).CreateMember(sid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mid
}
