package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/byoda-go/byoda/test/cluster/image"
)

// The node's fixed networks. They exist only inside the node's network
// namespace, so every node can use the same ones.
const (
	// PodCIDR is the range the pods' bridge hands out addresses from.
	PodCIDR = "10.244.0.0/24"
	// ServiceCIDR is the range of Service cluster IPs.
	ServiceCIDR = "10.96.0.0/16"
	// APIServiceIP is the cluster IP of the default/kubernetes Service.
	APIServiceIP = "10.96.0.1"
	// DNSServiceIP is the cluster IP of kube-system/kube-dns (CoreDNS).
	DNSServiceIP = "10.96.0.10"
	// ClusterDomain is the DNS domain of Services and pods.
	ClusterDomain = "cluster.local"
	// APIServerPort is the API server's port on the node IP.
	APIServerPort = 6443
)

// layout is where the node keeps its files, all under one directory.
type layout struct {
	dir string
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}

func (l layout) pki() string              { return l.path("pki") }
func (l layout) logs() string             { return l.path("logs") }
func (l layout) mountNS() string          { return l.path("mntns") }
func (l layout) etcdData() string         { return l.path("etcd") }
func (l layout) containerdSocket() string { return l.path("containerd", "containerd.sock") }
func (l layout) containerdConfig() string { return l.path("containerd", "config.toml") }
func (l layout) cniConfDir() string       { return l.path("cni", "net.d") }
func (l layout) kubeletRoot() string      { return l.path("kubelet") }
func (l layout) kubeletConfig() string    { return l.path("kubelet.yaml") }
func (l layout) podLogs() string          { return l.path("pod-logs") }
func (l layout) proxyConfig() string      { return l.path("kube-proxy.yaml") }
func (l layout) resolvConf() string       { return l.path("resolv.conf") }
func (l layout) volumes() string          { return l.path("volumes") }

var containerdTemplate = template.Must(template.New("containerd").Parse(`# containerd of a byoda test node: everything under {{.Dir}}.
version = 2
root = "{{.Dir}}/containerd/root"
state = "{{.Dir}}/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{{.Socket}}"

[ttrpc]
  address = "{{.Socket}}.ttrpc"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.Dir}}/containerd/opt"

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{.SandboxImage}}"
    # The node runs without CAP_SYS_RESOURCE in its bounding set on some
    # machines: runc must not try to lower a container's OOM score below its own.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_selinux = false
    disable_apparmor = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{{.Dir}}/runc"

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{{.CNIBinDir}}"
      conf_dir = "{{.CNIConfDir}}"
      max_conf_num = 1
`))

func writeContainerdConfig(l layout) error {
	var b bytes.Buffer
	err := containerdTemplate.Execute(&b, map[string]string{
		"Dir":          l.dir,
		"Socket":       l.containerdSocket(),
		"SandboxImage": image.Pause.Ref,
		"CNIBinDir":    cniBinDir,
		"CNIConfDir":   l.cniConfDir(),
	})
	if err != nil {
		return err
	}
	return writeFile(l.containerdConfig(), b.Bytes())
}

// writeCNIConfig writes the pods' network: a bridge with the pods' gateway on
// it, addresses from PodCIDR (allocations kept under the node's directory),
// masquerade for traffic that leaves the node, and port mappings.
func writeCNIConfig(l layout) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "byoda",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      "cni0",
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  []any{[]any{map[string]any{"subnet": PodCIDR}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": l.path("cni", "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return writeJSON(filepath.Join(l.cniConfDir(), "10-byoda.conflist"), conf)
}

// writeKubeletConfig writes the KubeletConfiguration. The choices that make a
// kubelet run on a shared test machine: the cgroupfs driver under a cgroup root
// of the node's own, swap and cgroup v1 tolerated, no node allocatable
// enforcement, eviction and image garbage collection that never fire on a full
// developer disk, and everything it writes under the node's directory.
func writeKubeletConfig(l layout, nodeIP net.IP, cgroupRoot string) error {
	pki := func(f string) string { return filepath.Join(l.pki(), f) }
	conf := map[string]any{
		"apiVersion":         "kubelet.config.k8s.io/v1beta1",
		"kind":               "KubeletConfiguration",
		"address":            nodeIP.String(),
		"port":               10250,
		"readOnlyPort":       0,
		"healthzBindAddress": "127.0.0.1",
		"healthzPort":        10248,
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": pki("ca.crt")},
		},
		"authorization":               map[string]any{"mode": "Webhook"},
		"tlsCertFile":                 pki("kubelet-serving.crt"),
		"tlsPrivateKeyFile":           pki("kubelet-serving.key"),
		"containerRuntimeEndpoint":    "unix://" + l.containerdSocket(),
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  cgroupRoot,
		"cgroupsPerQOS":               true,
		"enforceNodeAllocatable":      []string{},
		"failSwapOn":                  false,
		"failCgroupV1":                false,
		"oomScoreAdj":                 0,
		"protectKernelDefaults":       false,
		"clusterDNS":                  []string{DNSServiceIP},
		"clusterDomain":               ClusterDomain,
		"resolvConf":                  l.resolvConf(),
		"podLogsDir":                  l.podLogs(),
		"volumePluginDir":             l.path("kubelet-plugins"),
		"evictionHard":                map[string]string{"memory.available": "50Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%", "imagefs.inodesFree": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"serializeImagePulls":         false,
		"syncFrequency":               "10s",
		"nodeStatusUpdateFrequency":   "5s",
		"shutdownGracePeriod":         "0s",
		"rotateCertificates":          false,
		"serverTLSBootstrap":          false,
		"registerNode":                true,
		"kubeAPIQPS":                  50,
		"kubeAPIBurst":                100,
		"maxPods":                     110,
	}
	return writeJSON(l.kubeletConfig(), conf)
}

// writeProxyConfig writes the KubeProxyConfiguration: iptables mode, with the
// conntrack limits (machine-wide settings) left alone. Without br_netfilter,
// replies between pods on the one bridge skip iptables; masquerading all
// Service traffic sends them back through the node instead.
func writeProxyConfig(l layout, kubeconfig, nodeName string, masqueradeAll bool) error {
	conf := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"clientConnection":   map[string]any{"kubeconfig": kubeconfig},
		"mode":               "iptables",
		"hostnameOverride":   nodeName,
		"bindAddress":        "0.0.0.0",
		"clusterCIDR":        PodCIDR,
		"healthzBindAddress": "127.0.0.1:10256",
		"metricsBindAddress": "127.0.0.1:10249",
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": "0s",
			"tcpCloseWaitTimeout":   "0s",
		},
		"iptables": map[string]any{
			"masqueradeAll": masqueradeAll,
			"syncPeriod":    "30s",
			"minSyncPeriod": "0s",
		},
	}
	return writeJSON(l.proxyConfig(), conf)
}

// writeResolvConf writes the resolv.conf the kubelet gives pods with
// dnsPolicy Default (CoreDNS forwards to it): the host's name servers, except
// loopback ones, which mean nothing inside the node.
func writeResolvConf(l layout) error {
	var b bytes.Buffer
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 2 && fields[0] == "nameserver" {
				if ip := net.ParseIP(fields[1]); ip != nil && !ip.IsLoopback() {
					fmt.Fprintf(&b, "nameserver %s\n", ip)
				}
			}
		}
		f.Close()
	}
	return writeFile(l.resolvConf(), b.Bytes())
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
