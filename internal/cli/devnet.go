package cli

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/internal/devnet"
)

func newDevnetCommand() *cobra.Command {
	var (
		opts     devnet.Options
		first    string
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a whole byoda network on loopback: DNS, the CAs, the demo service and four data pods",
		Long: `devnet runs a local byoda network with embedded defaults: an authoritative
DNS server for the network's zone, the network's CAs in a local PKI
directory, the demo service (addressbook-demo, service 4711) and the pods of
Suzie, Mike, Jane and Alice, each on its own loopback address with the
network's ports. The first run creates everything under --dir and seeds the
demo data; later runs reuse it. It prints each pod's owner URL, login and
commands to try, and writes --dir/devnet.json for scripts. Ctrl-C stops it.
See docs/p2p.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := netip.ParseAddr(first)
			if err != nil || !addr.IsLoopback() {
				return fmt.Errorf("--first-address %q: want a loopback address such as 127.0.0.2", first)
			}
			opts.FirstAddress = addr
			if opts.Log, err = newSlogLogger(logLevel); err != nil {
				return err
			}
			opts.Out = cmd.OutOrStdout()
			return devnet.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Dir, "dir", devnet.DefaultDir, "state directory: PKI, the pods' data and logs, devnet.json")
	f.StringVar(&opts.Network, "network", devnet.DefaultNetwork, "network domain")
	f.StringVar(&first, "first-address", devnet.DefaultFirstAddress.String(), "loopback address of the first pod; the others follow")
	f.IntVar(&opts.OwnerPort, "owner-port", devnet.DefaultOwnerPort, "the owner port of every pod")
	f.IntVar(&opts.PeerPort, "peer-port", devnet.DefaultPeerPort, "the network's peer port, on every pod")
	f.StringVar(&opts.DNSListen, "dns-listen", devnet.DefaultDNS, "address of the network's DNS server (UDP and TCP)")
	f.StringVar(&logLevel, "log-level", "info", "log level of devnet's own log: debug, info, warn or error (the pods log to --dir/logs)")
	return cmd
}
