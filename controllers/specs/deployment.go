package specs

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/byoda-go/byoda/internal/launch"
)

// workload is a byoda command that the operator runs as the one pod of a
// Deployment (a DataPod's `byoda pod`, a service's `byoda service`): the
// parts in which they differ. What they share is set by deployment.
type workload struct {
	name, namespace string
	// labels are the Deployment's and its pods'; selector selects the pods.
	labels, selector map[string]string
	owner            *metav1ac.OwnerReferenceApplyConfiguration
	replicas         int32
	// configHash is the pod template's AnnotationConfigHash.
	configHash string
	// image is the spec's image, "" for defaultImage.
	image, defaultImage string
	// resources are the spec's container resources, nil for
	// defaultResources.
	resources *corev1.ResourceRequirements
	// container has the command's name, arguments, ports and environment.
	container *corev1ac.ContainerApplyConfiguration
	// statusPort names the container port that serves /api/v1/status over
	// HTTPS, which the probes ask.
	statusPort string
	// mounts and volumes are the command's own, read-only inputs; the data
	// and /tmp volumes follow them.
	mounts  []*corev1ac.VolumeMountApplyConfiguration
	volumes []*corev1ac.VolumeApplyConfiguration
	// claimName is the PersistentVolumeClaim of the data volume, mounted
	// at launch.DataDir; "" for an emptyDir.
	claimName string
}

// deployment returns the Deployment of w: recreated rather than rolled (two
// pods must never write one data directory or store), non-root with a
// read-only root file system and no capabilities, probed on its status
// endpoint, with a data volume and a writable /tmp.
func deployment(w workload) *appsv1ac.DeploymentApplyConfiguration {
	image := w.image
	if image == "" {
		image = w.defaultImage
	}
	// Copies: the client decodes the server's answer into the apply
	// configuration, which must share no map with the cache or a global.
	resources := defaultResources.DeepCopy()
	if w.resources != nil {
		resources = w.resources.DeepCopy()
	}
	probe := func(period, failures int32) *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().
				WithPath("/api/v1/status").
				WithPort(intstr.FromString(w.statusPort)).
				WithScheme(corev1.URISchemeHTTPS)).
			WithPeriodSeconds(period).
			WithTimeoutSeconds(2).
			WithFailureThreshold(failures)
	}
	container := w.container.
		WithImage(image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithReadinessProbe(probe(5, 3)).
		WithLivenessProbe(probe(10, 6)).
		WithStartupProbe(probe(2, 30)).
		WithResources(resourcesAC(*resources)).
		WithSecurityContext(corev1ac.SecurityContext().
			WithRunAsNonRoot(true).
			WithRunAsUser(podUser).
			WithRunAsGroup(podUser).
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithVolumeMounts(w.mounts...).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("data").WithMountPath(launch.DataDir),
			corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
		)

	data := corev1ac.Volume().WithName("data").WithEmptyDir(corev1ac.EmptyDirVolumeSource())
	if w.claimName != "" {
		data = corev1ac.Volume().WithName("data").WithPersistentVolumeClaim(
			corev1ac.PersistentVolumeClaimVolumeSource().WithClaimName(w.claimName))
	}
	template := corev1ac.PodTemplateSpec().
		WithLabels(maps.Clone(w.labels)).
		WithAnnotations(map[string]string{AnnotationConfigHash: w.configHash}).
		WithSpec(corev1ac.PodSpec().
			WithAutomountServiceAccountToken(false).
			WithEnableServiceLinks(false).
			WithSecurityContext(corev1ac.PodSecurityContext().
				WithRunAsNonRoot(true).
				WithFSGroup(podUser).
				WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
			WithContainers(container).
			WithVolumes(w.volumes...).
			WithVolumes(
				data,
				corev1ac.Volume().WithName("tmp").WithEmptyDir(corev1ac.EmptyDirVolumeSource()),
			))

	return appsv1ac.Deployment(w.name, w.namespace).
		WithLabels(w.labels).
		WithOwnerReferences(w.owner).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(w.replicas).
			WithRevisionHistoryLimit(3).
			WithStrategy(appsv1ac.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(w.selector)).
			WithTemplate(template))
}
