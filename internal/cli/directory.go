package cli

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/directory/network"
	"github.com/byoda-go/byoda/internal/launch"
)

// databaseEnv names the environment variable that may hold a registry URL,
// so that a PostgreSQL password need not appear on a command line.
const databaseEnv = launch.DatabaseEnv

// directoryFlags are the flags of byoda directory that need parsing.
type directoryFlags struct {
	address  string
	logLevel string
}

func newDirectoryCommand() *cobra.Command {
	var (
		rc    network.RunConfig
		flags directoryFlags
	)
	cmd := &cobra.Command{
		Use:   "directory --pki-dir DIR --data-dir DIR",
		Short: "Run the network directory: account and service registration, CSR signing, contracts, DNS",
		Long: `directory runs a network's directory with the network CAs of --pki-dir
(byoda pki init). It serves the REST API over HTTPS on --listen with the
certificate of dir.<net> (--tls-cert and --tls-key, or a self-signed one made
in --data-dir) and answers DNS for the network's zone on --dns-listen.

The registry is a SQLite file in --data-dir unless --database (or the
BYODA_DATABASE_URL environment variable) names another: sqlite:<path> or
postgres://user:password@host:port/db. See docs/directory.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.apply(&rc); err != nil {
				return err
			}
			return network.Run(cmd.Context(), rc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rc.PKIDir, "pki-dir", "", "PKI directory with the network's CAs, as 'byoda pki init' writes it (required)")
	f.StringVar(&rc.DataDir, "data-dir", "", "directory for the SQLite registry and a generated TLS certificate (required)")
	f.StringVar(&rc.Database, "database", "", "registry URL: sqlite:<path> or postgres://... (default sqlite:<data-dir>/directory.db, or $"+databaseEnv+")")
	f.StringVar(&rc.Listen, "listen", ":443", "HTTPS address")
	f.StringVar(&rc.DNSListen, "dns-listen", ":53", "DNS address, UDP and TCP (empty: no DNS server)")
	f.StringVar(&rc.TLSCert, "tls-cert", "", "PEM certificate of dir.<net> (default: a self-signed one in --data-dir)")
	f.StringVar(&rc.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	f.StringVar(&flags.address, "address", "", "public address of the directory, published as dir.<net>, the zone's name server")
	f.DurationVar(&rc.DNSTTL, "dns-ttl", 0, "TTL of DNS answers (default 1m)")
	f.Float64Var(&rc.DNSRate, "dns-rate", 0, "DNS queries per second per client address (default 100; negative: no limit)")
	f.Float64Var(&rc.RegistrationRate, "registration-rate", 0, "anonymous registrations per second per client address (default 1, bursts of 20; negative: no limit)")
	f.DurationVar(&rc.SyncInterval, "dns-sync-interval", 0, "how often DNS reads changes other directories made in a shared database (default 250ms)")
	f.StringVar(&flags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, name := range []string{"pki-dir", "data-dir"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func (f *directoryFlags) apply(rc *network.RunConfig) error {
	if f.address != "" {
		addr, err := netip.ParseAddr(f.address)
		if err != nil {
			return fmt.Errorf("--address %q: want an IP address: %w", f.address, err)
		}
		rc.Address = addr
	}
	if rc.Database == "" {
		rc.Database = os.Getenv(databaseEnv)
	}
	log, err := newSlogLogger(f.logLevel)
	if err != nil {
		return err
	}
	rc.Log = log
	return nil
}
