package cli

import (
	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/podruntime"
)

func newPodCommand() *cobra.Command {
	var p launch.Pod
	cmd := &cobra.Command{
		Use:   "pod --network NET --pki-dir DIR --account ID --data-dir DIR --contract FILE...",
		Short: "Run a person's data pod: contract-generated GraphQL, owner login and the mTLS peer port",
		Long: `pod runs one account's data pod. For each --contract it joins that service
with the membership the PKI directory holds for it, opens the membership's
encrypted store on --storage and serves the contract's GraphQL API at
/api/v1/data/service-<sid> on both ports:

  --listen       the owner port: HTTPS with the account certificate; owner login
                 at POST /api/v1/pod/authtoken, GET /api/v1/status, /metrics
  --peer-listen  the peer port: TLS 1.3 with a client certificate of the network

The key-encryption key (--kek-file) must exist; the pod never creates one.
Other pods are found by DNS (--dns-server, or the system resolver) on the
network's peer port (--network-peer-port). See docs/pod.md and docs/p2p.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newSlogLogger(p.LogLevel.String())
			if err != nil {
				return err
			}
			pod, err := podruntime.New(cmd.Context(), podruntime.Config{Pod: p, Logger: log})
			if err != nil {
				return err
			}
			return pod.Run(cmd.Context())
		},
	}
	p.Bind(cmd.Flags())
	for _, name := range launch.Required {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}
