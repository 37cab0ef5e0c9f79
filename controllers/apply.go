package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/byoda-go/byoda/controllers/specs"
)

// annotationApplied on a child is the hash of the desired state last applied
// to it.
const annotationApplied = "byoda.net/applied"

// applyConfiguration is what every apply configuration of a child offers.
type applyConfiguration[T any] interface {
	runtime.ApplyConfiguration
	GetName() *string
	GetNamespace() *string
	WithAnnotations(map[string]string) T
}

// apply brings a child to the desired state ac with server-side apply,
// forcing ownership of the fields in ac. It first reads the child into live
// from the cache and makes no request when the child carries the hash of
// this very desired state: a pass that would change nothing writes nothing,
// and a deleted or relabelled child (which the cache no longer sees) is
// applied again. The price is that edits to the child by others are reverted
// only when the desired state changes. It reports whether it applied.
func apply[T applyConfiguration[T]](ctx context.Context, c client.Client, live client.Object, ac T) (bool, error) {
	key := types.NamespacedName{Namespace: ptr.Deref(ac.GetNamespace(), ""), Name: ptr.Deref(ac.GetName(), "")}
	data, err := json.Marshal(ac)
	if err != nil {
		return false, fmt.Errorf("apply %T %s: %w", live, key, err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:12])

	err = c.Get(ctx, key, live)
	switch {
	case err == nil:
		if live.GetAnnotations()[annotationApplied] == hash && live.GetDeletionTimestamp() == nil {
			return false, nil
		}
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("get %T %s: %w", live, key, err)
	}
	ac.WithAnnotations(map[string]string{annotationApplied: hash})
	if err := c.Apply(ctx, ac, client.FieldOwner(specs.FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply %T %s: %w", live, key, err)
	}
	return true, nil
}
