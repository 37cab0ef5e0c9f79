package specs

import (
	"log/slog"
	"strconv"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"
	"sigs.k8s.io/external-dns/endpoint"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/pki"
)

// Ports of a DataPod's Service, and the pod template's annotation.
const (
	// ServiceOwnerPort and ServicePeerPort are the Service's ports: the
	// peer port is the network's, where other pods look for it.
	ServiceOwnerPort = 443
	ServicePeerPort  = launch.DefaultPeerPort

	// AnnotationConfigHash on the pod template changes when a certificate or
	// contract the pod loads at start changes, so that the pod restarts.
	AnnotationConfigHash = "byoda.net/config-hash"

	podUser = 65532
)

// Account is a DataPod's identity: fixed when its key is created.
type Account struct {
	ID      uuid.UUID
	Network string
}

// FQDN is the account's TLS name and DNS name.
func (a Account) FQDN() string { return pki.AccountName(a.ID, a.Network) }

// Member is a membership as the DataPod's Deployment serves it.
type Member struct {
	Membership string // the Membership's name
	ServiceID  uint32
	MemberID   uuid.UUID
	KeySecret  string // holds member.key and member-data.key
	CertSecret string // holds member.crt, member-data.crt and contract.json
}

// PodInputs is everything the Deployment of a DataPod depends on.
type PodInputs struct {
	DataPod      *byodav1alpha1.DataPod
	Account      Account
	DefaultImage string
	// Members are the memberships to serve, ordered by service id.
	Members []Member
	// ConfigHash identifies the certificates and contracts mounted, so that
	// the pod restarts when one is renewed (they are read at start).
	ConfigHash string
}

// Default container resources when the spec gives none.
var defaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("50m"),
		corev1.ResourceMemory: resource.MustParse("64Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceMemory: resource.MustParse("256Mi"),
	},
}

// PodArgs returns the arguments of `byoda pod` for a DataPod, built by the
// launch contract the pod parses them with: network, PKI directory and
// account, data directory, storage and key-encryption key, listeners,
// owner password, and per membership its contract and member id.
func PodArgs(in PodInputs) []string {
	p := launch.Pod{
		Network:           in.Account.Network,
		PKIDir:            launch.PKIDir,
		AccountID:         in.Account.ID,
		DataDir:           launch.DataDir,
		StorageURL:        StorageLocation(in.DataPod).URL(),
		KEKFile:           launch.KEKFile,
		Listen:            ":" + strconv.Itoa(launch.OwnerPort),
		PeerListen:        ":" + strconv.Itoa(launch.PeerPort),
		OwnerPasswordFile: launch.OwnerPasswordFile,
		PeerPort:          ServicePeerPort,
		LogLevel:          slog.LevelInfo,
	}
	for _, m := range in.Members {
		p.ContractFiles = append(p.ContractFiles, launch.ContractPath(m.ServiceID))
		if p.Members == nil {
			p.Members = map[uint32]uuid.UUID{}
		}
		p.Members[m.ServiceID] = m.MemberID
	}
	return append([]string{"pod"}, p.Args()...)
}

// StorageLocation is the object store of a DataPod: its S3 bucket, or a
// directory in the pod's data volume.
func StorageLocation(dp *byodav1alpha1.DataPod) objstore.Location {
	s3 := dp.Spec.Storage.S3
	if s3 == nil {
		return objstore.Location{LocalDir: launch.LocalStorageDir}
	}
	return objstore.Location{S3: &objstore.S3Config{
		Bucket:       s3.Bucket,
		Prefix:       s3.Prefix,
		Endpoint:     s3.Endpoint,
		Region:       s3.Region,
		UsePathStyle: s3.PathStyle,
	}}
}

// OwnerPasswordRef returns the Secret and key holding the owner's password.
func OwnerPasswordRef(dp *byodav1alpha1.DataPod) (name, key string) {
	if ref := dp.Spec.Owner.PasswordSecretRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = KeyPassword
		}
		return ref.Name, key
	}
	return OwnerPasswordSecretName(dp), KeyPassword
}

// Deployment returns the DataPod's Deployment: `byoda pod` as deployment
// runs every workload, with its keys and certificates mounted in the PKI
// directory layout and, for S3 storage, the credentials in its
// environment.
func Deployment(in PodInputs) *appsv1ac.DeploymentApplyConfiguration {
	dp := in.DataPod
	ownerSecret, ownerKey := OwnerPasswordRef(dp)
	var env []*corev1ac.EnvVarApplyConfiguration
	if s3 := dp.Spec.Storage.S3; s3 != nil {
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			env = append(env, corev1ac.EnvVar().WithName(k).WithValueFrom(
				corev1ac.EnvVarSource().WithSecretKeyRef(
					corev1ac.SecretKeySelector().WithName(s3.CredentialsSecretRef.Name).WithKey(k))))
		}
	}
	w := workload{
		name:         dp.Name,
		namespace:    dp.Namespace,
		labels:       podLabels(dp),
		selector:     PodSelector(dp),
		owner:        OwnerReference(dp, KindDataPod),
		replicas:     Replicas(in),
		configHash:   in.ConfigHash,
		image:        dp.Spec.Image,
		defaultImage: in.DefaultImage,
		resources:    dp.Spec.Resources,
		container: corev1ac.Container().
			WithName("pod").
			WithArgs(PodArgs(in)...).
			WithPorts(
				corev1ac.ContainerPort().WithName("owner").WithContainerPort(launch.OwnerPort).WithProtocol(corev1.ProtocolTCP),
				corev1ac.ContainerPort().WithName("peer").WithContainerPort(launch.PeerPort).WithProtocol(corev1.ProtocolTCP),
			).
			WithEnv(env...),
		statusPort: "owner",
		mounts: []*corev1ac.VolumeMountApplyConfiguration{
			corev1ac.VolumeMount().WithName("pki").WithMountPath(launch.PKIDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("contracts").WithMountPath(launch.ContractsDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("owner").WithMountPath(launch.OwnerDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("key-encryption").WithMountPath(launch.KEKDir).WithReadOnly(true),
		},
		volumes: []*corev1ac.VolumeApplyConfiguration{
			corev1ac.Volume().WithName("pki").WithProjected(pkiVolume(in)),
			corev1ac.Volume().WithName("contracts").WithProjected(contractsVolume(in)),
			corev1ac.Volume().WithName("owner").WithSecret(corev1ac.SecretVolumeSource().
				WithSecretName(ownerSecret).
				WithDefaultMode(0o440).
				WithItems(corev1ac.KeyToPath().WithKey(ownerKey).WithPath(launch.OwnerPasswordFileName))),
			corev1ac.Volume().WithName("key-encryption").WithSecret(corev1ac.SecretVolumeSource().
				WithSecretName(KEKSecretName(dp)).
				WithDefaultMode(0o440).
				WithItems(corev1ac.KeyToPath().WithKey(KeyKEK).WithPath(launch.KEKFileName))),
		},
	}
	if l := dp.Spec.Storage.Local; l != nil {
		w.claimName = l.ClaimName
	}
	return deployment(w)
}

// Replicas is 1, or 0 while the DataPod has no membership: `byoda pod`
// serves services and needs at least one contract.
func Replicas(in PodInputs) int32 {
	if len(in.Members) == 0 {
		return 0
	}
	return 1
}

// pkiVolume assembles the internal/pki Dir layout that `byoda pod --pki-dir`
// reads from the account's and the memberships' Secrets.
func pkiVolume(in PodInputs) *corev1ac.ProjectedVolumeSourceApplyConfiguration {
	dp := in.DataPod
	net, aid := in.Account.Network, in.Account.ID.String()
	account := pki.Subject{Kind: pki.KindAccount, Network: net, ID: aid}
	accountData := pki.Subject{Kind: pki.KindAccountData, Network: net, ID: aid}
	rootCrt, _ := pki.RelPaths(pki.Subject{Kind: pki.KindRootCA, Network: net})
	sources := []*corev1ac.VolumeProjectionApplyConfiguration{
		secretProjection(AccountSecretName(dp),
			corev1ac.KeyToPath().WithKey(KeyNetworkJSON).WithPath(pki.NetworkFile),
			corev1ac.KeyToPath().WithKey(KeyRootCA).WithPath(rootCrt),
			certItem(KeyAccountCert, account),
			certItem(KeyAccountDataCrt, accountData)),
		secretProjection(AccountKeySecretName(dp),
			keyItem(KeyAccountKey, account),
			keyItem(KeyAccountDataKey, accountData)),
	}
	for _, m := range in.Members {
		member := pki.Subject{Kind: pki.KindMember, Network: net, ServiceID: m.ServiceID, ID: m.MemberID.String()}
		memberData := pki.Subject{Kind: pki.KindMemberData, Network: net, ServiceID: m.ServiceID, ID: m.MemberID.String()}
		sources = append(sources,
			secretProjection(m.CertSecret, certItem(KeyMemberCert, member), certItem(KeyMemberDataCert, memberData)),
			secretProjection(m.KeySecret, keyItem(KeyMemberKey, member), keyItem(KeyMemberDataKey, memberData)))
	}
	return corev1ac.ProjectedVolumeSource().WithDefaultMode(0o440).WithSources(sources...)
}

func secretProjection(name string, items ...*corev1ac.KeyToPathApplyConfiguration) *corev1ac.VolumeProjectionApplyConfiguration {
	return corev1ac.VolumeProjection().WithSecret(corev1ac.SecretProjection().WithName(name).WithItems(items...))
}

// certItem puts a Secret's key where the PKI directory keeps the
// certificate chain of s.
func certItem(secretKey string, s pki.Subject) *corev1ac.KeyToPathApplyConfiguration {
	crt, _ := pki.RelPaths(s)
	return corev1ac.KeyToPath().WithKey(secretKey).WithPath(crt)
}

// keyItem puts a Secret's key where the PKI directory keeps the private
// key of s.
func keyItem(secretKey string, s pki.Subject) *corev1ac.KeyToPathApplyConfiguration {
	_, key := pki.RelPaths(s)
	return corev1ac.KeyToPath().WithKey(secretKey).WithPath(key)
}

// contractsVolume holds the contract of every joined service.
func contractsVolume(in PodInputs) *corev1ac.ProjectedVolumeSourceApplyConfiguration {
	v := corev1ac.ProjectedVolumeSource().WithDefaultMode(0o444)
	for _, m := range in.Members {
		v.WithSources(corev1ac.VolumeProjection().WithSecret(corev1ac.SecretProjection().
			WithName(m.CertSecret).
			WithItems(corev1ac.KeyToPath().WithKey(KeyContract).WithPath(launch.ContractFileName(m.ServiceID)))))
	}
	return v
}

// PodService returns the Service in front of a DataPod: the owner port and
// the peer port.
func PodService(dp *byodav1alpha1.DataPod) *corev1ac.ServiceApplyConfiguration {
	typ := dp.Spec.Service.Type
	if typ == "" {
		typ = corev1.ServiceTypeLoadBalancer
	}
	svc := corev1ac.Service(dp.Name, dp.Namespace).
		WithLabels(DataPodLabels(dp)).
		WithOwnerReferences(OwnerReference(dp, KindDataPod)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(typ).
			WithSelector(PodSelector(dp)).
			WithPorts(
				corev1ac.ServicePort().WithName("owner").WithPort(ServiceOwnerPort).
					WithTargetPort(intstr.FromString("owner")).WithProtocol(corev1.ProtocolTCP),
				corev1ac.ServicePort().WithName("peer").WithPort(ServicePeerPort).
					WithTargetPort(intstr.FromString("peer")).WithProtocol(corev1.ProtocolTCP),
			))
	if len(dp.Spec.Service.Annotations) > 0 {
		svc.WithAnnotations(dp.Spec.Service.Annotations)
	}
	return svc
}

// DataPodDNSEndpoint publishes <account id>.accounts.<network> at address.
func DataPodDNSEndpoint(dp *byodav1alpha1.DataPod, acct Account, address string) *DNSEndpointApplyConfiguration {
	rec := DNSRecord{Name: acct.FQDN(), Target: address, TTL: dnsTTL(dp.Spec.DNS.TTL)}
	return DNSEndpoint(dp.Name, dp.Namespace).
		WithLabels(DataPodLabels(dp)).
		WithOwnerReferences(OwnerReference(dp, KindDataPod)).
		WithSpec(&externaldnsv1alpha1.DNSEndpointSpec{Endpoints: []*endpoint.Endpoint{rec.Endpoint()}})
}

func dnsTTL(ttl int64) int64 {
	if ttl == 0 {
		return 300
	}
	return ttl
}

// AccountSecret returns the Secret with the account's certificate chains,
// the network's root CA and network.json: the public half of the account's
// PKI directory.
func AccountSecret(dp *byodav1alpha1.DataPod, acct Account, certs AccountCerts) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(AccountSecretName(dp), dp.Namespace).
		WithLabels(DataPodLabels(dp)).
		WithAnnotations(map[string]string{
			AnnotationRevision + "account":      strconv.Itoa(certs.TLSRevision),
			AnnotationRevision + "account-data": strconv.Itoa(certs.DataRevision),
		}).
		WithOwnerReferences(OwnerReference(dp, KindDataPod)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			KeyAccountCert:    certs.TLS,
			KeyAccountDataCrt: certs.Data,
			KeyRootCA:         certs.RootCA,
			KeyNetworkJSON:    pki.NetworkJSON(acct.Network),
		})
}

// AnnotationRevision, followed by a certificate's file name without
// extension, is the revision of the CertificateRequest that issued it.
const AnnotationRevision = "byoda.net/revision."

// AccountCerts are the account's certificate chains (PEM, leaf first, root
// excluded) with the revision of the request each came from, and the
// network's root CA.
type AccountCerts struct {
	TLS, Data                 []byte
	TLSRevision, DataRevision int
	RootCA                    []byte
}
