// Package cli assembles the byoda command line: one root command with a
// subcommand per part of the system. Each subcommand parses flags into a config
// and hands it to the package that does the work; no logic lives here.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/internal/version"
)

// ExitError carries a process exit code through cobra. Commands return it when
// the failure has already been reported (for example, validation errors printed
// one per line) and only the code is left to set.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode maps an error returned by the root command to a process exit code:
// an ExitError's own code, else 1.
func ExitCode(err error) int {
	if ee, ok := errors.AsType[*ExitError](err); ok {
		return ee.Code
	}
	return 1
}

// Reported says whether err was already reported to the user, so main only
// sets the exit code.
func Reported(err error) bool {
	_, ok := errors.AsType[*ExitError](err)
	return ok
}

// NewRootCommand returns the byoda command with all its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "byoda",
		Short: "Bring your own data & algorithms: a peer-to-peer graph database for social apps",
		Long: `byoda runs every part of a BYODA network from one binary: the Kubernetes
operator, a person's data pod, the network and service directories, and the
tools to manage their contracts and certificates.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(newPKICommand())
	root.AddCommand(newContractCommand())
	root.AddCommand(newManagerCommand())
	root.AddCommand(newPodCommand())
	root.AddCommand(newDevnetCommand())
	root.AddCommand(newDirectoryCommand())
	root.AddCommand(newServiceCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
