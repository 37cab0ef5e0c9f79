package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/byoda-go/byoda/test/cluster/image"
)

// envCluster turns on the tests that start a node: they need root and take a
// minute or two, so `go test ./...` runs them only when asked.
const envCluster = "BYODA_CLUSTER"

// TestNodeSmoke starts a node, runs workloads on it, and checks that Stop
// leaves nothing behind.
func TestNodeSmoke(t *testing.T) {
	if os.Getenv(envCluster) == "" {
		t.Skipf("set %s=1 to start a one-node cluster (make e2e-cluster)", envCluster)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()

	hostBefore := hostDefaultEntries(t)
	began := time.Now()
	n, err := Start(ctx, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no one-node cluster: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node %s ready with CoreDNS in %s", n.Name, time.Since(began).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		if t.Failed() {
			var b strings.Builder
			n.DumpLogs(&b, 16<<10)
			t.Log(b.String())
		}
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})

	// A server of the host, on the host's end of the link, as later suites
	// run S3 or DNS servers: pods must reach it.
	l, err := net.Listen("tcp", net.JoinHostPort(n.HostIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	hostSrv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "host server") }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go hostSrv.Serve(l)
	defer hostSrv.Close()

	checkWorkloads(ctx, t, n.Cluster, "http://"+l.Addr().String()+"/")
	checkCloud(ctx, t, n)

	// What Stop must remove, taken while the node runs: a check over nothing
	// would pass whatever Stop did.
	procs := n.Processes()
	var components []int
	for _, p := range n.processes() {
		components = append(components, p.pid())
	}
	shims := pidsWithArg(n.layout.containerdSocket())
	pods := cgroupPIDs(n.cgroupRoot)
	cgroups := n.CgroupDirs()
	netns := n.NetnsPath()
	if len(components) != 7 || len(shims) == 0 || len(pods) == 0 {
		t.Fatalf("node runs %d components (want 7), %d shims and %d pod processes (want some of each)", len(components), len(shims), len(pods))
	}
	for _, pid := range slices.Concat(components, shims, pods) {
		if !slices.ContainsFunc(procs, func(p ProcessID) bool { return p.PID == pid }) {
			t.Errorf("Processes() misses pid %d", pid)
		}
	}
	if len(cgroups) == 0 {
		t.Fatalf("node has no cgroups under /%s", n.Name)
	}
	if _, err := os.Stat(netns); err != nil {
		t.Fatalf("node network namespace: %v", err)
	}
	stopBegan := time.Now()
	stopped = true
	if err := n.Stop(context.Background()); err != nil {
		var b strings.Builder
		n.DumpLogs(&b, 16<<10)
		t.Fatalf("stop node: %v\n%s", err, b.String())
	}
	t.Logf("node stopped in %s", time.Since(stopBegan).Round(time.Millisecond))
	for _, p := range procs {
		if p.Alive() {
			t.Errorf("process %v of the node still runs after Stop", p)
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still exists after Stop (%v)", d, err)
		}
	}
	if _, err := os.Stat(netns); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace %s still exists after Stop (%v)", netns, err)
	}
	if _, err := os.Stat(n.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node directory %s still exists after Stop (%v)", n.Dir, err)
	}
	if _, err := net.InterfaceByName(n.hostIf); err == nil {
		t.Errorf("host interface %s still exists after Stop", n.hostIf)
	}
	if left := pidsWithArg(n.layout.containerdSocket()); len(left) > 0 {
		t.Errorf("processes with the node's containerd socket after Stop: %v", left)
	}
	for p := range hostDefaultEntries(t) {
		// The mount points of the node's private directories stay, empty.
		if !hostBefore[p] && !slices.Contains(privateDirs, p) {
			t.Errorf("the node left %s on the host", p)
		}
	}
}

// hostDefaults are the host paths the node's components write to when
// nothing tells them otherwise. The node must keep its files in its own
// directory, whatever runs next to it.
var hostDefaults = []string{
	"/etc/cni", "/etc/containerd", "/etc/kubernetes", "/opt/cni", "/opt/containerd",
	"/run/containerd", "/usr/libexec/kubernetes", "/var/lib/cni", "/var/lib/containerd",
	"/var/lib/etcd", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods",
}

// hostDefaultEntries lists every file and directory in hostDefaults.
func hostDefaultEntries(t *testing.T) map[string]bool {
	t.Helper()
	entries := map[string]bool{}
	for _, root := range hostDefaults {
		_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
			if err == nil {
				entries[p] = true
			}
			return nil
		})
	}
	return entries
}

// envStaleHelper makes TestStaleNodeHelper start a node and exit without
// stopping it, as a test binary killed by a timeout would.
const envStaleHelper = "BYODA_CLUSTER_STALE_HELPER"

func TestStaleNodeHelper(t *testing.T) {
	if os.Getenv(envStaleHelper) == "" {
		t.Skip("run by TestStaleNodeRemoved")
	}
	n, err := Start(t.Context(), Options{Images: []image.Spec{image.Pause, image.CoreDNS}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("node-dir=%s\n", n.Dir)
	os.Exit(0) // no Stop: the node is left behind
}

// TestStaleNodeRemoved leaves a node behind in a test process that exits
// without stopping it, and checks that the next Start's clean-up removes
// everything of it.
func TestStaleNodeRemoved(t *testing.T) {
	if os.Getenv(envCluster) == "" {
		t.Skipf("set %s=1 to start a one-node cluster (make e2e-cluster)", envCluster)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a node")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStaleNodeHelper$", "-test.v")
	cmd.Env = append(os.Environ(), envStaleHelper+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var dir string
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "node-dir="); ok {
			dir = v
		}
	}
	if dir == "" {
		t.Fatalf("helper printed no node directory:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	left := &Node{Name: rec.Name, Dir: dir, layout: layout{dir: dir}, cgroupRoot: rec.CgroupRoot, netns: rec.Netns, seen: map[ProcessID]bool{}}
	// What the dead test process left: its pods still run in their shims.
	shims := pidsWithArg(left.layout.containerdSocket())
	pods := cgroupPIDs(rec.CgroupRoot)
	if len(shims) == 0 || len(pods) == 0 {
		t.Fatalf("the helper's node left %d shims and %d pod processes, want some of each", len(shims), len(pods))
	}
	if _, err := os.Stat(netnsPath(rec.Netns)); err != nil {
		t.Fatalf("the helper's network namespace: %v", err)
	}
	cgroups := cgroupDirs(rec.CgroupRoot)

	if err := cleanStale(ctx, slog.New(slog.NewTextHandler(testWriter{t}, nil))); err != nil {
		t.Fatal(err)
	}
	for _, pid := range slices.Concat(shims, pods) {
		if _, state, err := procStat(pid); err == nil && state != "Z" {
			t.Errorf("process %d of the stale node still runs", pid)
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s of the stale node still exists (%v)", d, err)
		}
	}
	if _, err := os.Stat(netnsPath(rec.Netns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace of the stale node still exists (%v)", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory of the stale node still exists (%v)", err)
	}
	if _, err := net.InterfaceByName(rec.HostIf); err == nil {
		t.Errorf("host interface %s of the stale node still exists", rec.HostIf)
	}
}

// TestExternalCluster runs the workload checks against the cluster named by
// BYODA_E2E_KUBECONFIG (for example kind, with BYODA_E2E_KIND_CLUSTER), the
// way an end-to-end suite uses a cluster it is handed.
func TestExternalCluster(t *testing.T) {
	if os.Getenv(EnvKubeconfig) == "" {
		t.Skipf("set %s (and %s for kind) to run against an existing cluster", EnvKubeconfig, EnvKindCluster)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	c := ForTest(t, Options{})
	if err := c.LoadImages(ctx, Archives("", image.Byoda, image.Probe)...); err != nil {
		t.Fatal(err)
	}
	checkWorkloads(ctx, t, c, "")
}

// checkWorkloads runs the byoda image, a Service behind kube-proxy and a pod
// that reaches it by its DNS name, on any cluster. The pod also fetches
// hostURL, a server outside the cluster that answers "host server", unless it
// is empty.
func checkWorkloads(ctx context.Context, t *testing.T, c *Cluster, hostURL string) {
	t.Helper()
	cs := c.Clientset
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-"}}
	ns, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// byoda's image: `byoda version` as an init container, then the pod idles
	// in the probe's server (the byoda image has nothing to sleep with).
	byodaLabels := map[string]string{"app": "byoda"}
	byodaPod := corev1.PodSpec{
		InitContainers: []corev1.Container{{
			Name: "version", Image: image.Byoda.Ref, ImagePullPolicy: corev1.PullNever,
			Args: []string{"version", "--json"},
		}},
		Containers: []corev1.Container{{
			Name: "idle", Image: image.Probe.Ref, ImagePullPolicy: corev1.PullNever,
			Args: []string{"serve", "-listen", ":8080"},
		}},
	}
	createDeployment(ctx, t, cs, ns.Name, "byoda", byodaLabels, byodaPod)

	webLabels := map[string]string{"app": "web"}
	createDeployment(ctx, t, cs, ns.Name, "web", webLabels, corev1.PodSpec{
		Containers: []corev1.Container{webContainer()},
	})
	svc, err := cs.CoreV1().Services(ns.Name).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: webLabels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	waitFor(ctx, t, 3*time.Minute, "deployments byoda and web available", func(ctx context.Context) error {
		for _, name := range []string{"byoda", "web"} {
			d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.AvailableReplicas < 1 {
				return fmt.Errorf("deployment %s: %d available; %s", name, d.Status.AvailableReplicas, podStates(ctx, cs, ns.Name))
			}
		}
		return nil
	})

	// The client finds the Service by name (CoreDNS) and fetches from it
	// through its cluster IP (kube-proxy), from another pod.
	name := fmt.Sprintf("web.%s.svc.%s", ns.Name, ClusterDomain)
	var hostGet []string
	if hostURL != "" {
		hostGet = []string{"-get", hostURL}
	}
	client := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "client", Image: image.Probe.Ref, ImagePullPolicy: corev1.PullNever,
				Args: append([]string{"check", "-timeout", "2m", "-resolve", name, "-get", "http://" + name + "/"}, hostGet...),
			}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns.Name).Create(ctx, client, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, 3*time.Minute, "client pod done", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(ns.Name).Get(ctx, "client", metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			t.Fatalf("client pod failed:\n%s", kubectl(ctx, t, c, "logs", "-n", ns.Name, "pod/client"))
		}
		return fmt.Errorf("client pod is %s", p.Status.Phase)
	})

	logs := kubectl(ctx, t, c, "logs", "-n", ns.Name, "pod/client")
	if want := fmt.Sprintf("resolve %s: %s\n", name, svc.Spec.ClusterIP); !strings.Contains(logs, want) {
		t.Errorf("client did not resolve the Service to its cluster IP: want %q in\n%s", want, logs)
	}
	if want := fmt.Sprintf("get http://%s/: 200 probe web-", name); !strings.Contains(logs, want) {
		t.Errorf("client did not reach the web pods through the Service: want %q in\n%s", want, logs)
	}
	if want := fmt.Sprintf("get %s: 200 host server", hostURL); hostURL != "" && !strings.Contains(logs, want) {
		t.Errorf("client did not reach the host's server: want %q in\n%s", want, logs)
	}
	logs = kubectl(ctx, t, c, "logs", "-n", ns.Name, "deployment/byoda", "-c", "version")
	if !strings.Contains(logs, `"version"`) || !strings.Contains(logs, `"goVersion"`) {
		t.Errorf("byoda version printed no build information:\n%s", logs)
	}
	t.Logf("byoda version in the cluster: %s", strings.Join(strings.Fields(logs), " "))
}

func createDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, labels map[string]string, spec corev1.PodSpec) {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// checkCloud checks what the node gives in place of a cloud provider: a
// LoadBalancer Service gets an address of the node's pool, which this
// machine reaches; a claim of the default StorageClass gets a volume that a
// pod mounts, and loses it (and its directory) when the claim goes.
func checkCloud(ctx context.Context, t *testing.T, n *Node) {
	t.Helper()
	cs := n.Clientset
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cloud-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claim, err := cs.CoreV1().PersistentVolumeClaims(ns.Name).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "lb"}
	createDeployment(ctx, t, cs, ns.Name, "lb", labels, corev1.PodSpec{
		Containers: []corev1.Container{withMount(webContainer(), corev1.VolumeMount{Name: "data", MountPath: "/data"})},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}}}},
	})
	if _, err := cs.CoreV1().Services(ns.Name).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var lbIP string
	waitFor(ctx, t, 3*time.Minute, "load balancer address and a ready pod on the volume", func(ctx context.Context) error {
		svc, err := cs.CoreV1().Services(ns.Name).Get(ctx, "lb", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(svc.Status.LoadBalancer.Ingress) != 1 {
			return fmt.Errorf("service lb has ingress %v", svc.Status.LoadBalancer.Ingress)
		}
		lbIP = svc.Status.LoadBalancer.Ingress[0].IP
		d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, "lb", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("deployment lb: no pod available; %s", podStates(ctx, cs, ns.Name))
		}
		return nil
	})
	if a, err := netip.ParseAddr(lbIP); err != nil || !n.LoadBalancerPool.Contains(a) {
		t.Fatalf("load balancer address %q is not in the node's pool %s", lbIP, n.LoadBalancerPool)
	}
	claim, err = cs.CoreV1().PersistentVolumeClaims(ns.Name).Get(ctx, claim.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Status.Phase != corev1.ClaimBound || ptr.Deref(claim.Spec.StorageClassName, "") != StorageClass {
		t.Fatalf("claim data: %s, class %q; want Bound, class %s", claim.Status.Phase, ptr.Deref(claim.Spec.StorageClassName, ""), StorageClass)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volDir := pv.Spec.HostPath.Path
	if _, err := os.Stat(volDir); err != nil {
		t.Fatalf("volume %s: %v", pv.Name, err)
	}
	// This machine reaches the Service at its load balancer address.
	waitFor(ctx, t, time.Minute, "GET from this machine through the load balancer", func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lbIP+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "probe lb-") {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	})
	// The claim goes, and with it the volume and its directory.
	if err := cs.AppsV1().Deployments(ns.Name).Delete(ctx, "lb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns.Name).Delete(ctx, claim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, 2*time.Minute, "volume reclaimed", func(ctx context.Context) error {
		if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("volume %s still there", pv.Name)
		}
		if _, err := os.Stat(volDir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("volume directory %s still there (%v)", volDir, err)
		}
		return nil
	})
}

// podStates summarizes the pods of a namespace for a wait's error.
func podStates(ctx context.Context, cs kubernetes.Interface, ns string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var s []string
	for _, p := range pods.Items {
		state := string(p.Status.Phase)
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if w := st.State.Waiting; w != nil {
				state += fmt.Sprintf(" %s: %s %s", st.Name, w.Reason, w.Message)
			}
		}
		s = append(s, p.Name+": "+state)
	}
	return strings.Join(s, "; ")
}

// kubectl runs bin/kubectl against c and returns its output.
func kubectl(ctx context.Context, t *testing.T, c *Cluster, args ...string) string {
	t.Helper()
	bin := filepath.Join(defaultBinDir(), "kubectl")
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.Kubeconfig, "--cache-dir", t.TempDir()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func waitFor(ctx context.Context, t *testing.T, timeout time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 10*time.Second)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not done after %s: %v", what, timeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// testWriter sends a logger's lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// webContainer is the probe image serving HTTP on port 8080, ready once it
// answers there.
func webContainer() corev1.Container {
	return corev1.Container{
		Name: "web", Image: image.Probe.Ref, ImagePullPolicy: corev1.PullNever,
		Args:           []string{"serve", "-listen", ":8080"},
		Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
	}
}

// withMount returns c with m added to its volume mounts.
func withMount(c corev1.Container, m corev1.VolumeMount) corev1.Container {
	c.VolumeMounts = append(c.VolumeMounts, m)
	return c
}
