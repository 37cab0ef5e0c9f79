package network

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byoda-go/byoda/directory/dns"
)

// syncPage is how many records one registry read brings into the view.
const syncPage = 5000

// zoneSync keeps a DNS server's view in step with the registry.
type zoneSync struct {
	store Store
	zone  *dns.Server
	log   *slog.Logger

	mu     sync.Mutex // one poll at a time
	serial uint64     // the last serial applied; under mu
	// begun numbers the polls as they start; finished is the number of
	// the last poll to end. A poll numbered after a write committed has
	// seen it.
	begun    atomic.Uint64
	finished atomic.Uint64
}

func newZoneSync(store Store, zone *dns.Server, log *slog.Logger) *zoneSync {
	return &zoneSync{store: store, zone: zone, log: log}
}

// sync brings the view up to date with every change committed before it
// was called. Concurrent callers share polls: a caller waits for one poll
// that began after it was called, its own or another's.
func (z *zoneSync) sync(ctx context.Context) error {
	target := z.begun.Load() + 1
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.finished.Load() >= target {
		return nil
	}
	n := z.begun.Add(1)
	err := z.poll(ctx)
	if err == nil {
		z.finished.Store(n)
	}
	return err
}

// poll applies the records changed since z.serial. The caller holds z.mu.
func (z *zoneSync) poll(ctx context.Context) error {
	for {
		recs, err := z.store.RecordsSince(ctx, z.serial, syncPage)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			var err error
			if rec.Addr.IsValid() {
				err = z.zone.Set(rec.Name, rec.Addr)
			} else {
				err = z.zone.Delete(rec.Name)
			}
			if err != nil {
				// A record outside the zone cannot come from this
				// directory's handlers; skip it rather than stall.
				z.log.Warn("Skipped a DNS record the zone cannot hold", "name", rec.Name, "err", err)
			}
			z.serial = rec.Serial
		}
		z.zone.SetSerial(uint32(z.serial))
		if len(recs) < syncPage {
			return nil
		}
	}
}

// run polls every interval until ctx is done, so that changes other
// directories make in a shared database reach the view too.
func (z *zoneSync) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := z.sync(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			z.log.Error("DNS view could not read the registry; answers may be stale", "err", err)
			failing = true
		case err == nil && failing:
			z.log.Info("DNS view reads the registry again")
			failing = false
		}
	}
}
