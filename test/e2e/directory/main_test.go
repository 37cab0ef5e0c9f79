// Package directory_test runs byoda directory and byoda service as
// processes, on SQLite and on a real PostgreSQL server, and talks to them
// over real TLS and real DNS: every endpoint, its authentication rule, and
// the bad input a caller can send.
package directory_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/byoda-go/byoda/test/testenv"
)

const network = "byoda.test"

// Services whose directories the tests run: the demo contract as it is
// (email searchable exact and case-insensitive), and with prefix and
// case-sensitive or regex matching; and a service no directory runs.
const (
	svcExact  uint32 = 6001
	svcPrefix uint32 = 6002
	svcRegex  uint32 = 6003
	svcOther  uint32 = 6004
	// svcAddressbook is the service of the reference's addressbook
	// contract.
	svcAddressbook uint32 = 4294929430
)

var (
	// byodaBin is the byoda binary built for this run.
	byodaBin string
	// pkiDir holds the network's CAs, shared by every directory of the run.
	pkiDir string
	// demoContract is the project's sample contract (service 4711).
	demoContract = filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json")
	// addressbookContract is read from the shared contracts, never copied
	// into the repository.
	addressbookContract = filepath.Join(testenv.RepoRoot(), "..", "shared", "contracts", "addressbook.json")
)

func TestMain(m *testing.M) {
	os.Exit(testenv.RunSuite(m, "directory", func(s *testenv.Suite) error {
		byodaBin = s.Byoda
		pkiDir = filepath.Join(s.Dir, "pki")
		// The services that service directories run, made with their keys
		// as byoda pki service makes them.
		_, err := testenv.InitPKI(pkiDir, network, svcExact, svcPrefix, svcRegex, svcOther, svcAddressbook)
		return err
	}))
}
