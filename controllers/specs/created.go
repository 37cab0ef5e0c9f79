package specs

import (
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/pki"
)

// The objects in this file are created once and never applied again: key
// Secrets hold random keys that must never be regenerated (the Secrets are
// immutable), and a CertificateRequest is an immutable request whose CSR is
// signed anew (randomly) every time it is made.

// AnnotationNetwork on a key Secret is the network of the identity it holds.
const AnnotationNetwork = "byoda.net/network"

// AccountKeySecret returns the immutable Secret holding an account's TLS and
// data keys (PKCS #8 PEM), labelled with its account id.
func AccountKeySecret(dp *byodav1alpha1.DataPod, acct Account, tlsKey, dataKey []byte) *corev1.Secret {
	labels := DataPodLabels(dp)
	labels[byodav1alpha1.LabelAccountID] = acct.ID.String()
	return immutableSecret(AccountKeySecretName(dp), dp.Namespace, labels,
		map[string]string{AnnotationNetwork: acct.Network},
		[]metav1.OwnerReference{ownerReference(dp, KindDataPod)},
		map[string][]byte{KeyAccountKey: tlsKey, KeyAccountDataKey: dataKey})
}

// MemberKeySecret returns the immutable Secret, in the Membership's
// namespace, holding a member's TLS and data keys, labelled with its member
// and service ids.
func MemberKeySecret(m *byodav1alpha1.Membership, mid MemberIdentity, tlsKey, dataKey []byte) *corev1.Secret {
	labels := MembershipLabels(m)
	labels[byodav1alpha1.LabelMemberID] = mid.ID.String()
	labels[byodav1alpha1.LabelServiceID] = mid.serviceIDString()
	return immutableSecret(MemberKeySecretName(m), m.Namespace, labels,
		map[string]string{AnnotationNetwork: mid.Network},
		[]metav1.OwnerReference{ownerReference(m, KindMembership)},
		map[string][]byte{KeyMemberKey: tlsKey, KeyMemberDataKey: dataKey})
}

// KEKSecret returns the immutable Secret holding a DataPod's Fernet
// key-encryption key. It is owned by the DataPod (and so deleted with it)
// only when the DataPod's retain policy is Delete.
func KEKSecret(dp *byodav1alpha1.DataPod, key []byte) *corev1.Secret {
	var owners []metav1.OwnerReference
	if dp.Spec.RetainPolicy == byodav1alpha1.RetainPolicyDelete {
		owners = append(owners, ownerReference(dp, KindDataPod))
	}
	return immutableSecret(KEKSecretName(dp), dp.Namespace, DataPodLabels(dp), nil, owners,
		map[string][]byte{KeyKEK: key})
}

// KEKOwnerReferences are the owner references a DataPod's key-encryption
// Secret should have under its retain policy.
func KEKOwnerReferences(dp *byodav1alpha1.DataPod) []metav1.OwnerReference {
	return KEKSecret(dp, nil).OwnerReferences
}

// OwnerPasswordSecret returns the immutable Secret holding a generated owner
// password.
func OwnerPasswordSecret(dp *byodav1alpha1.DataPod, password []byte) *corev1.Secret {
	return immutableSecret(OwnerPasswordSecretName(dp), dp.Namespace, DataPodLabels(dp), nil,
		[]metav1.OwnerReference{ownerReference(dp, KindDataPod)},
		map[string][]byte{KeyPassword: password})
}

func immutableSecret(name, namespace string, labels, annotations map[string]string,
	owners []metav1.OwnerReference, data map[string][]byte) *corev1.Secret {
	t := true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: owners,
		},
		Immutable: &t,
		Type:      corev1.SecretTypeOpaque,
		Data:      data,
	}
}

// Request describes one CertificateRequest: a CSR for a byoda name sent to
// an issuer.
type Request struct {
	Name, Namespace string
	Labels          map[string]string
	// Owner, when set, owns the request (same namespace only).
	Owner  *metav1.OwnerReference
	Issuer cmmeta.IssuerReference
	// CSR is the PEM certificate signing request.
	CSR []byte
	// Data says the certificate signs data rather than authenticating TLS.
	Data bool
}

// LeafDuration is the validity the operator asks for leaf certificates.
const LeafDuration = pki.LeafValidity

// CertificateRequest returns the cert-manager request for r. TLS
// certificates get digital signature with server and client authentication,
// data certificates digital signature alone: cert-manager cannot set the
// document-signing usage of internal/pki, and internal/pki accepts a data
// certificate without it as long as it has no TLS usage.
func CertificateRequest(r Request) *cmv1.CertificateRequest {
	cr := &cmv1.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: r.Labels},
		Spec: cmv1.CertificateRequestSpec{
			Request:   r.CSR,
			IssuerRef: r.Issuer,
			Duration:  &metav1.Duration{Duration: LeafDuration},
			Usages:    leafUsages(r.Data),
		},
	}
	if r.Owner != nil {
		cr.OwnerReferences = []metav1.OwnerReference{*r.Owner}
	}
	return cr
}

// OwnerOf returns a controller owner reference to obj, for Request.Owner.
func OwnerOf(obj metav1.Object, kind string) *metav1.OwnerReference {
	ref := ownerReference(obj, kind)
	return &ref
}

func leafUsages(data bool) []cmv1.KeyUsage {
	if data {
		return []cmv1.KeyUsage{cmv1.UsageDigitalSignature}
	}
	return []cmv1.KeyUsage{cmv1.UsageDigitalSignature, cmv1.UsageServerAuth, cmv1.UsageClientAuth}
}

// IssuerRef converts a byoda issuer reference (kind ClusterIssuer by
// default) to cert-manager's.
func IssuerRef(ref byodav1alpha1.IssuerReference) cmmeta.IssuerReference {
	kind := ref.Kind
	if kind == "" {
		kind = cmv1.ClusterIssuerKind
	}
	return cmmeta.IssuerReference{Name: ref.Name, Kind: kind, Group: "cert-manager.io"}
}

// renewFraction of a certificate's lifetime passes before it is renewed, as
// cert-manager does by default.
const renewFraction = 2.0 / 3.0

// RenewAt returns when a certificate valid from notBefore to notAfter is due
// for renewal.
func RenewAt(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(time.Duration(float64(notAfter.Sub(notBefore)) * renewFraction))
}
