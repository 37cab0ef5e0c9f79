// Command cert-manager is a minimal cert-manager controller built from the
// github.com/cert-manager/cert-manager library module (the upstream cmd/controller
// module is not on the proxy). It runs the certificate, selfSigned and CA issuer
// controllers; no webhook and no ACME solvers.
package main

import (
	"context"
	"flag"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// controllers register themselves in init()
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// issuer implementations register themselves in init()
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "")
	clusterNS := flag.String("cluster-resource-namespace", "cert-manager", "")
	controllers := flag.String("controllers", "certificaterequests-approver,certificaterequests-issuer-ca,certificaterequests-issuer-selfsigned,certificates-issuing,certificates-key-manager,certificates-readiness,certificates-request-manager,certificates-revision-manager,certificates-trigger,clusterissuers,issuers", "")
	// The names of cert-manager's own controller flags; the defaults are
	// this wrapper's earlier fixed values. Raise them for scale tests, as
	// cert-manager's documentation advises for many certificates.
	qps := flag.Float64("kube-api-qps", 50, "queries per second to the Kubernetes API")
	burst := flag.Int("kube-api-burst", 100, "burst of queries to the Kubernetes API")
	workers := flag.Int("concurrent-workers", 2, "workers per controller")
	pprofAddr := flag.String("profiler-address", "", "serve net/http/pprof on this address (empty: off)")
	klog.InitFlags(nil)
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log := klog.NewKlogr()
	ctx = logf.NewContext(ctx, log)
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // DefaultServeMux has net/http/pprof
	}

	opts := controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   float32(*qps),
		KubernetesAPIBurst: *burst,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: *clusterNS},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Minute,
			CertificateRequestMaximumBackoffDuration: time.Hour,
		},
	}
	factory, err := controllerpkg.NewContextFactory(ctx, opts)
	if err != nil {
		log.Error(err, "context factory")
		os.Exit(1)
	}
	var wg sync.WaitGroup
	for _, name := range strings.Split(*controllers, ",") {
		fn, ok := controllerpkg.Known()[name]
		if !ok {
			log.Info("unknown controller", "name", name)
			os.Exit(1)
		}
		iface, err := fn(factory)
		if err != nil {
			log.Error(err, "construct", "name", name)
			os.Exit(1)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = iface.Run(*workers, ctx) }()
		log.Info("started controller", "name", name)
	}
	base, err := factory.Build()
	if err != nil {
		log.Error(err, "build")
		os.Exit(1)
	}
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.SharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	wg.Wait()
}
