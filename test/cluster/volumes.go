package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The node's volumes, as kind's local-path-provisioner gives kind clusters
// theirs: a default StorageClass named like kind's ("standard"), whose
// claims get a directory of the node's own directory as a hostPath
// PersistentVolume, deleted with the claim.

const (
	// StorageClass is the node's default StorageClass, named as kind's is.
	StorageClass = "standard"
	// volumeProvisioner is the StorageClass's provisioner, and the
	// annotation on the volumes it made.
	volumeProvisioner = "byoda.net/node-local"
	annProvisionedBy  = "pv.kubernetes.io/provisioned-by"
)

// createStorageClass makes StorageClass the cluster's default.
func createStorageClass(ctx context.Context, cs kubernetes.Interface) error {
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       volumeProvisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create storage class %s: %w", StorageClass, err)
	}
	return nil
}

// provisioner makes and removes the volumes of StorageClass.
type provisioner struct {
	cs  kubernetes.Interface
	dir string // the volumes' directories are made here
	log *slog.Logger
}

// run provisions until ctx ends: on every change to a claim or volume, and
// every few seconds in case a write lost a race.
func (p *provisioner) run(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(p.cs, 0)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	syncOnChange(ctx, factory, p.log, "Volume provisioner", func(ctx context.Context) {
		if pvcs, err := claims.Lister().List(labels.Everything()); err == nil {
			for _, pvc := range pvcs {
				p.provision(ctx, pvc)
			}
		}
		if pvs, err := volumes.Lister().List(labels.Everything()); err == nil {
			for _, pv := range pvs {
				p.reclaim(ctx, pv)
			}
		}
	}, claims.Informer(), volumes.Informer())
}

// volumeName is the name of a claim's volume, as external provisioners name
// theirs.
func volumeName(pvc *corev1.PersistentVolumeClaim) string { return "pvc-" + string(pvc.UID) }

// provision makes a pending claim of StorageClass its volume: a directory
// that any user may write (hostPath volumes ignore fsGroup) and a hostPath
// PersistentVolume bound to the claim.
func (p *provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" ||
		ptr.Deref(pvc.Spec.StorageClassName, "") != StorageClass || !pvc.DeletionTimestamp.IsZero() {
		return
	}
	name := volumeName(pvc)
	dir := filepath.Join(p.dir, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		p.log.Info("Volume directory not created", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		p.log.Info("Volume directory not made writable", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: volumeProvisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClass,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectory)},
			},
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		p.log.Info("Volume not created", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	p.log.Debug("Volume provisioned", "claim", pvc.Namespace+"/"+pvc.Name, "volume", name)
}

// reclaim removes a released volume of the provisioner, and its directory.
func (p *provisioner) reclaim(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Annotations[annProvisionedBy] != volumeProvisioner || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.HostPath == nil {
		return
	}
	if filepath.Dir(pv.Spec.HostPath.Path) != p.dir {
		return // not a directory of this node's
	}
	if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
		p.log.Info("Volume directory not removed", "volume", pv.Name, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		p.log.Info("Volume not deleted", "volume", pv.Name, "err", err)
		return
	}
	p.log.Debug("Volume reclaimed", "volume", pv.Name)
}
