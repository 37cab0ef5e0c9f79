package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/directory/service"
	"github.com/byoda-go/byoda/internal/launch"
)

func newServiceCommand() *cobra.Command {
	var sd launch.ServiceDirectory
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
			log, err := newSlogLogger(sd.LogLevel.String())
			if err != nil {
				return err
			}
			if sd.Database == "" {
				sd.Database = os.Getenv(launch.DatabaseEnv)
			}
			return service.Run(cmd.Context(), service.RunConfig{
				PKIDir:           sd.PKIDir,
				ServiceID:        sd.ServiceID,
				ContractFile:     sd.ContractFile,
				DataDir:          sd.DataDir,
				Database:         sd.Database,
				Listen:           sd.Listen,
				TLSCert:          sd.TLSCert,
				TLSKey:           sd.TLSKey,
				RegistrationRate: sd.RegistrationRate,
				ContractReload:   sd.ContractReload,
				Log:              log,
			})
		},
	}
	sd.Bind(cmd.Flags())
	for _, name := range launch.ServiceDirectoryRequired {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
