package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MembershipSpec makes a DataPod join a Service.
type MembershipSpec struct {
	// DataPodRef names the DataPod, in the Membership's namespace, that
	// joins. The member key is kept in this namespace.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="dataPodRef cannot be changed: the member id and key belong to one DataPod"
	DataPodRef LocalObjectReference `json:"dataPodRef"`

	// Service is the service to join.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="service cannot be changed: the member certificate is signed by that service's members CA; create another Membership"
	Service ServiceReference `json:"service"`

	// AutoUpgrade makes the pod follow new versions of the service's
	// contract (the default). When false the pod keeps the contract version
	// it joined with.
	// +kubebuilder:default=true
	// +optional
	AutoUpgrade *bool `json:"autoUpgrade,omitempty"`
}

// ServiceReference names a Service in this cluster, or a remote service by
// its id.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.serviceID)",message="set exactly one of service.name (a Service in this cluster) and service.serviceID (a remote service)"
// +kubebuilder:validation:XValidation:rule="!has(self.namespace) || has(self.name)",message="service.namespace goes with service.name"
// +kubebuilder:validation:XValidation:rule="!has(self.directoryURL) || has(self.serviceID)",message="service.directoryURL goes with service.serviceID (a remote service)"
type ServiceReference struct {
	// Name of a Service in this cluster.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Name string `json:"name,omitempty"`

	// Namespace of the Service. Empty means the Membership's namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// ServiceID of a service run elsewhere, joined through its service
	// directory: the operator fetches the contract there and checks the
	// service's and the network's signatures, and sends the member's CSRs
	// there. The member key stays in the Membership's namespace.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	ServiceID *int64 `json:"serviceID,omitempty"`

	// DirectoryURL is where the remote service's directory is reached.
	// Empty means https://service.service-<serviceID>.<network>. Whatever
	// the URL, the directory must present the service's TLS certificate,
	// service.service-<serviceID>.<network>, issued under the network's
	// root.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https://[^/?#@ ]+(/[^?# ]*)?$') && isURL(self)",message="service.directoryURL must be an https URL without user, query or fragment, such as https://service.service-4711.byoda.net"
	// +optional
	DirectoryURL string `json:"directoryURL,omitempty"`
}

// MembershipStatus is what the operator observed and did for a Membership.
type MembershipStatus struct {
	// ObservedGeneration is the generation of the spec this status is for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// MemberID is the pod's member id in the service, generated once with
	// the member key.
	// +optional
	MemberID string `json:"memberID,omitempty"`

	// ServiceID is the id of the joined service.
	// +optional
	ServiceID *int64 `json:"serviceID,omitempty"`

	// FQDN is the member's DNS name, <member id>.members-<service id>.<network>.
	// +optional
	FQDN string `json:"fqdn,omitempty"`

	// ContractVersion is the version of the contract the pod serves.
	// +optional
	ContractVersion int `json:"contractVersion,omitempty"`

	// Conditions: CertificateReady, DNSReady, Joined and Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Membership is a DataPod's membership of a service, in this cluster or
// remote: a member id and key, a member certificate signed by the
// service's members CA, the service's contract in the pod, and a DNS name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bmember,categories=byoda
// +kubebuilder:printcolumn:name="DataPod",type=string,JSONPath=`.spec.dataPodRef.name`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.name`
// +kubebuilder:printcolumn:name="Service ID",type=integer,JSONPath=`.status.serviceID`
// +kubebuilder:printcolumn:name="Member",type=string,JSONPath=`.status.memberID`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="FQDN",type=string,JSONPath=`.status.fqdn`,priority=1
// +kubebuilder:printcolumn:name="Contract",type=integer,JSONPath=`.status.contractVersion`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="a Membership's name must be at most 63 characters: it is a label value on the objects made for it"
type Membership struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MembershipSpec   `json:"spec"`
	Status MembershipStatus `json:"status,omitempty"`
}

// MembershipList is a list of Memberships.
//
// +kubebuilder:object:root=true
type MembershipList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Membership `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Membership{}, &MembershipList{})
}
