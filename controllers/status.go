package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/byoda-go/byoda/controllers/specs"
)

// statusWrites writes the status of one kind's objects, and only when it
// changed. The zero value is ready to use; each reconciler has its own.
//
// "Changed" cannot be judged from the cache alone. A pass may read its
// object from a cache that has not yet seen the status the previous pass
// wrote; if it computes the status from before that write again, the stale
// copy says nothing changed, the write is skipped, and the API server keeps
// the newer status, now wrong. A reconciler's own status writes do not bring
// it back (builderForPredicates), so nothing would correct it: a Service
// stayed "CAReady: just applied" after its members CA came back. So the
// writer also remembers a digest of the status it last wrote for each
// object, and skips a write only when both agree.
type statusWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName][sha256.Size]byte
}

// apply writes status into obj's status subresource with server-side apply
// unless both the cached status and the status last written are status.
// statusAC is the Status field of ac, which status is copied into.
func (s *statusWrites) apply(ctx context.Context, c client.Client, obj client.Object, cached, status any, ac runtime.ApplyConfiguration, statusAC any) error {
	key := client.ObjectKeyFromObject(obj)
	data, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("status of %T %s: %w", obj, key, err)
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	last, wrote := s.last[key]
	s.mu.Unlock()
	if equality.Semantic.DeepEqual(cached, status) && (!wrote || last == sum) {
		return nil
	}
	if err := json.Unmarshal(data, statusAC); err != nil {
		return fmt.Errorf("status of %T %s: %w", obj, key, err)
	}
	if err := c.Status().Apply(ctx, ac, client.FieldOwner(specs.FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply status of %T %s: %w", obj, key, err)
	}
	log.FromContext(ctx).V(1).Info("Status written", "generation", obj.GetGeneration())
	s.mu.Lock()
	if s.last == nil {
		s.last = make(map[types.NamespacedName][sha256.Size]byte)
	}
	s.last[key] = sum
	s.mu.Unlock()
	return nil
}

// forget drops what the writer remembers of an object that is gone.
func (s *statusWrites) forget(key types.NamespacedName) {
	s.mu.Lock()
	delete(s.last, key)
	s.mu.Unlock()
}

// transient reports whether a pass failed in a way worth retrying at once:
// it ends before its status is written, and controller-runtime retries it
// with backoff.
func transient(err error) bool {
	return err != nil && !errors.Is(err, reconcile.TerminalError(nil))
}

// passResult ends a pass whose status is written: with a terminal error
// (no retry until the object changes), or looking again after next (never
// when zero).
func passResult(err error, next time.Duration) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: next}, nil
}
