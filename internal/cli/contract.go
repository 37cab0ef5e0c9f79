package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

// contractConfig holds the flags of the contract subcommands.
type contractConfig struct {
	dir string
	as  string
}

// The signers byoda contract sign can sign as.
const (
	signAsBoth    = "both"
	signAsService = "service"
	signAsNetwork = "network"
)

func newContractCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Validate, sign and verify service contracts",
		Long: `contract checks service contracts against the contract format, signs them
with the keys of a PKI directory and verifies their signatures. Errors name
the JSON pointer of the problem and say what is expected.`,
	}
	cmd.AddCommand(newContractValidateCommand(), newContractSignCommand(),
		newContractVerifyCommand(), newContractSchemaCommand())
	return cmd
}

func newContractValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check contracts; print a summary of each valid one and every error of the others",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, name := range args {
				c, err := loadContract(name)
				if err != nil {
					reportError(cmd.ErrOrStderr(), name, err)
					failed = true
					continue
				}
				for _, w := range c.Warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %s\n", name, w)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, service %d, version %d, %d classes\n",
					name, c.Name, c.ServiceID, c.Version, len(c.Classes))
			}
			if failed {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

func newContractSignCommand() *cobra.Command {
	cfg := contractConfig{as: signAsBoth}
	cmd := &cobra.Command{
		Use:   "sign --dir DIR [--as both|service|network] FILE",
		Short: "Sign a contract as its service and then as the network; write it to standard output",
		Long: `sign signs a contract with the keys of a PKI directory: as the service, with
data.service-data-<sid>.<net>, and then as the network, with
network.network-data.<net>. --as service or --as network does one of the
two, for when the service and the network sign in different places.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.as != signAsBoth && cfg.as != signAsService && cfg.as != signAsNetwork {
				return fmt.Errorf("--as %q: want both, service or network", cfg.as)
			}
			d, err := pki.OpenDir(cfg.dir)
			if err != nil {
				return err
			}
			raw, err := contract.ReadFile(args[0])
			if err == nil {
				raw, err = signContract(d, raw, cfg.as, time.Now())
			}
			if err != nil {
				reportError(cmd.ErrOrStderr(), args[0], err)
				return &ExitError{Code: 1}
			}
			_, err = cmd.OutOrStdout().Write(append(raw, '\n'))
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.dir, "dir", "", "PKI directory with the service's and the network's data keys (required)")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().StringVar(&cfg.as, "as", signAsBoth, "sign as both, service or network")
	return cmd
}

// signContract signs raw with the data keys of d.
func signContract(d *pki.Dir, raw []byte, as string, now time.Time) ([]byte, error) {
	c, err := contract.Parse(raw)
	if err != nil {
		return nil, err
	}
	if as == signAsBoth || as == signAsService {
		kp, err := d.ServiceDataKey(c.ServiceID)
		if err != nil {
			return nil, err
		}
		if raw, err = contract.SignAsService(raw, signer(kp), now); err != nil {
			return nil, err
		}
	}
	if as == signAsBoth || as == signAsNetwork {
		kp, err := d.NetworkDataKey()
		if err != nil {
			return nil, err
		}
		if raw, err = contract.SignAsNetwork(raw, signer(kp), now); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

func signer(kp *pki.KeyPair) contract.Signer {
	chain := kp.Chain
	if len(chain) == 0 {
		chain = []*x509.Certificate{kp.Cert}
	}
	return contract.Signer{Key: kp.Key, Chain: chain}
}

func newContractVerifyCommand() *cobra.Command {
	var cfg contractConfig
	cmd := &cobra.Command{
		Use:   "verify --dir DIR FILE",
		Short: "Verify a contract's service and network signatures against the network root of a PKI directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := pki.OpenDir(cfg.dir)
			if err != nil {
				return err
			}
			roots, err := d.Roots()
			if err != nil {
				return err
			}
			raw, err := contract.ReadFile(args[0])
			var c *contract.Contract
			if err == nil {
				c, err = contract.Verify(raw, roots, d.Network(), time.Now())
			}
			if err != nil {
				reportError(cmd.ErrOrStderr(), args[0], err)
				return &ExitError{Code: 1}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: signed by %s at %s and %s at %s\n", args[0],
				c.Signatures.Service.Certificate, c.Signatures.Service.Timestamp,
				c.Signatures.Network.Certificate, c.Signatures.Network.Timestamp)
			return err
		},
	}
	cmd.Flags().StringVar(&cfg.dir, "dir", "", "PKI directory with the network's root certificate (required)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newContractSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the contract file, for editors and other tools",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(contract.JSONSchema())
			return err
		},
	}
}

func loadContract(name string) (*contract.Contract, error) {
	raw, err := contract.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return contract.Parse(raw)
}

// reportError writes err to w, one line per contract error, each prefixed
// with the file name.
func reportError(w io.Writer, name string, err error) {
	var errs contract.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(w, "%s: %s\n", name, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
}
