package podruntime

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/podruntime/recursion"
	"github.com/byoda-go/byoda/podruntime/store"
)

// Pod is a running data pod: its identity, its memberships with their
// stores, and the handlers of its two ports. Make one with New, serve it
// with Run or Serve, and it closes its stores when serving ends.
type Pod struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	started time.Time

	accountName string // <aid>.accounts.<net>
	accountCert tls.Certificate
	verifier    *pki.Verifier

	objects    objstore.Store
	storageURL string // without secrets, for status

	// members are the memberships, published copy-on-write so that a
	// service can be joined, or its contract upgraded, while the pod
	// serves (members.go); routing extends the ports' routes then.
	members atomic.Pointer[memberSet]
	routing routing
	// dir and kek open the stores of services joined while the pod
	// serves; joins is their state (join.go, upgrade.go).
	dir   *pki.Dir
	kek   store.KeyWrapper
	joins joins

	auth    *ownerAuth
	metrics *metrics
	probe   storageProbe
	// seen remembers the recursive queries the pod answered, for every
	// membership.
	seen *recursion.Seen
	// followOpts tune following other pods (listen_relations); the zero
	// value is the defaults.
	followOpts followOptions
	followers  followers
}

// membership is one joined service: its contract, the member's identity,
// store and GraphQL handler.
type membership struct {
	contract   *contract.Contract
	sid        uint32
	memberID   uuid.UUID
	memberName string // <mid>.members-<sid>.<net>
	path       string // /api/v1/data/service-<sid>
	store      *store.Store
	data       *storeData
	graphql    http.Handler
	links      bool // the contract has a network_links class to look callers up in
	linkCache  *linkCache
	cert       tls.Certificate
	dataCert   []byte   // PEM chain of the member-data certificate, served to peers
	network    *network // the graph: recursive and proxied queries
	// life ends when the membership is retired (a new version of the
	// contract took its place): its websockets and background work end
	// with it.
	life context.Context
	end  context.CancelFunc
}

// New prepares a pod from cfg: it loads the account and membership keys from
// the PKI directory, reads the contracts and the key-encryption key, opens
// the object store and one store per membership. It fails with an error
// that says what to fix; nothing is created but the data directory, the
// owner sessions file in it and the stores' own objects.
func New(ctx context.Context, cfg Config) (*Pod, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	p := &Pod{cfg: cfg, log: cfg.Logger, now: cfg.Now, started: cfg.Now(), seen: recursion.NewSeen(0)}
	p.members.Store(&memberSet{bySID: map[uint32]*membership{}, sni: map[string]*tls.Certificate{}})
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	dir, err := pki.OpenDir(cfg.PKIDir)
	if err != nil {
		return nil, err
	}
	if dir.Network() != cfg.Network {
		return nil, fmt.Errorf("--network %s: the PKI directory %s is for network %s", cfg.Network, cfg.PKIDir, dir.Network())
	}
	roots, err := dir.Roots()
	if err != nil {
		return nil, err
	}
	p.verifier = &pki.Verifier{Roots: roots, Network: cfg.Network, Now: cfg.Now}
	account, err := p.accountKey(ctx, dir)
	if err != nil {
		return nil, err
	}
	accountKey, ok := account.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("account %s: the key is a %T; want an ECDSA P-256 key", cfg.AccountID, account.Key)
	}
	p.accountName = account.Cert.Subject.CommonName
	p.accountCert = account.TLSCertificate()
	p.members.Store(&memberSet{bySID: map[uint32]*membership{}, sni: map[string]*tls.Certificate{p.accountName: &p.accountCert}})

	password, err := readPassword(cfg.OwnerPasswordFile)
	if err != nil {
		return nil, err
	}
	kek, err := readKEK(cfg.KEKFile)
	if err != nil {
		return nil, err
	}
	p.metrics = newMetrics()
	auth, revoked, err := newOwnerAuth(cfg, p.accountName, accountKey, password)
	if err != nil {
		return nil, err
	}
	p.auth = auth
	switch revoked {
	case revokedPasswordChanged:
		p.metrics.revocations.WithLabelValues(revoked).Inc()
		p.log.Warn("Owner password changed; revoked every owner token issued before")
	case revokedUnreadable:
		p.log.Warn("Could not parse the owner sessions file; revoked every owner token issued before", "file", filepath.Join(cfg.DataDir, SessionsFileName))
	}

	p.objects, err = objstore.Open(ctx, cfg.StorageURL)
	if err != nil {
		return nil, fmt.Errorf("--storage: %w", err)
	}
	p.storageURL = redactURL(cfg.StorageURL)
	p.probe = storageProbe{objects: p.objects, now: cfg.Now}

	joined := false
	defer func() {
		if !joined {
			p.closeStores()
		}
	}()
	p.dir, p.kek = dir, kek
	for _, file := range cfg.ContractFiles {
		m, err := p.join(ctx, dir, file)
		if err != nil {
			return nil, err
		}
		p.publish(m)
	}
	if err := p.joinAtStart(ctx); err != nil {
		return nil, err
	}
	joined = true
	return p, nil
}

// join loads a contract and the membership of its service, and opens the
// membership's store.
func (p *Pod) join(ctx context.Context, dir *pki.Dir, file string) (*membership, error) {
	c, err := p.loadContract(file)
	if err != nil {
		return nil, err
	}
	sid := c.ServiceID
	if p.membership(sid) != nil {
		return nil, fmt.Errorf("--contract %s: service %d is already joined from another --contract", file, sid)
	}
	mid, err := findMember(dir, sid, p.cfg.Members[sid])
	if err != nil {
		return nil, fmt.Errorf("--contract %s: %w", file, err)
	}
	return p.newMembership(ctx, c, mid, "--contract "+file)
}

// newMembership opens the membership mid of the service of contract c
// with the keys in the PKI directory: its store, its API and its client
// of other pods. where names the membership's origin in errors.
func (p *Pod) newMembership(ctx context.Context, c *contract.Contract, mid uuid.UUID, where string) (*membership, error) {
	dir, kek, sid := p.dir, p.kek, c.ServiceID
	kp, err := dir.MemberKey(sid, mid)
	if err != nil {
		return nil, fmt.Errorf("%s: membership of service %d: %w", where, sid, err)
	}
	m := &membership{
		contract:   c,
		sid:        sid,
		memberID:   mid,
		memberName: kp.Cert.Subject.CommonName,
		path:       peer.DataPath(sid),
		cert:       kp.TLSCertificate(),
	}
	dataKP, err := dir.MemberDataKey(sid, mid)
	if err != nil {
		return nil, fmt.Errorf("%s: member-data key of service %d: %w", where, sid, err)
	}
	dataKey, ok := dataKP.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: the member-data key of service %d is a %T; want ECDSA P-256", where, sid, dataKP.Key)
	}
	m.dataCert = pki.EncodeCertificates(dataKP.Chain...)
	client, err := peer.New(peer.Options{
		Network:     p.cfg.Network,
		ServiceID:   sid,
		Port:        p.cfg.PeerPort,
		Certificate: m.cert,
		Verifier:    p.verifier,
		DNSServer:   p.cfg.DNSServer,
	})
	if err != nil {
		return nil, fmt.Errorf("service %d: peer client: %w", sid, err)
	}
	opened := false
	defer func() {
		if !opened {
			client.Close()
		}
	}()
	m.network = &network{
		m: m, self: mid, client: client, seen: p.seen, dataKey: dataKey, now: p.now, metrics: p.metrics,
		sid: strconv.FormatUint(uint64(sid), 10), fanOut: p.cfg.FanOut,
		keys: recursion.NewKeys(p.verifier, func(ctx context.Context, _ uint32, mid uuid.UUID) ([]*x509.Certificate, error) {
			return client.DataCert(ctx, mid)
		}, 0),
	}
	if lc := c.Class(linksClass); lc != nil && lc.Kind == contract.KindArrayOfObjects &&
		lc.Field(linkMemberField) != nil && lc.Field(linkRelationField) != nil {
		m.links = true
	}
	st, err := store.Open(ctx, store.Options{
		Objects:        p.objects,
		ServiceID:      sid,
		MemberID:       mid,
		Contract:       c,
		KEK:            kek,
		Clock:          p.now,
		Log:            p.log.With("service", sid),
		MarkFile:       markFile(p.cfg.DataDir, sid),
		AcceptRollback: p.cfg.AcceptRestore,
	})
	if err != nil {
		return nil, p.storeOpenError(sid, err)
	}
	m.store = st
	if m.links && !c.Class(linksClass).CacheOnly {
		// Records that expire would change the links without a change
		// the store reports: such a class is read on every request.
		m.linkCache = newLinkCache(st)
	}
	m.data = &storeData{st: st, c: c, sid: strconv.FormatUint(uint64(sid), 10), metrics: p.metrics}
	h, err := graphql.NewHandler(c, m.data, graphql.Options{
		MaxBodyBytes:     MaxBodyBytes,
		MaxResponseBytes: MaxResponseBytes,
		OnLimit:          m.data.onLimit,
		MemberID:         mid.String(),
		Network:          m.network,
		Logger:           p.log.With("service", sid),
		WebsocketInit:    p.websocketInit(m),
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("service %d: GraphQL schema: %w", sid, err)
	}
	m.graphql = h
	m.life, m.end = context.WithCancel(context.Background())
	opened = true
	p.log.Info("Joined service", "service", sid, "name", c.Name, "version", c.Version, "member", mid.String(), "from", where)
	return m, nil
}

// markFile is where the pod keeps the high-water mark of the store of
// service sid: in the data directory, which outlives the process (and, in
// Kubernetes, a container restart, though not the Pod when it is an
// emptyDir).
func markFile(dataDir string, sid uint32) string {
	return filepath.Join(dataDir, "state", "service-"+strconv.FormatUint(uint64(sid), 10)+".hwm")
}

// storeOpenError words the errors of a store that refuses to open because
// its objects are not what it left there, naming the storage and what to
// do.
func (p *Pod) storeOpenError(sid uint32, err error) error {
	var rb *store.RollbackError
	switch {
	case errors.Is(err, store.ErrWrongKey):
		return fmt.Errorf("service %d: the key-encryption key in %s does not open the data key of the existing store on %s: "+
			"it is not the key this store was created with. Restore the original key-encryption key; "+
			"byoda never makes a new data key for existing data: %w", sid, p.cfg.KEKFile, p.storageURL, err)
	case errors.Is(err, store.ErrDataKeyMissing):
		return fmt.Errorf("service %d: the storage %s holds the log of this membership's store but not its data key, "+
			"without which nothing in it can be read: %w", sid, p.storageURL, err)
	case errors.As(err, &rb):
		found := fmt.Sprintf("the store's log on %s ends at segment %d", p.storageURL, rb.Found)
		if rb.Found == 0 {
			found = fmt.Sprintf("the storage %s holds no log of this membership's store", p.storageURL)
		}
		first, last := rb.Missing()
		missing := first + " to " + last
		if first == last {
			missing = last
		}
		return fmt.Errorf("service %d: %w: %s, but this pod had segment %d durable there before (high-water mark in %s): "+
			"the newest log segments were deleted, or the storage was restored from an older backup. "+
			"Restore %s (or the snapshot covering them) from a backup; "+
			"or, if the older data is what you want, start the pod once with --accept-restore",
			sid, store.ErrRolledBack, found, rb.Mark, rb.MarkFile, missing)
	}
	return fmt.Errorf("service %d: %w", sid, err)
}

// loadContract reads and parses a contract file, and verifies its
// signatures when it carries any. An unsigned contract from a local file is
// accepted, with a warning: whoever runs the pod chose the file.
func (p *Pod) loadContract(file string) (*contract.Contract, error) {
	raw, err := contract.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--contract %s: %w", file, err)
	}
	c, err := contract.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--contract %s: %w", file, err)
	}
	if c.Signatures.Service == nil && c.Signatures.Network == nil {
		p.log.Warn("Loaded an unsigned contract from a local file", "contract", file, "service", c.ServiceID)
		return c, nil
	}
	if c, err = contract.Verify(raw, p.verifier.Roots, p.cfg.Network, p.now()); err != nil {
		return nil, fmt.Errorf("--contract %s: signatures: %w", file, err)
	}
	return c, nil
}

// findMember returns the member id of service sid in the PKI directory:
// want when it is set, else the only member there is.
func findMember(dir *pki.Dir, sid uint32, want uuid.UUID) (uuid.UUID, error) {
	if want != uuid.Nil {
		return want, nil
	}
	ids, err := memberIDs(dir, sid)
	if err != nil {
		return uuid.Nil, err
	}
	switch len(ids) {
	case 0:
		return uuid.Nil, fmt.Errorf("no membership of service %d in %s: create one with 'byoda pki member --dir %s --service-id %d'",
			sid, dir.Path(), dir.Path(), sid)
	case 1:
		return ids[0], nil
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.String()
	}
	slices.Sort(names)
	return uuid.Nil, fmt.Errorf("%s holds %d members of service %d (%s): pick one with --member %d=<member id>",
		dir.Path(), len(ids), sid, strings.Join(names, ", "), sid)
}

// readPassword reads the owner's password: the file's content without a
// trailing newline. The file must be private (checkSecretFile) and the
// password at least MinPasswordLength characters.
func readPassword(file string) (string, error) {
	const flag = "--owner-password-file"
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	if err := checkSecretFile(flag, file); err != nil {
		return "", err
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s %s is empty: write the owner's password in it", flag, file)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength {
		return "", fmt.Errorf("%s %s: the owner's password has %d characters; want at least %d. "+
			"Make a random one with 'head -c 18 /dev/urandom | basenc --base64url > %s'", flag, file, n, MinPasswordLength, file)
	}
	return pw, nil
}

// readKEK reads the key-encryption key file: Fernet keys, one per line;
// blank lines and lines starting with # are skipped. The file must be
// private (checkSecretFile).
func readKEK(file string) (*store.FernetKEK, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no key-encryption key at %s: mount the DataPod's key-encryption key Secret there, "+
			"or for a new local pod create one with 'head -c 32 /dev/urandom | basenc --base64url > %s' (and keep it: "+
			"the data cannot be read without it)", file, file)
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if err := checkSecretFile("--kek-file", file); err != nil {
		return nil, err
	}
	var keys []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	kek, err := store.NewFernetKEK(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return kek, nil
}

// redactURL drops the query of a storage URL (endpoints are not secret,
// but nothing is gained by showing them) and any user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// Close releases a pod that is not going to be served: it closes its
// stores. Serve and Run close them themselves when they end.
func (p *Pod) Close() { p.closeStores() }

// closeStores closes every membership's store, waiting for writes in
// flight.
func (p *Pod) closeStores() {
	p.joins.mu.Lock()
	defer p.joins.mu.Unlock()
	p.joins.closed = true
	for _, m := range p.memberships() {
		m.end()
		if m.network != nil {
			m.network.client.Close()
		}
		if m.store != nil {
			if err := m.store.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
				p.log.Error("Closing store failed", "service", m.sid, "err", err)
			}
		}
	}
}
