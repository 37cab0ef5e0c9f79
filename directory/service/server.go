package service

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/cases"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/internal/version"
)

// Store is the registry a service directory keeps its state in.
type Store interface {
	CreateServiceMember(ctx context.Context, sid uint32, mid uuid.UUID, tlsChain string) error
	RenewServiceMember(ctx context.Context, sid uint32, mid uuid.UUID, tlsChain string) error
	ServiceMember(ctx context.Context, sid uint32, mid uuid.UUID) (*registry.ServiceMember, error)
	SetMemberData(ctx context.Context, sid uint32, mid uuid.UUID, dataChain string, version int, addr netip.Addr) error
	SetSearchValues(ctx context.Context, sid uint32, mid uuid.UUID, entries []registry.SearchEntry) error
	Search(ctx context.Context, q registry.SearchQuery) ([]uuid.UUID, error)
	CountServiceMembers(ctx context.Context, sid uint32) (int64, error)
	Dialect() registry.Dialect
}

var _ Store = (*registry.DB)(nil)

// Config is what a service directory needs.
type Config struct {
	// Network is the network's domain.
	Network string
	// Root is the network's root CA.
	Root *x509.Certificate
	// MembersCA signs the members' certificates.
	MembersCA *pki.CA
	// ServiceData is the chain of the service's data certificate, returned
	// with signed certificates so that members can check the contract.
	ServiceData []*x509.Certificate
	// TLS is the server's certificate: service.service-<sid>.<net>.
	TLS tls.Certificate
	// Contract is the countersigned contract; SetContract replaces it
	// with a newer version.
	Contract []byte
	// Store is the registry.
	Store Store
	// RegistrationRate and RegistrationBurst limit anonymous member
	// registrations per address; the defaults
	// (directory.DefaultRegistrationRate and Burst) when zero, none when
	// the rate is negative.
	RegistrationRate  float64
	RegistrationBurst int
	// Log receives the server's logs; Now is the clock (time.Now when
	// nil).
	Log *slog.Logger
	Now func() time.Time
}

// Server is a service directory.
type Server struct {
	cfg      Config
	sid      uint32
	current  atomic.Pointer[published]
	reloads  *prometheus.CounterVec
	roots    *x509.CertPool
	api      *directory.API
	verifier *pki.Verifier
	rootPEM  string
	dataPEM  string
	started  time.Time
	handler  http.Handler
	fold     cases.Caser
}

// published is the contract a directory serves: as the network
// countersigned it, and parsed.
type published struct {
	raw      []byte
	contract *contract.Contract
}

// New returns the directory of the service whose contract cfg holds, after
// checking both of the contract's signatures and that the members CA is
// that service's.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Root == nil || cfg.MembersCA == nil || cfg.Store == nil {
		return nil, errors.New("service directory: want the root CA, the members CA and a store")
	}
	roots := x509.NewCertPool()
	roots.AddCert(cfg.Root)
	c, err := contract.Verify(cfg.Contract, roots, cfg.Network, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("service directory: contract: %w; want the contract the network countersigned", err)
	}
	ms := cfg.MembersCA.Subject()
	if ms.Kind != pki.KindMembersCA || ms.ServiceID != c.ServiceID || ms.Network != cfg.Network {
		return nil, fmt.Errorf("service directory: the members CA is %s; the contract is of service %d of network %s", ms.Name(), c.ServiceID, cfg.Network)
	}
	s := &Server{
		cfg:      cfg,
		sid:      c.ServiceID,
		roots:    roots,
		verifier: &pki.Verifier{Roots: roots, Network: cfg.Network, Now: cfg.Now},
		rootPEM:  string(pki.EncodeCertificates(cfg.Root)),
		dataPEM:  string(pki.EncodeCertificates(cfg.ServiceData...)),
		started:  cfg.Now(),
		fold:     cases.Fold(),
	}
	s.api = directory.NewAPI(directory.APIOptions{
		Namespace:         "byoda_service_directory",
		RegistrationsHelp: "Changes to the registry, by kind (member, member_renewal, member_data, member_data_cert, search_values).",
		Verifier:          s.verifier,
		RegistrationRate:  cfg.RegistrationRate,
		RegistrationBurst: cfg.RegistrationBurst,
		Log:               cfg.Log,
		Now:               cfg.Now,
	})
	s.current.Store(&published{raw: cfg.Contract, contract: c})
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_service_directory_contract_reloads_total",
		Help: "Changes of the contract file seen while serving, by outcome (updated; refused: not a newer version the network countersigned; unreadable).",
	}, []string{"outcome"})
	for _, o := range []string{"updated", "refused", "unreadable"} {
		s.reloads.WithLabelValues(o)
	}
	s.api.Registry().MustRegister(s.reloads)
	s.routes()
	return s, nil
}

// contract returns the contract the directory serves now.
func (s *Server) contract() *contract.Contract { return s.current.Load().contract }

// ContractVersion returns the version of the contract the directory
// serves.
func (s *Server) ContractVersion() int { return s.contract().Version }

// SetContract serves raw from now on, if it is a newer version of the
// service's contract that the network countersigned: both signatures must
// verify, as when the directory starts. It reports whether the contract
// changed: the same version with the same bytes changes nothing; another
// service, a version that is not newer, or bytes that do not verify are
// refused, and the directory goes on with the contract it had. Members take
// the new version up when they poll the directory; a pod refuses one that
// changes or removes what it serves (docs/pod.md).
func (s *Server) SetContract(raw []byte) (bool, error) {
	cur := s.current.Load()
	if bytes.Equal(raw, cur.raw) {
		return false, nil
	}
	c, err := contract.Verify(raw, s.roots, s.cfg.Network, s.cfg.Now())
	if err != nil {
		return false, fmt.Errorf("%w; want the contract the network countersigned", err)
	}
	switch {
	case c.ServiceID != s.sid:
		return false, fmt.Errorf("the contract of service %d, not of this directory's service %d", c.ServiceID, s.sid)
	case c.Version <= cur.contract.Version:
		return false, fmt.Errorf("version %d; this directory serves version %d, and only a higher version replaces it", c.Version, cur.contract.Version)
	}
	if !s.current.CompareAndSwap(cur, &published{raw: raw, contract: c}) {
		return false, errors.New("the contract changed meanwhile; try again")
	}
	return true, nil
}

// ServiceID returns the service's id.
func (s *Server) ServiceID() uint32 { return s.sid }

// Handler returns the server's HTTP handler (without TLS: Serve adds it).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTPS on l until ctx is done.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return directory.Serve(ctx, l, s.handler, directory.ServerTLS(s.cfg.TLS), s.cfg.Log)
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	a := s.api
	a.Handle(mux, "GET "+directory.PathContract, "contract", s.getContract)
	a.Handle(mux, "POST "+directory.PathServiceMember, "member", s.postMember)
	a.Handle(mux, "PUT "+directory.PathMemberVersion+"{v}", "member_version", s.putMemberVersion)
	a.Handle(mux, "GET "+directory.PathMemberCerts+"{file}", "member_cert", s.getMemberCert)
	a.Handle(mux, "PUT "+directory.PathSearchValues, "search_values", s.putSearchValues)
	a.Handle(mux, "GET "+directory.PathSearch, "search", s.getSearch)
	a.Handle(mux, "GET "+directory.PathStatus, "status", s.getStatus)
	mux.Handle("GET "+directory.PathMetrics, a.MetricsHandler())
	s.handler = a.Mux(mux, "service directory")
}

func (s *Server) getContract(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(s.current.Load().raw)
	return err
}

func (s *Server) chainPEM(cert *x509.Certificate) string {
	return string(pki.EncodeCertificates(s.cfg.MembersCA.Chain(cert)...))
}

func (s *Server) postMember(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.Identity(r)
	if err != nil {
		return err
	}
	_, csr, subj, err := directory.DecodeCSR(w, r, s.cfg.Network)
	if err != nil {
		return err
	}
	if (subj.Kind != pki.KindMember && subj.Kind != pki.KindMemberData) || subj.ServiceID != s.sid {
		return directory.Forbidden("csr: %s is not a member name of service %d; this directory signs only <member id>.members-%d.%s and <member id>.member-data-%d.%s",
			subj.Name(), s.sid, s.sid, s.cfg.Network, s.sid, s.cfg.Network)
	}
	mid := uuid.MustParse(subj.ID)
	memberName := pki.MemberName(s.sid, mid, s.cfg.Network)
	ctx := r.Context()
	if id != nil {
		if id.Role != pki.RoleMember || id.ServiceID != s.sid || id.ID != subj.ID {
			return directory.Forbidden("your certificate is %s; only %s may have %s signed", id.Name, memberName, subj.Name())
		}
		cert, err := directory.SignCSR(s.cfg.MembersCA, csr, s.cfg.Now())
		if err != nil {
			return err
		}
		kind := "member_data"
		if subj.Kind == pki.KindMember {
			kind = "member_renewal"
			if err := s.cfg.Store.RenewServiceMember(ctx, s.sid, mid, s.chainPEM(cert)); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
		}
		s.api.Registered(kind)
		return directory.WriteJSON(w, http.StatusOK, s.signed(cert))
	}
	if subj.Kind != pki.KindMember {
		return directory.Unauthenticated("%s: a member-data certificate needs the member's own TLS certificate; connect with the certificate of %s",
			subj.Name(), memberName)
	}
	if err := s.api.Limit(r); err != nil {
		return err
	}
	cert, err := directory.SignCSR(s.cfg.MembersCA, csr, s.cfg.Now())
	if err != nil {
		return err
	}
	err = s.cfg.Store.CreateServiceMember(ctx, s.sid, mid, s.chainPEM(cert))
	if errors.Is(err, registry.ErrExists) {
		return directory.Conflict("member %s of service %d is registered already: renew its certificate with the member's own certificate, or join with a new member id", mid, s.sid)
	}
	if err != nil {
		return err
	}
	s.api.Registered("member")
	return directory.WriteJSON(w, http.StatusCreated, s.signed(cert))
}

func (s *Server) signed(cert *x509.Certificate) directory.SignedCert {
	leaf, issuers := directory.PEMChain(s.cfg.MembersCA.Chain(cert))
	return directory.SignedCert{SignedCert: leaf, CertChain: issuers, NetworkRootCA: s.rootPEM, ServiceDataCert: s.dataPEM}
}

// member checks that the caller is a member of this service and returns
// its id, registering a member whose certificate the members CA signed
// without this directory (the operator's cert-manager issuer, byoda pki).
func (s *Server) member(r *http.Request) (uuid.UUID, error) {
	id, err := s.api.RequireIdentity(r, fmt.Sprintf("your member TLS certificate, <member id>.members-%d.%s", s.sid, s.cfg.Network))
	if err != nil {
		return uuid.Nil, err
	}
	if id.Role != pki.RoleMember || id.ServiceID != s.sid {
		return uuid.Nil, directory.Forbidden("your certificate is %s; this endpoint takes the TLS certificate of a member of service %d", id.Name, s.sid)
	}
	mid := uuid.MustParse(id.ID)
	err = s.cfg.Store.CreateServiceMember(r.Context(), s.sid, mid, string(pki.EncodeCertificates(r.TLS.PeerCertificates...)))
	if err != nil && !errors.Is(err, registry.ErrExists) {
		return uuid.Nil, err
	}
	return mid, nil
}

func (s *Server) putMemberVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := strconv.Atoi(r.PathValue("v"))
	if err != nil || v < 1 || strconv.Itoa(v) != r.PathValue("v") {
		return directory.BadRequest("path: contract version %q: want a whole number from 1", r.PathValue("v"))
	}
	if cv := s.ContractVersion(); v > cv {
		return directory.BadRequest("path: contract version %d: the contract of service %d is at version %d", v, s.sid, cv)
	}
	mid, err := s.member(r)
	if err != nil {
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
	if want := pki.MemberDataName(s.sid, mid, s.cfg.Network); cid.Name != want {
		return directory.BadRequest("certchain: the certificate is %s; want your member-data certificate, %s", cid.Name, want)
	}
	addr, err := directory.PublishAddr(r, req.Address)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SetMemberData(r.Context(), s.sid, mid, string(pki.EncodeCertificates(chain...)), v, addr); err != nil {
		return err
	}
	s.api.Registered("member_data_cert")
	return directory.WriteJSON(w, http.StatusOK, directory.AddressResponse{Name: pki.MemberName(s.sid, mid, s.cfg.Network), Address: addr.String()})
}

func (s *Server) getMemberCert(w http.ResponseWriter, r *http.Request) error {
	mid, ok := directory.ParseMemberCertFile(r.PathValue("file"))
	if !ok {
		return directory.NotFound("%s: want member-data-<member id>-cert.pem with a lower-case member id", r.URL.Path)
	}
	m, err := s.cfg.Store.ServiceMember(r.Context(), s.sid, mid)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && m.DataChain == "") {
		return directory.NotFound("member %s of service %d has published no member-data certificate", mid, s.sid)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err = w.Write([]byte(m.DataChain))
	return err
}

// searchable returns the search permission the contract gives the service
// on class.field, or an error that says why there is none.
func (s *Server) searchable(class, field string) (*contract.Permission, error) {
	c := s.contract()
	cls := c.Class(class)
	if cls == nil {
		return nil, directory.BadRequest("%s.%s: the contract of service %d has no class %q", class, field, s.sid, class)
	}
	f := cls.Field(field)
	if f == nil {
		return nil, directory.BadRequest("%s.%s: class %q has no field %q", class, field, class, field)
	}
	d := contract.Authorize(c, contract.Caller{Entity: contract.EntityService}, contract.ActionSearch, class, field)
	if !d.Allowed {
		return nil, directory.Forbidden("%s.%s: the contract does not give the service the search right on this field", class, field)
	}
	if f.Type != contract.TypeString {
		return nil, directory.BadRequest("%s.%s: a %s field; the service directory searches string fields only", class, field, f.Type)
	}
	return d.Permission, nil
}

// checkValue refuses a value the registry should not hold.
func checkValue(where, v string) error {
	switch {
	case v == "":
		return directory.BadRequest("%s: empty value", where)
	case len(v) > directory.MaxSearchValueLen:
		return directory.BadRequest("%s: value of %d bytes; want at most %d", where, len(v), directory.MaxSearchValueLen)
	case !utf8.ValidString(v):
		return directory.BadRequest("%s: value is not valid UTF-8", where)
	}
	return nil
}

func (s *Server) putSearchValues(w http.ResponseWriter, r *http.Request) error {
	mid, err := s.member(r)
	if err != nil {
		return err
	}
	var req directory.SearchValues
	if err := directory.DecodeJSON(w, r, directory.MaxSearchBody, &req, false); err != nil {
		return err
	}
	if len(req.Values) > directory.MaxSearchValues {
		return directory.BadRequest("values: %d values; want at most %d", len(req.Values), directory.MaxSearchValues)
	}
	entries := make([]registry.SearchEntry, 0, len(req.Values))
	for i, v := range req.Values {
		where := fmt.Sprintf("values/%d (%s.%s)", i, v.Class, v.Field)
		if _, err := s.searchable(v.Class, v.Field); err != nil {
			return directory.BadRequest("values/%d: %v", i, err)
		}
		if err := checkValue(where, v.Value); err != nil {
			return err
		}
		entries = append(entries, registry.SearchEntry{Class: v.Class, Field: v.Field, Value: []byte(v.Value), Folded: []byte(s.fold.String(v.Value))})
	}
	if err := s.cfg.Store.SetSearchValues(r.Context(), s.sid, mid, entries); err != nil {
		return err
	}
	s.api.Registered("search_values")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getSearch(w http.ResponseWriter, r *http.Request) error {
	id, err := s.api.RequireIdentity(r, fmt.Sprintf("the TLS certificate of a member of service %d", s.sid))
	if err != nil {
		return err
	}
	if (id.Role != pki.RoleMember && id.Role != pki.RoleService) || id.ServiceID != s.sid {
		return directory.Forbidden("your certificate is %s; search takes the TLS certificate of a member of service %d or of the service", id.Name, s.sid)
	}
	q, err := directory.Query(r, "class", "field", "value")
	if err != nil {
		return err
	}
	class, field, value := q.Get("class"), q.Get("field"), q.Get("value")
	p, err := s.searchable(class, field)
	if err != nil {
		return err
	}
	if err := checkValue("value", value); err != nil {
		return err
	}
	sq := registry.SearchQuery{ServiceID: s.sid, Class: class, Field: field, Value: []byte(value), Limit: directory.MaxSearchResults}
	switch p.Match {
	case "", "exact":
	case "prefix":
		sq.Prefix = true
	default:
		return directory.BadRequest("%s.%s: the contract asks for %q matching; the service directory offers exact and prefix searches", class, field, p.Match)
	}
	if !p.CaseSensitive {
		sq.Folded = true
		sq.Value = []byte(s.fold.String(value))
	}
	ids, err := s.cfg.Store.Search(r.Context(), sq)
	if err != nil {
		return err
	}
	out := directory.SearchResult{MemberIDs: make([]string, len(ids)), Match: p.Match, CaseSensitive: p.CaseSensitive}
	if out.Match == "" {
		out.Match = "exact"
	}
	for i, id := range ids {
		out.MemberIDs[i] = id.String()
	}
	return directory.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	n, err := s.cfg.Store.CountServiceMembers(r.Context(), s.sid)
	if err != nil {
		return s.api.RegistryUnavailable(r, err)
	}
	sid := s.sid
	return directory.WriteJSON(w, http.StatusOK, directory.Status{
		Status:          "ok",
		Network:         s.cfg.Network,
		ServiceID:       &sid,
		ContractVersion: s.ContractVersion(),
		Storage:         string(s.cfg.Store.Dialect()),
		Version:         version.Get().Version,
		Uptime:          s.cfg.Now().Sub(s.started).Round(time.Second).String(),
		Counts:          map[string]int64{"members": n},
	})
}
