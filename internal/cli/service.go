package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/directory/service"
)

func newServiceCommand() *cobra.Command {
	var (
		rc       service.RunConfig
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "service --pki-dir DIR --service-id SID --contract FILE --data-dir DIR",
		Short: "Run a service's directory: its contract, member CSR signing, member-data certificates, search",
		Long: `service runs the directory of one service: it publishes the contract the
network countersigned (--contract), signs members' CSRs with the service's
members CA from --pki-dir, keeps their member-data certificates and answers
searches over the fields the contract lets the service search. It serves
HTTPS on --listen with the service's TLS certificate.

The registry is a SQLite file in --data-dir unless --database (or the
BYODA_DATABASE_URL environment variable) names another. See docs/directory.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newSlogLogger(logLevel)
			if err != nil {
				return err
			}
			rc.Log = log
			if rc.Database == "" {
				rc.Database = os.Getenv(databaseEnv)
			}
			return service.Run(cmd.Context(), rc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rc.PKIDir, "pki-dir", "", "PKI directory with the network root and the service's members CA, data and TLS certificates (required)")
	f.Uint32Var(&rc.ServiceID, "service-id", 0, "the service's id (required)")
	f.StringVar(&rc.ContractFile, "contract", "", "the contract the network countersigned (required)")
	f.StringVar(&rc.DataDir, "data-dir", "", "directory for the SQLite registry (required)")
	f.StringVar(&rc.Database, "database", "", "registry URL: sqlite:<path> or postgres://... (default sqlite:<data-dir>/service-<sid>.db, or $"+databaseEnv+")")
	f.StringVar(&rc.Listen, "listen", ":443", "HTTPS address")
	f.StringVar(&rc.TLSCert, "tls-cert", "", "PEM server certificate (default: the service's TLS certificate in --pki-dir)")
	f.StringVar(&rc.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	f.Float64Var(&rc.RegistrationRate, "registration-rate", 0, "anonymous member registrations per second per client address (default 1, bursts of 20; negative: no limit)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, name := range []string{"pki-dir", "service-id", "contract", "data-dir"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
