package cluster

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// resyncPeriod is how often the node's own controllers (the load balancer,
// the volume provisioner) look again without a change, in case a status
// write lost a race.
const resyncPeriod = 5 * time.Second

// syncOnChange starts factory and calls sync once the informers have
// synced, then on every change they see and every resyncPeriod, until ctx
// ends. what names the controller in the log line of a failure to start.
func syncOnChange(ctx context.Context, factory informers.SharedInformerFactory, log *slog.Logger, what string,
	sync func(context.Context), infs ...cache.SharedIndexInformer) {
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, obj any) { poke(obj) }, DeleteFunc: poke}
	synced := make([]cache.InformerSynced, len(infs))
	for i, inf := range infs {
		if _, err := inf.AddEventHandler(handler); err != nil {
			log.Error(what+" not started", "err", err)
			return
		}
		synced[i] = inf.HasSynced
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	tick := time.NewTicker(resyncPeriod)
	defer tick.Stop()
	for {
		sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-tick.C:
		}
	}
}
