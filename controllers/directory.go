package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

// A Service's directory: `byoda service` with the members CA key and the
// service's certificates from cert-manager's Secrets, and the contract
// countersigned for it.

// directoryPass is what reconcileDirectory reads of the Service's
// certificates.
type directoryPass struct {
	root    *x509.Certificate
	data    *pki.KeyPair
	secrets []*corev1.Secret
}

// reconcileDirectory signs the contract as the service and countersigns it
// as the network, publishes it in the directory's ConfigMap, and applies
// the directory's Deployment. A signature is random and timestamped, so
// the contract is signed again only when it or the service's data
// certificate changes, or the network's signature is due for renewal.
func (r *ServiceReconciler) reconcileDirectory(ctx context.Context, p *servicePass) error {
	svc := p.svc
	if !p.conds.isTrue(byodav1alpha1.ConditionCAReady) || !p.conds.isTrue(byodav1alpha1.ConditionCertificateReady) {
		p.conds.set(byodav1alpha1.ConditionDirectoryReady, false, byodav1alpha1.ReasonCertificatePending,
			"Waiting for the service's CAs and certificates")
		return nil
	}
	d, missing, err := r.directorySecrets(ctx, svc, p.in.Network)
	if err != nil {
		return err
	}
	if missing != "" {
		p.conds.set(byodav1alpha1.ConditionDirectoryReady, false, byodav1alpha1.ReasonCertificatePending, "%s", missing)
		p.after(r.Options.RetryInterval)
		return nil
	}
	signed, ok, err := r.signedContract(ctx, p, d)
	if err != nil || !ok {
		return err
	}

	h := sha256.New()
	for _, s := range d.secrets {
		fmt.Fprintf(h, "%s\n%s\n", s.Name, s.Data[corev1.TLSCertKey])
	}
	h.Write(signed)
	in := specs.DirectoryInputs{Service: svc, Network: p.in.Network, DefaultImage: r.Options.Image,
		ConfigHash: hex.EncodeToString(h.Sum(nil)[:12])}
	var live appsv1.Deployment
	applied, err := apply(ctx, r.Client, &live, specs.DirectoryDeployment(in))
	if err != nil {
		return err
	}
	p.status.DirectoryURL = specs.DirectoryURL(uint32(svc.Spec.ServiceID), p.in.Network)
	name := specs.DirectoryName(svc)
	if applied || live.Status.ObservedGeneration < live.Generation || live.Status.UpdatedReplicas < 1 || live.Status.AvailableReplicas < 1 {
		p.conds.set(byodav1alpha1.ConditionDirectoryReady, false, byodav1alpha1.ReasonDeploymentUnavailable,
			"Deployment %s has no available pod of its current spec yet", name)
		return nil
	}
	p.conds.set(byodav1alpha1.ConditionDirectoryReady, true, byodav1alpha1.ReasonDeploymentAvailable,
		"Deployment %s runs the directory of service %d with contract version %d, countersigned by network %s",
		name, svc.Spec.ServiceID, p.status.ContractVersion, p.in.Network)
	return nil
}

// directorySecrets reads the Secrets cert-manager keeps the members CA and
// the service's certificates in, as the directory mounts them, and the
// network root and the data key pair from them. It says what is missing
// instead while one is not there or not complete.
func (r *ServiceReconciler) directorySecrets(ctx context.Context, svc *byodav1alpha1.Service, network string) (*directoryPass, string, error) {
	d := &directoryPass{}
	for _, name := range []string{specs.CAName(svc, specs.MembersCA), specs.ServiceTLSName(svc), specs.ServiceDataName(svc)} {
		var s corev1.Secret
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: name}, &s)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("Secret %s of the service's certificates does not exist yet", name), nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("get secret %s/%s: %w", svc.Namespace, name, err)
		}
		if len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data[corev1.TLSPrivateKeyKey]) == 0 || len(s.Data[cmmeta.TLSCAKey]) == 0 {
			return nil, fmt.Sprintf("Secret %s has no %s, %s and %s yet", name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, cmmeta.TLSCAKey), nil
		}
		d.secrets = append(d.secrets, &s)
	}
	roots, err := pki.ParseCertificates(d.secrets[0].Data[cmmeta.TLSCAKey])
	if err != nil || roots[0].Subject.CommonName != pki.RootCAName(network) {
		return nil, fmt.Sprintf("Secret %s does not hold the root of network %s in %s", d.secrets[0].Name, network, cmmeta.TLSCAKey), nil
	}
	d.root = roots[0]
	if d.data, err = secretKeyPair(d.secrets[2]); err != nil {
		return nil, err.Error(), nil
	}
	return d, "", nil
}

// signedContract returns the contract signed by the service and
// countersigned by the network, from the directory's ConfigMap when it
// still holds the signatures of this contract and data certificate, else
// signed anew and published there. ok is false when it cannot be signed
// (the condition says why).
func (r *ServiceReconciler) signedContract(ctx context.Context, p *servicePass, d *directoryPass) (signed []byte, ok bool, err error) {
	svc, network, now := p.svc, p.in.Network, r.Clock.Now()
	sum := sha256.Sum256(append(append([]byte{}, p.contract...), d.secrets[2].Data[corev1.TLSCertKey]...))
	from := hex.EncodeToString(sum[:12])
	roots := x509.NewCertPool()
	roots.AddCert(d.root)

	// The signed contract in use, if it is still this contract's, signed
	// with this data certificate, and verifies.
	var cm corev1.ConfigMap
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: specs.DirectoryName(svc)}, &cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("get configmap %s/%s: %w", svc.Namespace, specs.DirectoryName(svc), err)
	}
	cur := []byte(cm.Data[specs.KeyContract])
	var curSigner *x509.Certificate
	if err == nil && cm.Annotations[specs.AnnotationSignedFrom] == from {
		if curSigner, err = networkSigner(cur, roots, network, now); err == nil {
			renewAt := specs.RenewAt(curSigner.NotBefore, curSigner.NotAfter)
			if now.Before(renewAt) {
				p.after(renewAt.Sub(now))
				return cur, true, nil
			}
		}
	}

	// Sign anew; once the network's signature is due for renewal, only
	// when the network data certificate has been renewed.
	unusable := func(format string, args ...any) ([]byte, bool, error) {
		p.after(r.Options.RetryInterval)
		if curSigner != nil {
			return cur, true, nil
		}
		p.conds.set(byodav1alpha1.ConditionDirectoryReady, false, byodav1alpha1.ReasonNetworkDataKeyUnusable, format, args...)
		return nil, false, nil
	}
	key := r.Options.networkDataSecret()
	var nd corev1.Secret
	err = r.APIReader.Get(ctx, key, &nd)
	if apierrors.IsNotFound(err) {
		return unusable("Secret %s with the network data key pair, which countersigns the contract for the directory, does not exist (the operator's --network-data-secret)", key)
	}
	if err != nil {
		return nil, false, fmt.Errorf("get secret %s: %w", key, err)
	}
	ndKP, err := secretKeyPair(&nd)
	if err != nil {
		return unusable("%v (the operator's --network-data-secret)", err)
	}
	if want := pki.NetworkDataName(network); ndKP.Cert.Subject.CommonName != want {
		return unusable("Secret %s holds the key pair of %s, not of %s (the operator's --network-data-secret)", key, ndKP.Cert.Subject.CommonName, want)
	}
	if curSigner != nil && curSigner.Equal(ndKP.Cert) {
		p.after(r.Options.RetryInterval)
		return cur, true, nil
	}
	signed, err = contract.SignAsService(p.contract, contract.Signer{Key: d.data.Key, Chain: d.data.Chain}, now)
	if err == nil {
		signed, err = contract.SignAsNetwork(signed, contract.Signer{Key: ndKP.Key, Chain: ndKP.Chain}, now)
	}
	if err != nil {
		return nil, false, fmt.Errorf("sign the contract of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	signer, err := networkSigner(signed, roots, network, now)
	if err != nil {
		return unusable("The contract countersigned with Secret %s does not verify under the network root of the service's certificates: %v", key, err)
	}
	if renewAt := specs.RenewAt(signer.NotBefore, signer.NotAfter); now.Before(renewAt) {
		p.after(renewAt.Sub(now))
	} else {
		p.after(r.Options.RetryInterval)
	}
	if _, err := apply(ctx, r.Client, &corev1.ConfigMap{}, specs.DirectoryConfigMap(svc, network, signed, from)); err != nil {
		return nil, false, err
	}
	return signed, true, nil
}

// networkSigner verifies both signatures of a contract and returns the
// certificate of its network signature.
func networkSigner(signed []byte, roots *x509.CertPool, network string, now time.Time) (*x509.Certificate, error) {
	c, err := contract.Verify(signed, roots, network, now)
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(c.Signatures.Network.CertificateChain[0])
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// secretKeyPair reads the key pair of a Secret that cert-manager wrote:
// tls.key and the chain in tls.crt.
func secretKeyPair(s *corev1.Secret) (*pki.KeyPair, error) {
	key, err := pki.ParseKey(s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.TLSPrivateKeyKey, err)
	}
	chain, err := pki.ParseCertificates(s.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, corev1.TLSCertKey, err)
	}
	kp, err := pki.NewKeyPair(key, chain)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return kp, nil
}

// reconcileDirectoryService applies the Service in front of the directory
// and publishes service.service-<sid>.<network> at its address.
func (r *ServiceReconciler) reconcileDirectoryService(ctx context.Context, p *servicePass) error {
	svc := p.svc
	var live corev1.Service
	if _, err := apply(ctx, r.Client, &live, specs.DirectoryService(svc)); err != nil {
		return err
	}
	p.status.Address = loadBalancerAddress(svc.Spec.Directory.DNS.Target, &live)
	name := pki.ServiceName(uint32(svc.Spec.ServiceID), p.in.Network)
	if p.status.Address == "" {
		p.conds.set(byodav1alpha1.ConditionDNSReady, false, byodav1alpha1.ReasonAddressPending,
			"No address to publish %s at: set spec.directory.dns.target, or wait for the load balancer of Service %s", name, specs.DirectoryName(svc))
		return nil
	}
	if _, err := apply(ctx, r.Client, newDNSEndpoint(), specs.DirectoryDNSEndpoint(svc, p.in.Network, p.status.Address)); err != nil {
		return err
	}
	p.conds.set(byodav1alpha1.ConditionDNSReady, true, byodav1alpha1.ReasonPublished,
		"DNSEndpoint %s publishes %s at %s", specs.DirectoryName(svc), name, p.status.Address)
	return nil
}

// loadBalancerAddress is target, or else the first load-balancer address
// of a Service.
func loadBalancerAddress(target string, s *corev1.Service) string {
	if target != "" {
		return target
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			return ing.IP
		}
		if ing.Hostname != "" {
			return ing.Hostname
		}
	}
	return ""
}
