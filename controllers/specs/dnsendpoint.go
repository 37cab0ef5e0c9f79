package specs

import (
	"net/netip"
	"strings"

	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"
	"sigs.k8s.io/external-dns/endpoint"
)

// DNSEndpointApplyConfiguration is an apply configuration for external-dns's
// DNSEndpoint, which publishes none. Its spec is external-dns's own type:
// every field there is omitempty, so a spec built from scratch holds exactly
// the fields the operator sets, which is what server-side apply needs.
type DNSEndpointApplyConfiguration struct {
	metav1ac.TypeMetaApplyConfiguration    `json:",inline"`
	*metav1ac.ObjectMetaApplyConfiguration `json:"metadata,omitempty"`
	Spec                                   *externaldnsv1alpha1.DNSEndpointSpec `json:"spec,omitempty"`
}

// DNSEndpoint returns an empty apply configuration for the DNSEndpoint
// namespace/name.
func DNSEndpoint(name, namespace string) *DNSEndpointApplyConfiguration {
	b := &DNSEndpointApplyConfiguration{ObjectMetaApplyConfiguration: &metav1ac.ObjectMetaApplyConfiguration{}}
	b.WithKind(externaldnsv1alpha1.DNSEndpointKind)
	b.WithAPIVersion(externaldnsv1alpha1.GroupVersion.String())
	b.ObjectMetaApplyConfiguration.WithName(name).WithNamespace(namespace)
	return b
}

// IsApplyConfiguration marks the type as an apply configuration.
func (b *DNSEndpointApplyConfiguration) IsApplyConfiguration() {}

// GetName returns the name, for the client.
func (b *DNSEndpointApplyConfiguration) GetName() *string {
	return b.ObjectMetaApplyConfiguration.GetName()
}

// GetNamespace returns the namespace, for the client.
func (b *DNSEndpointApplyConfiguration) GetNamespace() *string {
	return b.ObjectMetaApplyConfiguration.GetNamespace()
}

// WithLabels merges labels into the object's labels.
func (b *DNSEndpointApplyConfiguration) WithLabels(entries map[string]string) *DNSEndpointApplyConfiguration {
	b.ObjectMetaApplyConfiguration.WithLabels(entries)
	return b
}

// WithAnnotations merges entries into the object's annotations.
func (b *DNSEndpointApplyConfiguration) WithAnnotations(entries map[string]string) *DNSEndpointApplyConfiguration {
	b.ObjectMetaApplyConfiguration.WithAnnotations(entries)
	return b
}

// WithOwnerReferences adds owner references.
func (b *DNSEndpointApplyConfiguration) WithOwnerReferences(refs ...*metav1ac.OwnerReferenceApplyConfiguration) *DNSEndpointApplyConfiguration {
	b.ObjectMetaApplyConfiguration.WithOwnerReferences(refs...)
	return b
}

// WithSpec sets the spec.
func (b *DNSEndpointApplyConfiguration) WithSpec(spec *externaldnsv1alpha1.DNSEndpointSpec) *DNSEndpointApplyConfiguration {
	b.Spec = spec
	return b
}

// DNSRecord is one name published through external-dns.
type DNSRecord struct {
	Name   string // fully qualified, without the trailing dot
	Target string // an IP address or a host name
	TTL    int64
}

// Endpoint returns the external-dns endpoint for r: an A or AAAA record for
// an IP address, a CNAME for a host name.
func (r DNSRecord) Endpoint() *endpoint.Endpoint {
	recordType := endpoint.RecordTypeCNAME
	target := strings.TrimSuffix(r.Target, ".")
	if ip, err := netip.ParseAddr(target); err == nil {
		recordType = endpoint.RecordTypeA
		if ip.Is6() && !ip.Is4In6() {
			recordType = endpoint.RecordTypeAAAA
		}
		target = ip.Unmap().String()
	}
	return &endpoint.Endpoint{
		DNSName:    r.Name,
		RecordType: recordType,
		Targets:    endpoint.Targets{target},
		RecordTTL:  endpoint.TTL(r.TTL),
	}
}
