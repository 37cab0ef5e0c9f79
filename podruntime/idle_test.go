package podruntime

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// idleTest is an idle watcher on a fake clock, over a handler whose
// requests can be held in flight, with a fake release and a fake binary.
type idleTest struct {
	t        *testing.T
	clock    *fakeClock
	m        *metrics
	w        *idleWatcher
	h        http.Handler
	hold     chan struct{} // a request to /hold waits for it to close
	started  chan struct{} // ... after sending here
	mapped   int64         // what the fake binary has mapped
	releases []bool        // each release: whether it collected garbage
}

const (
	idlePeriod = 30 * time.Second
	// afterRelease is what the fake binary has mapped after a release.
	afterRelease = 4 << 20
)

// newIdleTest returns an idleTest whose watcher has made its ready
// release.
func newIdleTest(t *testing.T) *idleTest {
	it := &idleTest{t: t, clock: &fakeClock{now: time.Unix(1e9, 0)}, m: newMetrics(),
		hold: make(chan struct{}), started: make(chan struct{}, 1)}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			it.started <- struct{}{}
			<-it.hold
		}
	})
	it.h = it.m.activity.track(inner, pathStatus)
	release := func(collect bool) (int64, error) {
		// No request starts while the release runs.
		if it.m.activity.busy.TryRLock() {
			it.m.activity.busy.RUnlock()
			t.Error("a request could start during the release")
		}
		it.releases = append(it.releases, collect)
		it.mapped = afterRelease
		return 4096, nil
	}
	mapped := func() (int64, error) { return it.mapped, nil }
	it.w = newIdleWatcher(it.m, idlePeriod, it.clock.Now, release, mapped, slog.New(slog.DiscardHandler))
	it.w.ready()
	if len(it.releases) != 1 || !it.releases[0] {
		t.Fatalf("ready: releases %v; want one that collects", it.releases)
	}
	it.releases = nil
	return it
}

// serve serves one request for path.
func (it *idleTest) serve(path string, header ...string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	it.h.ServeHTTP(httptest.NewRecorder(), r)
}

// inFlight starts a request that stays in flight until the returned
// function is called (which waits for it to end).
func (it *idleTest) inFlight(path string, header ...string) (end func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		it.serve(path, header...)
	}()
	<-it.started
	return func() {
		it.hold <- struct{}{}
		<-done
	}
}

// wait advances the clock by d in steps of a quarter period, checking at
// each as the watcher's ticker would, and returns the releases it made.
func (it *idleTest) wait(d time.Duration) int {
	before := len(it.releases)
	for step := idlePeriod / 4; d > 0; d -= step {
		it.clock.Add(min(step, d))
		it.w.check()
	}
	return len(it.releases) - before
}

// counterValue returns the value of a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// assertReleases checks the releases made since the ready one, and what
// the metrics count: idle after work, which collect garbage, and remapped,
// which do not.
func (it *idleTest) assertReleases(idle, remapped int) {
	it.t.Helper()
	collected := 0
	for _, c := range it.releases {
		if c {
			collected++
		}
	}
	if collected != idle || len(it.releases)-collected != remapped {
		it.t.Fatalf("releases (whether each collected) %v; want %d that collect and %d that do not", it.releases, idle, remapped)
	}
	for reason, want := range map[string]int{releaseReady: 1, releaseIdle: idle, releaseRemapped: remapped} {
		if got := counterValue(it.t, it.m.releases.WithLabelValues(reason)); got != float64(want) {
			it.t.Fatalf("byoda_pod_memory_releases_total{reason=%q} = %v; want %d", reason, got, want)
		}
		if got := counterValue(it.t, it.m.releasedBytes.WithLabelValues(reason)); got != float64(4096*want) {
			it.t.Fatalf("byoda_pod_memory_released_bytes_total{reason=%q} = %v; want %d", reason, got, 4096*want)
		}
	}
}

func TestIdleWatcherReleasesAfterIdlePeriod(t *testing.T) {
	it := newIdleTest(t)
	// Never asked: nothing to give back beyond what the ready release did.
	if n := it.wait(3 * idlePeriod); n != 0 {
		t.Fatalf("%d releases without any request; want none", n)
	}
	it.serve("/api/v1/data/service-4711")
	if n := it.wait(idlePeriod - idlePeriod/4); n != 0 {
		t.Fatalf("released %d times before an idle period had passed", n)
	}
	if n := it.wait(idlePeriod / 2); n != 1 {
		t.Fatalf("%d releases after an idle period; want 1", n)
	}
	// Once per stretch of idleness.
	if n := it.wait(10 * idlePeriod); n != 0 {
		t.Fatalf("%d more releases with no request since; want none", n)
	}
	it.assertReleases(1, 0)

	// Requests now and then, each less than a period after the last:
	// never idle.
	for range 5 {
		it.serve("/nope")
		if n := it.wait(idlePeriod / 2); n != 0 {
			t.Fatalf("released while requests came every half period")
		}
	}
	if n := it.wait(2 * idlePeriod); n != 1 {
		t.Fatalf("%d releases after the requests stopped; want 1", n)
	}
	it.assertReleases(2, 0)
}

func TestIdleWatcherWaitsForRequestsInFlight(t *testing.T) {
	it := newIdleTest(t)
	it.serve("/nope")
	it.wait(idlePeriod / 4) // the watcher sees the request
	end := it.inFlight("/hold")
	if n := it.wait(4 * idlePeriod); n != 0 {
		t.Fatalf("released %d times while a request was in flight", n)
	}
	end()
	if n := it.wait(idlePeriod - idlePeriod/4); n != 0 {
		t.Fatal("released less than a period after the request in flight ended")
	}
	if n := it.wait(idlePeriod); n != 1 {
		t.Fatalf("%d releases a period after the request ended; want 1", n)
	}
	it.assertReleases(1, 0)
}

func TestIdleWatcherReleasesAgainWhatIsMappedBack(t *testing.T) {
	it := newIdleTest(t)
	it.serve("/nope")
	if n := it.wait(idlePeriod + idlePeriod/2); n != 1 {
		t.Fatalf("%d releases after work; want 1", n)
	}
	// Idle since: a little mapped back (the runtime's timers) is not
	// worth a release.
	it.mapped += remapThreshold / 2
	if n := it.wait(3 * idlePeriod); n != 0 {
		t.Fatalf("%d releases for %d bytes mapped back; want none", n, remapThreshold/2)
	}
	// Connections closing and a collection map back more: released, at
	// most once a period.
	it.mapped += remapThreshold
	if n := it.wait(idlePeriod / 4); n != 1 {
		t.Fatalf("%d releases once %d bytes were mapped back; want 1", n, it.mapped-afterRelease)
	}
	it.mapped += 2 * remapThreshold
	if n := it.wait(idlePeriod - idlePeriod/4); n != 0 {
		t.Fatal("released again less than a period after the last release")
	}
	if n := it.wait(idlePeriod / 4); n != 1 {
		t.Fatalf("%d releases a period after the last; want 1", n)
	}
	// Not while a request is in flight; after it, a release that
	// collects, since the request was work.
	end := it.inFlight("/hold")
	it.mapped += 2 * remapThreshold
	if n := it.wait(3 * idlePeriod); n != 0 {
		t.Fatalf("released %d times while a request was in flight", n)
	}
	end()
	if n := it.wait(idlePeriod + idlePeriod/2); n != 1 {
		t.Fatalf("%d releases after the request; want 1", n)
	}
	it.assertReleases(2, 2)
}

func TestIdleWatcherWebsocketsAndProbes(t *testing.T) {
	it := newIdleTest(t)
	// A websocket held open is not a request in flight: its upgrade
	// counts, then the pod is idle while nothing flows.
	end := it.inFlight("/hold", "Upgrade", "websocket")
	if n := it.wait(idlePeriod + idlePeriod/2); n != 1 {
		t.Fatalf("%d releases with an open websocket and nothing flowing; want 1", n)
	}
	// A message on it: its storage operation is work.
	it.m.observeData("4711", "addresses", "query", time.Now(), nil)
	if n := it.wait(idlePeriod + idlePeriod/2); n != 1 {
		t.Fatalf("%d releases after a websocket message; want 1", n)
	}
	end()
	if n := it.wait(idlePeriod + idlePeriod/2); n != 1 {
		t.Fatalf("%d releases after the websocket ended; want 1", n)
	}
	// Probes every 10 s do not keep the pod from being idle, and are not
	// work to release memory after (the fake binary maps nothing back).
	for range 12 {
		it.serve(pathStatus)
		if n := it.wait(10 * time.Second); n != 0 {
			t.Fatal("a probe counted as work")
		}
	}
	it.serve(pathStatus)
	it.serve("/api/v1/data/service-4711")
	for range 6 {
		it.serve(pathStatus)
		it.wait(10 * time.Second)
	}
	it.assertReleases(4, 0)
}

func TestIdleWatcherReleaseFails(t *testing.T) {
	it := newIdleTest(t)
	calls := 0
	it.w.release = func(bool) (int64, error) {
		calls++
		return 0, errors.New("no /proc")
	}
	it.w.mapped = func() (int64, error) { return 0, errors.New("no /proc") }
	it.serve("/nope")
	it.wait(5 * idlePeriod)
	if calls != 1 {
		t.Fatalf("a failing release was tried %d times in one idle stretch; want once", calls)
	}
	it.assertReleases(0, 0)
}

// TestIdleReleaseServedPod runs a pod with a short idle period: once it
// has served a request and gone without one for the period, it releases,
// and the metrics on its owner port (which do not count as work) say so.
func TestIdleReleaseServedPod(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	cfg.IdleRelease = 20 * time.Millisecond
	sp := servePod(t, tp, cfg)

	// Each reading scrapes the owner port's metrics first: a scrape is a
	// request, which must not count as work.
	metric := func(name, reason string) float64 {
		t.Helper()
		resp, err := sp.http.Get(sp.owner + pathMetrics)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return metricValue(t, sp.pod, name, "reason", reason)
	}
	waitFor(t, "the ready release", func() bool { return metric("byoda_pod_memory_releases_total", releaseReady) == 1 })
	// Metrics scrapes alone are not work: no idle release (a remapped one
	// may come, for what their TLS handshakes mapped back).
	for range 10 {
		if n := metric("byoda_pod_memory_releases_total", releaseIdle); n != 0 {
			t.Fatalf("%v idle releases before any request", n)
		}
		time.Sleep(cfg.IdleRelease / 2)
	}
	resp, err := sp.http.Get(sp.owner + "/api/v1/data/service-4711")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "an idle release", func() bool { return metric("byoda_pod_memory_releases_total", releaseIdle) >= 1 })
	if n := metric("byoda_pod_memory_releases_total", releaseIdle); n != 1 {
		t.Errorf("%v idle releases after one request; want 1", n)
	}
	t.Logf("released when ready %.0f KiB, when idle %.0f KiB",
		metric("byoda_pod_memory_released_bytes_total", releaseReady)/1024, metric("byoda_pod_memory_released_bytes_total", releaseIdle)/1024)
}
