package launch

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
)

// Pod is what the command line of `byoda pod` carries: where the pod finds
// its identity, keys, contracts and data, and where it listens. The pod
// runtime's configuration embeds it; what is set in process (logger, clock,
// tuning for tests) is not here.
type Pod struct {
	// Network is the network domain, such as byoda.net. It must match the
	// PKI directory's.
	Network string
	// PKIDir is a directory in the layout the byoda pki command writes. The
	// pod reads the network root, the account's TLS key and the TLS key of
	// each membership from it.
	PKIDir string
	// AccountID is the pod's account.
	AccountID uuid.UUID
	// DataDir holds what the pod keeps locally: by default the key
	// encryption key and the local object store.
	DataDir string
	// StorageURL is the object store (file:///abs/dir or
	// s3://bucket/prefix?endpoint=...&region=...; see objstore.ParseURL);
	// default file://<DataDir>/objects.
	StorageURL string
	// AcceptRestore starts the pod even if a store's log in StorageURL
	// ends before the high-water mark the pod keeps in DataDir (the
	// storage was restored from an older backup, on purpose), and resets
	// the mark. Without it the pod refuses to start on such a store. Meant
	// for one start after a deliberate restore.
	AcceptRestore bool
	// KEKFile holds the key-encryption key that wraps each store's data
	// key: one Fernet key (base64 of 32 bytes) per line, the first used to
	// wrap and all tried to unwrap. Default <DataDir>/kek. It must exist.
	KEKFile string
	// Listen and PeerListen are the addresses of the owner and the peer
	// port.
	Listen     string
	PeerListen string
	// OwnerPasswordFile holds the owner's password; a trailing newline is
	// not part of it.
	OwnerPasswordFile string
	// ContractFiles are the contracts of the services the pod joins.
	ContractFiles []string
	// Members picks the member id per service when the PKI directory holds
	// more than one member of it.
	Members map[uint32]uuid.UUID
	// DNSServer is the address (host:port) of the DNS server that
	// resolves the network's names when the pod looks up other pods;
	// empty means the system resolver.
	DNSServer string
	// PeerPort is the network's peer port: where other pods listen.
	PeerPort int
	// MaxConns bounds the connections open at once on each port, and
	// MaxConnsPerAddress those from one client address (an IPv6 client
	// per /64) on each port; a connection over either is closed as soon
	// as it is accepted. Zero picks the pod runtime's defaults: a share of
	// the process's open-file limit, and a quarter of that per address.
	MaxConns           int
	MaxConnsPerAddress int
	// FanOut is how many other pods the pod asks at once for one query;
	// zero is the default (recursion.DefaultMaxPeers).
	FanOut int
	// Joins are the service directories, each
	// https://service.service-<sid>.<net>[:port], of services the pod
	// joins at start unless it has joined them already: it makes the
	// member's keys, has the service's members CA sign them and keeps them
	// in PKIDir, and keeps the contract in DataDir. It needs Directory.
	Joins []string
	// Directory is the network directory's URL: where a pod registers its
	// account when PKIDir has no certificate for it, and the DNS names of
	// its account and memberships.
	Directory string
	// DirectoryCA is a PEM file of the certificates that verify the
	// network directory's server certificate (the tls.crt a directory
	// without a public certificate makes); default the system's roots.
	DirectoryCA string
	// Address is the IP address the pod publishes in the network's DNS;
	// default the address PeerListen names, or else the one the pod's
	// requests to the directory come from.
	Address string
	// AutoUpgrade takes up, without a restart, a newer contract version of
	// a service joined through its directory when it only adds.
	AutoUpgrade bool
	// ContractPollInterval is how often the pod asks those directories for
	// a newer contract; zero is DefaultContractPollInterval.
	ContractPollInterval time.Duration
	// IdleRelease is how long the pod goes without a request before it
	// gives memory back to the OS again (see podruntime); zero is
	// DefaultIdleRelease, a negative value never.
	IdleRelease time.Duration
	// LogLevel is the level of the pod's log.
	LogLevel slog.Level
}

// DefaultContractPollInterval is how often a pod asks the directories of
// the services it joined through them for a newer contract.
const DefaultContractPollInterval = time.Minute

// DefaultIdleRelease is how long a pod goes without a request before it
// gives back the memory that serving took: long enough that a pod in use
// does not pay for mapping pages back in, short enough that one asked now
// and then spends most of its time small.
const DefaultIdleRelease = 30 * time.Second

// Bind defines the flags of `byoda pod` on fs, bound to p's fields, and
// sets those fields to the flags' defaults.
func (p *Pod) Bind(fs *pflag.FlagSet) {
	c := p
	fs.StringVar(&c.Network, "network", "", "network domain, such as byoda.net (required)")
	fs.StringVar(&c.PKIDir, "pki-dir", "", "PKI directory in the layout 'byoda pki' writes (required)")
	fs.Var((*uuidValue)(&c.AccountID), "account", "account id of the pod (required)")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for the pod's local data: the default key-encryption key and local storage (required)")
	fs.StringVar(&c.StorageURL, "storage", "", "object store: file:///abs/dir or s3://bucket/prefix?endpoint=URL&region=R (default file://<data-dir>/objects)")
	fs.BoolVar(&c.AcceptRestore, "accept-restore", false, "start even if a store's log is older than this pod last saw it (a deliberate restore from a backup); for one start, it resets the high-water marks in <data-dir>/state")
	fs.StringVar(&c.KEKFile, "kek-file", "", "key-encryption key file: Fernet keys, one per line, the first wraps (default <data-dir>/kek)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8443", "address of the owner port")
	fs.StringVar(&c.PeerListen, "peer-listen", "127.0.0.1:8444", "address of the peer port")
	fs.StringVar(&c.OwnerPasswordFile, "owner-password-file", "", "file holding the owner's password (required)")
	fs.StringArrayVar(&c.ContractFiles, "contract", nil, "contract of a service to join (repeatable, at least one)")
	fs.Var((*membersValue)(&c.Members), "member", "SID=MID: the member id to use for service SID when the PKI directory holds several (repeatable)")
	fs.StringVar(&c.DNSServer, "dns-server", "", "DNS server (host:port) that resolves the network's names, to find other pods (default: the system resolver)")
	fs.IntVar(&c.PeerPort, "network-peer-port", DefaultPeerPort, "the network's peer port, where other pods listen")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "most connections open at once on each port (default: a share of the open-file limit, at most 2048)")
	fs.IntVar(&c.MaxConnsPerAddress, "max-conns-per-address", 0, "most connections from one client address (IPv6: one /64) on each port (default: a quarter of --max-conns, at most 64)")
	fs.IntVar(&c.FanOut, "fanout", 0, "how many other pods to ask at once for one recursive query (default 32)")
	fs.StringArrayVar(&c.Joins, "join", nil, "URL of a service directory, https://service.service-<sid>.<net>[:port], to join its service through (repeatable; needs --directory)")
	fs.StringVar(&c.Directory, "directory", "", "URL of the network directory: registers the account when --pki-dir has no certificate for it, and the pod's DNS names")
	fs.StringVar(&c.DirectoryCA, "directory-ca", "", "PEM file of the certificates that verify the network directory's certificate (default: the system's roots)")
	fs.StringVar(&c.Address, "address", "", "IP address to publish in the network's DNS (default: the address of --peer-listen, else the one requests to the directory come from)")
	fs.BoolVar(&c.AutoUpgrade, "auto-upgrade", false, "take up newer contract versions of services joined through their directories that only add, without a restart")
	fs.DurationVar(&c.ContractPollInterval, "contract-poll-interval", 0, "how often to ask service directories for a newer contract (default 1m)")
	fs.DurationVar(&c.IdleRelease, "idle-release", 0, "give memory back to the OS after this long without a request (default 30s; negative: never)")
	p.LogLevel = slog.LevelInfo
	fs.Var((*levelValue)(&p.LogLevel), "log-level", "log level: debug, info, warn or error")
}

// Required are the flags `byoda pod` cannot run without.
// A pod also needs a --contract or a --join, which the pod checks.
var Required = []string{"network", "pki-dir", "account", "data-dir", "owner-password-file"}

// Args returns the arguments (after the pod subcommand) that make `byoda
// pod` run with p: one flag for each field that differs from its default,
// in the order Bind defines them, a repeatable flag once per value.
func (p Pod) Args() []string {
	var bound Pod
	fs := pflag.NewFlagSet("pod", pflag.ContinueOnError)
	fs.SortFlags = false
	bound.Bind(fs)
	// The flags point into bound: give it p's values and read them back.
	bound = p
	return flagArgs(fs)
}

// Parse reads the arguments of `byoda pod` (without the subcommand) as the
// command does.
func Parse(args []string) (Pod, error) {
	var p Pod
	fs := pflag.NewFlagSet("pod", pflag.ContinueOnError)
	p.Bind(fs)
	if err := parseFlags(fs, "byoda pod", args); err != nil {
		return Pod{}, err
	}
	return p, nil
}

// flagArgs returns the arguments that set the flags of fs to their current
// values: one flag for each that differs from its default, in the order of
// definition, a repeatable flag once per value.
func flagArgs(fs *pflag.FlagSet) []string {
	var args []string
	fs.VisitAll(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name, v)
			}
			return
		}
		switch v := f.Value.String(); {
		case v == f.DefValue:
		case f.NoOptDefVal != "":
			// A flag that may stand alone, such as a bool, takes its
			// value only after "=".
			args = append(args, "--"+f.Name+"="+v)
		default:
			args = append(args, "--"+f.Name, v)
		}
	})
	return args
}

// parseFlags parses args into fs as command does: flags only.
func parseFlags(fs *pflag.FlagSet, command string, args []string) error {
	fs.SetOutput(discard{})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %s takes flags only", fs.Args(), command)
	}
	return nil
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// uuidValue is a UUID flag; the zero UUID prints as "".
type uuidValue uuid.UUID

func (v *uuidValue) String() string {
	if uuid.UUID(*v) == uuid.Nil {
		return ""
	}
	return uuid.UUID(*v).String()
}

func (v *uuidValue) Set(s string) error {
	id, err := uuid.Parse(s)
	if err != nil {
		return fmt.Errorf("want a UUID: %w", err)
	}
	*v = uuidValue(id)
	return nil
}

func (*uuidValue) Type() string { return "uuid" }

// membersValue is the repeatable --member SID=MID flag.
type membersValue map[uint32]uuid.UUID

func (v *membersValue) String() string { return "[" + strings.Join(v.GetSlice(), ",") + "]" }

func (v *membersValue) Set(s string) error {
	sidText, midText, ok := strings.Cut(s, "=")
	sid, err := strconv.ParseUint(sidText, 10, 32)
	if !ok || err != nil {
		return fmt.Errorf("want SID=MID, such as 4711=3f2504e0-4f89-41d3-9a0c-0305e82c3301")
	}
	mid, err := uuid.Parse(midText)
	if err != nil {
		return fmt.Errorf("member id: %w", err)
	}
	if *v == nil {
		*v = map[uint32]uuid.UUID{}
	}
	(*v)[uint32(sid)] = mid
	return nil
}

func (*membersValue) Type() string { return "SID=MID" }

func (v *membersValue) GetSlice() []string {
	out := make([]string, 0, len(*v))
	for _, sid := range slices.Sorted(maps.Keys(*v)) {
		out = append(out, strconv.FormatUint(uint64(sid), 10)+"="+(*v)[sid].String())
	}
	return out
}

func (v *membersValue) Append(s string) error { return v.Set(s) }

func (v *membersValue) Replace(ss []string) error {
	*v = nil
	for _, s := range ss {
		if err := v.Set(s); err != nil {
			return err
		}
	}
	return nil
}

// levelValue is a log level flag.
type levelValue slog.Level

func (v *levelValue) String() string { return strings.ToLower(slog.Level(*v).String()) }

func (v *levelValue) Set(s string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("want debug, info, warn or error")
	}
	*v = levelValue(l)
	return nil
}

func (*levelValue) Type() string { return "level" }
