package pki

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ErrExists is returned (wrapped) when a write would replace an existing key or
// certificate; the PKI directory never regenerates anything silently.
var ErrExists = errors.New("already exists")

// File modes of the PKI directory.
const (
	dirMode  = 0o700
	keyMode  = 0o600
	certMode = 0o644
)

// NetworkFile is the file of a PKI directory that names its network; see
// NetworkJSON.
const NetworkFile = "network.json"

// NetworkJSON is the content of a PKI directory's NetworkFile for network.
func NetworkJSON(network string) []byte {
	return []byte(`{"network": ` + strconv.Quote(network) + "}\n")
}

// networkConfig is the content of DIR/network.json.
type networkConfig struct {
	Network string `json:"network"`
}

// Dir is a PKI directory as laid out in the package documentation.
type Dir struct {
	path    string
	network string
}

// OpenDir opens a PKI directory created by InitNetwork, reading its network
// name from network.json.
func OpenDir(dir string) (*Dir, error) {
	data, err := os.ReadFile(filepath.Join(dir, NetworkFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open PKI directory %s: no %s; run 'byoda pki init' first: %w", dir, NetworkFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open PKI directory: %w", err)
	}
	var cfg networkConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("open PKI directory: %s: %w", filepath.Join(dir, NetworkFile), err)
	}
	if err := ValidateNetwork(cfg.Network); err != nil {
		return nil, fmt.Errorf("open PKI directory: %s: %w", filepath.Join(dir, NetworkFile), err)
	}
	return &Dir{path: dir, network: cfg.Network}, nil
}

// InitNetwork creates a PKI directory for network in dir: the root CA, the
// accounts CA, the services CA and the network data certificate. It refuses a
// directory that already holds a network.
func InitNetwork(dir, network string, now time.Time) (*Dir, error) {
	if err := ValidateNetwork(network); err != nil {
		return nil, err
	}
	d := &Dir{path: dir, network: network}
	if _, err := os.Lstat(filepath.Join(dir, NetworkFile)); err == nil {
		return nil, fmt.Errorf("init network: %s: network %w; remove the directory to start over",
			filepath.Join(dir, NetworkFile), ErrExists)
	}
	subjects := []Subject{
		{Kind: KindRootCA, Network: network},
		{Kind: KindAccountsCA, Network: network},
		{Kind: KindServicesCA, Network: network},
		{Kind: KindNetworkData, Network: network},
	}
	if err := d.checkFree(subjects); err != nil {
		return nil, fmt.Errorf("init network: %w", err)
	}
	root, err := NewRootCA(network, now)
	if err != nil {
		return nil, fmt.Errorf("init network: %w", err)
	}
	pairs := []*KeyPair{root.KeyPair()}
	for _, s := range subjects[1:] {
		kp, err := root.Issue(s.Name(), now)
		if err != nil {
			return nil, fmt.Errorf("init network: %w", err)
		}
		pairs = append(pairs, kp)
	}
	for i, s := range subjects {
		if err := d.save(s, pairs[i]); err != nil {
			return nil, fmt.Errorf("init network: %w", err)
		}
	}
	// network.json last: a directory without it is not a network yet.
	if err := writeNew(filepath.Join(dir, NetworkFile), NetworkJSON(network), certMode); err != nil {
		return nil, fmt.Errorf("init network: %w", err)
	}
	return d, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// Network returns the network domain the directory belongs to.
func (d *Dir) Network() string { return d.network }

// Paths returns where the certificate chain and the key of s live. The layout
// is documented in the package documentation and docs/pki.md.
func (d *Dir) Paths(s Subject) (certFile, keyFile string) {
	certRel, keyRel := RelPaths(s)
	return filepath.Join(d.path, filepath.FromSlash(certRel)), filepath.Join(d.path, filepath.FromSlash(keyRel))
}

// RelPaths returns where the certificate chain and the key of s live
// relative to a PKI directory, with slashes: what a Kubernetes projected
// volume needs to assemble a directory from Secrets.
func RelPaths(s Subject) (certFile, keyFile string) {
	var rel string
	sid := "service-" + strconv.FormatUint(uint64(s.ServiceID), 10)
	switch s.Kind {
	case KindRootCA:
		rel = "network/root-ca"
	case KindAccountsCA:
		rel = "network/accounts-ca"
	case KindServicesCA:
		rel = "network/services-ca"
	case KindNetworkData:
		rel = "network/network-data"
	case KindServiceCA:
		rel = sid + "/service-ca"
	case KindMembersCA:
		rel = sid + "/members-ca"
	case KindAppsCA:
		rel = sid + "/apps-ca"
	case KindService:
		rel = sid + "/service"
	case KindServiceData:
		rel = sid + "/service-data"
	case KindAccount:
		rel = "account-" + s.ID + "/account"
	case KindAccountData:
		rel = "account-" + s.ID + "/account-data"
	case KindMember:
		rel = sid + "/member-" + s.ID + "/member"
	case KindMemberData:
		rel = sid + "/member-" + s.ID + "/member-data"
	case KindApp:
		rel = sid + "/app-" + s.ID + "/app"
	case KindAppData:
		rel = sid + "/app-" + s.ID + "/app-data"
	default:
		rel = "invalid"
	}
	return rel + ".crt", rel + ".key"
}

// Roots returns a pool holding the network's root CA.
func (d *Dir) Roots() (*x509.CertPool, error) {
	root, err := d.RootCertificate()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return pool, nil
}

// RootCertificate returns the network's root CA certificate.
func (d *Dir) RootCertificate() (*x509.Certificate, error) {
	s := Subject{Kind: KindRootCA, Network: d.network}
	certFile, _ := d.Paths(s)
	certs, err := readCertificates(certFile)
	if err != nil {
		return nil, fmt.Errorf("load root CA: %w", err)
	}
	root := certs[0]
	if len(certs) != 1 || root.Subject.CommonName != s.Name() || !root.IsCA {
		return nil, fmt.Errorf("load root CA: %s does not hold exactly the CA certificate %s", certFile, s.Name())
	}
	return root, nil
}

// KeyPair loads the key and certificate chain of s, checking that the
// certificate is the one for s and that the key belongs to it.
func (d *Dir) KeyPair(s Subject) (*KeyPair, error) {
	if s.Network != d.network {
		return nil, fmt.Errorf("load %s: PKI directory %s is for network %q", s.Name(), d.path, d.network)
	}
	certFile, keyFile := d.Paths(s)
	chain, err := readCertificates(certFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", s.Name(), err)
	}
	if cn := chain[0].Subject.CommonName; cn != s.Name() {
		return nil, fmt.Errorf("load %s: %s holds a certificate for %q", s.Name(), certFile, cn)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", s.Name(), err)
	}
	key, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %s: %w", s.Name(), keyFile, err)
	}
	kp, err := NewKeyPair(key, chain)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", s.Name(), err)
	}
	return kp, nil
}

// CA loads the CA s.
func (d *Dir) CA(s Subject) (*CA, error) {
	if !s.Kind.IsCA() {
		return nil, fmt.Errorf("load CA: %s is not a CA name", s.Name())
	}
	kp, err := d.KeyPair(s)
	if err != nil {
		return nil, err
	}
	return NewCA(kp)
}

// NetworkDataKey loads the network data key, which countersigns contracts.
func (d *Dir) NetworkDataKey() (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindNetworkData, Network: d.network})
}

// ServiceDataKey loads the data key of service sid, which signs its contracts.
func (d *Dir) ServiceDataKey(sid uint32) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindServiceData, ServiceID: sid, Network: d.network})
}

// ServiceKey loads the TLS key of service sid.
func (d *Dir) ServiceKey(sid uint32) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindService, ServiceID: sid, Network: d.network})
}

// AccountKey loads the TLS key of account aid.
func (d *Dir) AccountKey(aid uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindAccount, ID: aid.String(), Network: d.network})
}

// AccountDataKey loads the data key of account aid.
func (d *Dir) AccountDataKey(aid uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindAccountData, ID: aid.String(), Network: d.network})
}

// MemberKey loads the TLS key of member mid of service sid.
func (d *Dir) MemberKey(sid uint32, mid uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindMember, ID: mid.String(), ServiceID: sid, Network: d.network})
}

// MemberDataKey loads the data key of member mid of service sid.
func (d *Dir) MemberDataKey(sid uint32, mid uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindMemberData, ID: mid.String(), ServiceID: sid, Network: d.network})
}

// AppKey loads the TLS key of app appID of service sid.
func (d *Dir) AppKey(sid uint32, appID uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindApp, ID: appID.String(), ServiceID: sid, Network: d.network})
}

// AppDataKey loads the data key of app appID of service sid.
func (d *Dir) AppDataKey(sid uint32, appID uuid.UUID) (*KeyPair, error) {
	return d.KeyPair(Subject{Kind: KindAppData, ID: appID.String(), ServiceID: sid, Network: d.network})
}

// CreateService creates service sid: its service CA (signed by the services
// CA), members CA, apps CA, service TLS and service data certificates (signed
// by the service CA). It refuses a service that already exists.
func (d *Dir) CreateService(sid uint32, now time.Time) error {
	n := d.network
	serviceCA := Subject{Kind: KindServiceCA, ServiceID: sid, Network: n}
	below := []Subject{
		{Kind: KindMembersCA, ServiceID: sid, Network: n},
		{Kind: KindAppsCA, ServiceID: sid, Network: n},
		{Kind: KindService, ServiceID: sid, Network: n},
		{Kind: KindServiceData, ServiceID: sid, Network: n},
	}
	if err := d.checkFree(append([]Subject{serviceCA}, below...)); err != nil {
		return fmt.Errorf("create service %d: the service exists in %s: %w", sid, d.path, err)
	}
	services, err := d.CA(Subject{Kind: KindServicesCA, Network: n})
	if err != nil {
		return fmt.Errorf("create service %d: %w", sid, err)
	}
	kp, err := services.Issue(serviceCA.Name(), now)
	if err != nil {
		return fmt.Errorf("create service %d: %w", sid, err)
	}
	ca, err := NewCA(kp)
	if err != nil {
		return fmt.Errorf("create service %d: %w", sid, err)
	}
	pairs := []*KeyPair{kp}
	for _, s := range below {
		kp, err := ca.Issue(s.Name(), now)
		if err != nil {
			return fmt.Errorf("create service %d: %w", sid, err)
		}
		pairs = append(pairs, kp)
	}
	for i, s := range append([]Subject{serviceCA}, below...) {
		if err := d.save(s, pairs[i]); err != nil {
			return fmt.Errorf("create service %d: %w", sid, err)
		}
	}
	return nil
}

// CreateAccount creates a new account with a random id: its TLS and data
// certificates, signed by the accounts CA.
func (d *Dir) CreateAccount(now time.Time) (uuid.UUID, error) {
	aid := uuid.New()
	ca := Subject{Kind: KindAccountsCA, Network: d.network}
	err := d.createLeaves(ca, now,
		Subject{Kind: KindAccount, ID: aid.String(), Network: d.network},
		Subject{Kind: KindAccountData, ID: aid.String(), Network: d.network})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create account: %w", err)
	}
	return aid, nil
}

// CreateMember creates a new member of service sid with a random id: its TLS
// and data certificates, signed by the service's members CA.
func (d *Dir) CreateMember(sid uint32, now time.Time) (uuid.UUID, error) {
	mid := uuid.New()
	ca := Subject{Kind: KindMembersCA, ServiceID: sid, Network: d.network}
	err := d.createLeaves(ca, now,
		Subject{Kind: KindMember, ID: mid.String(), ServiceID: sid, Network: d.network},
		Subject{Kind: KindMemberData, ID: mid.String(), ServiceID: sid, Network: d.network})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create member of service %d: %w", sid, err)
	}
	return mid, nil
}

// CreateApp creates a new app of service sid with a random id: its TLS and data
// certificates, signed by the service's apps CA.
func (d *Dir) CreateApp(sid uint32, now time.Time) (uuid.UUID, error) {
	appID := uuid.New()
	ca := Subject{Kind: KindAppsCA, ServiceID: sid, Network: d.network}
	err := d.createLeaves(ca, now,
		Subject{Kind: KindApp, ID: appID.String(), ServiceID: sid, Network: d.network},
		Subject{Kind: KindAppData, ID: appID.String(), ServiceID: sid, Network: d.network})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create app of service %d: %w", sid, err)
	}
	return appID, nil
}

func (d *Dir) createLeaves(caSubject Subject, now time.Time, leaves ...Subject) error {
	if err := d.checkFree(leaves); err != nil {
		return err
	}
	ca, err := d.CA(caSubject)
	if errors.Is(err, fs.ErrNotExist) && caSubject.Kind.hasServiceID() {
		return fmt.Errorf("service %d does not exist in %s; create it first with 'byoda pki service': %w",
			caSubject.ServiceID, d.path, err)
	}
	if err != nil {
		return err
	}
	for _, s := range leaves {
		kp, err := ca.Issue(s.Name(), now)
		if err != nil {
			return err
		}
		if err := d.save(s, kp); err != nil {
			return err
		}
	}
	return nil
}

// checkFree refuses to start when any file of subjects exists, so that a
// second run fails before it creates anything.
func (d *Dir) checkFree(subjects []Subject) error {
	for _, s := range subjects {
		certFile, keyFile := d.Paths(s)
		for _, f := range []string{keyFile, certFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%s: %w", f, ErrExists)
			}
		}
	}
	return nil
}

// Save writes the key and certificate chain of s into the directory, in
// its layout: what a pod stores of the certificates a directory signed for
// the keys it made itself. The chain must be of s. It never replaces a file
// (ErrExists): a key once saved is the key of that name.
func (d *Dir) Save(s Subject, kp *KeyPair) error {
	if s.Network != d.network {
		return fmt.Errorf("save %s: PKI directory %s is for network %q", s.Name(), d.path, d.network)
	}
	if cn := kp.Cert.Subject.CommonName; cn != s.Name() {
		return fmt.Errorf("save %s: the certificate is for %q", s.Name(), cn)
	}
	if err := d.save(s, kp); err != nil {
		return fmt.Errorf("save %s: %w", s.Name(), err)
	}
	return nil
}

// save writes the key (0600) and then the chain of s.
func (d *Dir) save(s Subject, kp *KeyPair) error {
	certFile, keyFile := d.Paths(s)
	key, err := EncodeKey(kp.Key)
	if err != nil {
		return err
	}
	if err := writeNew(keyFile, key, keyMode); err != nil {
		return err
	}
	return writeNew(certFile, EncodeCertificates(kp.Chain...), certMode)
}

func readCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return certs, nil
}

// writeNew writes file atomically and never replaces an existing file: it
// writes a temporary file in the same directory, syncs it, and hard-links it
// into place, which fails if file exists. Missing directories are created with
// mode 0700.
func writeNew(file string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), file); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", file, ErrExists)
		}
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
