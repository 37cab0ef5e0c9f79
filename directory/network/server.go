package network

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/internal/version"
)

// Store is the registry the network directory keeps its state in.
type Store interface {
	CreateAccount(ctx context.Context, id uuid.UUID, chain string, rec *registry.Record) error
	RenewAccount(ctx context.Context, id uuid.UUID, chain string) error
	CreateService(ctx context.Context, sid uint32, caChain string) error
	RenewService(ctx context.Context, sid uint32, caChain string) error
	Service(ctx context.Context, sid uint32) (*registry.Service, error)
	SetServiceData(ctx context.Context, sid uint32, dataChain string, rec registry.Record) error
	SetContract(ctx context.Context, s registry.Summary, signed []byte) error
	ListServices(ctx context.Context, after int64, limit int) ([]registry.Summary, error)
	RegisterMember(ctx context.Context, sid uint32, mid uuid.UUID, rec registry.Record) error
	SetRecord(ctx context.Context, name string, addr netip.Addr) (uint64, error)
	RecordsSince(ctx context.Context, serial uint64, limit int) ([]registry.Record, error)
	Counts(ctx context.Context) (map[string]int64, error)
	Dialect() registry.Dialect
}

var _ Store = (*registry.DB)(nil)

// CAs are the keys a network directory signs with.
type CAs struct {
	Root        *x509.Certificate
	Accounts    *pki.CA
	Services    *pki.CA
	NetworkData *pki.KeyPair
}

// LoadCAs loads the accounts CA, the services CA and the network data key
// of the network of PKI directory d (see byoda pki init).
func LoadCAs(d *pki.Dir) (*CAs, error) {
	n := d.Network()
	root, err := d.RootCertificate()
	if err != nil {
		return nil, err
	}
	accounts, err := d.CA(pki.Subject{Kind: pki.KindAccountsCA, Network: n})
	if err != nil {
		return nil, err
	}
	services, err := d.CA(pki.Subject{Kind: pki.KindServicesCA, Network: n})
	if err != nil {
		return nil, err
	}
	data, err := d.NetworkDataKey()
	if err != nil {
		return nil, err
	}
	return &CAs{Root: root, Accounts: accounts, Services: services, NetworkData: data}, nil
}

// DefaultSyncInterval is Config.SyncInterval when it is zero.
const DefaultSyncInterval = 250 * time.Millisecond

// Config is what a network directory needs.
type Config struct {
	// Network is the network's domain, such as byoda.net.
	Network string
	// CAs sign certificates and contracts.
	CAs *CAs
	// TLS is the server's certificate, for dir.<net>.
	TLS tls.Certificate
	// Store is the registry.
	Store Store
	// Zone, when set, is the DNS server whose view follows Store.
	Zone *dns.Server
	// Address, when valid, is published as dir.<net> (the zone's name
	// server) at start.
	Address netip.Addr
	// SyncInterval is how often the DNS view asks the registry for changes
	// others made; DefaultSyncInterval when zero.
	SyncInterval time.Duration
	// RegistrationRate and RegistrationBurst limit the anonymous
	// registrations (first POSTs of accounts and services) per address;
	// the defaults (directory.DefaultRegistrationRate and Burst) when
	// zero, none when RegistrationRate is negative.
	RegistrationRate  float64
	RegistrationBurst int
	// Log receives the server's logs.
	Log *slog.Logger
	// Now is the clock for signing and verifying; time.Now when nil.
	Now func() time.Time
}

// Server is a network directory.
type Server struct {
	cfg      Config
	api      *directory.API
	verifier *pki.Verifier
	roots    *x509.CertPool
	rootPEM  []byte
	dataPEM  string
	zone     *zoneSync
	started  time.Time
	handler  http.Handler
}

// New returns a network directory for cfg.
func New(cfg Config) (*Server, error) {
	if err := pki.ValidateNetwork(cfg.Network); err != nil {
		return nil, err
	}
	if cfg.CAs == nil || cfg.Store == nil {
		return nil, errors.New("network directory: want CAs and a store")
	}
	if cfg.CAs.Accounts.Subject().Network != cfg.Network {
		return nil, fmt.Errorf("network directory: the CAs are of network %s, not %s", cfg.CAs.Accounts.Subject().Network, cfg.Network)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	roots := x509.NewCertPool()
	roots.AddCert(cfg.CAs.Root)
	s := &Server{
		cfg:      cfg,
		verifier: &pki.Verifier{Roots: roots, Network: cfg.Network, Now: cfg.Now},
		roots:    roots,
		rootPEM:  pki.EncodeCertificates(cfg.CAs.Root),
		dataPEM:  string(pki.EncodeCertificates(cfg.CAs.NetworkData.Chain...)),
		started:  cfg.Now(),
	}
	s.api = directory.NewAPI(directory.APIOptions{
		Namespace:         "byoda_directory",
		RegistrationsHelp: "Registrations that changed the registry, by kind (account, account_renewal, account_data, service, service_renewal, service_data, contract, member, dns).",
		Verifier:          s.verifier,
		RegistrationRate:  cfg.RegistrationRate,
		RegistrationBurst: cfg.RegistrationBurst,
		Log:               cfg.Log,
		Now:               cfg.Now,
	})
	if cfg.Zone != nil {
		s.zone = newZoneSync(cfg.Store, cfg.Zone, cfg.Log)
	}
	s.routes()
	return s, nil
}

// Registry returns the server's Prometheus registry, where a DNS server
// fed by it may register its metrics.
func (s *Server) Registry() *prometheus.Registry { return s.api.Registry() }

// Handler returns the server's HTTP handler (without TLS: Run adds it).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	mux := http.NewServeMux()
	a := s.api
	a.Handle(mux, "POST "+directory.PathAccount, "account", s.postAccount)
	a.Handle(mux, "PUT "+directory.PathAccount, "account", s.putAccount)
	a.Handle(mux, "POST "+directory.PathService, "service", s.postService)
	a.Handle(mux, "PUT "+directory.PathServiceID+"{sid}", "service_id", s.putService)
	a.Handle(mux, "PATCH "+directory.PathServiceID+"{sid}", "service_id", s.patchService)
	a.Handle(mux, "GET "+directory.PathServiceID+"{sid}", "service_id", s.getService)
	a.Handle(mux, "GET "+directory.PathServices, "services", s.getServices)
	a.Handle(mux, "PUT "+directory.PathMember, "member", s.putMember)
	a.Handle(mux, "GET "+directory.PathRootCA, "root_ca", s.getRootCA)
	a.Handle(mux, "GET "+directory.PathStatus, "status", s.getStatus)
	mux.Handle("GET "+directory.PathMetrics, a.MetricsHandler())
	s.handler = a.Mux(mux, "network directory")
}

// Run publishes the directory's own address, loads the DNS view, and
// serves HTTPS on l until ctx is done.
func (s *Server) Run(ctx context.Context, l net.Listener) error {
	if err := s.Start(ctx); err != nil {
		l.Close()
		return err
	}
	return s.Serve(ctx, l)
}

// Serve serves HTTPS on l until ctx is done, without Start.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return directory.Serve(ctx, l, s.handler, directory.ServerTLS(s.cfg.TLS), s.cfg.Log)
}

// Start publishes the directory's own address and loads the DNS view,
// then keeps the view in step until ctx is done. Run calls it; a caller
// that serves Handler itself calls it first.
func (s *Server) Start(ctx context.Context) error {
	name := DirectoryName(s.cfg.Network)
	if s.cfg.Address.IsValid() {
		// The registry holds one address per name, like every registration.
		if _, err := s.cfg.Store.SetRecord(ctx, name, s.cfg.Address); err != nil {
			return fmt.Errorf("publish %s: %w", name, err)
		}
	}
	if s.zone == nil {
		return nil
	}
	if err := s.zone.sync(ctx); err != nil {
		return fmt.Errorf("load the DNS view: %w", err)
	}
	s.cfg.Log.Info("DNS view loaded", "names", s.cfg.Zone.Len(), "serial", s.cfg.Zone.Serial())
	go s.zone.run(ctx, s.cfg.SyncInterval)
	return nil
}

// DirectoryName is the directory's own DNS name and the name of its
// server certificate: dir.<net>.
func DirectoryName(network string) string { return directory.NetworkDirectoryName(network) }

// published brings the DNS view up to date after a registration, so that
// the answer to the request is also the answer DNS gives.
func (s *Server) published(ctx context.Context) error {
	if s.zone == nil {
		return nil
	}
	if err := s.zone.sync(ctx); err != nil {
		return fmt.Errorf("update the DNS view: %w", err)
	}
	return nil
}

// signed is the answer to a signed CSR.
func (s *Server) signed(ca *pki.CA, cert *x509.Certificate) directory.SignedCert {
	leaf, issuers := directory.PEMChain(ca.Chain(cert))
	return directory.SignedCert{
		SignedCert:      leaf,
		CertChain:       issuers,
		NetworkRootCA:   string(s.rootPEM),
		NetworkDataCert: s.dataPEM,
	}
}

func (s *Server) postAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.Identity(r)
	if err != nil {
		return err
	}
	req, csr, subj, err := directory.DecodeCSR(w, r, s.cfg.Network)
	if err != nil {
		return err
	}
	if subj.Kind != pki.KindAccount && subj.Kind != pki.KindAccountData {
		return directory.Forbidden("csr: %s is a %s name; this endpoint signs only <account id>.accounts.%s and <account id>.account-data.%s",
			subj.Name(), subj.Kind, s.cfg.Network, s.cfg.Network)
	}
	aid := uuid.MustParse(subj.ID)
	accountName := pki.AccountName(aid, s.cfg.Network)
	ctx := r.Context()
	if id != nil {
		// A renewal, or the data certificate: only the account itself.
		if id.Role != pki.RoleAccount || id.ID != subj.ID {
			return directory.Forbidden("your certificate is %s; only %s may have %s signed", id.Name, accountName, subj.Name())
		}
		cert, err := directory.SignCSR(s.cfg.CAs.Accounts, csr, s.cfg.Now())
		if err != nil {
			return err
		}
		kind := "account_data"
		if subj.Kind == pki.KindAccount {
			kind = "account_renewal"
			if err := s.cfg.Store.RenewAccount(ctx, aid, string(pki.EncodeCertificates(s.cfg.CAs.Accounts.Chain(cert)...))); err != nil &&
				!errors.Is(err, registry.ErrNotFound) {
				return err
			}
		}
		s.api.Registered(kind)
		return directory.WriteJSON(w, http.StatusOK, s.signed(s.cfg.CAs.Accounts, cert))
	}
	if subj.Kind != pki.KindAccount {
		return directory.Unauthenticated("%s: an account's data certificate needs the account's own TLS certificate; connect with the certificate of %s",
			subj.Name(), accountName)
	}
	if err := s.api.Limit(r); err != nil {
		return err
	}
	addr, err := directory.PublishAddr(r, req.Address)
	if err != nil {
		return err
	}
	cert, err := directory.SignCSR(s.cfg.CAs.Accounts, csr, s.cfg.Now())
	if err != nil {
		return err
	}
	chain := string(pki.EncodeCertificates(s.cfg.CAs.Accounts.Chain(cert)...))
	err = s.cfg.Store.CreateAccount(ctx, aid, chain, &registry.Record{Name: accountName, Addr: addr})
	if errors.Is(err, registry.ErrExists) {
		return directory.Conflict("account %s is registered already: renew its certificate with the account's own certificate, or register a new account id", aid)
	}
	if err != nil {
		return err
	}
	s.api.Registered("account")
	if err := s.published(ctx); err != nil {
		return err
	}
	return directory.WriteJSON(w, http.StatusCreated, s.signed(s.cfg.CAs.Accounts, cert))
}

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.RequireIdentity(r, "the account's TLS certificate, <account id>.accounts."+s.cfg.Network)
	if err != nil {
		return err
	}
	if id.Role != pki.RoleAccount {
		return directory.Forbidden("your certificate is %s; PUT %s takes an account's TLS certificate", id.Name, directory.PathAccount)
	}
	addr, err := directory.DecodeAddress(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	aid := uuid.MustParse(id.ID)
	rec := registry.Record{Name: id.Name, Addr: addr}
	// An account whose certificate the accounts CA signed elsewhere (byoda
	// pki account) is registered by its first PUT.
	err = s.cfg.Store.CreateAccount(ctx, aid, string(pki.EncodeCertificates(r.TLS.PeerCertificates...)), &rec)
	if errors.Is(err, registry.ErrExists) {
		_, err = s.cfg.Store.SetRecord(ctx, rec.Name, rec.Addr)
	}
	if err != nil {
		return err
	}
	s.api.Registered("dns")
	if err := s.published(ctx); err != nil {
		return err
	}
	return directory.WriteJSON(w, http.StatusOK, directory.AddressResponse{Name: rec.Name, Address: addr.String()})
}

func (s *Server) postService(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.Identity(r)
	if err != nil {
		return err
	}
	_, csr, subj, err := directory.DecodeCSR(w, r, s.cfg.Network)
	if err != nil {
		return err
	}
	if subj.Kind != pki.KindServiceCA {
		return directory.Forbidden("csr: %s is a %s name; this endpoint signs only service-ca.service-ca-<service id>.%s",
			subj.Name(), subj.Kind, s.cfg.Network)
	}
	sid := subj.ServiceID
	ctx := r.Context()
	if id != nil {
		if id.Role != pki.RoleService || id.ServiceID != sid {
			return directory.Forbidden("your certificate is %s; only %s may renew the CA of service %d",
				id.Name, pki.ServiceName(sid, s.cfg.Network), sid)
		}
		cert, err := directory.SignCSR(s.cfg.CAs.Services, csr, s.cfg.Now())
		if err != nil {
			return err
		}
		if err := s.cfg.Store.RenewService(ctx, sid, string(pki.EncodeCertificates(s.cfg.CAs.Services.Chain(cert)...))); err != nil &&
			!errors.Is(err, registry.ErrNotFound) {
			return err
		}
		s.api.Registered("service_renewal")
		return directory.WriteJSON(w, http.StatusOK, s.signed(s.cfg.CAs.Services, cert))
	}
	if err := s.api.Limit(r); err != nil {
		return err
	}
	cert, err := directory.SignCSR(s.cfg.CAs.Services, csr, s.cfg.Now())
	if err != nil {
		return err
	}
	err = s.cfg.Store.CreateService(ctx, sid, string(pki.EncodeCertificates(s.cfg.CAs.Services.Chain(cert)...)))
	if errors.Is(err, registry.ErrExists) {
		return directory.Conflict("service id %d is taken: renew its CA with the service's own certificate, or pick another service id", sid)
	}
	if err != nil {
		return err
	}
	s.api.Registered("service")
	return directory.WriteJSON(w, http.StatusCreated, s.signed(s.cfg.CAs.Services, cert))
}

// pathServiceID parses the service id of a /service_id/<sid> path.
func pathServiceID(r *http.Request) (uint32, error) {
	sid, err := pki.ParseServiceID(r.PathValue("sid"))
	if err != nil {
		return 0, directory.BadRequest("path: %v", err)
	}
	return sid, nil
}

// serviceCaller checks that the caller is the TLS certificate of service
// sid.
func (s *Server) serviceCaller(r *http.Request, sid uint32) error {
	want := pki.ServiceName(sid, s.cfg.Network)
	id, err := s.api.RequireIdentity(r, "the service's TLS certificate, "+want)
	if err != nil {
		return err
	}
	if id.Role != pki.RoleService || id.ServiceID != sid {
		return directory.Forbidden("your certificate is %s; only %s may change service %d", id.Name, want, sid)
	}
	return nil
}

func (s *Server) putService(w http.ResponseWriter, r *http.Request) error {
	sid, err := pathServiceID(r)
	if err != nil {
		return err
	}
	if err := s.serviceCaller(r, sid); err != nil {
		return err
	}
	var req directory.CertChainRequest
	if err := directory.DecodeJSON(w, r, directory.MaxChainBody, &req, false); err != nil {
		return err
	}
	chain, cid, err := directory.ParseChain(req.CertChain, s.verifier)
	if err != nil {
		return err
	}
	if want := pki.ServiceDataName(sid, s.cfg.Network); cid.Name != want {
		return directory.BadRequest("certchain: the certificate is %s; want the service's data certificate, %s", cid.Name, want)
	}
	addr, err := directory.PublishAddr(r, req.Address)
	if err != nil {
		return err
	}
	name := pki.ServiceName(sid, s.cfg.Network)
	err = s.cfg.Store.SetServiceData(r.Context(), sid, string(pki.EncodeCertificates(chain...)), registry.Record{Name: name, Addr: addr})
	if errors.Is(err, registry.ErrNotFound) {
		return directory.NotFound("service %d is not registered: register its CA first with POST %s", sid, directory.PathService)
	}
	if err != nil {
		return err
	}
	s.api.Registered("service_data")
	if err := s.published(r.Context()); err != nil {
		return err
	}
	return directory.WriteJSON(w, http.StatusOK, directory.AddressResponse{Name: name, Address: addr.String()})
}

func (s *Server) patchService(w http.ResponseWriter, r *http.Request) error {
	sid, err := pathServiceID(r)
	if err != nil {
		return err
	}
	if err := s.serviceCaller(r, sid); err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, directory.MaxContractBody))
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	c, err := contract.VerifyService(raw, s.roots, s.cfg.Network, now)
	if err != nil {
		return directory.BadRequest("contract: %v", err)
	}
	if c.ServiceID != sid {
		return directory.BadRequest("contract: /service_id is %d; submit it to %s", c.ServiceID, directory.ServicePath(c.ServiceID))
	}
	if c.Signatures.Network != nil {
		return directory.BadRequest("contract: it has a network signature already; submit the contract with only the service's signature")
	}
	signed, err := contract.SignAsNetwork(raw, contract.Signer{Key: s.cfg.CAs.NetworkData.Key, Chain: s.cfg.CAs.NetworkData.Chain}, now)
	if err != nil {
		return err
	}
	sum := registry.Summary{ServiceID: sid, Version: c.Version, Name: c.Name, Description: c.Description,
		Owner: c.Owner, Website: c.Website, SupportEmail: c.SupportEmail}
	err = s.cfg.Store.SetContract(r.Context(), sum, signed)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return directory.NotFound("service %d is not registered: register its CA first with POST %s", sid, directory.PathService)
	case errors.Is(err, registry.ErrStale):
		return directory.Conflict("contract: version %d is not higher than the version the network holds (%v); raise /version", c.Version, err)
	case errors.Is(err, registry.ErrInvalid):
		return directory.BadRequest("contract: %v", err)
	case err != nil:
		return err
	}
	s.api.Registered("contract")
	s.cfg.Log.InfoContext(r.Context(), "Countersigned a contract", "service", sid, "version", c.Version)
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(signed)
	return err
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) error {
	sid, err := pathServiceID(r)
	if err != nil {
		return err
	}
	svc, err := s.cfg.Store.Service(r.Context(), sid)
	if errors.Is(err, registry.ErrNotFound) {
		return directory.NotFound("service %d is not registered", sid)
	}
	if err != nil {
		return err
	}
	if len(svc.Contract) == 0 {
		return directory.NotFound("service %d has no countersigned contract yet", sid)
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(svc.Contract)
	return err
}

func (s *Server) getServices(w http.ResponseWriter, r *http.Request) error {
	q, err := directory.Query(r, "after", "limit")
	if err != nil {
		return err
	}
	after := int64(-1)
	if v := q.Get("after"); v != "" {
		sid, err := pki.ParseServiceID(v)
		if err != nil {
			return directory.BadRequest("after: %v", err)
		}
		after = int64(sid)
	}
	limit := directory.DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > directory.MaxPageSize {
			return directory.BadRequest("limit %q: want a number from 1 to %d", v, directory.MaxPageSize)
		}
		limit = n
	}
	page, err := s.cfg.Store.ListServices(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	out := directory.ServiceList{Services: []directory.ServiceSummary{}}
	for i, sum := range page {
		if i == limit {
			next := page[limit-1].ServiceID
			out.Next = &next
			break
		}
		out.Services = append(out.Services, directory.ServiceSummary{
			ServiceID: sum.ServiceID, Version: sum.Version, Name: sum.Name, Description: sum.Description,
			Owner: sum.Owner, Website: sum.Website, SupportEmail: sum.SupportEmail,
		})
	}
	return directory.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) putMember(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.RequireIdentity(r, "a member's TLS certificate, <member id>.members-<service id>."+s.cfg.Network)
	if err != nil {
		return err
	}
	if id.Role != pki.RoleMember {
		return directory.Forbidden("your certificate is %s; PUT %s takes a member's TLS certificate", id.Name, directory.PathMember)
	}
	addr, err := directory.DecodeAddress(w, r)
	if err != nil {
		return err
	}
	mid := uuid.MustParse(id.ID)
	err = s.cfg.Store.RegisterMember(r.Context(), id.ServiceID, mid, registry.Record{Name: id.Name, Addr: addr})
	if errors.Is(err, registry.ErrNotFound) {
		return directory.NotFound("service %d is not registered with network %s", id.ServiceID, s.cfg.Network)
	}
	if err != nil {
		return err
	}
	s.api.Registered("member")
	if err := s.published(r.Context()); err != nil {
		return err
	}
	return directory.WriteJSON(w, http.StatusOK, directory.AddressResponse{Name: id.Name, Address: addr.String()})
}

func (s *Server) getRootCA(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err := w.Write(s.rootPEM)
	return err
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	counts, err := s.cfg.Store.Counts(r.Context())
	if err != nil {
		return s.api.RegistryUnavailable(r, err)
	}
	st := directory.Status{
		Status:  "ok",
		Network: s.cfg.Network,
		Storage: string(s.cfg.Store.Dialect()),
		Version: version.Get().Version,
		Uptime:  s.cfg.Now().Sub(s.started).Round(time.Second).String(),
		Counts:  counts,
	}
	if s.cfg.Zone != nil {
		st.DNSRecords = s.cfg.Zone.Len()
		st.DNSSerial = s.cfg.Zone.Serial()
	}
	return directory.WriteJSON(w, http.StatusOK, st)
}
