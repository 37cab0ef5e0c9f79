package podruntime

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/requestid"
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
	// MinPasswordLength is the shortest owner password the pod accepts, in
	// characters.
	MinPasswordLength = 12
)

// Config is what a pod runs with: its network and identity, where its keys,
// contracts and data are, and where it listens. The byoda pod command fills
// it from flags.
type Config struct {
	// Pod is what the pod's command line carries: network, identity,
	// files, storage, listeners, limits (see internal/launch, which the
	// operator builds the command line with).
	launch.Pod

	// Logger receives the pod's structured logs; nil discards them. The
	// pod wraps its handler with requestid.LogHandler itself, so that a
	// record logged for a request has its request_id: pass a logger
	// without it.
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
	if len(c.ContractFiles) == 0 && len(c.Joins) == 0 {
		errs = append(errs, errors.New("--contract or --join is required: give the contract of each service to join, or its directory"))
	}
	if len(c.Joins) > 0 && c.Directory == "" {
		errs = append(errs, errors.New("--join needs --directory: the network directory registers the member's name"))
	}
	if c.Address != "" {
		if _, err := directory.ParseAddress(c.Address); err != nil {
			errs = append(errs, fmt.Errorf("--address: %w", err))
		}
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
	if c.PeerPort == 0 {
		c.PeerPort = launch.DefaultPeerPort
	}
	if c.IdleRelease == 0 {
		c.IdleRelease = launch.DefaultIdleRelease
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// Every record logged with a request's context names the request.
	c.Logger = slog.New(requestid.LogHandler(c.Logger.Handler()))
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
	return c.normalizeLimits()
}

// normalizeLimits checks the connection limits and fills in their
// defaults.
func (c *Config) normalizeLimits() error {
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns(openFileLimit())
	}
	if c.MaxConnsPerAddress <= 0 {
		c.MaxConnsPerAddress = defaultMaxConnsPerAddress(c.MaxConns)
	}
	if c.MaxConnsPerAddress > c.MaxConns {
		return fmt.Errorf("--max-conns-per-address %d is more than --max-conns %d: want at most that, and less for one address not to take the whole port",
			c.MaxConnsPerAddress, c.MaxConns)
	}
	return nil
}
