package service

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
)

// RunConfig is what byoda service runs with.
type RunConfig struct {
	// PKIDir holds the network's root certificate and the service's
	// members CA, data and TLS certificates (byoda pki service).
	PKIDir    string
	ServiceID uint32
	// ContractFile is the contract the network countersigned.
	ContractFile string
	// DataDir holds the SQLite registry.
	DataDir string
	// Database is the registry's URL; sqlite:<DataDir>/service-<sid>.db
	// when empty.
	Database string
	// Listen is the HTTPS address.
	Listen string
	// TLSCert and TLSKey are the server certificate's files; the service's
	// TLS certificate (service.service-<sid>.<net>) from PKIDir when empty.
	TLSCert          string
	TLSKey           string
	RegistrationRate float64
	// ContractReload is how often to read ContractFile again (see
	// Server.WatchContract); launch.DefaultContractReload when zero, never
	// when negative.
	ContractReload time.Duration
	Log            *slog.Logger
}

// Run runs a service directory until ctx is done.
func Run(ctx context.Context, rc RunConfig) error {
	log := rc.Log
	if log == nil {
		log = slog.Default()
	}
	d, err := pki.OpenDir(rc.PKIDir)
	if err != nil {
		return fmt.Errorf("--pki-dir: %w", err)
	}
	n := d.Network()
	root, err := d.RootCertificate()
	if err != nil {
		return fmt.Errorf("--pki-dir: %w", err)
	}
	members, err := d.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: rc.ServiceID, Network: n})
	if err != nil {
		return fmt.Errorf("--pki-dir: service %d: %w", rc.ServiceID, err)
	}
	data, err := d.ServiceDataKey(rc.ServiceID)
	if err != nil {
		return fmt.Errorf("--pki-dir: service %d: %w", rc.ServiceID, err)
	}
	var cert tls.Certificate
	switch {
	case rc.TLSCert != "" || rc.TLSKey != "":
		if cert, err = tls.LoadX509KeyPair(rc.TLSCert, rc.TLSKey); err != nil {
			return fmt.Errorf("--tls-cert and --tls-key: %w", err)
		}
	default:
		kp, err := d.ServiceKey(rc.ServiceID)
		if err != nil {
			return fmt.Errorf("--pki-dir: service %d: %w", rc.ServiceID, err)
		}
		cert = kp.TLSCertificate()
	}
	raw, err := contract.ReadFile(rc.ContractFile)
	if err != nil {
		return fmt.Errorf("--contract: %w", err)
	}
	dbURL := rc.Database
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(rc.DataDir, "service-"+strconv.FormatUint(uint64(rc.ServiceID), 10)+".db")
	}
	store, err := registry.Open(ctx, dbURL, registry.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	s, err := New(Config{
		Network: n, Root: root, MembersCA: members, ServiceData: data.Chain, TLS: cert,
		Contract: raw, Store: store, RegistrationRate: rc.RegistrationRate, Log: log,
	})
	if err != nil {
		return fmt.Errorf("--contract %s: %w", rc.ContractFile, err)
	}
	if s.ServiceID() != rc.ServiceID {
		return fmt.Errorf("--contract %s is the contract of service %d, not of --service-id %d", rc.ContractFile, s.ServiceID(), rc.ServiceID)
	}
	l, err := net.Listen("tcp", rc.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	log.Info("Service directory ready", "network", n, "service", rc.ServiceID, "contract_version", s.ContractVersion(),
		"https", l.Addr().String(), "storage", string(store.Dialect()))
	every := rc.ContractReload
	if every == 0 {
		every = launch.DefaultContractReload
	}
	if every > 0 {
		go s.WatchContract(ctx, rc.ContractFile, every)
	}
	err = s.Serve(ctx, l)
	log.Info("Service directory stopped")
	return err
}

// WatchContract reads file every interval until ctx ends, and serves what
// it holds when that is a newer version of the contract (SetContract). A
// file that cannot be read (a ConfigMap being updated, say) or a contract
// that is refused is logged at warn once, until the file changes, and
// counted; the directory goes on serving what it had.
func (s *Server) WatchContract(ctx context.Context, file string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := s.current.Load().raw
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		raw, err := contract.ReadFile(file)
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				s.reloads.WithLabelValues("unreadable").Inc()
				s.cfg.Log.Warn("Cannot read the contract file; serving the contract as it was", "file", file, "version", s.ContractVersion(), "err", err)
			}
			continue
		}
		lastErr = ""
		if bytes.Equal(raw, last) {
			continue
		}
		last = raw
		before := s.ContractVersion()
		changed, err := s.SetContract(raw)
		switch {
		case err != nil:
			s.reloads.WithLabelValues("refused").Inc()
			s.cfg.Log.Warn("Contract file refused; serving the contract as it was", "file", file, "version", before, "err", err)
		case changed:
			s.reloads.WithLabelValues("updated").Inc()
			s.cfg.Log.Info("Contract updated", "file", file, "from_version", before, "version", s.ContractVersion())
		}
	}
}
