package p2p_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/test/testenv"
)

// deadline bounds a query that waits on peers that never answer: the pod's
// own deadline (10 s for a client that set none) with room to spare. It is
// an upper bound for a hang, not a measure.
const deadline = 60 * time.Second

// asyncQuery runs a query as p's owner in the background.
func asyncQuery(t *testing.T, p *testPod, sid uint32, query string, vars map[string]any) <-chan *gqlResp {
	t.Helper()
	body, err := json.Marshal(peer.Request{Query: query, Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	token := p.token(t, sid)
	out := make(chan *gqlResp, 1)
	go func() {
		r := &gqlResp{}
		status, data, err := p.postErr(peer.DataPath(sid), body, token)
		if err == nil {
			err = json.Unmarshal(data, r)
		}
		r.Status, r.Raw = status, string(data)
		if err != nil {
			r.Status, r.Raw = 0, err.Error()
		}
		out <- r
	}()
	return out
}

func wait(t *testing.T, c <-chan *gqlResp) *gqlResp {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(deadline):
		t.Fatalf("no answer after %s", deadline)
		return nil
	}
}

// byReason maps each unanswered member to its reason.
func byReason(list []unansweredPeer) map[string]string {
	out := map[string]string{}
	for _, u := range list {
		out[u.MemberID] = u.Reason
	}
	return out
}

// TestUnansweredPeers: O asks N, K and H (family). H accepts TLS and never
// answers; K, a real pod, forwards to H2, which never answers either, and
// is killed while it waits. O answers by its deadline with its records and
// N's, and lists K and H as unanswered, with why.
func TestUnansweredPeers(t *testing.T) {
	t.Parallel()
	var o, n, k *testPod
	var wg sync.WaitGroup
	wg.Go(func() { o = startPod(t, "O", nil) })
	wg.Go(func() { n = startPod(t, "N", nil) })
	wg.Go(func() { k = startPod(t, "K", nil) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	h := startFakePeer(t, "H", demoSID, hang)
	h2 := startFakePeer(t, "H2", demoSID, hang)
	for _, p := range []*testPod{n, k} {
		o.link(t, demoSID, p.mid(demoSID), "family")
		p.link(t, demoSID, o.mid(demoSID), "family")
	}
	o.link(t, demoSID, h.mid, "family")
	k.link(t, demoSID, h2.mid, "family")
	want := []record{{from: "O", id: o.addAddress(t, "Oslo")}, {from: "N", id: n.addAddress(t, "Nice")}, {from: "K", id: k.addAddress(t, "Kyiv")}}

	answer := asyncQuery(t, o, demoSID, addressesQuery, map[string]any{"d": 2, "r": []string{"family"}, "first": 100})
	h2.waitAsked(t, deadline)
	k.proc.Kill()
	r := wait(t, answer).ok(t)
	sameRecords(t, records(t, r.page(t, "addresses_connection"), "O", demoSID, "address_id", o, n, k), want[:2])
	got := byReason(r.unanswered(t))
	if got[k.mid(demoSID).String()] != "unreachable" || got[h.mid.String()] != "timeout" || len(got) != 2 {
		t.Errorf("unanswered peers %v; want K (%s) unreachable and H (%s) timeout", r.unanswered(t), k.mid(demoSID), h.mid)
	}
}

// TestMisbehavingPeers: peers that answer too much, garbage, the wrong
// shape, more edges than the page holds, records passed off as another
// pod's, or a byte at a time cannot stall or exhaust the pod that asks: it
// answers with what its good peer sent and lists each of the others with
// why; meanwhile it answers other queries; and afterwards it holds no more
// goroutines than before.
func TestMisbehavingPeers(t *testing.T) {
	t.Parallel()
	var o, n *testPod
	var wg sync.WaitGroup
	wg.Go(func() { o = startPod(t, "O", nil) })
	wg.Go(func() { n = startPod(t, "N", nil) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	o.link(t, demoSID, n.mid(demoSID), "family")
	n.link(t, demoSID, o.mid(demoSID), "family")
	want := []record{{from: "O", id: o.addAddress(t, "Oslo")}, {from: "N", id: n.addAddress(t, "Nice")}}

	// A first query opens O's connection to N, so that what O holds
	// afterwards is compared with a pod that has talked to a peer.
	wait(t, asyncQuery(t, o, demoSID, addressesQuery, map[string]any{"d": 1})).ok(t)
	goroutines := func() float64 { return o.metrics(t)["go_goroutines"] }
	baseline := goroutines()

	fakes := map[string]*fakePeer{}
	wantReason := map[string]string{}
	for _, f := range []struct {
		name, reason string
		answer       func(w http.ResponseWriter, r *http.Request)
	}{
		{"garbage", "invalid", garbage},
		{"bad shape", "invalid", badShape},
		{"too many edges", "invalid", tooManyEdges},
		{"drip", "timeout", drip},
	} {
		fp := startFakePeer(t, f.name, demoSID, f.answer)
		fakes[f.name] = fp
		wantReason[fp.mid.String()] = f.reason
	}
	hugeFake := startFakePeer(t, "huge", demoSID, nil)
	hugeFake.answer = huge(hugeFake.mid)
	fakes["huge"] = hugeFake
	wantReason[hugeFake.mid.String()] = "too_large"
	imp := startFakePeer(t, "impostor", demoSID, impostor(n.mid(demoSID)))
	fakes["impostor"] = imp
	wantReason[imp.mid.String()] = "invalid"
	for _, f := range fakes {
		o.link(t, demoSID, f.mid, "family")
	}

	answer := asyncQuery(t, o, demoSID, addressesQuery, map[string]any{"d": 1, "r": []string{"family"}, "first": 100})
	fakes["drip"].waitAsked(t, deadline)
	// While drip holds the query, O answers its owner.
	own := o.gql(t, demoSID, addressesQuery, map[string]any{"first": 100}).ok(t)
	sameRecords(t, records(t, own.page(t, "addresses_connection"), "O", demoSID, "address_id", o), want[:1])

	r := wait(t, answer).ok(t)
	sameRecords(t, records(t, r.page(t, "addresses_connection"), "O", demoSID, "address_id", o, n), want)
	got := byReason(r.unanswered(t))
	for mid, reason := range wantReason {
		if got[mid] != reason {
			t.Errorf("unanswered %s: %q, want %q", mid, got[mid], reason)
		}
	}
	if len(got) != len(wantReason) {
		t.Errorf("unanswered peers %v, want %d", r.unanswered(t), len(wantReason))
	}
	for _, u := range r.unanswered(t) {
		if len(u.Error) > 600 {
			t.Errorf("the error of %s is %d bytes: want it clipped", u.MemberID, len(u.Error))
		}
	}

	// Once the fakes are gone, and with them O's connections to them, O
	// holds what it held before, give or take a connection of the
	// owner's.
	for _, f := range fakes {
		f.close()
	}
	testenv.Eventually(t, 30*time.Second, "O's goroutines back to the baseline", o.proc, func(context.Context) error {
		if n := goroutines(); n > baseline+10 {
			return fmt.Errorf("%v goroutines, %v before the query", n, baseline)
		}
		return nil
	})
}

// TestFanOutFlag: a pod started with --fanout 1 asks one peer at a time; by
// default it asks them at once. Each fake peer holds its request until
// another peer is asked, or 2 s pass.
func TestFanOutFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		flags []string
		want  int32
	}{{[]string{"--fanout", "1"}, 1}, {nil, 2}} {
		t.Run(fmt.Sprintf("flags %v", c.flags), func(t *testing.T) {
			t.Parallel()
			o := startPod(t, "O", nil, c.flags...)
			var inFlight, most atomic.Int32
			both := make(chan struct{})
			var once sync.Once
			hold := func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				if n == 2 {
					once.Do(func() { close(both) })
				}
				select {
				case <-both:
				case <-time.After(2 * time.Second):
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"data":{"addresses_connection":{"edges":[],"page_info":{"has_next_page":false}}}}`)
			}
			p1 := startFakePeer(t, "P1", demoSID, hold)
			p2 := startFakePeer(t, "P2", demoSID, hold)
			o.link(t, demoSID, p1.mid, "family")
			o.link(t, demoSID, p2.mid, "family")
			r := o.gql(t, demoSID, addressesQuery, map[string]any{"d": 1}).ok(t)
			if u := r.unanswered(t); len(u) > 0 {
				t.Fatalf("unanswered peers %+v", u)
			}
			if p1.requests.Load() != 1 || p2.requests.Load() != 1 {
				t.Errorf("peers asked %d and %d times, want once each", p1.requests.Load(), p2.requests.Load())
			}
			if got := most.Load(); got != c.want {
				t.Errorf("at most %d peers were asked at once, want %d", got, c.want)
			}
		})
	}
}
