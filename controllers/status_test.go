package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	byodaac "github.com/byoda-go/byoda/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/byoda-go/byoda/test/testenv"
)

// TestStatusWritesStaleCache: a pass that reads its object from a cache
// that has not yet seen the previous pass's write still writes the status
// it computes, even when that equals the stale copy; and a pass that
// changes nothing writes nothing. The API server is real; the stale cache
// is the object as it was read before the first write.
func TestStatusWritesStaleCache(t *testing.T) {
	k := testenv.StartKube(t, testenv.WithScheme(AddToScheme))
	ctx := t.Context()
	dp := &byodav1alpha1.DataPod{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: "default"},
		Spec:       byodav1alpha1.DataPodSpec{Storage: byodav1alpha1.StorageSpec{Local: &byodav1alpha1.LocalStorage{ClaimName: "alice-data"}}},
	}
	if err := k.Client.Create(ctx, dp); err != nil {
		t.Fatal(err)
	}
	ready := func(status metav1.ConditionStatus, reason string) byodav1alpha1.DataPodStatus {
		return byodav1alpha1.DataPodStatus{ObservedGeneration: dp.Generation, Conditions: []metav1.Condition{{
			Type: byodav1alpha1.ConditionReady, Status: status, Reason: reason, Message: reason,
			LastTransitionTime: metav1.Date(2026, 11, 21, 0, 0, 0, 0, metav1.Now().Location()), ObservedGeneration: dp.Generation,
		}}}
	}
	var w statusWrites
	// write reports whether the writer sent the status: it fills the apply
	// configuration only to send it.
	write := func(w *statusWrites, cached, status byodav1alpha1.DataPodStatus) bool {
		t.Helper()
		ac := byodaac.DataPod(dp.Name, dp.Namespace)
		if err := w.apply(ctx, k.Client, dp, cached, status, ac, &ac.Status); err != nil {
			t.Fatal(err)
		}
		return ac.Status != nil
	}
	stored := func() byodav1alpha1.DataPodStatus {
		t.Helper()
		var live byodav1alpha1.DataPod
		if err := k.Client.Get(ctx, client.ObjectKeyFromObject(dp), &live); err != nil {
			t.Fatal(err)
		}
		return live.Status
	}

	up, down := ready(metav1.ConditionTrue, "Ready"), ready(metav1.ConditionFalse, "Pending")
	write(&w, byodav1alpha1.DataPodStatus{}, up)
	if got := stored(); got.Conditions[0].Reason != "Ready" {
		t.Fatalf("first write: stored %+v", got)
	}
	write(&w, up, down) // the cache saw the first write
	if got := stored(); got.Conditions[0].Reason != "Pending" {
		t.Fatalf("second write: stored %+v", got)
	}

	// The cache still shows the first write; the pass computes it again.
	if !write(&w, up, up) {
		t.Error("a pass that read a stale cache wrote nothing")
	}
	if got := stored(); got.Conditions[0].Reason != "Ready" {
		t.Fatalf("a pass that read a stale cache left the newer, wrong status: stored %s, want Ready", got.Conditions[0].Reason)
	}

	// Cache and writer agree with the pass: no request.
	if write(&w, up, up) {
		t.Error("a pass that changed nothing wrote")
	}
	// A restarted operator has no memory and trusts its fresh cache.
	var fresh statusWrites
	if write(&fresh, up, up) {
		t.Error("a restarted writer wrote a status that did not change")
	}
	w.forget(client.ObjectKeyFromObject(dp))
	if len(w.last) != 0 {
		t.Errorf("forget kept %d entries", len(w.last))
	}
}
