package controllers

import (
	"context"
	"fmt"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
)

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// ManagerOptions configure the operator's manager.
type ManagerOptions struct {
	Options
	// LeaderElection makes only one replica of the operator reconcile.
	LeaderElection bool
	// LeaderElectionNamespace holds the election's Lease; empty means the
	// operator's own namespace when it runs in a cluster.
	LeaderElectionNamespace string
	// MetricsBindAddress serves Prometheus metrics; "0" disables them.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "0" disables them.
	HealthProbeBindAddress string
	// SkipNameValidation allows more than one manager in one process, as
	// tests that restart the operator need.
	SkipNameValidation bool
}

// NewScheme returns a scheme with every kind the operator reads or writes.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// AddToScheme adds the kinds the operator reads or writes to s: client-go's,
// byoda's, cert-manager's and external-dns's DNSEndpoint.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, byodav1alpha1.AddToScheme, cmv1.AddToScheme, addExternalDNS,
	} {
		if err := add(s); err != nil {
			return fmt.Errorf("build scheme: %w", err)
		}
	}
	return nil
}

// addExternalDNS registers external-dns's kinds, and the list and watch
// options of their group version, which its own AddToScheme leaves out (a
// client could not list DNSEndpoints without them).
func addExternalDNS(s *runtime.Scheme) error {
	if err := externaldnsv1alpha1.AddToScheme(s); err != nil {
		return err
	}
	metav1.AddToGroupVersion(s, externaldnsv1alpha1.GroupVersion)
	return nil
}

// CacheOptions limit the manager's cache to the objects the operator made
// (they carry the managed-by label), so that the cluster's other Secrets,
// ConfigMaps, Deployments and certificates cost it neither memory nor
// watch traffic, and keep of those objects only what the reconcilers read.
func CacheOptions() cache.Options {
	own := labels.SelectorFromSet(labels.Set{byodav1alpha1.LabelManagedBy: byodav1alpha1.ManagedByValue})
	by := func(t toolscache.TransformFunc) cache.ByObject { return cache.ByObject{Label: own, Transform: t} }
	strip := cache.TransformStripManagedFields()
	return cache.Options{
		DefaultTransform: strip,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:                   by(strip),
			&corev1.ConfigMap{}:                by(strip),
			&cmv1.Certificate{}:                by(strip),
			&cmv1.Issuer{}:                     by(strip),
			&appsv1.Deployment{}:               by(slim(strip)),
			&corev1.Service{}:                  by(slim(strip)),
			&externaldnsv1alpha1.DNSEndpoint{}: by(slim(strip)),
			&cmv1.CertificateRequest{}:         by(slim(strip)),
		},
	}
}

// slim drops from cached children what the reconcilers never read: the
// spec of Deployments, Services and DNSEndpoints (they read the status and
// the applied-hash annotation, and apply the whole desired state), the spec
// of CertificateRequests (they read the conditions), and the chain of an
// issued request (status.certificate and status.ca), which the requester
// reads from the API server once, to store it beside its key: the request
// kept for each certificate in use costs the cache only its metadata and
// conditions. At a thousand DataPods this is most of the cache. A reconciler
// that needs one of these fields must read it from the API server.
func slim(next toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			o.Spec = appsv1.DeploymentSpec{}
		case *corev1.Service:
			o.Spec = corev1.ServiceSpec{}
		case *externaldnsv1alpha1.DNSEndpoint:
			o.Spec = externaldnsv1alpha1.DNSEndpointSpec{}
		case *cmv1.CertificateRequest:
			o.Spec = cmv1.CertificateRequestSpec{}
			if issued(o) {
				o.Status.Certificate, o.Status.CA = nil, nil
			}
		}
		return next(obj)
	}
}

// NewManager returns a manager running the DataPod, Service and Membership
// reconcilers against cfg.
func NewManager(ctx context.Context, cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	if err := o.Options.Validate(); err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "byoda-operator.byoda.net",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	recorder := mgr.GetEventRecorder("byoda-operator")
	c, reader, clk := mgr.GetClient(), mgr.GetAPIReader(), clock.RealClock{}
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		&DataPodReconciler{Client: c, APIReader: reader, Recorder: recorder, Options: o.Options, Clock: clk},
		&ServiceReconciler{Client: c, APIReader: reader, Recorder: recorder, Options: o.Options, Clock: clk},
		&MembershipReconciler{Client: c, APIReader: reader, Recorder: recorder, Options: o.Options, Clock: clk},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up %T: %w", r, err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add ready check: %w", err)
	}
	return mgr, nil
}
