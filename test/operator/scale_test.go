package operator

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers"
	"github.com/byoda-go/byoda/test/testenv"
)

// TestScale is the operator's scale benchmark (docs/benchmarks.md): N
// DataPods (BYODA_SCALE_PODS, default 1000), each with one Membership of
// one Service, against envtest and the cert-manager controller with its
// client limits raised. The operator runs as its own process (bin/byoda
// manager, built by the test) so that its peak resident memory can be read
// from /proc. It reports the time until every DataPod and Membership is
// Ready, the operator's peak RSS, its API writes per DataPod (from its
// rest_client_requests_total metric) and the CPU time of every process.
//
//	BYODA_SCALE=1 go test ./test/operator -run TestScale -v -timeout 60m
func TestScale(t *testing.T) {
	if !scaleEnabled() {
		t.Skip("the scale benchmark runs with BYODA_SCALE=1 (see docs/benchmarks.md)")
	}
	n := envInt(t, "BYODA_SCALE_PODS", 1000)
	workers := envInt(t, "BYODA_SCALE_WORKERS", 8)
	cmQPS := envInt(t, "BYODA_SCALE_CM_QPS", 1000)
	opQPS := envInt(t, "BYODA_SCALE_OPERATOR_QPS", 500)
	// The operator runs in its own process; this one's informers log
	// through controller-runtime's global logger, which nothing else sets.
	ctrl.SetLogger(errorLogger())

	k := testenv.StartKube(t, testenv.WithScheme(controllers.AddToScheme))
	cmArgs := []string{"-kube-api-qps", strconv.Itoa(cmQPS), "-kube-api-burst", strconv.Itoa(2 * cmQPS),
		"-concurrent-workers", strconv.Itoa(workers), "-v", "0"}
	if addr := os.Getenv("BYODA_SCALE_CM_PROFILER"); addr != "" {
		cmArgs = append(cmArgs, "-profiler-address", addr)
	}
	cm := testenv.StartCertManager(t, k, cmArgs...)
	e := &env{t: t, kube: k, c: k.Client, cm: cm, run: &runner{}}
	e.kubectl("apply", "-f", filepath.Join(testenv.RepoRoot(), "config", "samples", "network.yaml"))
	for _, name := range []string{"byoda-root-ca", accountsIssuer, servicesIssuer} {
		e.waitClusterIssuerReady(name)
	}
	// cert-manager's self-signed CertificateRequest controller walks every
	// request of a namespace on every Secret event there, with a logger
	// that grows per request: quadratic in the requests of a namespace
	// (see docs/benchmarks.md). It is needed only to issue the network root,
	// so a large installation runs cert-manager without it afterwards, as
	// the benchmark does unless BYODA_SCALE_CM_SELFSIGNED=1.
	selfSigned := os.Getenv("BYODA_SCALE_CM_SELFSIGNED") != ""
	if !selfSigned {
		cm.Stop()
		cm = testenv.StartCertManager(t, k, append(cmArgs, "-controllers", withoutSelfSigned)...)
		e.cm = cm
	}

	// The operator, as a process.
	bin := filepath.Join(t.TempDir(), "byoda")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	metricsAddr := testenv.Addr(testenv.FreePort(t))
	op := testenv.StartProcess(t, "byoda-manager", bin, []string{
		"manager", "--kubeconfig", k.Kubeconfig,
		"--network-domain", network, "--image", testImage,
		"--max-concurrent-reconciles", strconv.Itoa(workers),
		"--kube-api-qps", strconv.Itoa(opQPS), "--kube-api-burst", strconv.Itoa(2 * opQPS),
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0",
		"--log-level", "warn",
	}, nil)
	testenv.WaitForTCP(t, metricsAddr, 30*time.Second, op)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	playDeploymentController(ctx, t, k.Config)
	addServiceCIDR(t, k.Client, "10.64.0.0/16")

	svcNS := k.CreateNamespace(t, "scale-svc")
	svc := newService(svcNS, "addressbook", demoServiceID, demoContract(t))
	e.create(svc)
	e.waitAllTrue(svc)

	// A client of its own, so that the test's creates do not queue behind
	// its polling.
	cfg := *k.Config
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(&cfg, client.Options{Scheme: k.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := k.CreateNamespace(t, "scale")
	// Count Ready objects from a watch, not by listing thousands of objects
	// every few seconds, which would load the API server the benchmark
	// measures.
	watch, err := cache.New(&cfg, cache.Options{Scheme: k.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{&byodav1alpha1.DataPod{}, &byodav1alpha1.Membership{}} {
		if _, err := watch.GetInformer(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = watch.Start(ctx) }()
	watch.WaitForCacheSync(ctx)
	writes0, reads0 := operatorRequests(t, metricsAddr)
	cpu0 := processCPU(t, op.Pid(), cm.Pid())

	start := time.Now()
	if file := os.Getenv("BYODA_SCALE_APISERVER_PROFILE"); file != "" {
		go profileAPIServer(ctx, t, k.Config, file, 40*time.Second)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				name := fmt.Sprintf("pod-%04d", i)
				dp := newDataPod(ns, name, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				m := newMembership(ns, name+"-addressbook", name, svcNS, "addressbook")
				for _, o := range []client.Object{dp, m} {
					if err := c.Create(ctx, o); err != nil {
						t.Errorf("create %s: %v", o.GetName(), err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	created := time.Since(start)
	t.Logf("created %d DataPods and %d Memberships in %s", n, n, created.Round(time.Millisecond))

	var readyAt time.Duration
	deadline := time.Now().Add(30 * time.Minute)
	for lastLog := time.Now(); ; time.Sleep(500 * time.Millisecond) {
		pods := countReady(t, watch, ns, &byodav1alpha1.DataPodList{})
		members := countReady(t, watch, ns, &byodav1alpha1.MembershipList{})
		if pods == n && members == n {
			readyAt = time.Since(start)
			break
		}
		if exited, err := op.Exited(); exited {
			t.Fatalf("the operator exited: %v\n%s", err, op.Tail(8<<10))
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d/%d DataPods and %d/%d Memberships Ready", time.Since(start), pods, n, members, n)
		}
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("%5.0fs: %d/%d DataPods and %d/%d Memberships Ready", time.Since(start).Seconds(), pods, n, members, n)
			lastLog = time.Now()
		}
	}
	writes1, reads1 := operatorRequests(t, metricsAddr)
	heap := operatorGauge(t, metricsAddr, "go_memstats_heap_inuse_bytes")
	cpu1 := processCPU(t, op.Pid(), cm.Pid())
	hwm := procStatus(t, op.Pid(), "VmHWM")

	var report strings.Builder
	fmt.Fprintf(&report, "pods: %d (each with one Membership), operator workers %d, operator QPS %d, cert-manager QPS %d and workers %d, cert-manager self-signed request controller running: %v\n",
		n, workers, opQPS, cmQPS, workers, selfSigned)
	fmt.Fprintf(&report, "all Ready after: %s (created in %s)\n", readyAt.Round(100*time.Millisecond), created.Round(100*time.Millisecond))
	fmt.Fprintf(&report, "operator peak RSS (VmHWM): %s; heap in use at the end: %.0f MiB\n", hwm, heap/(1<<20))
	var total float64
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		d := writes1[m] - writes0[m]
		total += d
		fmt.Fprintf(&report, "operator %s requests: %.0f (%.2f per DataPod)\n", m, d, d/float64(n))
	}
	fmt.Fprintf(&report, "operator API writes: %.0f, %.2f per DataPod with its Membership\n", total, total/float64(n))
	fmt.Fprintf(&report, "operator reads (GET/LIST, uncached): %.0f\n", reads1-reads0)
	fmt.Fprintf(&report, "CPU seconds during the run (2 cores = %.0f CPU-s available):\n", 2*readyAt.Seconds())
	for _, name := range sortedKeys(cpu1) {
		fmt.Fprintf(&report, "  %-16s %6.1f\n", name, cpu1[name]-cpu0[name])
	}
	t.Log("\n" + report.String())
	if out := os.Getenv("BYODA_SCALE_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// scaleEnabled says whether the scale benchmarks run.
func scaleEnabled() bool { return os.Getenv("BYODA_SCALE") != "" }

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return i
}

// withoutSelfSigned is the cert-manager wrapper's default controllers
// (hack/tools/cert-manager) less certificaterequests-issuer-selfsigned.
const withoutSelfSigned = "certificaterequests-approver,certificaterequests-issuer-ca," +
	"certificates-issuing,certificates-key-manager,certificates-readiness,certificates-request-manager," +
	"certificates-revision-manager,certificates-trigger,clusterissuers,issuers"

// countReady counts the objects of list in ns with Ready=True.
func countReady(t *testing.T, c client.Reader, ns string, list client.ObjectList) int {
	t.Helper()
	if err := c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range items {
		conds, _ := conditionsOf(it.(client.Object))
		if meta.IsStatusConditionTrue(conds, byodav1alpha1.ConditionReady) {
			n++
		}
	}
	return n
}

// operatorRequests scrapes the operator's client request counts by method:
// writes (POST, PUT, PATCH, DELETE) and the sum of reads (GET).
func operatorRequests(t *testing.T, addr string) (map[string]float64, float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]float64{}
	var reads float64
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "GET"} {
			if strings.Contains(line, `method="`+m+`"`) {
				if m == "GET" {
					reads += v
				} else {
					writes[m] += v
				}
			}
		}
	}
	return writes, reads
}

// operatorGauge scrapes one unlabelled metric of the operator.
func operatorGauge(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// processCPU returns the CPU seconds (user and system) used so far by the
// operator, cert-manager, and this test's kube-apiserver and etcd.
func processCPU(t *testing.T, operator, certManager int) map[string]float64 {
	t.Helper()
	pids := map[string]int{"byoda manager": operator, "cert-manager": certManager, "test process": os.Getpid()}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, _ := procStat(pid)
		if ppid == os.Getpid() && (comm == "kube-apiserver" || comm == "etcd") {
			pids[comm] = pid
		}
	}
	out := map[string]float64{}
	for name, pid := range pids {
		_, _, cpu := procStat(pid)
		out[name] = cpu
	}
	return out
}

// procStat reads a process's command name, parent and CPU seconds.
func procStat(pid int) (comm string, ppid int, cpu float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < 0 {
		return "", 0, 0
	}
	comm = s[open+1 : closing]
	f := strings.Fields(s[closing+2:])
	if len(f) < 13 {
		return comm, 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return comm, ppid, (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// procStatus returns one field of /proc/<pid>/status.
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func sortedKeys(m map[string]float64) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// addServiceCIDR gives the API server more Service addresses than
// envtest's /24, for a thousand DataPod Services, and marks the range Ready
// as kube-controller-manager would.
func addServiceCIDR(t *testing.T, c client.Client, cidr string) {
	t.Helper()
	sc := &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "scale"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{cidr}},
	}
	if err := c.Create(context.Background(), sc); err != nil {
		t.Fatalf("create ServiceCIDR: %v", err)
	}
	sc.Status.Conditions = []metav1.Condition{{
		Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue,
		Reason: "Test", Message: "marked ready by the scale benchmark", LastTransitionTime: metav1.Now(),
	}}
	if err := c.Status().Update(context.Background(), sc); err != nil {
		t.Fatalf("mark ServiceCIDR ready: %v", err)
	}
}

// profileAPIServer writes a CPU profile of the API server, taken over d
// from now, to file (BYODA_SCALE_APISERVER_PROFILE): the benchmark's
// bottleneck is the API server's CPU.
func profileAPIServer(ctx context.Context, t *testing.T, cfg *rest.Config, file string, d time.Duration) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Logf("API server profile: %v", err)
		return
	}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Logf("API server profile: %v", err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Logf("API server profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	t.Logf("API server CPU profile to %s: %v", file, err)
}
