package podruntime

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A pod gives memory back to the OS when it is ready (its start-up garbage,
// and its mappings of the binary's read-only pages; see
// releaseStartupPages), and again each time it has served clients and then
// gone without a request for Config.IdleRelease: what requests and
// collections touched in the meantime maps back in, 64 KiB around each
// page, and would otherwise stay. A pod in a peer-to-peer network answers
// its peers now and then and is idle in between; it should be as small
// then as one that was never asked.
//
// What counts as work for clients: a request on either port, ending; a
// websocket upgrade, and the socket's end; and each storage operation of a
// GraphQL request, which is how a websocket's messages show (a socket kept
// open with nothing flowing but keep-alive pings is idle). A status request
// (a kubelet's probe) and a metrics scrape do not count: they come every
// few seconds, and a probed pod would never be idle.
//
// An idle pod still maps pages back: its keep-alive connections close
// (after 90 s on the client side, 2 min on the server's), the runtime
// collects garbage every 2 minutes, probes come. While it stays idle, the
// pod drops its mappings again (without collecting garbage, which would
// cost a collection per period in every idle pod) at most once a period,
// when they have grown by remapThreshold since the last release.

// remapThreshold is how much of the binary an idle pod must have mapped
// back since its last release to release again: a collection maps back
// about 5 MiB, a probe 10, the runtime's timers next to nothing.
const remapThreshold = 2 << 20

// The reasons of a release, as metrics name them.
const (
	releaseReady    = "ready"    // once ready
	releaseIdle     = "idle"     // idle after work
	releaseRemapped = "remapped" // idle since the last release, what was mapped back since
)

// activity is what the idle watcher knows of the pod's work for clients:
// requests in flight hold busy for reading, and done counts the work that
// ended (see above). It costs a request two atomic operations on busy and
// one on done.
type activity struct {
	busy sync.RWMutex
	done atomic.Uint64
}

// touch records work for clients.
func (a *activity) touch() { a.done.Add(1) }

// track serves h, recording its requests as activity. A websocket upgrade
// is not in flight for the life of the socket: it counts when it starts
// and when it ends. A request for one of the quiet paths is in flight but
// is not work for clients.
func (a *activity) track(h http.Handler, quiet ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			a.touch()
			defer a.touch()
			h.ServeHTTP(w, r)
			return
		}
		a.busy.RLock()
		defer a.busy.RUnlock()
		if !slices.Contains(quiet, r.URL.Path) {
			defer a.touch() // before RUnlock: the watcher sees it once it can lock
		}
		h.ServeHTTP(w, r)
	})
}

// idleWatcher releases memory when the pod has been idle for period and
// has no request in flight: all it can (release(true)) if the pod has done
// work for clients since the last release, else only the binary's pages
// (release(false)), and only if mapped has grown by remapThreshold since
// then and a period has passed. Requests that arrive during a release wait
// for it to end.
type idleWatcher struct {
	act     *activity
	period  time.Duration
	now     func() time.Time
	release func(collect bool) (int64, error)
	mapped  func() (int64, error)
	metrics *metrics
	log     *slog.Logger

	// Owned by the goroutine that calls ready and check.
	seen        uint64    // act.done at the last check
	since       time.Time // when a check last saw act.done change
	released    uint64    // act.done at the last release
	releasedAt  time.Time // when the last release was
	mappedAfter int64     // mapped right after it
}

// newIdleWatcher returns a watcher of m's activity; the work done so far
// does not count.
func newIdleWatcher(m *metrics, period time.Duration, now func() time.Time,
	release func(collect bool) (int64, error), mapped func() (int64, error), log *slog.Logger) *idleWatcher {
	done, t := m.activity.done.Load(), now()
	return &idleWatcher{act: m.activity, period: period, now: now, release: release, mapped: mapped, metrics: m, log: log,
		seen: done, since: t, released: done, releasedAt: t}
}

// ready releases what starting took, like a release when idle: with no
// request in flight.
func (w *idleWatcher) ready() {
	w.act.busy.Lock()
	n, err := w.release(true)
	w.act.busy.Unlock()
	w.releasedAt, w.mappedAfter = w.now(), w.mappedNow()
	if err != nil {
		w.log.Warn("Could not release start-up memory", "err", err)
		return
	}
	w.metrics.released(releaseReady, n)
	w.log.Debug("Released start-up memory", "bytes", n)
}

// run checks every quarter period until ctx ends, so that a release comes
// between one period and one and a half after the last work.
func (w *idleWatcher) run(ctx context.Context) {
	t := time.NewTicker(w.period / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check()
		}
	}
}

// check releases memory if it is time to, and reports whether it did.
func (w *idleWatcher) check() bool {
	now := w.now()
	done := w.act.done.Load()
	if done != w.seen {
		w.seen, w.since = done, now
		return false
	}
	if now.Sub(w.since) < w.period {
		return false
	}
	worked := done != w.released
	if !worked && (now.Sub(w.releasedAt) < w.period || w.mappedNow()-w.mappedAfter < remapThreshold) {
		return false
	}
	if !w.act.busy.TryLock() {
		return false // a request in flight
	}
	defer w.act.busy.Unlock()
	if w.act.done.Load() != done {
		return false // a request came and went since the load above
	}
	// Even if it fails: what fails here (reading /proc) fails the next
	// time too, and mappedNow is then 0, so there is no second try.
	n, err := w.release(worked)
	w.released, w.releasedAt, w.mappedAfter = done, now, w.mappedNow()
	if err != nil {
		w.log.Warn("Could not release memory when idle", "err", err)
		return false
	}
	reason := releaseIdle
	if !worked {
		reason = releaseRemapped
	}
	w.metrics.released(reason, n)
	w.log.Debug("Released memory when idle", "reason", reason, "bytes", n, "idle", now.Sub(w.since).String())
	return true
}

// mappedNow returns mapped, or 0 if it fails.
func (w *idleWatcher) mappedNow() int64 {
	n, err := w.mapped()
	if err != nil {
		return 0
	}
	return n
}

// releaseMemory gives the OS back the mappings of the binary's read-only
// pages, after collecting garbage and returning the free heap if collect,
// and returns how much resident memory that dropped (0 off Linux). The
// collection comes first: it touches the type descriptors of the heap's
// objects, which the release then drops.
func releaseMemory(collect bool) (int64, error) {
	before, _, err := resident()
	if err != nil {
		return 0, err
	}
	if collect {
		debug.FreeOSMemory()
	}
	if _, err := releaseStartupPages(); err != nil {
		return 0, err
	}
	after, _, err := resident()
	if err != nil {
		return 0, err
	}
	return max(before-after, 0), nil
}

// mappedFiles returns the resident pages of files the process maps: the
// binary's.
func mappedFiles() (int64, error) {
	_, file, err := resident()
	return file, err
}

// watchIdle releases memory now that the pod is ready, and then, unless
// Config.IdleRelease is negative, when the pod is idle (see idleWatcher),
// until ctx ends. It returns a function that stops it and waits.
func (p *Pod) watchIdle(ctx context.Context) (stop func()) {
	w := newIdleWatcher(p.metrics, p.cfg.IdleRelease, p.now, releaseMemory, mappedFiles, p.log)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		w.ready()
		if w.period > 0 {
			w.run(ctx)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}
