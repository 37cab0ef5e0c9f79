package operator

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers"
	"github.com/byoda-go/byoda/test/testenv"
)

// TestScaleWrites breaks the operator's API writes per DataPod (with its
// Membership) down by verb and resource, for docs/benchmarks.md, and
// reports apart its reads of single objects from the API server (the cache's
// lists and watches are not counted). It runs the operator in-process behind
// a counting transport.
//
//	BYODA_SCALE=1 go test ./test/operator -run TestScaleWrites -v
func TestScaleWrites(t *testing.T) {
	if !scaleEnabled() {
		t.Skip("runs with BYODA_SCALE=1 (see docs/benchmarks.md)")
	}
	const n = 50
	k := testenv.StartKube(t, testenv.WithScheme(controllers.AddToScheme))
	e := &env{t: t, kube: k, c: k.Client, run: &runner{}}
	e.cm = testenv.StartCertManager(t, k)
	e.kubectl("apply", "-f", "../../config/samples/network.yaml")
	for _, name := range []string{"byoda-root-ca", accountsIssuer, servicesIssuer} {
		e.waitClusterIssuerReady(name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	playDeploymentController(ctx, t, k.Config)

	counter := &countingTransport{counts: map[string]int{}, reads: map[string]int{}}
	cfg := rest.CopyConfig(k.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { counter.next = next; return counter })
	mgr, err := controllers.NewManager(ctx, cfg, controllers.ManagerOptions{
		Options: controllers.Options{NetworkDomain: network, AccountsIssuer: accountsIssuer, ServicesIssuer: servicesIssuer,
			Image: testImage, MaxConcurrentReconciles: 4, RetryInterval: 2 * time.Second},
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", SkipNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	svcNS := k.CreateNamespace(t, "writes-svc")
	svc := newService(svcNS, "addressbook", demoServiceID, demoContract(t))
	e.create(svc)
	e.waitAllTrue(svc)
	counter.reset()

	ns := k.CreateNamespace(t, "writes")
	for i := range n {
		name := fmt.Sprintf("pod-%02d", i)
		e.create(newDataPod(ns, name, "192.0.2.1"), newMembership(ns, name+"-addressbook", name, svcNS, "addressbook"))
	}
	testenv.Eventually(t, timeout, "all Ready", nil, func(context.Context) error {
		pods := countReady(t, k.Client, ns, &byodav1alpha1.DataPodList{})
		members := countReady(t, k.Client, ns, &byodav1alpha1.MembershipList{})
		if pods < n || members < n {
			return fmt.Errorf("%d/%d DataPods and %d/%d Memberships Ready", pods, n, members, n)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // writes that follow Ready, if any
	counts, reads := counter.snapshot()
	var report strings.Builder
	total := tabulate(&report, counts, n)
	fmt.Fprintf(&report, "%-36s %5.2f\n", "total writes per DataPod", float64(total)/n)
	total = tabulate(&report, reads, n)
	fmt.Fprintf(&report, "%-36s %5.2f\n", "total reads per DataPod", float64(total)/n)
	t.Log("\n" + report.String())
}

// tabulate writes counts per DataPod, sorted by key, and returns their sum.
func tabulate(w io.Writer, counts map[string]int, n int) int {
	var total int
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		total += counts[k]
		fmt.Fprintf(w, "%-36s %5.2f\n", k, float64(counts[k])/float64(n))
	}
	return total
}

// countingTransport counts requests other than reads by verb and resource,
// and GETs of one object by resource.
type countingTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	counts map[string]int
	reads  map[string]int
}

var resourcePath = regexp.MustCompile(`^/(?:api/v1|apis/[^/]+/[^/]+)/(?:namespaces/[^/]+/)?([a-z0-9]+)(/[^/]+)?(/status)?$`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Method + " " + r.URL.Path
	m := resourcePath.FindStringSubmatch(r.URL.Path)
	if m != nil {
		key = r.Method + " " + m[1] + m[3]
	}
	c.mu.Lock()
	switch {
	case r.Method != http.MethodGet:
		c.counts[key]++
	case m != nil && m[2] != "" && r.URL.Query().Get("watch") == "":
		c.reads[key]++
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.reads = map[string]int{}, map[string]int{}
}

func (c *countingTransport) snapshot() (writes, reads map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts), maps.Clone(c.reads)
}
