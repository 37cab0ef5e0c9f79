package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
)

// Field indexes on Memberships.
const (
	// indexDataPod is the name of a Membership's DataPod (same namespace).
	indexDataPod = "spec.dataPodRef.name"
	// indexService is "<namespace>/<name>" of a Membership's Service.
	indexService = "spec.service.key"
)

// membershipServiceKey is the indexService value of m, or "" for a remote
// service.
func membershipServiceKey(m *byodav1alpha1.Membership) string {
	if m.Spec.Service.Name == "" {
		return ""
	}
	ns := m.Spec.Service.Namespace
	if ns == "" {
		ns = m.Namespace
	}
	return ns + "/" + m.Spec.Service.Name
}

// IndexFields registers the field indexes the reconcilers list by.
func IndexFields(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &byodav1alpha1.Membership{}, indexDataPod, func(o client.Object) []string {
		return []string{o.(*byodav1alpha1.Membership).Spec.DataPodRef.Name}
	}); err != nil {
		return fmt.Errorf("index memberships by datapod: %w", err)
	}
	if err := idx.IndexField(ctx, &byodav1alpha1.Membership{}, indexService, func(o client.Object) []string {
		if k := membershipServiceKey(o.(*byodav1alpha1.Membership)); k != "" {
			return []string{k}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index memberships by service: %w", err)
	}
	return nil
}

// builderForPredicates makes a reconciler react to spec changes and
// deletion of its own kind, not to its own status writes.
func builderForPredicates() builder.ForOption {
	return builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() ||
				len(e.ObjectOld.GetFinalizers()) != len(e.ObjectNew.GetFinalizers())
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}))
}

// enqueueByLabel enqueues the object, in the same namespace, that label
// names.
func enqueueByLabel(label string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[label]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
}

// enqueueMembershipDataPod enqueues the DataPod of a Membership.
func enqueueMembershipDataPod() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		m := o.(*byodav1alpha1.Membership)
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.DataPodRef.Name}}}
	})
}

// controllerOptions are the options of every controller.
func controllerOptions(o Options) controller.Options {
	return controller.Options{MaxConcurrentReconciles: o.MaxConcurrentReconciles}
}

// newDNSEndpoint returns an empty DNSEndpoint, for reads and watches.
func newDNSEndpoint() *externaldnsv1alpha1.DNSEndpoint { return &externaldnsv1alpha1.DNSEndpoint{} }

// becameReady reports whether Ready turns True from before to after.
func becameReady(before, after []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(after, byodav1alpha1.ConditionReady) &&
		!meta.IsStatusConditionTrue(before, byodav1alpha1.ConditionReady)
}
