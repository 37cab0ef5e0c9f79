package cluster

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
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/byoda-go/byoda/test/cluster/image"
)

// Options configure Start.
type Options struct {
	// BinDir holds the node's programs, built by `make tools`: etcd,
	// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
	// kube-proxy. Default: $BYODA_BIN_DIR, else bin/ of the repository.
	BinDir string
	// ImageDir holds the image archives built by `make images`. Default:
	// BinDir/images.
	ImageDir string
	// Images are imported into the node's containerd before Start returns.
	// Default: image.All(). The pause and CoreDNS images are always imported.
	Images []image.Spec
	// Logger receives the node's progress. Default: discard.
	Logger *slog.Logger
}

// Node is a one-node Kubernetes cluster on this machine: etcd, the control
// plane, containerd, the kubelet, kube-proxy and CoreDNS, in a network and a
// mount namespace of its own. See the package documentation.
type Node struct {
	*Cluster

	// Name is the node's name (and its namespaces' and cgroup root's).
	Name string
	// IP is the node's address (its InternalIP), where the API server listens.
	IP net.IP
	// HostIP is the host's end of the link to the node. Pods reach servers
	// that the host runs on this address (their traffic is masqueraded to IP).
	HostIP net.IP
	// Dir holds everything the node writes; Stop removes it.
	Dir string
	// LoadBalancerPool holds the addresses the node gives Services of type
	// LoadBalancer. The host routes it to the node, so the test process
	// reaches those Services at their load balancer address, as pods do.
	LoadBalancerPool netip.Prefix

	log        *slog.Logger
	layout     layout
	binDir     string
	imageDir   string
	hostIf     string
	cgroupRoot string
	netns      string

	lock     *os.File // the record, locked while the node is the test process's
	mu       sync.Mutex
	procs    []*process
	seen     map[ProcessID]bool
	stopOnce sync.Once
	stopErr  error
	// stopCloud ends the node's load balancer and volume provisioner.
	stopCloud context.CancelFunc
	cloudDone sync.WaitGroup
}

// Start brings up a node and returns once the node is Ready, CoreDNS is
// serving, and the default service account exists. The caller must Stop it,
// also when ctx ends. An error wrapping ErrUnsupported means this machine
// cannot run a node (not root, no cgroups, no namespaces); a missing program
// or image is an error that names the make target that provides it.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: it needs Linux", ErrUnsupported)
	}
	if err := checkMachine(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cleanStale(ctx, opts.Logger); err != nil {
		opts.Logger.Info("Stale nodes not fully removed", "err", err)
	}
	if opts.BinDir == "" {
		opts.BinDir = defaultBinDir()
	}
	if opts.ImageDir == "" {
		opts.ImageDir = filepath.Join(opts.BinDir, "images")
	}
	if len(opts.Images) == 0 {
		opts.Images = image.All()
	}
	for _, must := range []image.Spec{image.CoreDNS, image.Pause} {
		if !slices.ContainsFunc(opts.Images, func(s image.Spec) bool { return s.Name == must.Name }) {
			opts.Images = append([]image.Spec{must}, opts.Images...)
		}
	}
	for _, tool := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, tool)); err != nil {
			return nil, fmt.Errorf("node program %s is missing (%v): run `make tools` (or hack/tools.sh %s)", tool, err, tool)
		}
	}
	for _, s := range opts.Images {
		if _, err := os.Stat(s.Archive(opts.ImageDir)); err != nil {
			return nil, fmt.Errorf("image %s is missing (%v): run `make images`", s.Name, err)
		}
	}

	id := randomID(3)
	name := "byoda-" + id
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, fmt.Errorf("create node dir: %w", err)
	}
	link, err := pickLinkNet()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	pool, err := pickLBPool(link)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &Node{
		Name:             name,
		IP:               link.node,
		HostIP:           link.host,
		Dir:              dir,
		LoadBalancerPool: pool,
		log:              opts.Logger.With("node", name),
		layout:           layout{dir: dir},
		binDir:           opts.BinDir,
		imageDir:         opts.ImageDir,
		hostIf:           "bh" + id,
		cgroupRoot:       "/" + name,
		netns:            name,
		seen:             map[ProcessID]bool{},
	}
	if err := n.start(ctx, opts.Images); err != nil {
		err = fmt.Errorf("start node %s: %w%s", name, err, n.logTails())
		if stopErr := n.Stop(context.WithoutCancel(ctx)); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", stopErr))
		}
		return nil, err
	}
	return n, nil
}

// logTails returns the end of each component's log for the error of a failed
// start: more of those that exited.
func (n *Node) logTails() string {
	var s string
	for _, p := range n.processes() {
		if done, perr := p.exited(); done {
			s += fmt.Sprintf("\n--- %s exited (%v); end of its log:\n%s", p.name, perr, p.tail(4<<10))
		} else {
			s += fmt.Sprintf("\n--- %s runs; end of its log:\n%s", p.name, p.tail(1536))
		}
	}
	return s
}

func (n *Node) start(ctx context.Context, images []image.Spec) error {
	began := time.Now()
	l := n.layout
	if err := n.writeRecord(); err != nil {
		return err
	}
	for _, d := range []string{l.logs(), l.cniConfDir(), l.kubeletRoot(), l.podLogs()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// Files first: nothing on the machine changes until they are all written.
	if err := n.writePKI(); err != nil {
		return err
	}
	adminKubeconfig, err := n.kubeconfig(adminID)
	if err != nil {
		return err
	}
	kubeconfigs := map[string]string{}
	for _, id := range []identity{kcmID, schedulerID, proxyID, kubeletID(n.Name)} {
		if kubeconfigs[id.file], err = n.kubeconfig(id); err != nil {
			return err
		}
	}
	for _, write := range []func() error{
		func() error { return writeContainerdConfig(l) },
		func() error { return writeCNIConfig(l) },
		func() error { return writeKubeletConfig(l, n.IP, n.cgroupRoot) },
		func() error { return writeResolvConf(l) },
	} {
		if err := write(); err != nil {
			return err
		}
	}

	// The mount namespace is made before the network namespace, so it holds
	// no reference to it and `ip netns del` frees the network namespace.
	if err := setupMountNS(ctx, l.dir, l.mountNS()); err != nil {
		return err
	}
	if err := setupNetwork(ctx, n.netns, n.hostIf, linkNet{host: n.HostIP, node: n.IP}); err != nil {
		return err
	}
	// The load balancers' addresses are the node's to answer (kube-proxy
	// routes them); the route goes with the link.
	if err := run(ctx, "ip", "route", "add", n.LoadBalancerPool.String(), "via", n.IP.String(), "dev", n.hostIf); err != nil {
		return fmt.Errorf("route load balancer pool: %w", err)
	}
	masqueradeAll := !bridgeNetfilter(ctx, netnsPath(n.netns))
	if masqueradeAll {
		n.log.Info("Kernel has no br_netfilter: kube-proxy masquerades all Service traffic")
	}
	if err := writeProxyConfig(l, kubeconfigs[proxyID.file], n.Name, masqueradeAll); err != nil {
		return err
	}
	if err := createCgroupRoot(n.cgroupRoot); err != nil {
		return err
	}

	// Control plane.
	etcd, err := n.run("etcd", filepath.Join(n.binDir, "etcd"),
		"--data-dir="+l.etcdData(),
		"--listen-client-urls=http://127.0.0.1:2379",
		"--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=default=http://127.0.0.1:2380",
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	pki := func(f string) string { return filepath.Join(l.pki(), f) }
	apiserver, err := n.run("kube-apiserver", filepath.Join(n.binDir, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0",
		"--advertise-address="+n.IP.String(),
		"--secure-port="+strconv.Itoa(APIServerPort),
		"--tls-cert-file="+pki("apiserver.crt"),
		"--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc."+ClusterDomain,
		"--service-account-key-file="+pki("sa.pub"),
		"--service-account-signing-key-file="+pki("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,NodeRestriction,ResourceQuota",
		"--allow-privileged=true",
		"--kubelet-client-certificate="+pki(apiKubeletID.file+".crt"),
		"--kubelet-client-key="+pki(apiKubeletID.file+".key"),
		"--kubelet-certificate-authority="+pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	n.Cluster, err = newCluster(adminKubeconfig, n.LoadImages)
	if err != nil {
		return err
	}
	n.Cluster.HostIP = n.HostIP
	cs := n.Clientset
	if err := n.waitFor(ctx, 2*time.Minute, "API server ready", []*process{etcd, apiserver}, func(ctx context.Context) error {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s", err, body)
		}
		return nil
	}); err != nil {
		return err
	}
	n.log.Info("API server ready", "elapsed", time.Since(began).Round(time.Millisecond))

	kcmKubeconfig := kubeconfigs[kcmID.file]
	if _, err := n.run("kube-controller-manager", filepath.Join(n.binDir, "kube-controller-manager"),
		"--kubeconfig="+kcmKubeconfig,
		"--authentication-kubeconfig="+kcmKubeconfig,
		"--authorization-kubeconfig="+kcmKubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+pki("sa.key"),
		"--root-ca-file="+pki("ca.crt"),
		"--cluster-signing-cert-file="+pki("ca.crt"),
		"--cluster-signing-key-file="+pki("ca.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--allocate-node-cidrs=false",
		"--flex-volume-plugin-dir="+l.path("flex-volume"),
		"--v=1",
	); err != nil {
		return err
	}
	schedKubeconfig := kubeconfigs[schedulerID.file]
	if _, err := n.run("kube-scheduler", filepath.Join(n.binDir, "kube-scheduler"),
		"--kubeconfig="+schedKubeconfig,
		"--authentication-kubeconfig="+schedKubeconfig,
		"--authorization-kubeconfig="+schedKubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--v=1",
	); err != nil {
		return err
	}

	// Node.
	containerd, err := n.run("containerd", "containerd", "--config="+l.containerdConfig())
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, time.Minute, "containerd serving", []*process{containerd}, func(ctx context.Context) error {
		return n.ctr(ctx, io.Discard, "version")
	}); err != nil {
		return err
	}
	// The node needs the sandbox and CoreDNS images to come up; the others
	// are imported meanwhile, each on its own.
	var first, rest []string
	for _, s := range images {
		if s.Name == image.Pause.Name || s.Name == image.CoreDNS.Name {
			first = append(first, s.Archive(n.imageDir))
		} else {
			rest = append(rest, s.Archive(n.imageDir))
		}
	}
	if err := n.LoadImages(ctx, first...); err != nil {
		return err
	}
	importCtx, cancelImports := context.WithCancel(ctx)
	defer cancelImports()
	imported := make(chan error, len(rest))
	for _, a := range rest {
		go func() { imported <- n.LoadImages(importCtx, a) }()
	}

	kubelet, err := n.run("kubelet", filepath.Join(n.binDir, "kubelet"),
		"--config="+l.kubeletConfig(),
		"--kubeconfig="+kubeconfigs["kubelet"],
		"--root-dir="+l.kubeletRoot(),
		"--cert-dir="+filepath.Join(l.kubeletRoot(), "pki"),
		"--hostname-override="+n.Name,
		"--node-ip="+n.IP.String(),
		"--v=1",
	)
	if err != nil {
		return err
	}
	proxy, err := n.run("kube-proxy", filepath.Join(n.binDir, "kube-proxy"),
		"--config="+l.proxyConfig(),
		"--v=1",
	)
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, 3*time.Minute, "node Ready", []*process{kubelet, containerd, proxy}, func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s not ready: %s: %s", n.Name, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", n.Name)
	}); err != nil {
		return err
	}
	n.log.Info("Node ready", "elapsed", time.Since(began).Round(time.Millisecond))

	if err := deployCoreDNS(ctx, cs); err != nil {
		return err
	}
	if err := n.waitFor(ctx, 3*time.Minute, "CoreDNS ready and default service account", []*process{kubelet, containerd, proxy}, func(ctx context.Context) error {
		if err := coreDNSReady(ctx, cs); err != nil {
			return err
		}
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	for range rest {
		if err := <-imported; err != nil {
			return err
		}
	}
	if err := n.startCloud(ctx); err != nil {
		return err
	}
	n.log.Info("Cluster ready", "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// startCloud gives the node what a cloud provider gives a cluster: the
// default StorageClass with its provisioner, and load balancers.
func (n *Node) startCloud(ctx context.Context) error {
	if err := createStorageClass(ctx, n.Clientset); err != nil {
		return err
	}
	cloudCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopCloud = cancel
	lb := &loadBalancer{cs: n.Clientset, pool: n.LoadBalancerPool, log: n.log}
	pv := &provisioner{cs: n.Clientset, dir: n.layout.volumes(), log: n.log}
	if err := os.MkdirAll(n.layout.volumes(), 0o755); err != nil {
		return err
	}
	n.cloudDone.Go(func() { lb.run(cloudCtx) })
	n.cloudDone.Go(func() { pv.run(cloudCtx) })
	return nil
}

func (n *Node) writePKI() error {
	p, err := newPKI(n.layout.pki(), time.Now())
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error {
			return p.server("apiserver",
				[]net.IP{n.IP, net.ParseIP(APIServiceIP), net.IPv4(127, 0, 0, 1)},
				[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain, "localhost"})
		},
		func() error { return p.server("kubelet-serving", []net.IP{n.IP}, []string{n.Name}) },
		p.serviceAccountKey,
	}
	for _, id := range []identity{adminID, kcmID, schedulerID, proxyID, apiKubeletID, kubeletID(n.Name)} {
		steps = append(steps, func() error { return p.client(id) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) kubeconfig(id identity) (string, error) {
	p := &pki{dir: n.layout.pki()}
	server := "https://" + net.JoinHostPort(n.IP.String(), strconv.Itoa(APIServerPort))
	return p.kubeconfig(n.Dir, server, id)
}

// run starts a component of the node inside its mount and network namespaces.
func (n *Node) run(name, bin string, args ...string) (*process, error) {
	argv := append([]string{"nsenter", "--mount=" + n.layout.mountNS(), "--net=" + netnsPath(n.netns), "--", bin}, args...)
	p, err := start(n.layout.logs(), name, []string{"PATH=" + nodePATH, "HOME=" + n.Dir}, argv...)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	n.remember(p.pid())
	n.log.Debug("Started", "component", name, "pid", p.pid())
	return p, nil
}

func (n *Node) processes() []*process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.procs)
}

func (n *Node) remember(pid int) {
	if id, ok := identify(pid); ok {
		n.mu.Lock()
		n.seen[id] = true
		n.mu.Unlock()
	}
}

// waitFor polls check until it returns nil, failing early when one of procs
// exits and after timeout.
func (n *Node) waitFor(ctx context.Context, timeout time.Duration, what string, procs []*process, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 10*time.Second)
		last = check(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		for _, p := range procs {
			if done, perr := p.exited(); done {
				return fmt.Errorf("wait for %s: %s exited (%v); last check: %w", what, p.name, perr, last)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: not done after %s: %w", what, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ctr runs containerd's ctr against the node's containerd in the k8s.io
// namespace (the one the kubelet's images live in).
func (n *Node) ctr(ctx context.Context, out io.Writer, args ...string) error {
	argv := append([]string{"ctr", "--address", n.layout.containerdSocket(), "--namespace", "k8s.io"}, args...)
	cmd := execCommand(ctx, argv...)
	var stderr limitedBuffer
	cmd.Stdout = out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr %v: %w: %s", args, err, stderr.String())
	}
	return nil
}

// LoadImages imports docker-archive tarballs into the node's containerd, where
// pods find them by their tags.
func (n *Node) LoadImages(ctx context.Context, archives ...string) error {
	for _, a := range archives {
		if err := n.ctr(ctx, io.Discard, "images", "import", a); err != nil {
			return fmt.Errorf("import image %s: %w", filepath.Base(a), err)
		}
	}
	return nil
}

// DumpLogs writes the last tail bytes of each component's log to w, for a
// failed test.
func (n *Node) DumpLogs(w io.Writer, tail int) {
	for _, p := range n.processes() {
		fmt.Fprintf(w, "--- %s (%s):\n%s\n", p.name, p.logPath, p.tail(tail))
	}
}

// Processes lists the node's processes right now: its components, the shims
// of its containerd, and everything in its pods' cgroups and its namespaces.
// Stop ends them all.
func (n *Node) Processes() []ProcessID {
	for _, pid := range n.livePIDs() {
		n.remember(pid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []ProcessID
	for id := range n.seen {
		if id.Alive() {
			ids = append(ids, id)
		}
	}
	return ids
}

// livePIDs finds the node's processes by what marks them as the node's: the
// PIDs it started, its containerd socket on their command line (the shims),
// its cgroup root (the containers), and its mount and network namespaces.
func (n *Node) livePIDs() []int {
	var pids []int
	for _, p := range n.processes() {
		if done, _ := p.exited(); !done {
			pids = append(pids, p.pid())
		}
	}
	pids = append(pids, pidsWithArg(n.layout.containerdSocket())...)
	pids = append(pids, cgroupPIDs(n.cgroupRoot)...)
	if ino, err := nsInode(n.layout.mountNS()); err == nil && n.mountNSPinned() {
		pids = append(pids, pidsInNamespace("mnt", ino)...)
	}
	if ino, err := nsInode(netnsPath(n.netns)); err == nil {
		pids = append(pids, pidsInNamespace("net", ino)...)
	}
	self := os.Getpid()
	return slices.DeleteFunc(pids, func(p int) bool { return p == self })
}

// mountNSPinned reports whether the mount namespace file is still bound (an
// unbound file is a plain file of the host's file system).
func (n *Node) mountNSPinned() bool {
	return slices.Contains(mountsUnder(n.layout.mountNS()), n.layout.mountNS())
}

// NetnsPath is the node's network namespace file; it is gone after Stop.
func (n *Node) NetnsPath() string { return netnsPath(n.netns) }

// CgroupDirs lists the node's cgroups in every hierarchy; none is left after
// Stop.
func (n *Node) CgroupDirs() []string { return cgroupDirs(n.cgroupRoot) }

// Stop tears the node down and leaves nothing behind: pods are deleted so the
// kubelet tears their sandboxes and networks down, then every component is
// stopped by PID (SIGTERM, then SIGKILL), stragglers found by the marks of
// livePIDs are killed, the pods' cgroups removed, the mount namespace (and with
// it every mount the node made) released, the network namespace and its link
// deleted, and the node's directory removed. It is safe to call more than once
// and returns every problem it met.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.stop(ctx) })
	return n.stopErr
}

func (n *Node) stop(ctx context.Context) error {
	var errs []error
	byName := map[string]*process{}
	for _, p := range n.processes() {
		byName[p.name] = p
	}
	stopComponent := func(name string) {
		if p := byName[name]; p != nil {
			p.stop(15 * time.Second)
		}
	}
	// Nothing new gets created or scheduled, then the pods go while the kubelet
	// and containerd still run to tear them down properly.
	if n.stopCloud != nil {
		n.stopCloud()
		n.cloudDone.Wait()
	}
	stopComponent("kube-controller-manager")
	stopComponent("kube-scheduler")
	if n.Cluster != nil {
		if err := n.drainPods(ctx); err != nil {
			n.log.Info("Pods not torn down cleanly; killing them", "err", err)
		}
	}
	for _, name := range []string{"kube-proxy", "kubelet", "containerd"} {
		stopComponent(name)
	}
	// Shims outlive containerd by design; they and their containers are the
	// node's, marked by its socket and cgroup root.
	n.killLeftovers()
	stopComponent("kube-apiserver")
	stopComponent("etcd")
	for _, p := range n.processes() {
		p.stop(5 * time.Second)
	}
	n.killLeftovers()

	if err := removeCgroupRoot(n.cgroupRoot); err != nil {
		errs = append(errs, err)
	}
	// The node's mounts live in its mount namespace; unbinding the file frees
	// it and them once its last process is gone.
	for _, m := range mountsUnder(n.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if _, err := os.Stat(netnsPath(n.netns)); err == nil {
		if err := run(context.WithoutCancel(ctx), "ip", "netns", "del", n.netns); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the namespace deletes both ends of the veth pair; this only
	// matters when setup failed before the node's end moved into it.
	if _, err := net.InterfaceByName(n.hostIf); err == nil {
		if err := run(context.WithoutCancel(ctx), "ip", "link", "del", n.hostIf); err != nil {
			errs = append(errs, err)
		}
	}
	if left := mountsUnder(n.Dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("mounts left under %s: %v; not removing it", n.Dir, left))
	} else if err := removeAll(n.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove node dir: %w", err))
	}
	if left := n.Processes(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes left: %v", left))
	}
	if n.lock != nil {
		n.lock.Close()
	}
	return errors.Join(errs...)
}

// drainPods deletes every pod at once and waits until containerd runs no
// task: the kubelet has stopped their containers and sandboxes, and released
// their network.
func (n *Node) drainPods(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cs := n.Clientset
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, ns := range nss.Items {
		err := cs.CoreV1().Pods(ns.Name).DeleteCollection(ctx,
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pods in %s: %w", ns.Name, err)
		}
	}
	return n.waitFor(ctx, time.Minute, "pods torn down", nil, func(ctx context.Context) error {
		var out limitedBuffer
		if err := n.ctr(ctx, &out, "tasks", "list", "--quiet"); err != nil {
			return err
		}
		if s := out.String(); s != "" {
			return fmt.Errorf("containerd tasks still running: %s", s)
		}
		return nil
	})
}

// killLeftovers SIGKILLs every live process that carries the node's marks,
// until none is left (a killed shim's containers may surface once).
func (n *Node) killLeftovers() {
	for range 20 {
		pids := n.livePIDs()
		var alive []int
		for _, pid := range pids {
			if _, state, err := procStat(pid); err == nil && state != "Z" {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return
		}
		for _, pid := range alive {
			n.remember(pid)
			n.log.Debug("Killing leftover", "pid", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newCluster loads an admin kubeconfig.
func newCluster(kubeconfig string, load ImageLoader) (*Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", kubeconfig, err)
	}
	return &Cluster{Kubeconfig: kubeconfig, Config: cfg, Clientset: cs, load: load}, nil
}

// removeAll removes dir, retrying for a few seconds: the kernel releases the
// mounts of a freed mount namespace in the background.
func removeAll(dir string) error {
	var err error
	for range 50 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
