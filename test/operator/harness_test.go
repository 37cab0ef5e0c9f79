package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers"
	"github.com/byoda-go/byoda/test/testenv"
)

// The network of config/samples/network.yaml, which the suite applies.
const (
	network        = "byoda.test"
	accountsIssuer = "byoda-accounts-ca"
	servicesIssuer = "byoda-services-ca"
	testImage      = "ghcr.io/byoda-go/byoda:test"
	timeout        = 90 * time.Second
)

// env is the cluster a suite runs against.
type env struct {
	t    *testing.T
	kube *testenv.Kube
	c    client.Client
	cm   *testenv.Process
	log  string // the operator's log file
	run  *runner
	bin  string // the byoda binary, for suites that run it
}

// runner holds the operator's current in-process run, shared by subtests.
type runner struct {
	mu  sync.Mutex
	mgr *manager
}

// manager is one in-process run of the operator.
type manager struct {
	cancel context.CancelFunc
	done   chan error
}

// newEnv starts the API server, the cert-manager controller and the
// operator, applies the network sample and waits for its issuers, and
// plays the Deployment controller for the operator's Deployments.
func newEnv(t *testing.T) *env {
	t.Helper()
	k := testenv.StartKube(t, testenv.WithScheme(controllers.AddToScheme))
	e := &env{t: t, kube: k, c: k.Client, log: filepath.Join(t.TempDir(), "operator.log"), run: &runner{}}
	e.cm = testenv.StartCertManager(t, k)
	e.kubectl("apply", "-f", filepath.Join(testenv.RepoRoot(), "config", "samples", "network.yaml"))
	for _, name := range []string{"byoda-root-ca", accountsIssuer, servicesIssuer} {
		e.waitClusterIssuerReady(name)
	}
	testenv.WaitCertificateReady(t, k, testenv.CertManagerNamespace, "byoda-network-data", timeout)
	e.startManager()
	ctx, cancel := context.WithCancel(context.Background())
	playDeploymentController(ctx, t, k.Config)
	t.Cleanup(func() {
		cancel()
		e.stopManager()
		if t.Failed() {
			if b, err := os.ReadFile(e.log); err == nil {
				const n = 64 << 10
				if len(b) > n {
					b = b[len(b)-n:]
				}
				t.Logf("--- operator log (%s):\n%s", e.log, b)
			}
		}
	})
	return e
}

// startManager starts a fresh operator in this process.
func (e *env) startManager() {
	e.t.Helper()
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	f, err := os.OpenFile(e.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	logger := logr.FromSlogHandler(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctrl.SetLogger(logger)
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), logger))
	cfg := *e.kube.Config
	cfg.QPS, cfg.Burst = 200, 400
	mgr, err := controllers.NewManager(ctx, &cfg, controllers.ManagerOptions{
		Options: controllers.Options{
			NetworkDomain:           network,
			AccountsIssuer:          accountsIssuer,
			ServicesIssuer:          servicesIssuer,
			Image:                   testImage,
			MaxConcurrentReconciles: 4,
			RetryInterval:           2 * time.Second,
		},
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		SkipNameValidation:     true,
	})
	if err != nil {
		cancel()
		e.t.Fatalf("create manager: %v", err)
	}
	m := &manager{cancel: cancel, done: make(chan error, 1)}
	go func() {
		m.done <- mgr.Start(ctx)
		f.Close()
	}()
	e.run.mgr = m
}

// stopManager stops the running operator and waits for it to finish.
func (e *env) stopManager() {
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	if e.run.mgr == nil {
		return
	}
	e.run.mgr.cancel()
	select {
	case err := <-e.run.mgr.done:
		if err != nil {
			e.t.Errorf("manager: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Errorf("manager did not stop within 30s")
	}
	e.run.mgr = nil
}

// kubectl runs bin/kubectl against the suite's API server and returns its
// output, failing the test on error.
func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	out, err := e.kubectlErr(args...)
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectlErr runs bin/kubectl and returns its combined output and error.
func (e *env) kubectlErr(args ...string) (string, error) {
	bin := testenv.Binary(e.t, "kubectl")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", e.kube.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) waitClusterIssuerReady(name string) {
	e.t.Helper()
	testenv.Eventually(e.t, timeout, "ClusterIssuer "+name+" Ready", e.cm, func(ctx context.Context) error {
		var iss cmv1.ClusterIssuer
		if err := e.c.Get(ctx, types.NamespacedName{Name: name}, &iss); err != nil {
			return err
		}
		for _, c := range iss.Status.Conditions {
			if c.Type == cmv1.IssuerConditionReady && c.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %+v", iss.Status.Conditions)
	})
}

// conditionsOf returns the conditions of a byoda object.
func conditionsOf(obj client.Object) ([]metav1.Condition, int64) {
	switch o := obj.(type) {
	case *byodav1alpha1.DataPod:
		return o.Status.Conditions, o.Status.ObservedGeneration
	case *byodav1alpha1.Service:
		return o.Status.Conditions, o.Status.ObservedGeneration
	case *byodav1alpha1.Membership:
		return o.Status.Conditions, o.Status.ObservedGeneration
	}
	panic(fmt.Sprintf("conditionsOf(%T)", obj))
}

// waitCondition waits until obj (re-read into obj) has condition typ with
// status and, when not empty, reason, for its current generation.
func (e *env) waitCondition(obj client.Object, typ string, status metav1.ConditionStatus, reason string) {
	e.t.Helper()
	key := client.ObjectKeyFromObject(obj)
	what := fmt.Sprintf("%T %s %s=%s %s", obj, key, typ, status, reason)
	testenv.Eventually(e.t, timeout, what, e.cm, func(ctx context.Context) error {
		if err := e.c.Get(ctx, key, obj); err != nil {
			return err
		}
		conds, observed := conditionsOf(obj)
		if observed != obj.GetGeneration() {
			return fmt.Errorf("status is for generation %d, object is at %d", observed, obj.GetGeneration())
		}
		c := meta.FindStatusCondition(conds, typ)
		if c == nil {
			return fmt.Errorf("no %s condition yet: %v", typ, conds)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s=%s %s: %s", typ, c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

// waitAllTrue waits until every condition of obj is True.
func (e *env) waitAllTrue(obj client.Object, types ...string) {
	e.t.Helper()
	for _, typ := range append(types, byodav1alpha1.ConditionReady) {
		e.waitCondition(obj, typ, metav1.ConditionTrue, "")
	}
	conds, _ := conditionsOf(obj)
	for _, c := range conds {
		if c.Status != metav1.ConditionTrue {
			e.t.Errorf("%T %s: condition %s=%s %s: %s", obj, obj.GetName(), c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// playDeploymentController does what the Deployment controller and the
// kubelet would for the operator's Deployments, as a controller of its own
// in this process: it reports every replica of the current spec as
// available. It stops with ctx.
func playDeploymentController(ctx context.Context, t testing.TB, cfg *rest.Config) {
	t.Helper()
	scheme, err := controllers.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	own := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{byodav1alpha1.LabelManagedBy: byodav1alpha1.ManagedByValue})}
	fast := *cfg
	fast.QPS, fast.Burst = 500, 1000
	mgr, err := ctrl.NewManager(&fast, ctrl.Options{
		// Its own logger: the scale benchmark runs the operator in another
		// process and sets none in this one.
		Logger:                 errorLogger(),
		Scheme:                 scheme,
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&appsv1.Deployment{}: own}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := mgr.GetClient()
	err = ctrl.NewControllerManagedBy(mgr).
		Named("test-deployment-controller").
		For(&appsv1.Deployment{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			var d appsv1.Deployment
			if err := c.Get(ctx, req.NamespacedName, &d); err != nil {
				return reconcile.Result{}, client.IgnoreNotFound(err)
			}
			replicas := ptr.Deref(d.Spec.Replicas, 1)
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == replicas {
				return reconcile.Result{}, nil
			}
			now := metav1.Now()
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation,
				Replicas:           replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
				Conditions: []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentAvailable, Status: "True", Reason: "MinimumReplicasAvailable",
					LastUpdateTime: now, LastTransitionTime: now,
				}},
			}
			return reconcile.Result{}, client.IgnoreNotFound(c.Status().Update(ctx, &d))
		}))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
}

// errorLogger logs errors only, to stderr: for controllers and clients in
// the test process that are not the operator under test.
func errorLogger() logr.Logger {
	return logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// reconcileCount returns how many reconciles the named controller has
// finished in this process, from controller-runtime's metrics.
func reconcileCount(controller string) (float64, error) {
	total, err := counterValue("controller_runtime_reconcile_total", controller)
	if err == nil && total == 0 {
		err = errors.New("no reconciles counted")
	}
	return total, err
}

// counterValue returns the sum of one of controller-runtime's counters
// over the series of the named controller, in this process.
func counterValue(metric, controller string) (float64, error) {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total, nil
}
