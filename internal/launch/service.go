package launch

import (
	"log/slog"
	"time"

	"github.com/spf13/pflag"
)

// ServiceDirectory is what the command line of `byoda service` carries:
// where a service's directory finds its PKI, its contract and its registry,
// and where it listens. The byoda service command binds it; the operator
// builds the arguments of a Service's directory Deployment with Args.
type ServiceDirectory struct {
	// PKIDir holds the network's root certificate and the service's
	// members CA, data and TLS certificates with their keys, in the
	// layout of internal/pki Dir.
	PKIDir string
	// ServiceID is the service's id.
	ServiceID uint32
	// ContractFile is the contract the network countersigned.
	ContractFile string
	// DataDir holds the SQLite registry.
	DataDir string
	// Database is the registry's URL: sqlite:<path> or postgres://...;
	// empty means sqlite:<DataDir>/service-<sid>.db, or the environment
	// variable DatabaseEnv.
	Database string
	// Listen is the HTTPS address.
	Listen string
	// TLSCert and TLSKey are the server certificate's files; empty means
	// the service's TLS certificate (service.service-<sid>.<net>) from
	// PKIDir.
	TLSCert string
	TLSKey  string
	// RegistrationRate is how many anonymous member registrations per
	// second one client address may make; zero means the directory's
	// default, negative no limit.
	RegistrationRate float64
	// ContractReload is how often the directory reads ContractFile again
	// and takes up a newer version the network countersigned; zero is
	// DefaultContractReload, a negative value never.
	ContractReload time.Duration
	// LogLevel is the level of the directory's log.
	LogLevel slog.Level
}

// DefaultContractReload is how often a service directory reads its
// contract file again: a ConfigMap's update reaches a mounted file within a
// minute or so, and reading a file is cheap.
const DefaultContractReload = 10 * time.Second

// DatabaseEnv is the environment variable that may hold a directory's
// registry URL, so that a password stays off the command line.
const DatabaseEnv = "BYODA_DATABASE_URL"

// Bind defines the flags of `byoda service` on fs, bound to s's fields,
// and sets those fields to the flags' defaults.
func (s *ServiceDirectory) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&s.PKIDir, "pki-dir", "", "PKI directory with the network root and the service's members CA, data and TLS certificates (required)")
	fs.Uint32Var(&s.ServiceID, "service-id", 0, "the service's id (required)")
	fs.StringVar(&s.ContractFile, "contract", "", "the contract the network countersigned (required)")
	fs.StringVar(&s.DataDir, "data-dir", "", "directory for the SQLite registry (required)")
	fs.StringVar(&s.Database, "database", "", "registry URL: sqlite:<path> or postgres://... (default sqlite:<data-dir>/service-<sid>.db, or $"+DatabaseEnv+")")
	fs.StringVar(&s.Listen, "listen", ":443", "HTTPS address")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM server certificate (default: the service's TLS certificate in --pki-dir)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	fs.Float64Var(&s.RegistrationRate, "registration-rate", 0, "anonymous member registrations per second per client address (default 1, bursts of 20; negative: no limit)")
	fs.DurationVar(&s.ContractReload, "contract-reload-interval", 0, "how often to read --contract again and serve a newer version the network countersigned (default 10s; negative: never)")
	s.LogLevel = slog.LevelInfo
	fs.Var((*levelValue)(&s.LogLevel), "log-level", "log level: debug, info, warn or error")
}

// ServiceDirectoryRequired are the flags `byoda service` cannot run
// without.
var ServiceDirectoryRequired = []string{"pki-dir", "service-id", "contract", "data-dir"}

// Args returns the arguments (after the service subcommand) that make
// `byoda service` run with s: one flag for each field that differs from
// its default, in the order Bind defines them.
func (s ServiceDirectory) Args() []string {
	var bound ServiceDirectory
	fs := pflag.NewFlagSet("service", pflag.ContinueOnError)
	fs.SortFlags = false
	bound.Bind(fs)
	// The flags point into bound: give it s's values and read them back.
	bound = s
	return flagArgs(fs)
}

// ParseServiceDirectory reads the arguments of `byoda service` (without
// the subcommand) as the command does.
func ParseServiceDirectory(args []string) (ServiceDirectory, error) {
	var s ServiceDirectory
	fs := pflag.NewFlagSet("service", pflag.ContinueOnError)
	s.Bind(fs)
	if err := parseFlags(fs, "byoda service", args); err != nil {
		return ServiceDirectory{}, err
	}
	return s, nil
}
