package cli

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/internal/pki"
)

// pkiConfig holds the flags of the pki subcommands.
type pkiConfig struct {
	dir       string
	network   string
	serviceID uint32
}

func newPKICommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Create the CAs, keys and certificates of a byoda network in a directory",
		Long: `pki manages a PKI directory: the network's CAs, services with their CAs, and
accounts, members and apps with their TLS and data certificates. Keys are
written with mode 0600 and nothing is ever overwritten. See docs/pki.md for
the layout.`,
	}
	cmd.AddCommand(newPKIInitCommand(), newPKIServiceCommand(), newPKIAccountCommand(),
		newPKIMemberCommand(), newPKIAppCommand())
	return cmd
}

func addDirFlag(cmd *cobra.Command, cfg *pkiConfig) {
	cmd.Flags().StringVar(&cfg.dir, "dir", "", "PKI directory (required)")
	_ = cmd.MarkFlagRequired("dir")
}

func addServiceIDFlag(cmd *cobra.Command, cfg *pkiConfig) {
	cmd.Flags().Uint32Var(&cfg.serviceID, "service-id", 0, "service id, a number from 0 to 4294967295 (required)")
	_ = cmd.MarkFlagRequired("service-id")
}

func newPKIInitCommand() *cobra.Command {
	var cfg pkiConfig
	cmd := &cobra.Command{
		Use:   "init --network NET --dir DIR",
		Short: "Create the network CAs: root, accounts CA, services CA and network data certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := pki.InitNetwork(cfg.dir, cfg.network, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Created network %s in %s\n", d.Network(), d.Path())
			return err
		},
	}
	addDirFlag(cmd, &cfg)
	cmd.Flags().StringVar(&cfg.network, "network", "", "network domain, such as byoda.net (required)")
	_ = cmd.MarkFlagRequired("network")
	return cmd
}

func newPKIServiceCommand() *cobra.Command {
	var cfg pkiConfig
	cmd := &cobra.Command{
		Use:   "service --dir DIR --service-id SID",
		Short: "Create a service: service CA, members CA, apps CA, service TLS and service data certificates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := pki.OpenDir(cfg.dir)
			if err != nil {
				return err
			}
			if err := d.CreateService(cfg.serviceID, time.Now()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Created service %d in network %s\n", cfg.serviceID, d.Network())
			return err
		},
	}
	addDirFlag(cmd, &cfg)
	addServiceIDFlag(cmd, &cfg)
	return cmd
}

func newPKIAccountCommand() *cobra.Command {
	return newPKIIdentityCommand("account --dir DIR",
		"Create an account's key and certificates and print its new id", false,
		func(d *pki.Dir, _ uint32, now time.Time) (uuid.UUID, error) { return d.CreateAccount(now) })
}

func newPKIMemberCommand() *cobra.Command {
	return newPKIIdentityCommand("member --dir DIR --service-id SID",
		"Create a member of a service (key and certificates) and print its new id", true,
		(*pki.Dir).CreateMember)
}

func newPKIAppCommand() *cobra.Command {
	return newPKIIdentityCommand("app --dir DIR --service-id SID",
		"Create an app of a service (key and certificates) and print its new id", true,
		(*pki.Dir).CreateApp)
}

// newPKIIdentityCommand builds a command that creates one identity (an
// account, member or app) with a new id in a PKI directory and prints the id.
func newPKIIdentityCommand(use, short string, perService bool,
	create func(d *pki.Dir, sid uint32, now time.Time) (uuid.UUID, error)) *cobra.Command {
	var cfg pkiConfig
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := pki.OpenDir(cfg.dir)
			if err != nil {
				return err
			}
			id, err := create(d, cfg.serviceID, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), id)
			return err
		},
	}
	addDirFlag(cmd, &cfg)
	if perService {
		addServiceIDFlag(cmd, &cfg)
	}
	return cmd
}
