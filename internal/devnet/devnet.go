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
	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/contract"
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
	// DNSListen is where the network's DNS server listens (UDP and TCP).
	DNSListen string
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
	contractFile := filepath.Join(dir, "contracts", launch.ContractFileName(c.ServiceID))
	if err := os.MkdirAll(filepath.Dir(contractFile), 0o700); err != nil {
		return err
	}
	if err := writeFile(contractFile, contracts.AddressbookDemo, 0o644); err != nil {
		return err
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
	if err := st.ensurePods(dir, pkiDir, opts, c.ServiceID, now); err != nil {
		return err
	}
	if err := st.write(dir); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()

	zone, err := serveDNS(ctx, &wg, opts, st)
	if err != nil {
		return err
	}
	errc := make(chan error, len(st.Pods))
	for i := range st.Pods {
		p := &st.Pods[i]
		pod, owner, peer, err := newPod(ctx, dir, pkiDir, opts, p, contractFile)
		if err != nil {
			cancel(err)
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		wg.Go(func() {
			if err := pod.Serve(ctx, owner, peer); err != nil {
				errc <- fmt.Errorf("pod %s: %w", p.Name, err)
			}
		})
	}
	_ = zone
	if err := seed(ctx, dir, st); err != nil {
		cancel(err)
		return fmt.Errorf("seed the demo data: %w", err)
	}
	printBanner(opts.Out, dir, st)
	opts.Log.Info("Local network ready", "dir", dir, "pods", len(st.Pods), "dns", st.DNSServer)
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

// ensurePods makes what each person's pod needs that does not exist yet:
// account, membership, key-encryption key, password, data directory.
func (st *State) ensurePods(dir string, d *pki.Dir, opts Options, sid uint32, now time.Time) error {
	addr := opts.FirstAddress
	for i, name := range People {
		if i >= len(st.Pods) {
			st.Pods = append(st.Pods, PodState{Name: name})
		}
		p := &st.Pods[i]
		if p.Name != name {
			return fmt.Errorf("%s: pod %d is %s, not %s: delete %s to start over", filepath.Join(dir, StateFile), i, p.Name, name, dir)
		}
		var err error
		if p.AccountID == uuid.Nil {
			if p.AccountID, err = d.CreateAccount(now); err != nil {
				return fmt.Errorf("account of %s: %w", name, err)
			}
			if err := st.write(dir); err != nil {
				return err
			}
		}
		key := strconv.FormatUint(uint64(sid), 10)
		if p.Members == nil {
			p.Members = map[string]uuid.UUID{}
		}
		if p.Members[key] == uuid.Nil {
			if p.Members[key], err = d.CreateMember(sid, now); err != nil {
				return fmt.Errorf("membership of %s: %w", name, err)
			}
			if err := st.write(dir); err != nil {
				return err
			}
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
		if err := ensureSecret(filepath.Join(p.DataDir, "kek"), 32); err != nil {
			return err
		}
		if err := ensureSecret(p.PasswordFile, 18); err != nil {
			return err
		}
	}
	return nil
}

// serveDNS starts the network's DNS server with the names of every pod.
func serveDNS(ctx context.Context, wg *sync.WaitGroup, opts Options, st *State) (*dns.Server, error) {
	srv, err := dns.NewServer(opts.Network, dns.Options{TTL: 5 * time.Second, Log: opts.Log.With("part", "dns")})
	if err != nil {
		return nil, err
	}
	for _, p := range st.Pods {
		names := []string{pki.AccountName(p.AccountID, opts.Network)}
		for sid, mid := range p.Members {
			n, _ := strconv.ParseUint(sid, 10, 32)
			names = append(names, pki.MemberName(uint32(n), mid, opts.Network))
		}
		for _, n := range names {
			if err := srv.Set(n, p.Address); err != nil {
				return nil, err
			}
		}
	}
	pc, err := net.ListenPacket("udp", opts.DNSListen)
	if err != nil {
		return nil, fmt.Errorf("DNS server: %w", err)
	}
	l, err := net.Listen("tcp", opts.DNSListen)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("DNS server: %w", err)
	}
	wg.Go(func() {
		if err := srv.Serve(ctx, pc, l); err != nil && ctx.Err() == nil {
			opts.Log.Error("DNS server failed", "err", err)
		}
	})
	return srv, nil
}

// newPod prepares person p's pod and its listeners.
func newPod(ctx context.Context, dir string, d *pki.Dir, opts Options, p *PodState, contractFile string) (*podruntime.Pod, net.Listener, net.Listener, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "logs", p.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	context.AfterFunc(ctx, func() { logFile.Close() })
	members := map[uint32]uuid.UUID{}
	for sid, mid := range p.Members {
		n, _ := strconv.ParseUint(sid, 10, 32)
		members[uint32(n)] = mid
	}
	cfg := podruntime.Config{
		Pod: launch.Pod{
			Network:           opts.Network,
			PKIDir:            d.Path(),
			AccountID:         p.AccountID,
			DataDir:           p.DataDir,
			Listen:            p.OwnerAddress,
			PeerListen:        p.PeerAddress,
			OwnerPasswordFile: p.PasswordFile,
			ContractFiles:     []string{contractFile},
			Members:           members,
			DNSServer:         opts.DNSListen,
			PeerPort:          opts.PeerPort,
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
