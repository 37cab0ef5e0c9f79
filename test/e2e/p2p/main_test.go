// Package p2p_test proves the protocol between pods with every pod a
// separate byoda process on its own loopback address, all with the
// network's owner and peer ports, finding each other through the network's
// DNS server (directory/dns, in the test process) and talking over mutual
// TLS: recursive queries through a graph with a cycle and a diamond,
// proxying, the refusals of forwarded queries the test signs itself as a
// member, and peers that die, hang or misbehave (fake peers in the test
// process, registered in DNS).
package p2p_test

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// The network of the tests.
const (
	network = "byoda.test"
	// demoSID is the service of the project's demo contract.
	demoSID uint32 = 4711
	// profilesSID is the service of testdata/profiles.json, whose profiles
	// family and friends may read at distance 2.
	profilesSID uint32 = 4712
)

var (
	// byodaBin is the byoda binary built for this run.
	byodaBin string
	// pkiDir is the network's PKI directory, shared by every pod and
	// member of the run.
	pkiDir string
	// zone is the network's DNS server; dnsAddr where it listens (UDP and
	// TCP).
	zone    *dns.Server
	dnsAddr string
	// ownerPort and peerPort are the network's ports, the same on every
	// pod's address.
	ownerPort, peerPort int
	// addrs hands out the pods' loopback addresses.
	addrs *addrPool

	contractFiles = map[uint32]string{
		demoSID:     filepath.Join(testenv.RepoRoot(), "config", "samples", "contracts", "addressbook-demo.json"),
		profilesSID: filepath.Join(testenv.RepoRoot(), "test", "e2e", "p2p", "testdata", "profiles.json"),
	}
)

func TestMain(m *testing.M) {
	os.Exit(testenv.RunSuite(m, "p2p", setup))
}

// setup makes the run's PKI, starts the network's DNS server and picks the
// network's ports and the pods' addresses.
func setup(s *testenv.Suite) error {
	byodaBin = s.Byoda
	pkiDir = filepath.Join(s.Dir, "pki")
	if _, err := testenv.InitPKI(pkiDir, network, demoSID, profilesSID); err != nil {
		return err
	}
	var err error
	if zone, err = dns.NewServer(network, dns.Options{TTL: 5 * time.Second, Log: slog.New(slog.DiscardHandler)}); err != nil {
		return fmt.Errorf("DNS server: %w", err)
	}
	var stop func()
	if dnsAddr, stop, err = testenv.ServeDNS(zone.Serve); err != nil {
		return fmt.Errorf("DNS server: %w", err)
	}
	s.Cleanup(stop)
	if ownerPort, peerPort, err = networkPorts(); err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	addrs, err = newAddrPool()
	return err
}

// networkPorts picks the network's owner and peer ports: free on every
// address a moment ago.
func networkPorts() (int, int, error) {
	var ports []int
	for range 2 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, 0, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], nil
}

// addrPool hands out loopback addresses 127.B.x.y, with B picked at random
// for the run so that concurrent runs (and byoda devnet, on 127.0.0.x)
// keep out of each other's way.
type addrPool struct {
	mu   sync.Mutex
	next netip.Addr
}

func newAddrPool() (*addrPool, error) {
	var b [2]byte
	_, _ = rand.Read(b[:])
	second := 16 + binary.BigEndian.Uint16(b[:])%224
	start := netip.AddrFrom4([4]byte{127, byte(second), 0, 1})
	l, err := net.Listen("tcp", netip.AddrPortFrom(start, 0).String())
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w: the tests need all of 127.0.0.0/8 on the loopback interface", start, err)
	}
	l.Close()
	return &addrPool{next: start}, nil
}

// take returns an address no one of this run has.
func (p *addrPool) take() netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.next
	p.next = a.Next()
	if b := p.next.As4(); b[3] == 255 {
		p.next = netip.AddrFrom4([4]byte{b[0], b[1], b[2] + 1, 1})
	}
	return a
}

// register puts name into the network's DNS, at addr.
func register(t testing.TB, name string, addr netip.Addr) {
	t.Helper()
	if err := zone.Set(name, addr); err != nil {
		t.Fatalf("DNS %s: %v", name, err)
	}
	t.Cleanup(func() { _ = zone.Delete(name) })
}

// openPKI opens the run's PKI directory.
func openPKI(t testing.TB) *pki.Dir { return testenv.OpenPKI(t, pkiDir) }
