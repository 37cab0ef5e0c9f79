package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnsupported is returned (wrapped, with the reason) by Start when this
// machine cannot run a node at all: not root, no cgroup file system, no network
// namespaces. Tests skip on it; every other error fails them.
var ErrUnsupported = errors.New("this machine cannot run a Kubernetes node")

// nodePackages is the fix for a missing system program.
const nodePackages = "run `make node` (hack/node.sh installs containerd, runc, containernetworking-plugins, iproute2 and iptables)"

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = "/usr/lib/cni"

// nodePATH is the PATH of the node's processes: the system's programs,
// whatever the test binary's PATH holds.
const nodePATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// checkMachine reports ErrUnsupported when the machine cannot run a node, and
// a plain error naming the fix when only a program is missing.
func checkMachine() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root (network and mount namespaces, cgroups, iptables); run the tests as root", ErrUnsupported)
	}
	hs, err := cgroupHierarchies()
	if err != nil || len(hs) == 0 {
		return fmt.Errorf("%w: no cgroup file system mounted under /sys/fs/cgroup (%v)", ErrUnsupported, err)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("%w: no network namespaces: %v", ErrUnsupported, err)
	}
	var missing []string
	for _, prog := range []string{"ip", "nsenter", "unshare", "mount", "umount", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "iptables-restore"} {
		if _, err := lookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, plugin))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: %s", strings.Join(missing, ", "), nodePackages)
	}
	return nil
}

// lookPath finds prog in the node's PATH.
func lookPath(prog string) (string, error) {
	for _, dir := range filepath.SplitList(nodePATH) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", prog, nodePATH)
}

// run runs a system command and returns its combined output in the error.
func run(ctx context.Context, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + nodePATH}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// notPermitted reports whether a command failed for lack of privilege, as in a
// container without CAP_SYS_ADMIN.
func notPermitted(err error) bool {
	return strings.Contains(err.Error(), "Operation not permitted") || strings.Contains(err.Error(), "Permission denied")
}

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%x", b)
}

// linkNet is the /30 between the host and the node: the host's end of the veth
// pair has the first address, the node's end (its InternalIP) the second.
type linkNet struct {
	host, node net.IP
}

// pickLinkNet chooses a random /30 in 100.64.0.0/10 (shared address space,
// which hosts rarely route) that overlaps no address or route of the host.
func pickLinkNet() (linkNet, error) {
	used, err := hostNets()
	if err != nil {
		return linkNet{}, err
	}
	_, shared, _ := net.ParseCIDR("100.64.0.0/10")
	for range 64 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return linkNet{}, err
		}
		n := binary.BigEndian.Uint32(shared.IP.To4()) | (binary.BigEndian.Uint32(b[:]) & 0x003ffffc)
		base := make(net.IP, 4)
		binary.BigEndian.PutUint32(base, n)
		cand := &net.IPNet{IP: base, Mask: net.CIDRMask(30, 32)}
		if overlapsAny(cand, used) {
			continue
		}
		host, node := make(net.IP, 4), make(net.IP, 4)
		binary.BigEndian.PutUint32(host, n+1)
		binary.BigEndian.PutUint32(node, n+2)
		return linkNet{host: host, node: node}, nil
	}
	return linkNet{}, errors.New("no free /30 in 100.64.0.0/10 for the node's link")
}

// hostNets lists the IPv4 networks of the host's addresses and routes (except
// the default route).
func hostNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, n)
		}
	}
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nets, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(fields[1], 16, 32)
		mask, err2 := strconv.ParseUint(fields[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		ip, m := make(net.IP, 4), make(net.IPMask, 4)
		binary.LittleEndian.PutUint32(ip, uint32(dst))
		binary.LittleEndian.PutUint32(m, uint32(mask))
		nets = append(nets, &net.IPNet{IP: ip, Mask: m})
	}
	return nets, nil
}

func overlapsAny(n *net.IPNet, others []*net.IPNet) bool {
	for _, o := range others {
		if o.Contains(n.IP) || n.Contains(o.IP) {
			return true
		}
	}
	return false
}

// netnsPath is where `ip netns add` binds a named network namespace.
func netnsPath(name string) string { return filepath.Join("/var/run/netns", name) }

// setupNetwork creates the network namespace and the veth pair between it and
// the host: the node's end is eth0 in the namespace with the node IP and a
// default route through the host's end (kube-apiserver will not start without
// a default route). Nothing else of the host changes: no forwarding, no NAT.
func setupNetwork(ctx context.Context, name, hostIf string, link linkNet) error {
	nodeIf := hostIf + "n"
	ns := netnsPath(name)
	in := func(argv ...string) []string { return append([]string{"nsenter", "--net=" + ns, "--"}, argv...) }
	steps := [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", nodeIf},
		{"ip", "link", "set", nodeIf, "netns", name},
		{"ip", "addr", "add", link.host.String() + "/30", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
		in("ip", "link", "set", "lo", "up"),
		in("ip", "link", "set", nodeIf, "name", "eth0"),
		in("ip", "addr", "add", link.node.String()+"/30", "dev", "eth0"),
		in("ip", "link", "set", "eth0", "up"),
		in("ip", "route", "add", "default", "via", link.host.String()),
		// Forwarding between the pods' bridge and the node, in the node's
		// namespace only.
		in("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			if s[0] == "ip" && s[1] == "netns" && notPermitted(err) {
				return fmt.Errorf("%w: %v", ErrUnsupported, err)
			}
			return fmt.Errorf("set up node network: %w", err)
		}
	}
	return nil
}

// bridgeNetfilter turns on iptables for bridged traffic in the node's network
// namespace, which kube-proxy needs when a pod reaches a Service whose endpoint
// is on the same bridge. It reports false when the kernel lacks br_netfilter.
func bridgeNetfilter(ctx context.Context, ns string) bool {
	return run(ctx, "nsenter", "--net="+ns, "--", "sh", "-c",
		"echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables") == nil
}

// The kernel settings the kubelet insists on (it sets them when they differ,
// machine-wide). The node's mount namespace shows it files with these values
// over /proc/sys, so the kubelet finds them as it wants and writes nothing.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// privateDirs are host directories that containerd, its shims, libcni and the
// kubelet write to whatever their configuration says. In the node's mount
// namespace each is covered by a directory of the node's own, so nothing lands
// on the host and two nodes never share state.
var privateDirs = []string{
	"/run/containerd",  // shim sockets (/run/containerd/s)
	"/var/lib/cni",     // libcni's result cache
	"/var/lib/kubelet", // the device plugin socket (/var/lib/kubelet/device-plugins)
	"/var/log/containers",
}

// setupMountNS creates the node's mount namespace, a private copy of the host's
// pinned at nsFile, and prepares it: the kubelet's sysctls and the private
// directories. Every mount the node makes later (pod volumes, container root
// file systems, pod network namespaces) stays inside it and goes with it.
func setupMountNS(ctx context.Context, dir, nsFile string) error {
	if err := os.WriteFile(nsFile, nil, 0o600); err != nil {
		return fmt.Errorf("create mount namespace file: %w", err)
	}
	if err := run(ctx, "unshare", "--mount="+nsFile, "--propagation", "private", "true"); err != nil {
		if notPermitted(err) {
			return fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		return fmt.Errorf("create mount namespace: %w", err)
	}
	in := func(argv ...string) []string { return append([]string{"nsenter", "--mount=" + nsFile, "--"}, argv...) }
	names := make([]string, 0, len(kubeletSysctls))
	for k := range kubeletSysctls {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fake := filepath.Join(dir, "sysctl", strings.ReplaceAll(k, "/", "."))
		if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(fake, []byte(kubeletSysctls[k]+"\n"), 0o644); err != nil {
			return fmt.Errorf("write sysctl %s: %w", k, err)
		}
		if err := run(ctx, in("mount", "--bind", fake, "/proc/sys/"+k)...); err != nil {
			return fmt.Errorf("cover sysctl %s: %w", k, err)
		}
	}
	for _, d := range privateDirs {
		own := filepath.Join(dir, "private", strings.ReplaceAll(strings.TrimPrefix(d, "/"), "/", "."))
		if err := os.MkdirAll(own, 0o755); err != nil {
			return err
		}
		// The mount point must exist on the host; an empty directory is all
		// that is left there.
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", d, err)
		}
		if err := run(ctx, in("mount", "--bind", own, d)...); err != nil {
			return fmt.Errorf("cover %s: %w", d, err)
		}
	}
	return nil
}

// nsInode returns the inode of a namespace file (what /proc/<pid>/ns/<type>
// links to as "type:[inode]").
func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// pidsInNamespace lists the processes whose namespace of type typ ("net",
// "mnt") has inode ino.
func pidsInNamespace(typ string, ino uint64) []int {
	want := fmt.Sprintf("%s:[%d]", typ, ino)
	var pids []int
	for _, pid := range allPIDs() {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ)); err == nil && l == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// pidsWithArg lists the processes with an exact argument: the node's
// containerd socket path marks its shims, which leave the node's process
// groups.
func pidsWithArg(arg string) []int {
	var pids []int
	for _, pid := range allPIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		for a := range bytes.SplitSeq(b, []byte{0}) {
			if string(a) == arg || string(a) == "unix://"+arg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// mountsUnder lists the mount points of the current mount namespace at or
// under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
