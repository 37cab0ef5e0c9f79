package specs

import (
	"maps"
	"strconv"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
)

// Standard labels. Pods of a DataPod are selected by name and instance only,
// since a Deployment's selector cannot change.
const (
	labelName     = "app.kubernetes.io/name"
	labelInstance = "app.kubernetes.io/instance"
	labelPartOf   = "app.kubernetes.io/part-of"
	podAppName    = "byoda-pod"
)

// ManagedLabels are the labels on every object the operator creates: its
// cache selects on them.
func ManagedLabels() map[string]string {
	return map[string]string{
		byodav1alpha1.LabelManagedBy: byodav1alpha1.ManagedByValue,
		labelPartOf:                  "byoda",
	}
}

// DataPodLabels are the labels of a DataPod's children.
func DataPodLabels(dp *byodav1alpha1.DataPod) map[string]string {
	l := ManagedLabels()
	l[byodav1alpha1.LabelDataPod] = dp.Name
	return l
}

// PodSelector selects the pods of a DataPod.
func PodSelector(dp *byodav1alpha1.DataPod) map[string]string {
	return map[string]string{labelName: podAppName, labelInstance: dp.Name}
}

// podLabels are the labels of a DataPod's Deployment and pods.
func podLabels(dp *byodav1alpha1.DataPod) map[string]string {
	l := DataPodLabels(dp)
	maps.Copy(l, PodSelector(dp))
	return l
}

// ServiceLabels are the labels of a Service's children.
func ServiceLabels(svc *byodav1alpha1.Service) map[string]string {
	l := ManagedLabels()
	l[byodav1alpha1.LabelService] = svc.Name
	return l
}

// MembershipLabels are the labels of a Membership's children in its own
// namespace. They name the DataPod too, whose reconciler mounts them.
func MembershipLabels(m *byodav1alpha1.Membership) map[string]string {
	l := ManagedLabels()
	l[byodav1alpha1.LabelMembership] = m.Name
	l[byodav1alpha1.LabelDataPod] = m.Spec.DataPodRef.Name
	return l
}

// MemberRequestLabels are the labels of a Membership's CertificateRequests,
// which live in the Service's namespace: no owner reference can reach across
// namespaces, so the labels say whose they are.
func MemberRequestLabels(m *byodav1alpha1.Membership, mid uuid.UUID, sid uint32) map[string]string {
	l := ManagedLabels()
	l[byodav1alpha1.LabelMembership] = m.Name
	l[byodav1alpha1.LabelMembershipNamespace] = m.Namespace
	l[byodav1alpha1.LabelMemberID] = mid.String()
	l[byodav1alpha1.LabelServiceID] = strconv.FormatUint(uint64(sid), 10)
	return l
}

// OwnerReference returns a controller owner reference to obj of kind, for
// children in obj's namespace.
func OwnerReference(obj metav1.Object, kind string) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(byodav1alpha1.GroupVersion.String()).
		WithKind(kind).
		WithName(obj.GetName()).
		WithUID(obj.GetUID()).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// ownerReference is OwnerReference as a typed value, for objects that are
// created rather than applied.
func ownerReference(obj metav1.Object, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion:         byodav1alpha1.GroupVersion.String(),
		Kind:               kind,
		Name:               obj.GetName(),
		UID:                obj.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// Kinds, for owner references.
const (
	KindDataPod    = "DataPod"
	KindService    = "Service"
	KindMembership = "Membership"
)
