package podruntime

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/podruntime/store"
	"github.com/byoda-go/byoda/test/testenv"
)

// followWorld is a network with the demo service, its own DNS server on
// loopback and pods in this process, each on its own loopback address with
// the network's peer port: pods find and call each other as they would
// over the internet, with real TLS and DNS.
type followWorld struct {
	dir     *pki.Dir
	dns     *dns.Server
	dnsAddr string
	port    int
	next    atomic.Int32
}

// followBase is the first loopback address of followWorld's pods; other
// suites use 127.0.0.x.
var followBase = netip.MustParseAddr("127.0.87.2")

func newFollowWorld(t *testing.T) *followWorld {
	t.Helper()
	d, err := testenv.InitPKI(filepath.Join(t.TempDir(), "pki"), testNetwork, demoSID)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dns.NewServer(testNetwork, dns.Options{Rate: -1, TTL: time.Second, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr, stop, err := testenv.ServeDNS(srv.Serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	return &followWorld{dir: d, dns: srv, dnsAddr: dnsAddr, port: port}
}

// fastFollow are follow options for tests: short waits, and links read
// only when the store reports a change, so that the tests see the watch
// work.
var fastFollow = followOptions{
	MinBackoff: 50 * time.Millisecond,
	MaxBackoff: 400 * time.Millisecond,
	Settle:     200 * time.Millisecond,
	Poll:       time.Hour,
	Resync:     time.Hour,
	StateFlush: 20 * time.Millisecond,
}

// worldPod is a pod of a followWorld, which can be stopped and started
// again on the same data and address.
type worldPod struct {
	w       *followWorld
	name    string
	member  uuid.UUID
	addr    netip.Addr
	cfg     Config
	opts    followOptions
	logs    *logCapture
	pod     *Pod
	stopped chan error
	cancel  context.CancelFunc
}

// pod creates a member with its own account and data, registers its name
// in DNS and starts its pod with the demo contract, or contractFile when
// it is not empty.
func (w *followWorld) pod(t *testing.T, name, contractFile string, opts followOptions) *worldPod {
	t.Helper()
	now := time.Now()
	aid, err := w.dir.CreateAccount(now)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := w.dir.CreateMember(demoSID, now)
	if err != nil {
		t.Fatal(err)
	}
	addr := followBase
	for range w.next.Add(1) - 1 {
		addr = addr.Next()
	}
	if err := w.dns.Set(pki.MemberName(demoSID, mid, testNetwork), addr); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(data, "kek"), []byte(base64.URLEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(data, "password")
	if err := os.WriteFile(pw, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if contractFile == "" {
		contractFile = demoFile
	}
	wp := &worldPod{w: w, name: name, member: mid, addr: addr, opts: opts, logs: &logCapture{}, cfg: Config{Pod: launch.Pod{
		Network:           testNetwork,
		PKIDir:            w.dir.Path(),
		AccountID:         aid,
		DataDir:           data,
		Listen:            "127.0.0.1:0",
		PeerListen:        net.JoinHostPort(addr.String(), fmt.Sprint(w.port)),
		OwnerPasswordFile: pw,
		ContractFiles:     []string{contractFile},
		Members:           map[uint32]uuid.UUID{demoSID: mid},
		DNSServer:         w.dnsAddr,
		PeerPort:          w.port,
	}}}
	wp.cfg.Logger = slog.New(wp.logs)
	wp.start(t)
	t.Cleanup(wp.stop)
	return wp
}

// start serves the pod (again).
func (wp *worldPod) start(t *testing.T) {
	t.Helper()
	p, err := New(context.Background(), wp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.followOpts = wp.opts
	owner, err := net.Listen("tcp", wp.cfg.Listen)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	peerL, err := net.Listen("tcp", wp.cfg.PeerListen)
	if err != nil {
		owner.Close()
		p.Close()
		t.Fatalf("peer port of %s: %v", wp.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Serve(ctx, owner, peerL) }()
	wp.pod, wp.cancel, wp.stopped = p, cancel, stopped
}

// stop ends the pod's Serve and waits for it.
func (wp *worldPod) stop() {
	if wp.cancel == nil {
		return
	}
	wp.cancel()
	<-wp.stopped
	wp.cancel = nil
}

func (wp *worldPod) store() *store.Store { return wp.pod.membership(demoSID).store }

// link adds a network link from wp to other.
func (wp *worldPod) link(t *testing.T, other *worldPod, relation string) {
	t.Helper()
	if _, err := wp.store().Append(t.Context(), linksClass, map[string]any{
		"created_timestamp": time.Now().UTC().Format(time.RFC3339), "member_id": other.member.String(), "relation": relation,
	}); err != nil {
		t.Fatal(err)
	}
}

// unlink deletes wp's links to other with relation.
func (wp *worldPod) unlink(t *testing.T, other *worldPod, relation string) {
	t.Helper()
	n, err := wp.store().Delete(t.Context(), linksClass, store.Filter{
		{Field: linkMemberField, Op: store.OpEq, Value: other.member.String()},
		{Field: linkRelationField, Op: store.OpEq, Value: relation},
	})
	if err != nil || n == 0 {
		t.Fatalf("unlink: %d, %v", n, err)
	}
}

// post appends a post with text and returns its id and cursor.
func (wp *worldPod) post(t *testing.T, text string) (string, string) {
	t.Helper()
	id := uuid.NewString()
	cursors, err := wp.store().Append(t.Context(), "posts", map[string]any{
		"post_id": id, "created_timestamp": time.Now().UTC().Format(time.RFC3339Nano), "text": text,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, cursors[0]
}

// feed returns the records of wp's feed.
func (wp *worldPod) feed(t *testing.T) []map[string]any {
	t.Helper()
	page, err := wp.store().Query(t.Context(), "feed", store.Query{First: store.MaxFirst})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(page.Edges))
	for i, e := range page.Edges {
		out[i] = e.Node.(map[string]any)
	}
	return out
}

// countText counts the records of wp's feed with text.
func (wp *worldPod) countText(t *testing.T, text string) int {
	n := 0
	for _, r := range wp.feed(t) {
		if r["text"] == text {
			n++
		}
	}
	return n
}

// metric returns the value of a metric of wp's pod with the labels.
func (wp *worldPod) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := wp.pod.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (wp *worldPod) follows(t *testing.T, outcome string) float64 {
	return wp.metric(t, "byoda_pod_follow_records_total", map[string]string{"service": "4711", "outcome": outcome})
}

func (wp *worldPod) followed(t *testing.T) float64 {
	return wp.metric(t, "byoda_pod_followed_pods", map[string]string{"service": "4711"})
}

// waitUntil polls check until it returns nil, failing the test after
// timeout, a bound for a hang only.
func waitUntil(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCount waits until wp's feed holds want records with text.
func (wp *worldPod) waitCount(t *testing.T, text string, want int) {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("%s's feed holds %q %d times", wp.name, text, want), func() error {
		if n := wp.countText(t, text); n != want {
			return fmt.Errorf("it holds it %d times", n)
		}
		return nil
	})
}

// logCapture keeps log records' messages, for tests.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

func (l *logCapture) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// TestFollowCopiesEachPostOnce: a link with a relation of
// listen_relations (in any case) makes the pod follow, a link with another
// relation does not; what the followed pod held before is copied, and what
// it appends after, each once and with its origin; a new pod without the
// state file reads everything again and copies nothing twice.
func TestFollowCopiesEachPostOnce(t *testing.T) {
	w := newFollowWorld(t)
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", "", fastFollow)

	mike := w.pod(t, "mike", "", fastFollow)

	_, oldCursor := alice.post(t, "before the follow")
	mike.post(t, "mike's")
	suzie.link(t, mike, "friend")
	suzie.link(t, alice, "Follow")
	waitUntil(t, 10*time.Second, "suzie follows alice", func() error {
		if got := suzie.followed(t); got != 1 {
			return fmt.Errorf("followed pods = %v", got)
		}
		return nil
	})
	suzie.waitCount(t, "before the follow", 1)

	id, cursor := alice.post(t, "after the follow")
	suzie.waitCount(t, "after the follow", 1)
	for _, r := range suzie.feed(t) {
		want := map[string]string{"before the follow": oldCursor, "after the follow": cursor}[r["text"].(string)]
		if r[originMemberField] != alice.member.String() || r[originCursorField] != want {
			t.Errorf("feed record %v: want origin %s, cursor %s", r, alice.member, want)
		}
		if r["text"] == "after the follow" && r["post_id"] != id {
			t.Errorf("feed record %v: want post_id %s", r, id)
		}
	}
	// Mike, a friend, is not followed.
	if n := len(suzie.feed(t)); n != 2 {
		t.Fatalf("the feed holds %d records; want 2: %v", n, suzie.feed(t))
	}

	// Without the state file, Suzie's pod reads Alice's posts from the
	// beginning, finds the copies and adds none.
	suzie.stop()
	if err := os.Remove(followStateFile(suzie.cfg.DataDir, demoSID)); err != nil {
		t.Fatalf("the state file: %v", err)
	}
	suzie.start(t)
	waitUntil(t, 10*time.Second, "suzie reads alice again", func() error {
		if got := suzie.follows(t, followDuplicate); got != 2 {
			return fmt.Errorf("duplicates = %v", got)
		}
		return nil
	})
	if got := suzie.follows(t, followStored); got != 0 {
		t.Errorf("stored %v records again; want none", got)
	}
	if n := len(suzie.feed(t)); n != 2 {
		t.Errorf("the feed holds %d records after the restart; want 2", n)
	}
}

// TestFollowCatchesUp: posts made while the follower's pod is down arrive
// once it is back, each once, read after the cursor it kept (nothing
// older is read again).
func TestFollowCatchesUp(t *testing.T) {
	w := newFollowWorld(t)
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", "", fastFollow)
	suzie.link(t, alice, "follow")
	alice.post(t, "first")
	suzie.waitCount(t, "first", 1)

	suzie.stop()
	data, err := os.ReadFile(followStateFile(suzie.cfg.DataDir, demoSID))
	if err != nil {
		t.Fatal(err)
	}
	var doc followStateDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Cursors["posts"][alice.member.String()] == "" {
		t.Fatalf("state file %s: %v; want a cursor of alice's posts", data, err)
	}
	for i := range 3 {
		alice.post(t, fmt.Sprintf("while away %d", i))
	}
	// The catch-up after subscribing copies them, not the second one a
	// moment later.
	suzie.opts.Settle = time.Hour
	suzie.start(t)
	for i := range 3 {
		suzie.waitCount(t, fmt.Sprintf("while away %d", i), 1)
	}
	alice.post(t, "back")
	suzie.waitCount(t, "back", 1)
	if n := len(suzie.feed(t)); n != 5 {
		t.Errorf("the feed holds %d records; want 5", n)
	}
	if got := suzie.follows(t, followDuplicate); got != 0 {
		t.Errorf("%v records were read again after the restart; want the catch-up to start after the kept cursor", got)
	}
}

// TestFollowLinks: deleting the link stops the follow, and nothing posted
// after arrives; a link added later starts it again; at most MaxFollowed
// pods are followed.
func TestFollowLinks(t *testing.T) {
	w := newFollowWorld(t)
	opts := fastFollow
	opts.MaxFollowed = 1
	alice := w.pod(t, "alice", "", fastFollow)
	mike := w.pod(t, "mike", "", fastFollow)
	suzie := w.pod(t, "suzie", "", opts)

	suzie.link(t, alice, "follow")
	alice.post(t, "one")
	suzie.waitCount(t, "one", 1)

	// Mike is one pod too many.
	suzie.link(t, mike, "follow")
	mike.post(t, "mike's")
	waitUntil(t, 10*time.Second, "suzie warns of the pods left out", func() error {
		if suzie.logs.count("Following only some of the linked pods") == 0 {
			return errors.New("no warning")
		}
		return nil
	})
	if got := suzie.followed(t); got != 1 {
		t.Errorf("followed pods = %v; want 1", got)
	}

	suzie.unlink(t, alice, "follow")
	// Mike takes Alice's place.
	suzie.waitCount(t, "mike's", 1)
	alice.post(t, "after the unlink")
	// Nothing tells that something did not happen; a post after the
	// unlink has had many times the time the others took.
	mike.post(t, "mike's second")
	suzie.waitCount(t, "mike's second", 1)
	time.Sleep(time.Second)
	if n := suzie.countText(t, "after the unlink"); n != 0 {
		t.Errorf("a post after the link was deleted arrived %d times", n)
	}

	suzie.unlink(t, mike, "follow")
	waitUntil(t, 10*time.Second, "suzie follows nobody", func() error {
		if got := suzie.followed(t); got != 0 {
			return fmt.Errorf("followed pods = %v", got)
		}
		return nil
	})
	suzie.link(t, alice, "follow")
	suzie.waitCount(t, "after the unlink", 1)
	if n := suzie.countText(t, "one"); n != 1 {
		t.Errorf("following again copied an old post %d times; want once", n)
	}
	// The cursor was forgotten with the link: Alice's pod was read from
	// the beginning, and the old post found in the feed.
	if got := suzie.follows(t, followDuplicate); got != 1 {
		t.Errorf("duplicates = %v; want 1, the post before the unlink", got)
	}
}

// TestFollowReconnects: the followed pod's server stops and starts again;
// the follower reconnects and copies what it posts then.
func TestFollowReconnects(t *testing.T) {
	w := newFollowWorld(t)
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", "", fastFollow)
	suzie.link(t, alice, "follow")
	alice.post(t, "before")
	suzie.waitCount(t, "before", 1)

	alice.stop()
	waitUntil(t, 10*time.Second, "suzie notices", func() error {
		if suzie.logs.count("Lost the connection to a followed pod")+suzie.logs.count("Could not follow a pod") == 0 {
			return errors.New("no log of the lost connection")
		}
		return nil
	})
	// Some reconnections fail while Alice is down.
	time.Sleep(300 * time.Millisecond)
	alice.start(t)
	alice.post(t, "after")
	suzie.waitCount(t, "after", 1)
	if n := suzie.countText(t, "before"); n != 1 {
		t.Errorf("the post before holds %d copies; want 1", n)
	}
}

// variantContract writes the demo contract with change applied to its
// JSON document.
func variantContract(t *testing.T, change func(doc map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	change(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "contract.json")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// defs returns the $defs of a contract document.
func defs(doc map[string]any) map[string]any {
	return doc["jsonschema"].(map[string]any)["$defs"].(map[string]any)
}

// TestFollowSkipsInvalidRecords: a record the destination does not accept
// is counted and skipped, and the follow goes on past it. (The follower's
// listen_relations name the relation in upper case.)
func TestFollowSkipsInvalidRecords(t *testing.T) {
	w := newFollowWorld(t)
	strict := variantContract(t, func(doc map[string]any) {
		text := defs(doc)["feed_post"].(map[string]any)["properties"].(map[string]any)["text"].(map[string]any)
		text["enum"] = []string{"ok", "fine"}
		doc["listen_relations"].([]any)[0].(map[string]any)["relations"] = []string{"FOLLOW"}
	})
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", strict, fastFollow)
	suzie.link(t, alice, "follow")
	alice.post(t, "ok")
	suzie.waitCount(t, "ok", 1)
	alice.post(t, "not in the enum")
	alice.post(t, "fine")
	suzie.waitCount(t, "fine", 1)
	if got := suzie.follows(t, followInvalid); got != 1 {
		t.Errorf("invalid records = %v; want 1", got)
	}
	if n := len(suzie.feed(t)); n != 2 {
		t.Errorf("the feed holds %d records; want 2", n)
	}
}

// TestFollowDedupesByPrimaryKey: a destination without origin fields finds
// copies by its primary key; one without either is followed with one
// warning that copies may repeat.
func TestFollowDedupesByPrimaryKey(t *testing.T) {
	w := newFollowWorld(t)
	withoutOrigin := func(pk bool) func(map[string]any) {
		return func(doc map[string]any) {
			fp := defs(doc)["feed_post"].(map[string]any)
			props := fp["properties"].(map[string]any)
			delete(props, originMemberField)
			delete(props, originCursorField)
			fp["required"] = []string{"post_id", "created_timestamp", "text"}
			if pk {
				props["post_id"].(map[string]any)["#properties"] = []string{"primary_key", "index"}
			}
		}
	}
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", variantContract(t, withoutOrigin(true)), fastFollow)
	suzie.link(t, alice, "follow")
	id, _ := alice.post(t, "keyed")
	suzie.waitCount(t, "keyed", 1)
	if r := suzie.feed(t)[0]; r["post_id"] != id || r[originMemberField] != nil {
		t.Errorf("feed record %v; want post %s without origin", r, id)
	}

	suzie.stop()
	if err := os.Remove(followStateFile(suzie.cfg.DataDir, demoSID)); err != nil {
		t.Fatal(err)
	}
	suzie.start(t)
	waitUntil(t, 10*time.Second, "suzie reads alice again", func() error {
		if got := suzie.follows(t, followDuplicate); got != 1 {
			return fmt.Errorf("duplicates = %v", got)
		}
		return nil
	})
	if n := suzie.countText(t, "keyed"); n != 1 {
		t.Errorf("the feed holds %d copies; want 1", n)
	}

	// Neither origin fields nor a primary key: followed, with a warning.
	jane := w.pod(t, "jane", variantContract(t, withoutOrigin(false)), fastFollow)
	jane.link(t, alice, "follow")
	jane.waitCount(t, "keyed", 1)
	if n := jane.logs.count("may be copied more than once"); n != 1 {
		t.Errorf("%d warnings that copies may repeat; want 1", n)
	}
}

// TestPeerSubscribeAccess: C_updates over the peer port works for a
// member the contract lets subscribe (posts: any_member) and is refused
// for a class it does not (feed: the member only).
func TestPeerSubscribeAccess(t *testing.T) {
	w := newFollowWorld(t)
	alice := w.pod(t, "alice", "", fastFollow)
	mike := w.pod(t, "mike", "", fastFollow) // no link to or from alice
	client := mike.pod.membership(demoSID).network.client

	sub, err := client.Subscribe(t.Context(), alice.member, &peer.Request{Query: `subscription { posts_updates { action cursor origin node { post_id text } } }`})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// The subscription watches a moment after it is accepted: post until
	// an event comes.
	var got *peer.Response
	posted := map[string]bool{}
	for i := 0; got == nil && i < 50; i++ {
		_, cursor := alice.post(t, "for anyone")
		posted[cursor] = true
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("the subscription ended: %v", sub.Err())
			}
			got = ev
			var data struct {
				Updates struct {
					Action, Cursor, Origin string
					Node                   struct{ Text string }
				} `json:"posts_updates"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			u := data.Updates
			if u.Action != "append" || u.Origin != alice.member.String() || u.Node.Text != "for anyone" || !posted[u.Cursor] {
				t.Errorf("event %s; want an append of a post from %s with its cursor", ev.Data, alice.member)
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got == nil {
		t.Fatal("no event of alice's posts")
	}

	refused, err := client.Subscribe(t.Context(), alice.member, &peer.Request{Query: `subscription { feed_updates { action cursor } }`})
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	select {
	case ev, ok := <-refused.Events():
		var pe *peer.Error
		switch {
		case ok && len(ev.Errors) > 0 && ev.Errors[0].Code() == "FORBIDDEN":
		case !ok && errors.As(refused.Err(), &pe) && pe.Kind == peer.KindRefused && strings.Contains(pe.Error(), "feed"):
		default:
			t.Errorf("subscribing to alice's feed: event %v (open %v), end %v; want a refusal", ev, ok, refused.Err())
		}
	case <-time.After(10 * time.Second):
		t.Error("subscribing to alice's feed was not refused")
	}
}

func TestFollowBackoff(t *testing.T) {
	lo, hi := time.Second, time.Minute
	for failures := range 12 {
		for range 100 {
			d := backoff(lo, hi, failures)
			if d < lo || d > hi {
				t.Fatalf("backoff after %d failures = %s; want %s to %s", failures, d, lo, hi)
			}
			if upper := lo * 2 << failures; failures < 5 && d > upper {
				t.Fatalf("backoff after %d failures = %s; want at most %s", failures, d, upper)
			}
			if failures >= 6 && d < hi/2 {
				t.Fatalf("backoff after %d failures = %s; want at least %s", failures, d, hi/2)
			}
		}
	}
}

func TestFollowStateFile(t *testing.T) {
	dir := t.TempDir()
	file := followStateFile(dir, demoSID)
	log := slog.New(slog.DiscardHandler)
	s := loadFollowState(file, log)
	key := followKey{class: "posts", member: uuid.New()}
	s.set(key, "abc")
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if got := loadFollowState(file, log).get(key); got != "abc" {
		t.Errorf("cursor after a reload = %q; want abc", got)
	}
	s.drop(key)
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if got := loadFollowState(file, log).get(key); got != "" {
		t.Errorf("cursor after drop = %q; want none", got)
	}
	if err := os.WriteFile(file, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := loadFollowState(file, log).get(key); got != "" {
		t.Errorf("cursor from a bad file = %q; want none", got)
	}
}

// TestFollowRefusedSubscriptionBacksOff: a followed pod whose contract
// does not let members subscribe refuses the subscription; the follower
// counts that as a failure and waits longer each time, rather than
// reconnecting at once as after a connection that worked. (What it may
// read is still copied, at each attempt.)
func TestFollowRefusedSubscriptionBacksOff(t *testing.T) {
	w := newFollowWorld(t)
	readOnly := variantContract(t, func(doc map[string]any) {
		posts := doc["jsonschema"].(map[string]any)["properties"].(map[string]any)["posts"].(map[string]any)
		posts["#accesscontrol"].(map[string]any)["any_member"] = map[string]any{"permissions": []string{"read"}}
	})
	alice := w.pod(t, "alice", readOnly, fastFollow)
	suzie := w.pod(t, "suzie", "", fastFollow)
	alice.post(t, "readable")
	suzie.link(t, alice, "follow")
	suzie.waitCount(t, "readable", 1)
	waitUntil(t, 10*time.Second, "suzie retries with a growing wait", func() error {
		if n := suzie.logs.count("DEBUG Could not follow a pod"); n < 2 {
			return fmt.Errorf("%d failures in a row logged", n)
		}
		return nil
	})
	if n := suzie.logs.count("Lost the connection to a followed pod"); n != 0 {
		t.Errorf("a refused subscription was taken %d times for a connection that worked", n)
	}
}

// TestFollowOneFollowerPerService: a follower of a service (of a
// membership that replaced another, on an upgrade) starts only once the
// follower before it has ended, and goes on from its cursors.
func TestFollowOneFollowerPerService(t *testing.T) {
	w := newFollowWorld(t)
	alice := w.pod(t, "alice", "", fastFollow)
	suzie := w.pod(t, "suzie", "", fastFollow)
	suzie.link(t, alice, "follow")
	alice.post(t, "first")
	suzie.waitCount(t, "first", 1)
	const started = "Following linked pods"
	if n := suzie.logs.count(started); n != 1 {
		t.Fatalf("%d followers started; want 1", n)
	}

	m := suzie.pod.membership(demoSID)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); suzie.pod.followMembership(ctx, m) }()
	t.Cleanup(func() { cancel(); <-done })
	// Nothing tells that something did not happen: the second follower
	// has had many times what the first took to start.
	time.Sleep(300 * time.Millisecond)
	if n := suzie.logs.count(started); n != 1 {
		t.Fatalf("%d followers started while the first runs; want 1", n)
	}
	alice.post(t, "between")
	suzie.waitCount(t, "between", 1)

	m.end() // the first follower's membership retires
	waitUntil(t, 10*time.Second, "the second follower starts", func() error {
		if n := suzie.logs.count(started); n != 2 {
			return fmt.Errorf("%d followers started", n)
		}
		return nil
	})
	alice.post(t, "second")
	suzie.waitCount(t, "second", 1)
	if got := suzie.follows(t, followDuplicate); got != 0 {
		t.Errorf("the second follower read %v records again; want it to go on from the first one's cursor", got)
	}
}
