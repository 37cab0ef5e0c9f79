package podruntime

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// Defaults of Config.
const (
	DefaultTokenTTL    = time.Hour
	DefaultLoginBurst  = 10
	DefaultLoginRefill = 6 * time.Second
	// MaxBodyBytes is the largest request body either port accepts.
	MaxBodyBytes = 1 << 20
	// maxLoginBodyBytes bounds a login request, which is a few short
	// strings.
	maxLoginBodyBytes = 8 << 10
)

// Config is what a pod runs with: its network and identity, where its keys,
// contracts and data are, and where it listens. The byoda pod command fills
// it from flags.
type Config struct {
	// Network is the network domain, such as byoda.net. It must match the
	// PKI directory's.
	Network string
	// PKIDir is a directory in the layout the byoda pki command writes. The
	// pod reads the network root, the account's TLS key and the TLS key of
	// each membership from it.
	PKIDir string
	// AccountID is the pod's account.
	AccountID uuid.UUID
	// DataDir holds what the pod keeps locally: by default the key
	// encryption key and the local object store.
	DataDir string
	// StorageURL is the object store (file:///abs/dir or
	// s3://bucket/prefix?endpoint=...&region=...); default
	// file://<DataDir>/objects.
	StorageURL string
	// KEKFile holds the key-encryption key that wraps each store's data
	// key: one Fernet key (base64 of 32 bytes) per line, the first used to
	// wrap and all tried to unwrap. Default <DataDir>/kek. It must exist.
	KEKFile string
	// Listen and PeerListen are the addresses of the owner and the peer
	// port.
	Listen     string
	PeerListen string
	// OwnerPasswordFile holds the owner's password; a trailing newline is
	// not part of it.
	OwnerPasswordFile string
	// ContractFiles are the contracts of the services the pod joins.
	ContractFiles []string
	// Members picks the member id per service when the PKI directory holds
	// more than one member of it.
	Members map[uint32]uuid.UUID

	// Logger receives the pod's structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TokenTTL is how long an owner token is valid; default DefaultTokenTTL.
	TokenTTL time.Duration
	// LoginBurst and LoginRefill tune the login rate limit per client
	// address: LoginBurst failed attempts at once, then one per
	// LoginRefill. Defaults DefaultLoginBurst and DefaultLoginRefill.
	LoginBurst  int
	LoginRefill time.Duration
}

// normalize checks the config and fills in defaults.
func (c *Config) normalize() error {
	var errs []error
	need := func(v, flag string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", flag))
		}
	}
	need(c.Network, "--network")
	need(c.PKIDir, "--pki-dir")
	need(c.DataDir, "--data-dir")
	need(c.Listen, "--listen")
	need(c.PeerListen, "--peer-listen")
	need(c.OwnerPasswordFile, "--owner-password-file")
	if c.AccountID == uuid.Nil {
		errs = append(errs, errors.New("--account is required: the account id the PKI directory holds (byoda pki account prints it)"))
	}
	if len(c.ContractFiles) == 0 {
		errs = append(errs, errors.New("--contract is required: give the contract of each service to join"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	c.DataDir = dataDir
	if c.StorageURL == "" {
		c.StorageURL = (&url.URL{Scheme: "file", Path: filepath.Join(dataDir, "objects")}).String()
	}
	if c.KEKFile == "" {
		c.KEKFile = filepath.Join(dataDir, "kek")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = DefaultLoginBurst
	}
	if c.LoginRefill <= 0 {
		c.LoginRefill = DefaultLoginRefill
	}
	return nil
}
