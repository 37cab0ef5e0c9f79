package specs

import (
	"strconv"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"
	"sigs.k8s.io/external-dns/endpoint"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/pki"
)

// MemberIdentity is a membership's identity: fixed when its key is created.
type MemberIdentity struct {
	ID        uuid.UUID
	ServiceID uint32
	Network   string
}

// FQDN is the member's TLS name and DNS name.
func (m MemberIdentity) FQDN() string { return pki.MemberName(m.ServiceID, m.ID, m.Network) }

func (m MemberIdentity) serviceIDString() string { return strconv.FormatUint(uint64(m.ServiceID), 10) }

// MemberCerts are a member's certificate chains (PEM, leaf first, root
// excluded) with the revision of the request each came from, and the
// contract the pod serves.
type MemberCerts struct {
	TLS, Data                 []byte
	TLSRevision, DataRevision int
	Contract                  []byte
	ContractVersion           int
	// Published, for a member of a remote service, identifies the
	// member-data certificate, contract version and address last
	// published to the service's directory (empty: none).
	Published string
}

// AnnotationPublished on a member Secret is MemberCerts.Published.
const AnnotationPublished = "byoda.net/member-data-published"

// AnnotationContractVersion on a member Secret is the version of the
// contract in it.
const AnnotationContractVersion = "byoda.net/contract-version"

// MemberSecret returns the Secret, in the Membership's (and DataPod's)
// namespace, with the member's certificate chains and the service's
// contract: what the DataPod mounts for this membership besides the key.
func MemberSecret(m *byodav1alpha1.Membership, mid MemberIdentity, certs MemberCerts) *corev1ac.SecretApplyConfiguration {
	labels := MembershipLabels(m)
	labels[byodav1alpha1.LabelMemberID] = mid.ID.String()
	labels[byodav1alpha1.LabelServiceID] = mid.serviceIDString()
	annotations := map[string]string{
		AnnotationRevision + "member":      strconv.Itoa(certs.TLSRevision),
		AnnotationRevision + "member-data": strconv.Itoa(certs.DataRevision),
		AnnotationContractVersion:          strconv.Itoa(certs.ContractVersion),
	}
	if certs.Published != "" {
		annotations[AnnotationPublished] = certs.Published
	}
	return corev1ac.Secret(MemberSecretName(m), m.Namespace).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithOwnerReferences(OwnerReference(m, KindMembership)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			KeyMemberCert:     certs.TLS,
			KeyMemberDataCert: certs.Data,
			KeyContract:       certs.Contract,
		})
}

// MemberDNSEndpoint publishes <member id>.members-<service id>.<network> at
// the DataPod's address.
func MemberDNSEndpoint(m *byodav1alpha1.Membership, mid MemberIdentity, address string, ttl int64) *DNSEndpointApplyConfiguration {
	rec := DNSRecord{Name: mid.FQDN(), Target: address, TTL: dnsTTL(ttl)}
	return DNSEndpoint(m.Name, m.Namespace).
		WithLabels(MembershipLabels(m)).
		WithOwnerReferences(OwnerReference(m, KindMembership)).
		WithSpec(&externaldnsv1alpha1.DNSEndpointSpec{Endpoints: []*endpoint.Endpoint{rec.Endpoint()}})
}
