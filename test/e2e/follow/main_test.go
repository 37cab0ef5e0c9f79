// Package follow_test runs byoda pods as separate processes that follow
// each other (listen_relations) over real TLS, finding each other with a
// real DNS server: the network's authoritative server (directory/dns),
// run in the test process on a loopback port.
package follow_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/pki"
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
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipping the follow end-to-end tests with -short")
		return 0
	}
	tmp, err := os.MkdirTemp("", "byoda-e2e-follow-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if byodaBin, err = testenv.BuildByoda(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pkiDir = filepath.Join(tmp, "pki")
	dir, err := pki.InitNetwork(pkiDir, network, time.Now())
	if err == nil {
		err = dir.CreateService(demoSID, time.Now())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "create PKI:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := serveDNS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "DNS server:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// serveDNS starts the network's DNS server on a free loopback port, UDP
// and TCP.
func serveDNS(ctx context.Context) (stop func(), err error) {
	zone, err = dns.NewServer(network, dns.Options{Rate: -1, TTL: time.Second, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	pc, l, err := listenDNS()
	if err != nil {
		return nil, err
	}
	dnsAddr = pc.LocalAddr().String()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := zone.Serve(ctx, pc, l); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "DNS server:", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// listenDNS listens on one free loopback port with UDP and TCP; the TCP
// port of a free UDP port may be taken, so it tries a few.
func listenDNS() (net.PacketConn, net.Listener, error) {
	var err error
	for range 10 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
		var l net.Listener
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, err
}
