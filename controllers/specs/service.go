package specs

import (
	"strconv"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmac "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/certmanager/v1"
	cmmetaac "github.com/cert-manager/cert-manager/pkg/client/applyconfigurations/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/pki"
)

// ServiceInputs is everything a Service's children depend on.
type ServiceInputs struct {
	Service *byodav1alpha1.Service
	Network string
	// ServicesIssuer is the network's services CA issuer, which signs the
	// service CA.
	ServicesIssuer cmmeta.IssuerReference
}

func (in ServiceInputs) sid() uint32 { return uint32(in.Service.Spec.ServiceID) }

// ContractConfigMap publishes a validated contract in the Service's
// namespace, for the Memberships that copy it into their DataPods'
// namespaces.
func ContractConfigMap(svc *byodav1alpha1.Service, contract []byte, version int) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(ContractConfigMapName(svc), svc.Namespace).
		WithLabels(ServiceLabels(svc)).
		WithAnnotations(map[string]string{AnnotationContractVersion: strconv.Itoa(version)}).
		WithOwnerReferences(OwnerReference(svc, KindService)).
		WithData(map[string]string{KeyContract: string(contract)})
}

// CAs returns the service's CA Certificates, in issuing order: the service
// CA (signed by the network's services CA), then the members CA and apps CA
// (signed by the service CA). Each is a CA certificate with the name and
// DNS name constraints of internal/pki; cert-manager cannot set path length
// constraints, so the hierarchy's path lengths rest on pki.Verify, which
// checks every chain name by name.
func CAs(in ServiceInputs) []*cmac.CertificateApplyConfiguration {
	sid, n := in.sid(), in.Network
	svc := in.Service
	serviceCAIssuer := cmmeta.IssuerReference{Name: CAName(svc, ServiceCA), Kind: cmv1.IssuerKind, Group: "cert-manager.io"}
	return []*cmac.CertificateApplyConfiguration{
		caCertificate(in, ServiceCA, pki.ServiceCAName(sid, n), in.ServicesIssuer),
		caCertificate(in, MembersCA, pki.MembersCAName(sid, n), serviceCAIssuer),
		caCertificate(in, AppsCA, pki.AppsCAName(sid, n), serviceCAIssuer),
	}
}

func caCertificate(in ServiceInputs, ca CA, name string, issuer cmmeta.IssuerReference) *cmac.CertificateApplyConfiguration {
	return certificate(in, CAName(in.Service, ca)).
		WithSpec(certificateSpec(in, CAName(in.Service, ca), name, issuer, pki.IntermediateValidity).
			WithIsCA(true).
			WithUsages(cmv1.UsageCertSign, cmv1.UsageCRLSign, cmv1.UsageDigitalSignature).
			WithNameConstraints(cmac.NameConstraints().
				WithCritical(true).
				WithPermitted(cmac.NameConstraintItem().WithDNSDomains(PermittedDomains(ca, in.sid(), in.Network)...))).
			// A CA keeps its key when renewed, so that what it signed stays valid.
			WithPrivateKey(privateKey(cmv1.RotationPolicyNever)))
}

// Leaves returns the service's TLS and data Certificates, signed by the
// service CA.
func Leaves(in ServiceInputs) []*cmac.CertificateApplyConfiguration {
	sid, n := in.sid(), in.Network
	svc := in.Service
	issuer := cmmeta.IssuerReference{Name: CAName(svc, ServiceCA), Kind: cmv1.IssuerKind, Group: "cert-manager.io"}
	tls := certificate(in, ServiceTLSName(svc)).
		WithSpec(certificateSpec(in, ServiceTLSName(svc), pki.ServiceName(sid, n), issuer, LeafDuration).
			WithUsages(leafUsages(false)...).
			WithPrivateKey(privateKey(cmv1.RotationPolicyAlways)))
	data := certificate(in, ServiceDataName(svc)).
		WithSpec(certificateSpec(in, ServiceDataName(svc), pki.ServiceDataName(sid, n), issuer, LeafDuration).
			WithUsages(leafUsages(true)...).
			WithPrivateKey(privateKey(cmv1.RotationPolicyAlways)))
	return []*cmac.CertificateApplyConfiguration{tls, data}
}

func certificate(in ServiceInputs, objName string) *cmac.CertificateApplyConfiguration {
	return cmac.Certificate(objName, in.Service.Namespace).
		WithLabels(ServiceLabels(in.Service)).
		WithOwnerReferences(OwnerReference(in.Service, KindService))
}

func certificateSpec(in ServiceInputs, secretName, name string, issuer cmmeta.IssuerReference, d time.Duration) *cmac.CertificateSpecApplyConfiguration {
	return cmac.CertificateSpec().
		WithCommonName(name).
		WithDNSNames(name).
		WithDuration(metav1.Duration{Duration: d}).
		WithSecretName(secretName).
		WithSecretTemplate(cmac.CertificateSecretTemplate().WithLabels(ServiceLabels(in.Service))).
		WithIssuerRef(cmmetaac.IssuerReference().WithName(issuer.Name).WithKind(issuer.Kind).WithGroup(issuer.Group))
}

func privateKey(rotation cmv1.PrivateKeyRotationPolicy) *cmac.CertificatePrivateKeyApplyConfiguration {
	return cmac.CertificatePrivateKey().
		WithAlgorithm(cmv1.ECDSAKeyAlgorithm).
		WithSize(256).
		WithEncoding(cmv1.PKCS8).
		WithRotationPolicy(rotation)
}

// Issuers returns the CA Issuers of the service's three CAs, each signing
// with its CA Certificate's Secret.
func Issuers(in ServiceInputs) []*cmac.IssuerApplyConfiguration {
	var out []*cmac.IssuerApplyConfiguration
	for _, ca := range []CA{ServiceCA, MembersCA, AppsCA} {
		name := CAName(in.Service, ca)
		out = append(out, cmac.Issuer(name, in.Service.Namespace).
			WithLabels(ServiceLabels(in.Service)).
			WithOwnerReferences(OwnerReference(in.Service, KindService)).
			WithSpec(cmac.IssuerSpec().WithCA(cmac.CAIssuer().WithSecretName(name))))
	}
	return out
}

// PermittedDomains are the DNS name constraints of a service's CA: the
// namespaces of everything beneath it, as internal/pki gives its own CAs
// (a test keeps the two in step).
func PermittedDomains(ca CA, sid uint32, network string) []string {
	s := strconv.FormatUint(uint64(sid), 10)
	n := network
	switch ca {
	case ServiceCA:
		return []string{
			".service-ca-" + s + "." + n,
			".members-ca-" + s + "." + n, ".apps-ca-" + s + "." + n,
			".service-" + s + "." + n, ".service-data-" + s + "." + n,
			".members-" + s + "." + n, ".member-data-" + s + "." + n,
			".apps-" + s + "." + n, ".app-data-" + s + "." + n,
		}
	case MembersCA:
		return []string{".members-" + s + "." + n, ".member-data-" + s + "." + n}
	case AppsCA:
		return []string{".apps-" + s + "." + n, ".app-data-" + s + "." + n}
	}
	return nil
}
