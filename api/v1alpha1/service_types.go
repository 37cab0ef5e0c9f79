package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceSpec is a byoda service: its id, its contract and the network CA
// that signs its own CA.
type ServiceSpec struct {
	// ServiceID is the service's number in the network. It must equal the
	// contract's service_id and cannot be changed.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="serviceID cannot be changed: the service's CAs and every member certificate carry it"
	ServiceID int64 `json:"serviceID"`

	// Contract is the service's contract: the data its members keep and who
	// may access it.
	Contract ContractSource `json:"contract"`

	// Network is the byoda network of the service and the issuer of its
	// services CA.
	// +optional
	Network NetworkSpec `json:"network,omitempty"`

	// Directory configures the service's directory (byoda service), which
	// the operator runs for the Service: it publishes the countersigned
	// contract, signs the CSRs of members that join from other clusters
	// with the members CA, and answers searches.
	// +optional
	Directory DirectorySpec `json:"directory,omitempty"`
}

// DirectorySpec configures the Deployment, Service and DNS name of a
// service's directory.
type DirectorySpec struct {
	// Image is the byoda container image. Empty means the operator's --image.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the directory's container. Empty means requests of 50m
	// CPU and 64Mi memory and a 256Mi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service configures the Kubernetes Service in front of the directory.
	// +optional
	Service PodServiceSpec `json:"service,omitempty"`

	// DNS configures the directory's DNS name, service.service-<service
	// id>.<network>, which external-dns publishes: the name on its TLS
	// certificate, where members of other clusters reach it.
	// +optional
	DNS DNSSpec `json:"dns,omitempty"`

	// Storage is where the directory keeps its registry.
	// +optional
	Storage DirectoryStorage `json:"storage,omitempty"`
}

// DirectoryStorage selects the registry of a service directory: a SQLite
// file on a volume claim, a PostgreSQL database, or (neither) a SQLite file
// on an emptyDir volume, lost with the pod: for tests and demonstrations
// only.
// +kubebuilder:validation:XValidation:rule="!(has(self.claimName) && has(self.databaseSecretRef))",message="set at most one of directory.storage.claimName and directory.storage.databaseSecretRef"
type DirectoryStorage struct {
	// ClaimName is a PersistentVolumeClaim in the Service's namespace for
	// the SQLite registry.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClaimName string `json:"claimName,omitempty"`

	// DatabaseSecretRef selects a Secret key, in the Service's namespace,
	// holding the URL of a PostgreSQL database (postgres://...; key "url"
	// when no key is given).
	// +optional
	DatabaseSecretRef *SecretKeyReference `json:"databaseSecretRef,omitempty"`
}

// ContractSource holds a contract inline or names the ConfigMap holding it.
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.configMapKeyRef)",message="set exactly one of contract.inline and contract.configMapKeyRef"
type ContractSource struct {
	// Inline is the contract document itself (JSON or the equivalent YAML).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Inline *apiextensionsv1.JSON `json:"inline,omitempty"`

	// ConfigMapKeyRef selects a key of a ConfigMap in the Service's
	// namespace that holds the contract as JSON (key "contract.json" when no
	// key is given). The operator reads it when the Service changes and
	// again every retry interval of the operator (30s by default), so an
	// edit is picked up without a change to the Service. It must not be
	// <name>-contract, the ConfigMap the operator publishes the contract in.
	// +optional
	ConfigMapKeyRef *ConfigMapKeyReference `json:"configMapKeyRef,omitempty"`
}

// ConfigMapKeyReference selects one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// Name of the ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the ConfigMap's data.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// ServiceStatus is what the operator observed and did for a Service.
type ServiceStatus struct {
	// ObservedGeneration is the generation of the spec this status is for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Network is the network domain of the service.
	// +optional
	Network string `json:"network,omitempty"`

	// ContractName is the contract's name.
	// +optional
	ContractName string `json:"contractName,omitempty"`

	// ContractVersion is the contract's version.
	// +optional
	ContractVersion int `json:"contractVersion,omitempty"`

	// ContractConfigMap is the ConfigMap in the Service's namespace where the
	// validated contract is published, under the key contract.json.
	// +optional
	ContractConfigMap string `json:"contractConfigMap,omitempty"`

	// MembersIssuer is the Issuer, in the Service's namespace, of the
	// service's members CA: member certificates are requested from it.
	// +optional
	MembersIssuer string `json:"membersIssuer,omitempty"`

	// DirectoryURL is where members of other clusters reach the service's
	// directory: https://service.service-<service id>.<network>.
	// +optional
	DirectoryURL string `json:"directoryURL,omitempty"`

	// Address is where the directory's DNS name points:
	// spec.directory.dns.target or the load-balancer address of its
	// Service.
	// +optional
	Address string `json:"address,omitempty"`

	// Conditions: ContractValid, CAReady, CertificateReady, DirectoryReady,
	// DNSReady and Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Service is a byoda service: its contract, published for the pods that
// join it, its CA hierarchy (service CA, members CA and apps CA as
// cert-manager Certificates and Issuers, with the service's TLS and data
// certificates), and its directory.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bsvc,categories=byoda
// +kubebuilder:printcolumn:name="Service ID",type=integer,JSONPath=`.spec.serviceID`
// +kubebuilder:printcolumn:name="Contract",type=string,JSONPath=`.status.contractName`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.contractVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Directory",type=string,JSONPath=`.status.directoryURL`,priority=1
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52",message="a Service's name must be at most 52 characters: it prefixes the names of its Certificates and Issuers"
type Service struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceSpec   `json:"spec"`
	Status ServiceStatus `json:"status,omitempty"`
}

// ServiceList is a list of Services.
//
// +kubebuilder:object:root=true
type ServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Service `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Service{}, &ServiceList{})
}
