package controllers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
)

// conditions collects the conditions of one reconcile pass. It starts from
// the object's current conditions so that a condition whose status does not
// change keeps its lastTransitionTime.
type conditions struct {
	list       []metav1.Condition
	generation int64
	now        time.Time
}

func newConditions(current []metav1.Condition, generation int64, now time.Time) *conditions {
	list := make([]metav1.Condition, len(current))
	copy(list, current)
	return &conditions{list: list, generation: generation, now: now}
}

// set records condition typ as True when ok, else False.
func (c *conditions) set(typ string, ok bool, reason, format string, args ...any) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&c.list, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            truncate(fmt.Sprintf(format, args...), 32*1024),
		ObservedGeneration: c.generation,
		LastTransitionTime: metav1.NewTime(c.now),
	})
}

// isTrue reports whether condition typ was set True.
func (c *conditions) isTrue(typ string) bool {
	return meta.IsStatusConditionTrue(c.list, typ)
}

// setReady sets the aggregate Ready from the conditions in want: True when
// all are True and extra is empty, else False naming the first that is not
// (or extraReason and extra, when only extra is missing).
func (c *conditions) setReady(want []string, extraReason, extra string) {
	var notReady []string
	for _, typ := range want {
		if !c.isTrue(typ) {
			cond := meta.FindStatusCondition(c.list, typ)
			if cond == nil {
				notReady = append(notReady, typ+" unknown")
				continue
			}
			notReady = append(notReady, fmt.Sprintf("%s: %s", typ, cond.Message))
		}
	}
	switch {
	case len(notReady) > 0:
		c.set(byodav1alpha1.ConditionReady, false, byodav1alpha1.ReasonNotReady, "%s", strings.Join(notReady, "; "))
	case extra != "":
		c.set(byodav1alpha1.ConditionReady, false, extraReason, "%s", extra)
	default:
		c.set(byodav1alpha1.ConditionReady, true, byodav1alpha1.ReasonReady, "All conditions are True")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
