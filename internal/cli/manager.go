package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/byoda-go/byoda/controllers"
	"github.com/byoda-go/byoda/internal/version"
)

// managerFlags are the flags of byoda manager that do not go straight into
// controllers.ManagerOptions.
type managerFlags struct {
	kubeconfig string
	qps        float32
	burst      int
	logLevel   string
}

func newManagerCommand() *cobra.Command {
	var (
		opts  controllers.ManagerOptions
		flags managerFlags
	)
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the Kubernetes operator: reconcile DataPods, Services and Memberships",
		Long: `manager runs the byoda operator. It reconciles the byoda.net/v1alpha1
DataPod, Service and Membership resources into Deployments, Services, Secrets,
cert-manager Issuers, Certificates and CertificateRequests, and external-dns
DNSEndpoints. The network's CAs come from cert-manager issuers that the
--accounts-issuer and --services-issuer flags name (config/samples/network.yaml
creates them). See docs/operator.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(flags.logLevel)
			if err != nil {
				return err
			}
			ctrl.SetLogger(logger)
			klog.SetLogger(logger)
			cfg, err := flags.restConfig()
			if err != nil {
				return err
			}
			mgr, err := controllers.NewManager(cmd.Context(), cfg, opts)
			if err != nil {
				return err
			}
			logger.Info("Starting the byoda operator", "version", version.Get().Version,
				"network", opts.NetworkDomain, "accountsIssuer", opts.AccountsIssuer, "servicesIssuer", opts.ServicesIssuer)
			return mgr.Start(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.NetworkDomain, "network-domain", "byoda.net", "network domain of DataPods and Services that name none")
	f.StringVar(&opts.AccountsIssuer, "accounts-issuer", "byoda-accounts-ca", "ClusterIssuer of the network's accounts CA")
	f.StringVar(&opts.ServicesIssuer, "services-issuer", "byoda-services-ca", "ClusterIssuer of the network's services CA")
	f.StringVar(&opts.Image, "image", defaultImage(), "byoda image of DataPods that name none")
	f.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "workers per reconciler")
	f.DurationVar(&opts.RetryInterval, "retry-interval", 0, "how long to wait before looking again at what cannot be watched (0: 30s)")
	f.StringVar(&opts.NetworkDataSecret, "network-data-secret", controllers.DefaultNetworkDataSecret, "namespace/name of the Secret with the network data key pair, which countersigns Services' contracts for their directories")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader, so that only one replica reconciles")
	f.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the operator's own, in a cluster)")
	f.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	f.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables them")
	f.StringVar(&flags.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, or ~/.kube/config)")
	f.Float32Var(&flags.qps, "kube-api-qps", 50, "queries per second to the Kubernetes API")
	f.IntVar(&flags.burst, "kube-api-burst", 100, "burst of queries to the Kubernetes API")
	f.StringVar(&flags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// restConfig loads the client configuration. controller-runtime registers a
// global -kubeconfig Go flag; this command has its own pflag of that name and
// leaves the global one alone, so ctrl.GetConfig sees it empty and falls
// back to $KUBECONFIG, the in-cluster config and ~/.kube/config.
func (f *managerFlags) restConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if f.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	if f.qps <= 0 || f.burst <= 0 {
		return nil, fmt.Errorf("--kube-api-qps %g and --kube-api-burst %d: want both above 0", f.qps, f.burst)
	}
	cfg.QPS, cfg.Burst = f.qps, f.burst
	cfg.UserAgent = "byoda-operator/" + version.Get().Version
	return cfg, nil
}

// defaultImage is the byoda image of this build's version.
func defaultImage() string {
	v := version.Get().Version
	if v == "" || v == "devel" || strings.ContainsAny(v, "+ ") {
		v = "latest"
	}
	return "ghcr.io/byoda-go/byoda:" + v
}
