package specs

import (
	"log/slog"
	"maps"
	"strconv"

	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"
	"sigs.k8s.io/external-dns/endpoint"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
)

// A service's directory: `byoda service` in a Deployment, a Service and a
// DNS name, with the countersigned contract in a ConfigMap.

// DirectoryName names the Deployment, Service, DNSEndpoint and ConfigMap of
// a Service's directory, in the Service's namespace.
func DirectoryName(svc *byodav1alpha1.Service) string { return svc.Name + "-directory" }

// Keys and annotations of the directory's ConfigMap and Secrets.
const (
	// KeyDatabaseURL is the key of spec.directory.storage.databaseSecretRef
	// when it names none.
	KeyDatabaseURL = "url"
	// AnnotationSignedFrom on the directory's ConfigMap identifies what
	// its contract was signed from (the source contract and the service's
	// data certificate), so that the operator signs again only when one
	// of them changes: a signature is random and timestamped, and a new
	// one restarts the directory.
	AnnotationSignedFrom = "byoda.net/signed-from"
	// ServiceDirectoryPort is the directory's Service port.
	ServiceDirectoryPort = 443
	directoryAppName     = "byoda-service-directory"
)

// DirectoryURL is where a service's directory is reached: the DNS name of
// the service's TLS certificate, on the HTTPS port.
func DirectoryURL(sid uint32, network string) string {
	return "https://" + pki.ServiceName(sid, network)
}

// DirectoryInputs is everything a Service's directory Deployment depends on.
type DirectoryInputs struct {
	Service      *byodav1alpha1.Service
	Network      string
	DefaultImage string
	// ConfigHash identifies the certificates, keys and contract mounted,
	// so that the directory restarts when one changes (it reads them at
	// start).
	ConfigHash string
}

func (in DirectoryInputs) sid() uint32 { return uint32(in.Service.Spec.ServiceID) }

// DirectorySelector selects the pods of a Service's directory.
func DirectorySelector(svc *byodav1alpha1.Service) map[string]string {
	return map[string]string{labelName: directoryAppName, labelInstance: svc.Name}
}

func directoryLabels(svc *byodav1alpha1.Service) map[string]string {
	l := ServiceLabels(svc)
	maps.Copy(l, DirectorySelector(svc))
	return l
}

// DirectoryConfigMap holds what a Service's directory reads besides its
// keys: the contract countersigned by the network, and network.json of its
// PKI directory.
func DirectoryConfigMap(svc *byodav1alpha1.Service, network string, signed []byte, signedFrom string) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(DirectoryName(svc), svc.Namespace).
		WithLabels(ServiceLabels(svc)).
		WithAnnotations(map[string]string{AnnotationSignedFrom: signedFrom}).
		WithOwnerReferences(OwnerReference(svc, KindService)).
		WithData(map[string]string{
			KeyContract:    string(signed),
			KeyNetworkJSON: string(pki.NetworkJSON(network)),
		})
}

// DirectoryArgs returns the arguments of `byoda service` for a Service's
// directory, built by the launch contract the command parses them with.
func DirectoryArgs(in DirectoryInputs) []string {
	sd := launch.ServiceDirectory{
		PKIDir:       launch.PKIDir,
		ServiceID:    in.sid(),
		ContractFile: launch.ServiceContractFile,
		DataDir:      launch.DataDir,
		Listen:       ":" + strconv.Itoa(launch.DirectoryPort),
		LogLevel:     slog.LevelInfo,
	}
	return append([]string{"service"}, sd.Args()...)
}

// DirectoryDeployment returns the Deployment of a Service's directory:
// `byoda service` as deployment runs every workload (one replica,
// recreated rather than rolled, as a SQLite registry has one writer), with
// the members CA key and the service's certificates mounted read-only in
// the PKI directory layout.
func DirectoryDeployment(in DirectoryInputs) *appsv1ac.DeploymentApplyConfiguration {
	svc := in.Service
	spec := svc.Spec.Directory
	var env []*corev1ac.EnvVarApplyConfiguration
	if ref := spec.Storage.DatabaseSecretRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = KeyDatabaseURL
		}
		env = append(env, corev1ac.EnvVar().WithName(launch.DatabaseEnv).WithValueFrom(
			corev1ac.EnvVarSource().WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(ref.Name).WithKey(key))))
	}
	return deployment(workload{
		name:         DirectoryName(svc),
		namespace:    svc.Namespace,
		labels:       directoryLabels(svc),
		selector:     DirectorySelector(svc),
		owner:        OwnerReference(svc, KindService),
		replicas:     1,
		configHash:   in.ConfigHash,
		image:        spec.Image,
		defaultImage: in.DefaultImage,
		resources:    spec.Resources,
		container: corev1ac.Container().
			WithName("directory").
			WithArgs(DirectoryArgs(in)...).
			WithPorts(corev1ac.ContainerPort().WithName("https").WithContainerPort(launch.DirectoryPort).WithProtocol(corev1.ProtocolTCP)).
			WithEnv(env...),
		statusPort: "https",
		mounts: []*corev1ac.VolumeMountApplyConfiguration{
			corev1ac.VolumeMount().WithName("pki").WithMountPath(launch.PKIDir).WithReadOnly(true),
			corev1ac.VolumeMount().WithName("contract").WithMountPath(launch.ServiceContractDir).WithReadOnly(true),
		},
		volumes: []*corev1ac.VolumeApplyConfiguration{
			corev1ac.Volume().WithName("pki").WithProjected(directoryPKIVolume(in)),
			corev1ac.Volume().WithName("contract").WithConfigMap(corev1ac.ConfigMapVolumeSource().
				WithName(DirectoryName(svc)).
				WithDefaultMode(0o444).
				WithItems(corev1ac.KeyToPath().WithKey(KeyContract).WithPath(launch.ServiceContractFileName))),
		},
		claimName: spec.Storage.ClaimName,
	})
}

// directoryPKIVolume assembles the internal/pki Dir layout that `byoda
// service --pki-dir` reads, from the Secrets cert-manager keeps the
// service's members CA and certificates in: the network root (the CA of
// the members CA's chain), the members CA with its key, and the service's
// TLS and data certificates with their keys.
func directoryPKIVolume(in DirectoryInputs) *corev1ac.ProjectedVolumeSourceApplyConfiguration {
	svc, sid, n := in.Service, in.sid(), in.Network
	root, _ := pki.RelPaths(pki.Subject{Kind: pki.KindRootCA, Network: n})
	pair := func(secret string, kind pki.Kind) *corev1ac.VolumeProjectionApplyConfiguration {
		crt, key := pki.RelPaths(pki.Subject{Kind: kind, ServiceID: sid, Network: n})
		items := []*corev1ac.KeyToPathApplyConfiguration{
			corev1ac.KeyToPath().WithKey(corev1.TLSCertKey).WithPath(crt),
			corev1ac.KeyToPath().WithKey(corev1.TLSPrivateKeyKey).WithPath(key),
		}
		if kind == pki.KindMembersCA {
			items = append(items, corev1ac.KeyToPath().WithKey(cmmeta.TLSCAKey).WithPath(root))
		}
		return secretProjection(secret, items...)
	}
	return corev1ac.ProjectedVolumeSource().WithDefaultMode(0o440).WithSources(
		corev1ac.VolumeProjection().WithConfigMap(corev1ac.ConfigMapProjection().
			WithName(DirectoryName(svc)).
			WithItems(corev1ac.KeyToPath().WithKey(KeyNetworkJSON).WithPath(pki.NetworkFile))),
		pair(CAName(svc, MembersCA), pki.KindMembersCA),
		pair(ServiceTLSName(svc), pki.KindService),
		pair(ServiceDataName(svc), pki.KindServiceData),
	)
}

// DirectoryService returns the Service in front of a service's directory.
func DirectoryService(svc *byodav1alpha1.Service) *corev1ac.ServiceApplyConfiguration {
	spec := svc.Spec.Directory.Service
	typ := spec.Type
	if typ == "" {
		typ = corev1.ServiceTypeLoadBalancer
	}
	s := corev1ac.Service(DirectoryName(svc), svc.Namespace).
		WithLabels(ServiceLabels(svc)).
		WithOwnerReferences(OwnerReference(svc, KindService)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(typ).
			WithSelector(DirectorySelector(svc)).
			WithPorts(corev1ac.ServicePort().WithName("https").WithPort(ServiceDirectoryPort).
				WithTargetPort(intstr.FromString("https")).WithProtocol(corev1.ProtocolTCP)))
	if len(spec.Annotations) > 0 {
		s.WithAnnotations(spec.Annotations)
	}
	return s
}

// DirectoryDNSEndpoint publishes service.service-<service id>.<network>,
// the name of the directory's TLS certificate, at address.
func DirectoryDNSEndpoint(svc *byodav1alpha1.Service, network, address string) *DNSEndpointApplyConfiguration {
	rec := DNSRecord{Name: pki.ServiceName(uint32(svc.Spec.ServiceID), network), Target: address, TTL: dnsTTL(svc.Spec.Directory.DNS.TTL)}
	return DNSEndpoint(DirectoryName(svc), svc.Namespace).
		WithLabels(ServiceLabels(svc)).
		WithOwnerReferences(OwnerReference(svc, KindService)).
		WithSpec(&externaldnsv1alpha1.DNSEndpointSpec{Endpoints: []*endpoint.Endpoint{rec.Endpoint()}})
}
