package podruntime

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
)

// Files of the services joined through their directories, in the data
// directory: JoinedFile lists them, and the contract each serves is in
// JoinedContractsDir, named as launch.ContractFileName names it.
const (
	JoinedFile         = "joined.json"
	JoinedContractsDir = "contracts"
)

// Limits of joining.
const (
	// joinTimeout bounds a join the owner asks for, within the owner
	// port's write timeout.
	joinTimeout = 25 * time.Second
	// maxJoinBodyBytes bounds a join request: one URL.
	maxJoinBodyBytes = 8 << 10
	// startTimeout bounds the registrations a pod refreshes at start.
	startTimeout = 10 * time.Second
)

// Codes of the errors of joining: one a directory caused, and a contract
// version the pod refuses.
const (
	codeBadGateway = "BAD_GATEWAY"
	codeConflict   = "CONFLICT"
)

// joins is the state of the services joined through their directories:
// which, where, and how their contracts fare (upgrade.go).
type joins struct {
	// mu serializes joins, upgrades and the pod's end: one at a time.
	mu     sync.Mutex
	closed bool // the stores are closed; under mu
	// services are the joined services, by service id, as JoinedFile
	// holds them; under mu to change, under statusMu to read.
	services map[uint32]joinedService

	statusMu sync.Mutex
	status   map[uint32]*contractStatus
}

// joinedState is the content of JoinedFile.
type joinedState struct {
	Services []joinedService `json:"services"`
}

// joinedService is a service joined through its directory.
type joinedService struct {
	ServiceID  uint32    `json:"service_id"`
	ServiceURL string    `json:"service_url"`
	MemberID   uuid.UUID `json:"member_id"`
}

// joinError is an error of a join with the answer the owner API gives.
type joinError struct {
	status int
	code   string
	err    error
}

func (e *joinError) Error() string { return e.err.Error() }
func (e *joinError) Unwrap() error { return e.err }

func badJoin(format string, args ...any) error {
	return &joinError{status: http.StatusBadRequest, code: codeBadRequest, err: fmt.Errorf(format, args...)}
}

// directoryError marks an error a directory caused (or that reaching one
// did).
func directoryError(format string, args ...any) error {
	return &joinError{status: http.StatusBadGateway, code: codeBadGateway, err: fmt.Errorf(format, args...)}
}

// ParseServiceURL checks the URL of a service directory, which a pod joins
// the service at: https://service.service-<sid>.<network>[:port], the
// service's name in the network (whose DNS, --dns-server, resolves it, and
// whose certificate the directory serves). It returns the service id and
// the URL without a trailing slash.
func ParseServiceURL(raw, network string) (uint32, string, error) {
	want := fmt.Sprintf("want https://service.service-<service id>.%s[:port], the service directory's name in the network", network)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.Trim(u.Path, "/") != "" {
		return 0, "", fmt.Errorf("service URL %q: %s", raw, want)
	}
	s, err := pki.ParseName(strings.ToLower(u.Hostname()))
	if err != nil || s.Kind != pki.KindService || s.Network != network {
		return 0, "", fmt.Errorf("service URL %q: %s", raw, want)
	}
	return s.ServiceID, "https://" + strings.ToLower(u.Host), nil
}

// resolver returns the resolver of the network's names: the DNS server of
// --dns-server, or the system's.
func (p *Pod) resolver() *net.Resolver {
	if p.cfg.DNSServer == "" {
		return nil
	}
	server := p.cfg.DNSServer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// serviceClient returns a client of the service directory at serviceURL,
// authenticated with cert when it is not nil. The directory's certificate
// is the service's, which chains to the network's root.
func (p *Pod) serviceClient(serviceURL string, cert *tls.Certificate) (*client.Client, error) {
	return client.New(serviceURL, client.Options{Roots: p.verifier.Roots, Certificate: cert, Resolver: p.resolver()})
}

// networkClient returns a client of the network directory (--directory),
// authenticated with cert when it is not nil.
func (p *Pod) networkClient(cert *tls.Certificate) (*client.Client, error) {
	if p.cfg.Directory == "" {
		return nil, badJoin("this pod has no network directory to register with: start it with --directory <network directory URL>")
	}
	o := client.Options{Certificate: cert, Resolver: p.resolver()}
	if p.cfg.DirectoryCA != "" {
		data, err := os.ReadFile(p.cfg.DirectoryCA)
		if err != nil {
			return nil, fmt.Errorf("--directory-ca: %w", err)
		}
		o.Roots = x509.NewCertPool()
		if !o.Roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--directory-ca %s holds no PEM certificate", p.cfg.DirectoryCA)
		}
	}
	if u, err := url.Parse(p.cfg.Directory); err == nil {
		if _, err := netip.ParseAddr(u.Hostname()); err == nil {
			// Reached by its address: its certificate is still dir.<net>'s.
			o.ServerName = directory.NetworkDirectoryName(p.cfg.Network)
		}
	}
	c, err := client.New(p.cfg.Directory, o)
	if err != nil {
		return nil, fmt.Errorf("--directory: %w", err)
	}
	return c, nil
}

// publicAddress is the address the pod publishes in the network's DNS:
// --address, else the peer port's address when it names one, else none
// (the directory takes the address requests come from).
func (p *Pod) publicAddress() string {
	if p.cfg.Address != "" {
		return p.cfg.Address
	}
	host, _, err := net.SplitHostPort(p.cfg.PeerListen)
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return a.String()
	}
	return ""
}

// accountKey loads the account's TLS key from the PKI directory. A pod with
// a network directory (--directory) whose PKI directory has no certificate
// for its account registers the account there first: it makes the
// account's keys itself and has the network's accounts CA sign them.
func (p *Pod) accountKey(ctx context.Context, dir *pki.Dir) (*pki.KeyPair, error) {
	aid := p.cfg.AccountID
	kp, err := dir.AccountKey(aid)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || p.cfg.Directory == "" {
		if err != nil {
			return nil, fmt.Errorf("account %s: %w; create it with 'byoda pki account', register it with --directory, or check --account", aid, err)
		}
		return kp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	nc, err := p.networkClient(nil)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	name := pki.AccountName(aid, p.cfg.Network)
	kp, err = p.signedKey(ctx, pki.Subject{Kind: pki.KindAccount, ID: aid.String(), Network: p.cfg.Network},
		func(ctx context.Context, csr *x509.CertificateRequest) (*client.Signed, error) {
			return nc.AccountCSR(ctx, csr, p.publicAddress())
		})
	if client.StatusOf(err) == http.StatusConflict {
		return nil, fmt.Errorf("account %s is registered with the network directory %s, but the PKI directory %s has no key for it: "+
			"restore the account's key there, or register a new account with another --account id", aid, p.cfg.Directory, dir.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("register account %s with the network directory %s: %w", aid, p.cfg.Directory, err)
	}
	if err := dir.Save(pki.Subject{Kind: pki.KindAccount, ID: aid.String(), Network: p.cfg.Network}, kp); err != nil {
		return nil, err
	}
	// The account's data key, signed with the account's own certificate.
	cert := kp.TLSCertificate()
	ac, err := p.networkClient(&cert)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	dataSubject := pki.Subject{Kind: pki.KindAccountData, ID: aid.String(), Network: p.cfg.Network}
	dkp, err := p.signedKey(ctx, dataSubject, func(ctx context.Context, csr *x509.CertificateRequest) (*client.Signed, error) {
		return ac.AccountCSR(ctx, csr, "")
	})
	if err != nil {
		return nil, fmt.Errorf("account %s: data certificate from the network directory %s: %w", aid, p.cfg.Directory, err)
	}
	if err := dir.Save(dataSubject, dkp); err != nil {
		return nil, err
	}
	p.log.Info("Registered the account with the network directory", "account", aid.String(), "name", name, "directory", p.cfg.Directory)
	return kp, nil
}

// signedKey makes a key for s and has sign's CA sign its CSR. The chain
// it gets back must verify against the network's root and be for s. The
// private key never leaves the pod.
func (p *Pod) signedKey(ctx context.Context, s pki.Subject, sign func(context.Context, *x509.CertificateRequest) (*client.Signed, error)) (*pki.KeyPair, error) {
	key, err := pki.GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.CreateCSR(key, s.Name())
	if err != nil {
		return nil, err
	}
	signed, err := sign(ctx, csr)
	if err != nil {
		return nil, err
	}
	return p.checkSigned(s, key, signed.Chain)
}

// checkSigned checks that chain, which a directory signed for key, is a
// certificate of s of this network and holds key's public half.
func (p *Pod) checkSigned(s pki.Subject, key crypto.Signer, chain []*x509.Certificate) (*pki.KeyPair, error) {
	id, err := p.verifier.Verify(chain)
	if err != nil {
		return nil, fmt.Errorf("the certificate signed for %s does not verify against the network's root: %w", s.Name(), err)
	}
	if id.Name != s.Name() {
		return nil, fmt.Errorf("asked for a certificate of %s, got one of %s", s.Name(), id.Name)
	}
	return pki.NewKeyPair(key, chain)
}

// joinAtStart opens the services the pod joined through their directories
// before (JoinedFile), then joins each --join service it has not joined
// yet, and refreshes the pod's DNS records at the network directory.
func (p *Pod) joinAtStart(ctx context.Context) error {
	p.joins.services = map[uint32]joinedService{}
	p.joins.status = map[uint32]*contractStatus{}
	st, err := readJoined(p.cfg.DataDir)
	if err != nil {
		return err
	}
	for _, js := range st.Services {
		if err := p.openJoined(ctx, js); err != nil {
			return err
		}
	}
	fresh := map[uint32]bool{}
	for _, raw := range p.cfg.Joins {
		sid, _, err := ParseServiceURL(raw, p.cfg.Network)
		if err != nil {
			return fmt.Errorf("--join: %w", err)
		}
		fresh[sid] = p.membership(sid) == nil
		if _, _, err := p.joinService(ctx, raw, false); err != nil {
			return fmt.Errorf("--join %s: %w", raw, err)
		}
	}
	if p.cfg.Directory == "" {
		return nil
	}
	// A pod's address may have changed since it last registered: publish
	// it again, but serve with the old records when the directory does not
	// answer.
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.publishAccount(ctx); err != nil {
		p.log.Warn("Could not publish the account's address at the network directory; keeping the earlier record", "err", err)
	}
	for _, m := range p.memberships() {
		if fresh[m.sid] {
			continue
		}
		if err := p.publishMember(ctx, m); err != nil {
			p.log.Warn("Could not publish the member's address at the network directory; keeping the earlier record", "service", m.sid, "err", err)
		}
	}
	return nil
}

// openJoined opens a membership the pod joined through its directory in
// an earlier run, with the contract it kept.
func (p *Pod) openJoined(ctx context.Context, js joinedService) error {
	file := joinedContractFile(p.cfg.DataDir, js.ServiceID)
	where := "service " + strconv.FormatUint(uint64(js.ServiceID), 10) + " (joined at " + js.ServiceURL + ")"
	if m := p.membership(js.ServiceID); m != nil {
		return fmt.Errorf("%s: the service is also joined from --contract; remove that --contract, or the service from %s",
			where, filepath.Join(p.cfg.DataDir, JoinedFile))
	}
	raw, err := contract.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	c, err := contract.Verify(raw, p.verifier.Roots, p.cfg.Network, p.now())
	if err != nil {
		return fmt.Errorf("%s: the contract kept in %s: %w", where, file, err)
	}
	m, err := p.newMembership(ctx, c, js.MemberID, where)
	if err != nil {
		return err
	}
	p.publish(m)
	p.joins.statusMu.Lock()
	p.joins.services[js.ServiceID] = js
	p.joins.statusMu.Unlock()
	p.setCondition(js.ServiceID, true, reasonUpToDate, fmt.Sprintf("serving version %d of the contract", c.Version))
	return nil
}

// joinService joins the service whose directory is at rawURL: it fetches
// the contract and verifies the service's and the network's signatures,
// makes the member's TLS and member-data keys (unless the PKI directory
// holds them) and has the service's members CA sign them, publishes the
// member-data certificate at the service directory and the member's
// address at the network directory, keeps the contract, and serves the
// service's API. A service joined already is not joined again: the pod
// takes up the directory's contract when it only adds (upgrade) and says
// joined false.
func (p *Pod) joinService(ctx context.Context, rawURL string, upgrade bool) (*membership, bool, error) {
	sid, serviceURL, err := ParseServiceURL(rawURL, p.cfg.Network)
	if err != nil {
		return nil, false, badJoin("%w", err)
	}
	if p.cfg.Directory == "" {
		return nil, false, badJoin("joining a service registers the member's name with the network directory: start the pod with --directory <network directory URL>")
	}
	p.joins.mu.Lock()
	if p.joins.closed {
		p.joins.mu.Unlock()
		return nil, false, errors.New("the pod is stopping")
	}
	if m := p.membership(sid); m != nil {
		js, viaDirectory := p.joinedService(sid)
		if viaDirectory && js.ServiceURL != serviceURL {
			js.ServiceURL = serviceURL
			if err := p.saveJoined(js); err != nil {
				p.joins.mu.Unlock()
				return nil, false, err
			}
		}
		p.joins.mu.Unlock()
		if upgrade && viaDirectory {
			if err := p.checkContract(ctx, sid, true); err != nil {
				return nil, false, err
			}
		}
		return p.membership(sid), false, nil
	}
	defer p.joins.mu.Unlock()
	where := "service " + strconv.FormatUint(uint64(sid), 10) + " at " + serviceURL
	sc, err := p.serviceClient(serviceURL, nil)
	if err != nil {
		return nil, false, badJoin("%w", err)
	}
	defer sc.Close()
	raw, err := sc.ServiceContract(ctx)
	if err != nil {
		return nil, false, directoryError("%s: the contract: %w", where, err)
	}
	c, err := contract.Verify(raw, p.verifier.Roots, p.cfg.Network, p.now())
	if err != nil {
		return nil, false, directoryError("%s: the contract the directory serves does not verify against the network's root: %w", where, err)
	}
	if c.ServiceID != sid {
		return nil, false, directoryError("%s: the directory serves the contract of service %d", where, c.ServiceID)
	}
	member, data, err := p.memberKeys(ctx, sc, serviceURL, sid)
	if err != nil {
		return nil, false, err
	}
	cert := member.TLSCertificate()
	msc, err := p.serviceClient(serviceURL, &cert)
	if err != nil {
		return nil, false, err
	}
	defer msc.Close()
	if _, err := msc.PublishMemberData(ctx, c.Version, data.Chain, p.publicAddress()); err != nil {
		return nil, false, directoryError("%s: publish the member-data certificate: %w", where, err)
	}
	mid := uuid.MustParse(memberIDOf(member))
	if err := keepContract(p.cfg.DataDir, sid, raw); err != nil {
		return nil, false, fmt.Errorf("keep the contract of service %d: %w", sid, err)
	}
	m, err := p.newMembership(ctx, c, mid, where)
	if err != nil {
		return nil, false, err
	}
	if err := p.publishMember(ctx, m); err != nil {
		m.retire()
		m.store.Close()
		return nil, false, directoryError("%s: register the member's name with the network directory: %w", where, err)
	}
	js := joinedService{ServiceID: sid, ServiceURL: serviceURL, MemberID: mid}
	if err := p.saveJoined(js); err != nil {
		m.retire()
		m.store.Close()
		return nil, false, err
	}
	p.publish(m)
	p.setCondition(sid, true, reasonUpToDate, fmt.Sprintf("serving version %d of the contract", c.Version))
	p.log.Info("Joined a service through its directory", "service", sid, "name", c.Name, "version", c.Version,
		"member", mid.String(), "directory", serviceURL)
	return m, true, nil
}

// memberIDOf returns the member id of a member's key pair.
func memberIDOf(kp *pki.KeyPair) string {
	s, _ := pki.ParseName(kp.Cert.Subject.CommonName)
	return s.ID
}

// memberKeys returns the member's TLS and member-data keys of service sid
// from the PKI directory, making (and saving) those it does not hold: a
// new member id has the service directory's members CA sign its TLS
// certificate (first come), and the member-data certificate is signed for
// the member's own TLS certificate. A restart finds them there.
func (p *Pod) memberKeys(ctx context.Context, sc *client.Client, serviceURL string, sid uint32) (member, data *pki.KeyPair, err error) {
	dir := p.dir
	mid := p.cfg.Members[sid]
	if mid == uuid.Nil {
		ids, err := memberIDs(dir, sid)
		if err != nil {
			return nil, nil, err
		}
		switch len(ids) {
		case 0:
			mid = uuid.New()
		case 1:
			mid = ids[0]
		default:
			// findMember words the choice.
			_, err := findMember(dir, sid, uuid.Nil)
			return nil, nil, badJoin("%w", err)
		}
	}
	subject := pki.Subject{Kind: pki.KindMember, ID: mid.String(), ServiceID: sid, Network: p.cfg.Network}
	member, err = dir.MemberKey(sid, mid)
	if errors.Is(err, fs.ErrNotExist) {
		member, err = p.signedKey(ctx, subject, sc.MemberCSR)
		if client.StatusOf(err) == http.StatusConflict {
			return nil, nil, directoryError("member %s of service %d is registered at %s, but the PKI directory %s has no key for it: "+
				"restore the member's key there, or join with another member id", mid, sid, serviceURL, dir.Path())
		}
		if err != nil {
			return nil, nil, directoryError("service %d at %s: sign the member's certificate: %w", sid, serviceURL, err)
		}
		if err := dir.Save(subject, member); err != nil {
			return nil, nil, err
		}
		p.log.Info("Registered a member with the service directory", "service", sid, "member", mid.String(), "directory", serviceURL)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("membership of service %d: %w", sid, err)
	}
	dataSubject := pki.Subject{Kind: pki.KindMemberData, ID: mid.String(), ServiceID: sid, Network: p.cfg.Network}
	data, err = dir.MemberDataKey(sid, mid)
	if errors.Is(err, fs.ErrNotExist) {
		cert := member.TLSCertificate()
		mc, cerr := p.serviceClient(serviceURL, &cert)
		if cerr != nil {
			return nil, nil, cerr
		}
		defer mc.Close()
		data, err = p.signedKey(ctx, dataSubject, mc.MemberCSR)
		if err != nil {
			return nil, nil, directoryError("service %d at %s: sign the member-data certificate: %w", sid, serviceURL, err)
		}
		if err := dir.Save(dataSubject, data); err != nil {
			return nil, nil, err
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("member-data key of service %d: %w", sid, err)
	}
	return member, data, nil
}

// memberIDs returns the member ids of service sid that the PKI directory
// holds a TLS certificate of.
func memberIDs(dir *pki.Dir, sid uint32) ([]uuid.UUID, error) {
	serviceDir := filepath.Join(dir.Path(), "service-"+strconv.FormatUint(uint64(sid), 10))
	entries, err := os.ReadDir(serviceDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var ids []uuid.UUID
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), "member-")
		if !ok || !e.IsDir() {
			continue
		}
		id, err := uuid.Parse(name)
		if err != nil {
			continue
		}
		certFile, _ := dir.Paths(pki.Subject{Kind: pki.KindMember, ID: id.String(), ServiceID: sid, Network: dir.Network()})
		if _, err := os.Stat(certFile); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// publishAccount publishes the account's address at the network
// directory (and registers an account that the accounts CA signed
// elsewhere).
func (p *Pod) publishAccount(ctx context.Context) error {
	nc, err := p.networkClient(&p.accountCert)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.PublishAccount(ctx, p.publicAddress())
	return err
}

// publishMember publishes m's address at the network directory:
// <mid>.members-<sid>.<net>, where other pods find it.
func (p *Pod) publishMember(ctx context.Context, m *membership) error {
	nc, err := p.networkClient(&m.cert)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.PublishMember(ctx, p.publicAddress())
	return err
}

// joinedService returns the service sid joined through its directory.
func (p *Pod) joinedService(sid uint32) (joinedService, bool) {
	p.joins.statusMu.Lock()
	defer p.joins.statusMu.Unlock()
	js, ok := p.joins.services[sid]
	return js, ok
}

// saveJoined records js in JoinedFile. The caller holds joins.mu.
func (p *Pod) saveJoined(js joinedService) error {
	p.joins.statusMu.Lock()
	services := make([]joinedService, 0, len(p.joins.services)+1)
	for sid, s := range p.joins.services {
		if sid != js.ServiceID {
			services = append(services, s)
		}
	}
	p.joins.statusMu.Unlock()
	services = append(services, js)
	data, err := json.MarshalIndent(joinedState{Services: services}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(p.cfg.DataDir, JoinedFile), append(data, '\n')); err != nil {
		return fmt.Errorf("record the joined services: %w", err)
	}
	p.joins.statusMu.Lock()
	p.joins.services[js.ServiceID] = js
	p.joins.statusMu.Unlock()
	return nil
}

// readJoined reads JoinedFile of dataDir; none is no service.
func readJoined(dataDir string) (*joinedState, error) {
	file := filepath.Join(dataDir, JoinedFile)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &joinedState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st joinedState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w; restore it, or remove it and join the services again", file, err)
	}
	return &st, nil
}

// joinedContractFile is where the pod keeps the contract of service sid it
// joined through its directory.
func joinedContractFile(dataDir string, sid uint32) string {
	return filepath.Join(dataDir, JoinedContractsDir, launch.ContractFileName(sid))
}

// keepContract keeps the contract of service sid, joined through its
// directory, in the data directory.
func keepContract(dataDir string, sid uint32, raw []byte) error {
	file := joinedContractFile(dataDir, sid)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(file, raw)
}

// joinRequest is the body of POST /api/v1/pod/join.
type joinRequest struct {
	// ServiceURL is the service directory's URL (ParseServiceURL).
	ServiceURL string `json:"service_url"`
}

// joinResponse is its answer.
type joinResponse struct {
	ServiceID       uint32 `json:"service_id"`
	Name            string `json:"name"`
	MemberID        string `json:"member_id"`
	ContractVersion int    `json:"contract_version"`
	GraphQLPath     string `json:"graphql_path"`
	// Joined is false when the pod had joined the service before (it then
	// takes up the directory's contract if it only adds).
	Joined bool `json:"joined"`
}

// handleJoin joins a service for the owner, who sends a valid owner token
// of any joined service: a pod always has one, as it needs --contract or
// --join to start and joins the --join services before it serves. The
// answer is 201 for a service joined now, 200 for one joined before.
func (p *Pod) handleJoin(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	if _, err := p.anyOwner(r, "joining a service"); err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, codeUnsupportedType, "content type %q: want application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBodyBytes))
	dec.DisallowUnknownFields()
	var req joinRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errorf(http.StatusBadRequest, codeBadRequest, `invalid join request: %v; want {"service_url": "https://service.service-<service id>.%s[:port]"}`, err, p.cfg.Network)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, codeBadRequest, "invalid join request: data after the JSON object")
	}
	if req.ServiceURL == "" {
		return errorf(http.StatusBadRequest, codeBadRequest, "invalid join request: missing service_url")
	}
	ctx, cancel := context.WithTimeout(r.Context(), joinTimeout)
	defer cancel()
	m, joined, err := p.joinService(ctx, req.ServiceURL, true)
	if err != nil {
		var je *joinError
		if errors.As(err, &je) {
			return errorf(je.status, je.code, "join %s: %v", req.ServiceURL, je.err)
		}
		return err
	}
	status := http.StatusOK
	if joined {
		status = http.StatusCreated
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(joinResponse{
		ServiceID: m.sid, Name: m.contract.Name, MemberID: m.memberID.String(),
		ContractVersion: m.contract.Version, GraphQLPath: m.path, Joined: joined,
	})
}

// anyOwner checks that r carries a valid owner token of any joined
// service, for what the owner does for the whole pod.
func (p *Pod) anyOwner(r *http.Request, what string) (*session, error) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return nil, unauthenticated("%s needs one \"Authorization: Bearer <token>\" header with an owner token from POST /api/v1/pod/authtoken", what)
	}
	tok, aerr := bearerToken(h[0])
	if aerr != nil {
		return nil, aerr
	}
	_, claims, aerr := p.auth.parse(tok)
	if aerr != nil {
		return nil, aerr
	}
	m := p.membership(claims.ServiceID)
	if m == nil {
		return nil, unauthenticated("the token is for service %d, which this pod has not joined", claims.ServiceID)
	}
	s, aerr := p.auth.verify(tok, m)
	if aerr != nil {
		return nil, aerr
	}
	return s, nil
}
