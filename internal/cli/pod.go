package cli

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/byoda-go/byoda/podruntime"
)

// podFlags holds the flags of byoda pod that need parsing before they go
// into podruntime.Config.
type podFlags struct {
	account  string
	members  []string
	logLevel string
}

func newPodCommand() *cobra.Command {
	var (
		cfg   podruntime.Config
		flags podFlags
	)
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
See docs/pod.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.apply(&cfg); err != nil {
				return err
			}
			pod, err := podruntime.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return pod.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Network, "network", "", "network domain, such as byoda.net (required)")
	f.StringVar(&cfg.PKIDir, "pki-dir", "", "PKI directory in the layout 'byoda pki' writes (required)")
	f.StringVar(&flags.account, "account", "", "account id of the pod (required)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the pod's local data: the default key-encryption key and local storage (required)")
	f.StringVar(&cfg.StorageURL, "storage", "", "object store: file:///abs/dir or s3://bucket/prefix?endpoint=URL&region=R (default file://<data-dir>/objects)")
	f.StringVar(&cfg.KEKFile, "kek-file", "", "key-encryption key file: Fernet keys, one per line, the first wraps (default <data-dir>/kek)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "address of the owner port")
	f.StringVar(&cfg.PeerListen, "peer-listen", "127.0.0.1:8444", "address of the peer port")
	f.StringVar(&cfg.OwnerPasswordFile, "owner-password-file", "", "file holding the owner's password (required)")
	f.StringArrayVar(&cfg.ContractFiles, "contract", nil, "contract of a service to join (repeatable, at least one)")
	f.StringArrayVar(&flags.members, "member", nil, "SID=MID: the member id to use for service SID when the PKI directory holds several (repeatable)")
	f.StringVar(&flags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, name := range []string{"network", "pki-dir", "account", "data-dir", "owner-password-file", "contract"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// apply parses the flags that need it into cfg and sets up logging.
func (f *podFlags) apply(cfg *podruntime.Config) error {
	id, err := uuid.Parse(f.account)
	if err != nil {
		return fmt.Errorf("--account %q: want a UUID: %w", f.account, err)
	}
	cfg.AccountID = id
	for _, m := range f.members {
		sidText, midText, ok := strings.Cut(m, "=")
		sid, err := strconv.ParseUint(sidText, 10, 32)
		if !ok || err != nil {
			return fmt.Errorf("--member %q: want SID=MID, such as 4711=3f2504e0-4f89-41d3-9a0c-0305e82c3301", m)
		}
		mid, err := uuid.Parse(midText)
		if err != nil {
			return fmt.Errorf("--member %q: member id: %w", m, err)
		}
		if cfg.Members == nil {
			cfg.Members = map[uint32]uuid.UUID{}
		}
		cfg.Members[uint32(sid)] = mid
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return nil
}
