package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/byoda-go/byoda/internal/pki"
)

// Options configure the reconcilers: the network defaults that custom
// resources may leave out, and how hard to work.
type Options struct {
	// NetworkDomain is the network of DataPods and Services that name none.
	NetworkDomain string
	// AccountsIssuer is the ClusterIssuer of the network's accounts CA, for
	// DataPods that name no issuer.
	AccountsIssuer string
	// ServicesIssuer is the ClusterIssuer of the network's services CA, for
	// Services that name no issuer.
	ServicesIssuer string
	// Image is the byoda image of DataPods that name none.
	Image string
	// MaxConcurrentReconciles is the number of workers of each reconciler.
	MaxConcurrentReconciles int
	// RetryInterval is how long a reconciler waits before looking again at
	// something it cannot watch (a missing Secret it does not own, a failed
	// certificate request, a remote service directory that did not
	// answer). Zero means 30 seconds.
	RetryInterval time.Duration
	// NetworkDataSecret is the Secret, as namespace/name, holding the
	// network data key pair (network.network-data.<network>, tls.crt and
	// tls.key as cert-manager writes them), which countersigns the
	// contracts of Services for their directories. Empty means
	// DefaultNetworkDataSecret.
	NetworkDataSecret string
}

// DefaultNetworkDataSecret is where config/samples/network.yaml has
// cert-manager keep the network data key pair.
const DefaultNetworkDataSecret = "cert-manager/byoda-network-data"

// networkDataSecret returns NetworkDataSecret as a key; Validate has
// checked its form.
func (o *Options) networkDataSecret() types.NamespacedName {
	ns, name, _ := strings.Cut(o.NetworkDataSecret, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	var errs []error
	if err := pki.ValidateNetwork(o.NetworkDomain); err != nil {
		errs = append(errs, fmt.Errorf("network domain: %w", err))
	}
	if o.AccountsIssuer == "" {
		errs = append(errs, errors.New("accounts issuer: empty; name the ClusterIssuer of the network's accounts CA"))
	}
	if o.ServicesIssuer == "" {
		errs = append(errs, errors.New("services issuer: empty; name the ClusterIssuer of the network's services CA"))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("image: empty; name the byoda image that DataPods run"))
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("max concurrent reconciles: %d; want at least 1", o.MaxConcurrentReconciles))
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 30 * time.Second
	}
	if o.NetworkDataSecret == "" {
		o.NetworkDataSecret = DefaultNetworkDataSecret
	}
	if ns, name, ok := strings.Cut(o.NetworkDataSecret, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		errs = append(errs, fmt.Errorf("network data secret %q: want namespace/name of the Secret with the network data key pair", o.NetworkDataSecret))
	}
	return errors.Join(errs...)
}
