package v1alpha1

// Condition types. Every kind has an aggregate Ready that is True only when
// all of its other conditions are.
const (
	// ConditionReady is the aggregate of a kind's other conditions.
	ConditionReady = "Ready"

	// ConditionCertificateReady says the object's certificates are issued and
	// in place: a DataPod's account certificates, a Membership's member
	// certificates, a Service's TLS and data certificates.
	ConditionCertificateReady = "CertificateReady"

	// ConditionStorageReady says a DataPod's object storage is configured:
	// its credentials Secret or volume claim exists.
	ConditionStorageReady = "StorageReady"

	// ConditionDNSReady says a DNSEndpoint with the object's name and address
	// is published for external-dns.
	ConditionDNSReady = "DNSReady"

	// ConditionContractValid says a Service's contract parsed and validated.
	ConditionContractValid = "ContractValid"

	// ConditionCAReady says a Service's CAs (service, members and apps) are
	// issued and their Issuers are ready to sign.
	ConditionCAReady = "CAReady"

	// ConditionJoined says a Membership's contract and member certificate are
	// in its DataPod's Deployment.
	ConditionJoined = "Joined"

	// ConditionDirectoryReady says a Service's directory runs: its contract
	// is countersigned and its Deployment has an available pod.
	ConditionDirectoryReady = "DirectoryReady"
)

// Condition reasons. They are part of the API: tools and people match on
// them, so they never change meaning.
const (
	// ReasonReady: every condition of the object is True.
	ReasonReady = "Ready"
	// ReasonNotReady: some condition is not True; the message says which.
	ReasonNotReady = "NotReady"
	// ReasonDeploymentUnavailable: a DataPod's conditions are True but its
	// Deployment has no available replica yet; or a Service's directory
	// Deployment has none.
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	// ReasonDeploymentAvailable: a Service's directory Deployment has an
	// available pod of its current spec.
	ReasonDeploymentAvailable = "Available"
	// ReasonNoMemberships: a DataPod's conditions are True but it has joined
	// no service, so its Deployment runs no pod: `byoda pod` serves
	// services. Create a Membership.
	ReasonNoMemberships = "NoMemberships"

	// ReasonIssued: the certificates are issued and stored.
	ReasonIssued = "Issued"
	// ReasonRequestPending: a CertificateRequest waits for its issuer.
	ReasonRequestPending = "RequestPending"
	// ReasonRequestFailed: the issuer refused or failed a CertificateRequest;
	// the operator retries with a new request after a back-off.
	ReasonRequestFailed = "RequestFailed"
	// ReasonKeyMissing: a key Secret the operator created was deleted. Keys
	// are never regenerated: restore the Secret from a backup.
	ReasonKeyMissing = "KeyMissing"
	// ReasonNetworkMismatch: the object names a network other than the one
	// its identity (or its Service) belongs to.
	ReasonNetworkMismatch = "NetworkMismatch"
	// ReasonCertificatePending: cert-manager has not issued a Certificate yet.
	ReasonCertificatePending = "CertificatePending"

	// ReasonStorageConfigured: the storage's Secret or claim exists.
	ReasonStorageConfigured = "Configured"
	// ReasonCredentialsNotFound: the S3 credentials Secret or one of its keys
	// is missing.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonClaimNotFound: the PersistentVolumeClaim of local storage is
	// missing.
	ReasonClaimNotFound = "ClaimNotFound"

	// ReasonPublished: the DNSEndpoint is applied with the current address.
	ReasonPublished = "Published"
	// ReasonAddressPending: there is no address to publish yet: no
	// spec.dns.target and no load-balancer address on the DataPod's Service.
	ReasonAddressPending = "AddressPending"

	// ReasonContractValid: the contract parsed and validated.
	ReasonContractValid = "Valid"
	// ReasonContractInvalid: the contract failed validation; the message
	// names the JSON pointer of each problem.
	ReasonContractInvalid = "ContractInvalid"
	// ReasonContractNotFound: the ConfigMap or key holding the contract is
	// missing.
	ReasonContractNotFound = "ContractNotFound"
	// ReasonServiceIDMismatch: the contract's service_id differs from
	// spec.serviceID.
	ReasonServiceIDMismatch = "ServiceIDMismatch"
	// ReasonCAPending: a CA Certificate or its Issuer is not ready yet.
	ReasonCAPending = "CAPending"

	// ReasonJoined: the DataPod serves the membership.
	ReasonJoined = "Joined"
	// ReasonDataPodNotFound: the Membership's DataPod does not exist.
	ReasonDataPodNotFound = "DataPodNotFound"
	// ReasonServiceNotFound: the Membership's Service does not exist.
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonServiceNotReady: the Service's contract or CAs are not ready.
	ReasonServiceNotReady = "ServiceNotReady"
	// ReasonNetworkDataKeyUnusable: the Secret with the network data key
	// (the operator's --network-data-secret), which countersigns a
	// Service's contract for its directory, is missing, holds no key pair
	// of network.network-data.<network>, or one of another network root.
	ReasonNetworkDataKeyUnusable = "NetworkDataKeyUnusable"

	// ReasonDataPodNotReady: a Membership of a remote service waits for its
	// DataPod's account certificates, which bring the network root that
	// the service's directory is checked against.
	ReasonDataPodNotReady = "DataPodNotReady"
	// ReasonDirectoryUnreachable: the remote service's directory did not
	// answer, answered with a server error, or did not prove with its TLS
	// certificate that it is the service's; the operator tries again after
	// its retry interval.
	ReasonDirectoryUnreachable = "DirectoryUnreachable"
	// ReasonDirectoryRefused: the remote service's directory refused a
	// request (a 4xx answer); the message says why. The operator tries
	// again after its retry interval.
	ReasonDirectoryRefused = "DirectoryRefused"
	// ReasonContractUnverified: the contract the remote service's directory
	// publishes does not carry valid signatures of the service and the
	// network, or is another service's.
	ReasonContractUnverified = "ContractUnverified"
	// ReasonDuplicateService: the DataPod already has another membership of
	// the same service.
	ReasonDuplicateService = "DuplicateService"
	// ReasonRolloutPending: the member certificate and contract are in place
	// and the DataPod has not yet put them in its Deployment.
	ReasonRolloutPending = "RolloutPending"
)

// Labels and annotations the operator puts on the objects it creates.
const (
	// LabelManagedBy marks every object the operator creates; its cache
	// watches only objects with this label.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "byoda-operator"

	// LabelDataPod names the DataPod an object belongs to.
	LabelDataPod = "byoda.net/datapod"
	// LabelService names the Service an object belongs to.
	LabelService = "byoda.net/service"
	// LabelMembership names the Membership an object belongs to.
	LabelMembership = "byoda.net/membership"
	// LabelMembershipNamespace is the namespace of the Membership named by
	// LabelMembership, on objects in another namespace.
	LabelMembershipNamespace = "byoda.net/membership-namespace"
	// LabelAccountID is the account id of a DataPod's key Secret.
	LabelAccountID = "byoda.net/account-id"
	// LabelMemberID is the member id of a Membership's key Secret.
	LabelMemberID = "byoda.net/member-id"
	// LabelServiceID is the service id of a Membership's Secrets.
	LabelServiceID = "byoda.net/service-id"
)
