package v1alpha1

// NetworkSpec says which byoda network an object belongs to and which
// cert-manager issuer signs for it there.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.domain) || (has(self.domain) && self.domain == oldSelf.domain)",message="network.domain cannot be changed once set: every name and certificate of the object is derived from it"
type NetworkSpec struct {
	// Domain is the network's DNS domain, such as byoda.net. It is part of
	// every certificate name (see docs/pki.md) and cannot be changed once
	// set. Empty means the operator's --network-domain.
	// +kubebuilder:validation:MaxLength=193
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Domain string `json:"domain,omitempty"`

	// IssuerRef names the cert-manager issuer of the network CA that signs for
	// this object: the accounts CA for a DataPod, the services CA for a
	// Service. Empty means the operator's --accounts-issuer or
	// --services-issuer (a ClusterIssuer).
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`
}

// IssuerReference names a cert-manager Issuer or ClusterIssuer.
type IssuerReference struct {
	// Name of the issuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind is ClusterIssuer (the default) or Issuer, which must then be in
	// the namespace of the object that refers to it.
	// +kubebuilder:validation:Enum=ClusterIssuer;Issuer
	// +kubebuilder:default=ClusterIssuer
	// +optional
	Kind string `json:"kind,omitempty"`
}

// SecretKeyReference selects one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}
