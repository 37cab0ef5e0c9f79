package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/config/samples/contracts"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/devnet/directories"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime"
)

// Defaults of Options.
const (
	DefaultDir       = "bin/devnet"
	DefaultNetwork   = "byoda.test"
	DefaultOwnerPort = 8443
	DefaultPeerPort  = 8444
	DefaultDNS       = "127.0.0.1:8053"
)

// DefaultFirstAddress is the address of the first pod; the others follow.
var DefaultFirstAddress = netip.MustParseAddr("127.0.0.2")

// People are the demo's people, in the order their pods get addresses.
var People = []string{"suzie", "mike", "jane", "alice"}

// Options configure Run. The zero value runs the defaults.
type Options struct {
	// Dir holds the network's state: PKI, pods' data, devnet.json.
	Dir string
	// Network is the network's domain; it cannot change once Dir exists.
	Network string
	// FirstAddress is the first pod's loopback address.
	FirstAddress netip.Addr
	// OwnerPort and PeerPort are the network's ports, on every pod's
	// address.
	OwnerPort, PeerPort int
	// DNSListen is where the network directory's DNS server listens (UDP
	// and TCP).
	DNSListen string
	// DirectoryListen and ServiceListen are the HTTPS addresses of the
	// network directory and of the demo service's directory; a free port
	// on the DNS server's address when empty.
	DirectoryListen, ServiceListen string
	// Out receives what a person reads: the pods and how to use them.
	Out io.Writer
	// Log receives devnet's own log; the pods log to files in Dir/logs.
	Log *slog.Logger
	// Ready, when set, is called once the network is up and seeded.
	Ready func(*State)
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.Network == "" {
		o.Network = DefaultNetwork
	}
	if !o.FirstAddress.IsValid() {
		o.FirstAddress = DefaultFirstAddress
	}
	if o.OwnerPort == 0 {
		o.OwnerPort = DefaultOwnerPort
	}
	if o.PeerPort == 0 {
		o.PeerPort = DefaultPeerPort
	}
	if o.DNSListen == "" {
		o.DNSListen = DefaultDNS
	}
	dnsHost, _, err := net.SplitHostPort(o.DNSListen)
	if err != nil {
		dnsHost = "127.0.0.1"
	}
	if o.DirectoryListen == "" {
		o.DirectoryListen = net.JoinHostPort(dnsHost, "0")
	}
	if o.ServiceListen == "" {
		o.ServiceListen = net.JoinHostPort(dnsHost, "0")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Run starts the network and serves until ctx ends, then stops every part.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return err
	}
	c, err := contract.Parse(contracts.AddressbookDemo)
	if err != nil {
		return fmt.Errorf("the embedded demo contract: %w", err)
	}
	now := time.Now()
	pkiDir, err := ensurePKI(filepath.Join(dir, "pki"), opts.Network, c.ServiceID, now)
	if err != nil {
		return fmt.Errorf("PKI: %w", err)
	}
	rootCA, _ := pkiDir.Paths(pki.Subject{Kind: pki.KindRootCA, Network: opts.Network})

	st, err := ReadState(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if st == nil {
		st = &State{}
	}
	st.Network, st.ServiceID, st.DNSServer, st.RootCA = opts.Network, c.ServiceID, opts.DNSListen, rootCA
	st.OwnerPort, st.PeerPort = opts.OwnerPort, opts.PeerPort
	if err := st.ensurePods(dir, pkiDir, opts); err != nil {
		return err
	}
	if err := st.write(dir); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()

	nd, svc, err := startDirectories(ctx, dir, pkiDir, opts, c.ServiceID)
	if nd != nil {
		wg.Go(nd.Wait)
	}
	if err != nil {
		cancel(err)
		return err
	}
	wg.Go(svc.Wait)
	st.DirectoryURL, st.DirectoryCA, st.ServiceURL = nd.URL, nd.CertFile, svc.URL

	errc := make(chan error, len(st.Pods))
	for i := range st.Pods {
		p := &st.Pods[i]
		pod, owner, peer, err := newPod(ctx, dir, opts, p, nd, svc)
		if err != nil {
			cancel(err)
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		mid, _ := pod.MemberID(c.ServiceID)
		p.Members[strconv.FormatUint(uint64(c.ServiceID), 10)] = mid
		wg.Go(func() {
			if err := pod.Serve(ctx, owner, peer); err != nil {
				errc <- fmt.Errorf("pod %s: %w", p.Name, err)
			}
		})
	}
	if err := st.write(dir); err != nil {
		cancel(err)
		return err
	}
	if err := seed(ctx, dir, st); err != nil {
		cancel(err)
		return fmt.Errorf("seed the demo data: %w", err)
	}
	printBanner(opts.Out, dir, st)
	opts.Log.Info("Local network ready", "dir", dir, "pods", len(st.Pods), "dns", st.DNSServer,
		"directory", st.DirectoryURL, "service", st.ServiceURL)
	if opts.Ready != nil {
		opts.Ready(st)
	}
	select {
	case <-ctx.Done():
		opts.Log.Info("Stopping the local network", "reason", context.Cause(ctx))
		return nil
	case err := <-errc:
		cancel(err)
		return err
	}
}

// startDirectories starts the network directory, with its DNS server, and
// the demo service's directory, with the CAs of the network's PKI
// directory and their registries in dir: the service registers with the
// network directory and has its contract countersigned there.
func startDirectories(ctx context.Context, dir string, d *pki.Dir, opts Options, sid uint32) (*directories.Network, *directories.Service, error) {
	dataDir := filepath.Join(dir, "directory")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	host, _, err := net.SplitHostPort(opts.DirectoryListen)
	if err != nil {
		return nil, nil, fmt.Errorf("network directory: %w", err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, nil, fmt.Errorf("network directory: want an IP address to listen on, not %q", host)
	}
	nd, err := directories.StartNetwork(ctx, directories.NetworkOptions{
		PKI: d, DataDir: dataDir, Listen: opts.DirectoryListen, DNSListen: opts.DNSListen, Address: addr,
		DNSTTL: 5 * time.Second, Log: opts.Log.With("part", "directory"),
	})
	if err != nil {
		return nil, nil, err
	}
	svcDir := filepath.Join(dir, "service")
	if err := os.MkdirAll(svcDir, 0o700); err != nil {
		return nd, nil, err
	}
	svc, err := directories.StartService(ctx, nd.Directory, directories.ServiceOptions{
		PKI: d, ServiceID: sid, Contract: contracts.AddressbookDemo, DataDir: svcDir, Listen: opts.ServiceListen,
		Log: opts.Log.With("part", "service", "service", sid),
	})
	if err != nil {
		return nd, nil, fmt.Errorf("the directory of service %d: %w", sid, err)
	}
	return nd, svc, nil
}

// ensurePods makes what each person's pod needs that does not exist yet:
// an account id, a PKI directory with the network's root, a
// key-encryption key, a password and a data directory. The pod registers
// its account and joins the demo service through the directories itself.
func (st *State) ensurePods(dir string, d *pki.Dir, opts Options) error {
	addr := opts.FirstAddress
	root, err := os.ReadFile(st.RootCA)
	if err != nil {
		return err
	}
	for i, name := range People {
		if i >= len(st.Pods) {
			st.Pods = append(st.Pods, PodState{Name: name})
		}
		p := &st.Pods[i]
		if p.Name != name {
			return fmt.Errorf("%s: pod %d is %s, not %s: delete %s to start over", filepath.Join(dir, StateFile), i, p.Name, name, dir)
		}
		if p.AccountID == uuid.Nil {
			p.AccountID = uuid.New()
			if err := st.write(dir); err != nil {
				return err
			}
		}
		if p.Members == nil {
			p.Members = map[string]uuid.UUID{}
		}
		p.Address = addr
		addr = addr.Next()
		p.OwnerAddress = net.JoinHostPort(p.Address.String(), strconv.Itoa(opts.OwnerPort))
		p.PeerAddress = net.JoinHostPort(p.Address.String(), strconv.Itoa(opts.PeerPort))
		p.OwnerURL = "https://" + net.JoinHostPort(pki.AccountName(p.AccountID, opts.Network), strconv.Itoa(opts.OwnerPort))
		p.DataDir = filepath.Join(dir, "pods", name)
		p.PasswordFile = filepath.Join(p.DataDir, "owner-password")
		if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
			return err
		}
		if err := ensurePodPKI(podPKIDir(p), d.Network(), root); err != nil {
			return fmt.Errorf("PKI directory of %s: %w", name, err)
		}
		if err := ensureSecret(filepath.Join(p.DataDir, "kek"), 32); err != nil {
			return err
		}
		if err := ensureSecret(p.PasswordFile, 18); err != nil {
			return err
		}
	}
	return nil
}

// podPKIDir is the PKI directory of p's pod: the network's root, and the
// keys the pod makes for its account and memberships.
func podPKIDir(p *PodState) string { return filepath.Join(p.DataDir, "pki") }

// ensurePodPKI makes the PKI directory of a pod outside a cluster, which
// starts with the network's name and root certificate only.
func ensurePodPKI(dir, network string, root []byte) error {
	rel, _ := pki.RelPaths(pki.Subject{Kind: pki.KindRootCA, Network: network})
	file := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if err := writeFile(file, root, 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, pki.NetworkFile), pki.NetworkJSON(network), 0o644)
}

// newPod prepares person p's pod and its listeners: the pod registers its
// account with the network directory, joins the demo service through its
// directory and publishes its names in the network's DNS (once; later
// runs find the keys in its PKI directory and only publish its address).
func newPod(ctx context.Context, dir string, opts Options, p *PodState, nd *directories.Network, svc *directories.Service) (*podruntime.Pod, net.Listener, net.Listener, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "logs", p.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	context.AfterFunc(ctx, func() { logFile.Close() })
	members := map[uint32]uuid.UUID{}
	for sid, mid := range p.Members {
		n, _ := strconv.ParseUint(sid, 10, 32)
		if mid != uuid.Nil {
			members[uint32(n)] = mid
		}
	}
	cfg := podruntime.Config{
		Pod: launch.Pod{
			Network:              opts.Network,
			PKIDir:               podPKIDir(p),
			AccountID:            p.AccountID,
			DataDir:              p.DataDir,
			Listen:               p.OwnerAddress,
			PeerListen:           p.PeerAddress,
			OwnerPasswordFile:    p.PasswordFile,
			Joins:                []string{svc.URL},
			Directory:            nd.URL,
			DirectoryCA:          nd.CertFile,
			Members:              members,
			DNSServer:            opts.DNSListen,
			PeerPort:             opts.PeerPort,
			AutoUpgrade:          true,
			ContractPollInterval: contractPollInterval,
		},
		Logger: slog.New(slog.NewJSONHandler(logFile, nil)),
	}
	pod, err := podruntime.New(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	owner, err := net.Listen("tcp", p.OwnerAddress)
	if err != nil {
		pod.Close()
		return nil, nil, nil, fmt.Errorf("owner port: %w", err)
	}
	peer, err := net.Listen("tcp", p.PeerAddress)
	if err != nil {
		owner.Close()
		pod.Close()
		return nil, nil, nil, fmt.Errorf("peer port: %w", err)
	}
	return pod, owner, peer, nil
}

// contractPollInterval is how often devnet's pods ask the service
// directory for a newer contract, which they take up when it only adds.
const contractPollInterval = 5 * time.Second
