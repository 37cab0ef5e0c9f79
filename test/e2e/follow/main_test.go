// Package follow_test runs byoda pods as separate processes that follow
// each other (listen_relations) over real TLS, finding each other with a
// real DNS server: the network's authoritative server (directory/dns),
// run in the test process on a loopback port.
package follow_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/test/testenv"
)

const (
	network = "byoda.test"
	// demoSID is the service of the project's sample contract, whose
	// listen_relations copy the posts of followed members to the feed.
	demoSID uint32 = 4711
)

var (
	// byodaBin is the byoda binary built for this run.
	byodaBin string
	// pkiDir is the network's PKI directory.
	pkiDir       string
	demoContract = filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json")
	// zone is the network's DNS server, at dnsAddr.
	zone    *dns.Server
	dnsAddr string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.RunSuite(m, "follow", setup))
}

// setup makes the run's PKI and starts the network's DNS server.
func setup(s *testenv.Suite) error {
	byodaBin = s.Byoda
	pkiDir = filepath.Join(s.Dir, "pki")
	if _, err := testenv.InitPKI(pkiDir, network, demoSID); err != nil {
		return err
	}
	var err error
	if zone, err = dns.NewServer(network, dns.Options{Rate: -1, TTL: time.Second, Log: slog.New(slog.DiscardHandler)}); err != nil {
		return fmt.Errorf("DNS server: %w", err)
	}
	var stop func()
	if dnsAddr, stop, err = testenv.ServeDNS(zone.Serve); err != nil {
		return fmt.Errorf("DNS server: %w", err)
	}
	s.Cleanup(stop)
	return nil
}
