// Package directories runs a byoda network's directories in process, with
// the CA keys of the network's PKI directory as a real network's
// directories hold them: the network directory (directory/network) on a
// SQLite registry with its authoritative DNS server, and service
// directories (directory/service). byoda devnet runs them, and so do the
// tests of pods that join services through them.
//
// It also does, as a service's operator would, what a service needs from
// the network directory before its directory can run: register the
// service's CA, publish its data certificate and address
// (service.service-<sid>.<net>), and have its contract countersigned
// (Directory.RegisterService, Directory.SubmitContract). These work with
// any network directory, a byoda directory process included.
package directories

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/directory/network"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/directory/service"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

// Directory is how to reach a network directory: its URL and what its
// clients trust.
type Directory struct {
	// URL is https://host:port.
	URL string
	// CertFile is the PEM file of the directory's server certificate,
	// which its clients trust (the tls.crt a directory without a public
	// certificate makes).
	CertFile string
	// Network is the network's domain.
	Network string
}

// Client returns a client of the directory, authenticated with cert when
// it is not nil.
func (d Directory) Client(cert *tls.Certificate) (*client.Client, error) {
	data, err := os.ReadFile(d.CertFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", d.CertFile)
	}
	return client.New(d.URL, client.Options{Roots: roots, ServerName: directory.NetworkDirectoryName(d.Network), Certificate: cert})
}

// RegisterService registers service sid of PKI directory pd with the
// network directory, as its operator does: the service CA (with the key
// the PKI directory holds; registered already is fine), the service's
// data certificate and its address, which the network's DNS publishes as
// service.service-<sid>.<net>.
func (d Directory) RegisterService(ctx context.Context, pd *pki.Dir, sid uint32, address netip.Addr) error {
	n := pd.Network()
	caKP, err := pd.KeyPair(pki.Subject{Kind: pki.KindServiceCA, ServiceID: sid, Network: n})
	if err != nil {
		return err
	}
	csr, err := pki.CreateCSR(caKP.Key, pki.ServiceCAName(sid, n))
	if err != nil {
		return err
	}
	anon, err := d.Client(nil)
	if err != nil {
		return err
	}
	defer anon.Close()
	if _, err := anon.ServiceCSR(ctx, csr); err != nil && client.StatusOf(err) != http.StatusConflict {
		return fmt.Errorf("register service %d: %w", sid, err)
	}
	sc, data, err := d.serviceClient(pd, sid)
	if err != nil {
		return err
	}
	defer sc.Close()
	if _, err := sc.PublishServiceData(ctx, sid, data.Chain, address.String()); err != nil {
		return fmt.Errorf("register service %d: %w", sid, err)
	}
	return nil
}

// SubmitContract signs contract raw as its service (with the service's
// data key in pd) and has the network directory countersign it. When the
// network holds that version or a higher one already, it returns the
// network's contract instead: what a rerun needs.
func (d Directory) SubmitContract(ctx context.Context, pd *pki.Dir, raw []byte) ([]byte, error) {
	c, err := contract.Parse(raw)
	if err != nil {
		return nil, err
	}
	sc, data, err := d.serviceClient(pd, c.ServiceID)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	signed, err := contract.SignAsService(raw, contract.Signer{Key: data.Key, Chain: data.Chain}, time.Now())
	if err != nil {
		return nil, err
	}
	out, err := sc.SubmitContract(ctx, c.ServiceID, signed)
	if client.StatusOf(err) == http.StatusConflict {
		return sc.Contract(ctx, c.ServiceID)
	}
	if err != nil {
		return nil, fmt.Errorf("submit the contract of service %d: %w", c.ServiceID, err)
	}
	return out, nil
}

// serviceClient returns a client authenticated as service sid, and the
// service's data key.
func (d Directory) serviceClient(pd *pki.Dir, sid uint32) (*client.Client, *pki.KeyPair, error) {
	kp, err := pd.ServiceKey(sid)
	if err != nil {
		return nil, nil, err
	}
	data, err := pd.ServiceDataKey(sid)
	if err != nil {
		return nil, nil, err
	}
	cert := kp.TLSCertificate()
	c, err := d.Client(&cert)
	return c, data, err
}

// NetworkOptions say how to run a network directory.
type NetworkOptions struct {
	// PKI holds the network's CAs.
	PKI *pki.Dir
	// DataDir holds the SQLite registry and the generated server
	// certificate.
	DataDir string
	// Listen is the HTTPS address and DNSListen the DNS server's (UDP and
	// TCP); port 0 picks a free port.
	Listen, DNSListen string
	// Address is published as dir.<net>, the zone's name server.
	Address netip.Addr
	// DNSTTL is the TTL of DNS answers; the DNS server's default when
	// zero.
	DNSTTL time.Duration
	Log    *slog.Logger
}

// Network is a network directory running in process.
type Network struct {
	Directory
	// DNS is the DNS server's address (UDP and TCP).
	DNS string

	done chan struct{}
}

// StartNetwork starts a network directory, which serves until ctx ends
// (Wait waits for it to have stopped).
func StartNetwork(ctx context.Context, o NetworkOptions) (*Network, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := o.PKI.Network()
	cas, err := network.LoadCAs(o.PKI)
	if err != nil {
		return nil, err
	}
	cert, err := directory.LoadServerCert("", "", o.DataDir, network.DirectoryName(n), time.Now())
	if err != nil {
		return nil, err
	}
	store, err := registry.Open(ctx, "sqlite:"+filepath.Join(o.DataDir, network.DatabaseFile), registry.Options{})
	if err != nil {
		return nil, err
	}
	zone, err := dns.NewServer(n, dns.Options{TTL: o.DNSTTL, Rate: -1, Log: log, NameServers: []string{network.DirectoryName(n)}})
	if err != nil {
		store.Close()
		return nil, err
	}
	srv, err := network.New(network.Config{
		Network: n, CAs: cas, TLS: cert, Store: store, Zone: zone, Address: o.Address,
		RegistrationRate: -1, Log: log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	var ls listeners
	defer ls.closeUnlessKept()
	pc, tl, err := ls.dnsPair(o.DNSListen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("network directory DNS: %w", err)
	}
	hl, err := ls.stream(o.Listen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("network directory: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := srv.Start(ctx); err != nil {
		cancel()
		store.Close()
		return nil, err
	}
	ls.keep()
	nd := &Network{
		Directory: Directory{URL: "https://" + hl.Addr().String(), CertFile: filepath.Join(o.DataDir, directory.GeneratedCertFile), Network: n},
		DNS:       pc.LocalAddr().String(),
		done:      make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := zone.Serve(ctx, pc, tl); err != nil && ctx.Err() == nil {
			log.Error("Network directory DNS failed", "err", err)
		}
	})
	wg.Go(func() {
		if err := srv.Serve(ctx, hl); err != nil && ctx.Err() == nil {
			log.Error("Network directory failed", "err", err)
		}
		cancel()
	})
	go func() {
		wg.Wait()
		store.Close()
		close(nd.done)
	}()
	return nd, nil
}

// Wait waits until the directory has stopped.
func (n *Network) Wait() { <-n.done }

// ServiceOptions say how to run a service directory.
type ServiceOptions struct {
	// PKI holds the network's root and the service's CAs and keys.
	PKI       *pki.Dir
	ServiceID uint32
	// Contract is the service's contract, unsigned: StartService has the
	// network countersign it (or takes the network's, on a rerun).
	Contract []byte
	// DataDir holds the SQLite registry.
	DataDir string
	// Listen is the HTTPS address, on an IP address: the network's DNS
	// publishes it as service.service-<sid>.<net>.
	Listen string
	Log    *slog.Logger
}

// Service is a service directory running in process.
type Service struct {
	// URL is https://service.service-<sid>.<net>:port, which the network's
	// DNS resolves.
	URL string
	// ServiceID is the service's id.
	ServiceID uint32

	cfg     service.Config
	handler atomic.Pointer[http.Handler]
	done    chan struct{}
}

// StartService registers the service with the network directory nd,
// has its contract countersigned, and starts its directory, which serves
// until ctx ends.
func StartService(ctx context.Context, nd Directory, o ServiceOptions) (*Service, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, sid := o.PKI.Network(), o.ServiceID
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("service directory: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			l.Close()
		}
	}()
	ap, err := netip.ParseAddrPort(l.Addr().String())
	if err != nil {
		return nil, err
	}
	if err := nd.RegisterService(ctx, o.PKI, sid, ap.Addr()); err != nil {
		return nil, err
	}
	signed, err := nd.SubmitContract(ctx, o.PKI, o.Contract)
	if err != nil {
		return nil, err
	}
	root, err := o.PKI.RootCertificate()
	if err != nil {
		return nil, err
	}
	members, err := o.PKI.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: sid, Network: n})
	if err != nil {
		return nil, err
	}
	data, err := o.PKI.ServiceDataKey(sid)
	if err != nil {
		return nil, err
	}
	kp, err := o.PKI.ServiceKey(sid)
	if err != nil {
		return nil, err
	}
	store, err := registry.Open(ctx, "sqlite:"+filepath.Join(o.DataDir, "service-"+strconv.FormatUint(uint64(sid), 10)+".db"), registry.Options{})
	if err != nil {
		return nil, err
	}
	s := &Service{
		URL:       "https://" + net.JoinHostPort(pki.ServiceName(sid, n), strconv.Itoa(int(ap.Port()))),
		ServiceID: sid,
		cfg: service.Config{Network: n, Root: root, MembersCA: members, ServiceData: data.Chain, TLS: kp.TLSCertificate(),
			Store: store, RegistrationRate: -1, Log: log},
		done: make(chan struct{}),
	}
	if err := s.SetContract(signed); err != nil {
		store.Close()
		return nil, err
	}
	kept = true
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) })
	go func() {
		defer close(s.done)
		defer store.Close()
		if err := directory.Serve(ctx, l, h, directory.ServerTLS(s.cfg.TLS), log); err != nil && ctx.Err() == nil {
			log.Error("Service directory failed", "service", sid, "err", err)
		}
	}()
	return s, nil
}

// SetContract publishes a new version of the service's contract,
// countersigned by the network: from now on the directory serves it.
func (s *Service) SetContract(signed []byte) error {
	cfg := s.cfg
	cfg.Contract = signed
	srv, err := service.New(cfg)
	if err != nil {
		return err
	}
	if srv.ServiceID() != s.ServiceID {
		return fmt.Errorf("the contract is of service %d, not %d", srv.ServiceID(), s.ServiceID)
	}
	h := srv.Handler()
	s.handler.Store(&h)
	return nil
}

// Wait waits until the directory has stopped.
func (s *Service) Wait() { <-s.done }

// listeners opens listeners and closes them unless kept.
type listeners struct {
	open []interface{ Close() error }
	kept bool
}

// dnsPair opens UDP and TCP on one address. With port 0 the kernel picks
// the UDP port, which TCP may have taken: it tries again with another.
func (ls *listeners) dnsPair(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			ls.open = append(ls.open, pc, l)
			return pc, l, nil
		}
		pc.Close()
		if port != "0" || attempt == 9 {
			return nil, nil, err
		}
	}
}

func (ls *listeners) stream(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		ls.open = append(ls.open, l)
	}
	return l, err
}

func (ls *listeners) keep() { ls.kept = true }

func (ls *listeners) closeUnlessKept() {
	if ls.kept {
		return
	}
	for _, c := range ls.open {
		_ = c.Close()
	}
}
