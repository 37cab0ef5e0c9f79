package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/charts"
	"github.com/byoda-go/byoda/test/cluster"
	"github.com/byoda-go/byoda/test/testenv"
)

// env is the suite's view of its cluster: clients, and the tools it runs
// as a user would (kubectl, helm).
type env struct {
	t       *testing.T
	c       *cluster.Cluster
	client  client.Client
	helm    charts.Helm
	kubectl string
	cache   string
}

func newEnv(t *testing.T, c *cluster.Cluster) *env {
	t.Helper()
	sch := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, byodav1alpha1.AddToScheme} {
		if err := add(sch); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := client.New(c.Config, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t:       t,
		c:       c,
		client:  cl,
		helm:    charts.Helm{Bin: testenv.Binary(t, "helm"), Kubeconfig: c.Kubeconfig, Home: t.TempDir()},
		kubectl: testenv.Binary(t, "kubectl"),
		cache:   t.TempDir(),
	}
}

// sub returns the env for a subtest.
func (e *env) sub(t *testing.T) *env {
	s := *e
	s.t = t
	return &s
}

// run runs kubectl and returns its output, failing the test on an error.
func (e *env) run(args ...string) string {
	e.t.Helper()
	out, err := e.try(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// try runs kubectl and returns its output and error.
func (e *env) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(e.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kubectl, append([]string{"--kubeconfig", e.c.Kubeconfig, "--cache-dir", e.cache}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// helmRun runs helm against the cluster, failing the test on an error.
func (e *env) helmRun(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 6*time.Minute)
	defer cancel()
	out, err := e.helm.Run(ctx, args...)
	if err != nil {
		e.t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// waitFor polls check until it returns nil, failing the test after timeout
// with the last error and, when dump names namespaces, what runs there.
func (e *env) waitFor(timeout time.Duration, what string, check func(ctx context.Context) error, dump ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), timeout)
	defer cancel()
	began := time.Now()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 15*time.Second)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			e.t.Logf("%s after %s", what, time.Since(began).Round(100*time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			for _, ns := range dump {
				e.dumpNamespace(ns)
			}
			e.t.Fatalf("%s: not done after %s: %v", what, timeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// dumpNamespace logs what runs in a namespace and the logs of its pods, for a
// failed wait.
func (e *env) dumpNamespace(ns string) {
	e.t.Helper()
	out, _ := e.try("get", "all,byoda,certificates,certificaterequests,issuers,dnsendpoints,secrets,pvc", "-n", ns, "-o", "wide")
	e.t.Logf("--- kubectl get -n %s:\n%s", ns, out)
	out, _ = e.try("get", "events", "-n", ns, "--sort-by=.lastTimestamp")
	e.t.Logf("--- events in %s:\n%s", ns, tail(out, 8<<10))
	out, _ = e.try("get", "byoda", "-n", ns, "-o", "yaml")
	e.t.Logf("--- byoda objects in %s:\n%s", ns, tail(out, 16<<10))
	pods, _ := e.try("get", "pods", "-n", ns, "-o", "name")
	for _, p := range strings.Fields(pods) {
		out, _ := e.try("logs", "-n", ns, p, "--all-containers", "--tail=60")
		e.t.Logf("--- logs of %s/%s:\n%s", ns, p, out)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// repoFile is a file of the repository.
func repoFile(elem ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, elem...)...)
}

// writeTemp writes b to a file of the test's and returns its path.
func (e *env) writeTemp(name string, b []byte) string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}
