package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetainPolicy says what happens to a DataPod's key-encryption Secret when
// the DataPod is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type RetainPolicy string

const (
	// RetainPolicyRetain keeps the key-encryption Secret, so the encrypted
	// data in object storage stays readable by a DataPod created again.
	RetainPolicyRetain RetainPolicy = "Retain"
	// RetainPolicyDelete deletes the key-encryption Secret with the DataPod,
	// which makes the data in object storage unreadable for good.
	RetainPolicyDelete RetainPolicy = "Delete"
)

// DataPodSpec is one person's data pod: where its data is stored, how its
// owner logs in and how it is reached.
type DataPodSpec struct {
	// Network is the byoda network the pod's account belongs to and the
	// issuer of its accounts CA.
	// +optional
	Network NetworkSpec `json:"network,omitempty"`

	// Storage is where the pod keeps its encrypted data.
	Storage StorageSpec `json:"storage"`

	// Owner configures how the pod's owner logs in.
	// +optional
	Owner OwnerSpec `json:"owner,omitempty"`

	// Image is the byoda container image. Empty means the operator's --image.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the pod's container. Empty means requests of 50m CPU and
	// 64Mi memory and a 256Mi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service configures the Kubernetes Service in front of the pod.
	// +optional
	Service PodServiceSpec `json:"service,omitempty"`

	// DNS configures the DNS name <account id>.accounts.<network> that
	// external-dns publishes for the pod.
	// +optional
	DNS DNSSpec `json:"dns,omitempty"`

	// RetainPolicy says whether the key-encryption Secret is kept (Retain,
	// the default) or deleted (Delete) with the DataPod. Without it the data
	// in object storage cannot be read again.
	// +kubebuilder:default=Retain
	// +optional
	RetainPolicy RetainPolicy `json:"retainPolicy,omitempty"`
}

// StorageSpec selects exactly one storage backend.
// +kubebuilder:validation:XValidation:rule="has(self.s3) != has(self.local)",message="set exactly one of storage.s3 and storage.local"
type StorageSpec struct {
	// S3 stores the data in an S3 bucket.
	// +optional
	S3 *S3Storage `json:"s3,omitempty"`

	// Local stores the data on a volume mounted into the pod.
	// +optional
	Local *LocalStorage `json:"local,omitempty"`
}

// S3Storage is an S3 bucket (AWS or any S3-compatible server).
type S3Storage struct {
	// Bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	Bucket string `json:"bucket"`

	// Prefix under which the pod's objects are stored. Empty means the
	// bucket's root.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// Endpoint is the URL of an S3-compatible server. Empty means AWS.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",message="endpoint must be an http or https URL, such as https://s3.example.com"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Region of the bucket.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`

	// PathStyle addresses the bucket in the URL path rather than in the host
	// name, as most S3-compatible servers other than AWS need.
	// +optional
	PathStyle bool `json:"pathStyle,omitempty"`

	// CredentialsSecretRef names the Secret, in the DataPod's namespace,
	// that holds the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`
}

// LocalStorage keeps the data on a volume of the pod.
type LocalStorage struct {
	// ClaimName is a PersistentVolumeClaim in the DataPod's namespace. Empty
	// means an emptyDir volume, whose data is lost with the pod: for tests
	// and demonstrations only.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClaimName string `json:"claimName,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// OwnerSpec configures the owner's login.
type OwnerSpec struct {
	// PasswordSecretRef selects the owner's password (key "password" when no
	// key is given). Empty means the operator generates a random password
	// once into the Secret <name>-owner-password.
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`
}

// PodServiceSpec configures the Kubernetes Service in front of a pod (a
// DataPod's, or a service directory's).
type PodServiceSpec struct {
	// Type of the Service: LoadBalancer (the default) gives the pod the
	// address its DNS name points at; ClusterIP and NodePort need a
	// dns.target.
	// +kubebuilder:validation:Enum=LoadBalancer;ClusterIP;NodePort
	// +kubebuilder:default=LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to the Service, for example for a cloud's load
	// balancer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DNSSpec configures a DNS record published through external-dns.
type DNSSpec struct {
	// Target is the IP address or host name the record points at. Empty
	// means the load-balancer address of the Kubernetes Service in front
	// of the pod (of the DataPod, or of the service's directory).
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="isIP(self) || self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?[.])*[a-z0-9]([-a-z0-9]*[a-z0-9])?[.]?$')",message="dns.target must be an IP address or a lower-case DNS name"
	// +optional
	Target string `json:"target,omitempty"`

	// TTL of the record in seconds.
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	// +kubebuilder:default=300
	// +optional
	TTL int64 `json:"ttl,omitempty"`
}

// DataPodStatus is what the operator observed and did for a DataPod.
type DataPodStatus struct {
	// ObservedGeneration is the generation of the spec this status is for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// AccountID is the pod's account id, generated once with its key.
	// +optional
	AccountID string `json:"accountID,omitempty"`

	// Network is the network domain of the account.
	// +optional
	Network string `json:"network,omitempty"`

	// FQDN is the pod's DNS name, <account id>.accounts.<network>.
	// +optional
	FQDN string `json:"fqdn,omitempty"`

	// Address is where FQDN points: spec.dns.target or the load-balancer
	// address of the pod's Service. Memberships publish it too.
	// +optional
	Address string `json:"address,omitempty"`

	// Memberships are the memberships the pod's Deployment serves.
	// +listType=map
	// +listMapKey=name
	// +optional
	Memberships []JoinedMembership `json:"memberships,omitempty"`

	// Conditions: CertificateReady, StorageReady, DNSReady and Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// JoinedMembership is a membership that a DataPod's Deployment serves.
type JoinedMembership struct {
	// Name of the Membership.
	Name string `json:"name"`
	// ServiceID of the joined service.
	ServiceID int64 `json:"serviceID"`
	// MemberID is the pod's member id in that service.
	MemberID string `json:"memberID"`
}

// DataPod is one person's data pod: an account in a byoda network with its
// keys and certificates, encrypted storage, and a Deployment running
// `byoda pod`, published in DNS.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dpod,categories=byoda
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.accountID`
// +kubebuilder:printcolumn:name="FQDN",type=string,JSONPath=`.status.fqdn`,priority=1
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="a DataPod's name must be a DNS label (at most 63 characters, starting with a letter): it names the pod's Service"
type DataPod struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DataPodSpec   `json:"spec"`
	Status DataPodStatus `json:"status,omitempty"`
}

// DataPodList is a list of DataPods.
//
// +kubebuilder:object:root=true
type DataPodList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DataPod `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DataPod{}, &DataPodList{})
}
