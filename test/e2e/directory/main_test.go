// Package directory_test runs byoda directory and byoda service as
// processes, on SQLite and on a real PostgreSQL server, and talks to them
// over real TLS and real DNS: every endpoint, its authentication rule, and
// the bad input a caller can send.
package directory_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
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
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipping the directory end-to-end tests with -short")
		return 0
	}
	tmp, err := os.MkdirTemp("", "byoda-e2e-directory-")
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
	pkiDir = filepath.Join(tmp, "pki")
	dir, err := pki.InitNetwork(pkiDir, network, time.Now())
	if err == nil {
		// The services that service directories run, made with their keys
		// as byoda pki service makes them.
		for _, sid := range []uint32{svcExact, svcPrefix, svcRegex, svcOther, svcAddressbook} {
			if err = dir.CreateService(sid, time.Now()); err != nil {
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
