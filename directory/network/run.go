package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/pki"
)

// DatabaseFile is the SQLite registry's file in the data directory, the
// default storage.
const DatabaseFile = "directory.db"

// RunConfig is what byoda directory runs with: where things are, rather
// than the things themselves (see Config).
type RunConfig struct {
	// PKIDir holds the network's CAs (byoda pki init).
	PKIDir string
	// DataDir holds the SQLite registry and a generated TLS certificate.
	DataDir string
	// Database is the registry's URL; sqlite:<DataDir>/directory.db when
	// empty.
	Database string
	// Listen is the HTTPS address; DNSListen the DNS address (UDP and
	// TCP), none when empty.
	Listen    string
	DNSListen string
	// TLSCert and TLSKey are the server certificate's files for dir.<net>;
	// a self-signed one is made in DataDir when empty.
	TLSCert string
	TLSKey  string
	// Address, when valid, is published as dir.<net>, the zone's name
	// server.
	Address netip.Addr
	// DNSTTL and DNSRate tune the DNS server (see dns.Options).
	DNSTTL  time.Duration
	DNSRate float64
	// RegistrationRate limits anonymous registrations per address (see
	// Config).
	RegistrationRate float64
	SyncInterval     time.Duration
	Log              *slog.Logger
}

// Run runs a network directory until ctx is done.
func Run(ctx context.Context, rc RunConfig) error {
	log := rc.Log
	if log == nil {
		log = slog.Default()
	}
	d, err := pki.OpenDir(rc.PKIDir)
	if err != nil {
		return fmt.Errorf("--pki-dir: %w", err)
	}
	cas, err := LoadCAs(d)
	if err != nil {
		return fmt.Errorf("--pki-dir: %w", err)
	}
	network := d.Network()
	cert, err := directory.LoadServerCert(rc.TLSCert, rc.TLSKey, rc.DataDir, DirectoryName(network), time.Now())
	if err != nil {
		return err
	}
	dbURL := rc.Database
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(rc.DataDir, DatabaseFile)
	}
	store, err := registry.Open(ctx, dbURL, registry.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	var (
		zone *dns.Server
		pc   net.PacketConn
		tl   net.Listener
	)
	cfg := Config{
		Network: network, CAs: cas, TLS: cert, Store: store, Address: rc.Address,
		SyncInterval: rc.SyncInterval, RegistrationRate: rc.RegistrationRate, Log: log,
	}
	if rc.DNSListen != "" {
		if pc, err = net.ListenPacket("udp", rc.DNSListen); err != nil {
			return fmt.Errorf("--dns-listen: %w", err)
		}
		if tl, err = net.Listen("tcp", rc.DNSListen); err != nil {
			pc.Close()
			return fmt.Errorf("--dns-listen: %w", err)
		}
		cfg.Zone, err = dns.NewServer(network, dns.Options{
			TTL: rc.DNSTTL, Rate: rc.DNSRate, Log: log,
			NameServers: []string{DirectoryName(network)},
		})
		if err != nil {
			pc.Close()
			tl.Close()
			return err
		}
		zone = cfg.Zone
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if zone != nil {
		if err := zone.RegisterMetrics(s.Registry()); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", rc.Listen)
	if err != nil {
		if pc != nil {
			pc.Close()
			tl.Close()
		}
		return fmt.Errorf("--listen: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	if zone != nil {
		wg.Go(func() {
			if err := zone.Serve(ctx, pc, tl); err != nil {
				cancel(fmt.Errorf("DNS: %w", err))
			}
		})
	}
	attrs := []any{"network", network, "https", l.Addr().String(), "storage", string(store.Dialect())}
	if zone != nil {
		attrs = append(attrs, "dns", pc.LocalAddr().String())
	}
	if err := s.Start(ctx); err != nil {
		l.Close()
		cancel(nil)
		wg.Wait()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, l) }()
	log.Info("Network directory ready", attrs...)
	err = <-errc
	cancel(nil)
	wg.Wait()
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	log.Info("Network directory stopped")
	return err
}
