package operator

import (
	"context"
	"fmt"
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
// Membership) down by verb and resource, for docs/benchmarks.md. It runs
// the operator in-process behind a counting transport.
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

	counter := &countingTransport{counts: map[string]int{}}
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
	time.Sleep(3 * time.Second) // the used CertificateRequests are deleted after Ready
	counts := counter.snapshot()
	var total int
	var report strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		total += counts[k]
		fmt.Fprintf(&report, "%-36s %5.2f\n", k, float64(counts[k])/n)
	}
	fmt.Fprintf(&report, "%-36s %5.2f\n", "total writes per DataPod", float64(total)/n)
	t.Log("\n" + report.String())
}

// countingTransport counts requests other than reads by verb and resource.
type countingTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	counts map[string]int
}

var resourcePath = regexp.MustCompile(`^/(?:api/v1|apis/[^/]+/[^/]+)/(?:namespaces/[^/]+/)?([a-z0-9]+)(?:/[^/]+)?(/status)?$`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		key := r.Method + " " + r.URL.Path
		if m := resourcePath.FindStringSubmatch(r.URL.Path); m != nil {
			key = r.Method + " " + m[1] + m[2]
		}
		c.mu.Lock()
		c.counts[key]++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}
