package follow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// pod is a byoda pod process on its own loopback address, and its owner
// logged in.
type pod struct {
	name     string
	account  uuid.UUID
	member   uuid.UUID
	addr     netip.Addr
	owner    string // host:port of the owner port
	dataDir  string
	password string
	args     []string
	proc     *testenv.Process
	client   *http.Client
	token    string
}

// ports are the network's ports, the same on every pod's address.
type ports struct{ owner, peer int }

// newPod makes an account and a membership of the demo service, registers
// the member's name in DNS at addr and starts the pod.
func newPod(t *testing.T, name string, addr netip.Addr, pp ports) *pod {
	t.Helper()
	dir := testenv.OpenPKI(t, pkiDir)
	a := testenv.NewPodAccount(t, dir)
	mid, err := dir.CreateMember(demoSID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := zone.Set(pki.MemberName(demoSID, mid, network), addr); err != nil {
		t.Fatal(err)
	}
	p := &pod{name: name, account: a.ID, member: mid, addr: addr, dataDir: a.DataDir, password: a.Password,
		owner: net.JoinHostPort(addr.String(), strconv.Itoa(pp.owner)), client: a.Owner}
	p.args = []string{"pod",
		"--network", network,
		"--pki-dir", pkiDir,
		"--account", a.ID.String(),
		"--data-dir", p.dataDir,
		"--listen", p.owner,
		"--peer-listen", net.JoinHostPort(addr.String(), strconv.Itoa(pp.peer)),
		"--owner-password-file", filepath.Join(p.dataDir, testenv.OwnerPasswordFile),
		"--contract", demoContract,
		"--member", fmt.Sprintf("%d=%s", demoSID, mid),
		"--dns-server", dnsAddr,
		"--network-peer-port", strconv.Itoa(pp.peer),
		"--log-level", "debug",
	}
	p.start(t)
	return p
}

func (p *pod) ownerURL(path string) string { return "https://" + p.owner + path }

// start runs the pod process, waits until it answers and logs in.
func (p *pod) start(t *testing.T) {
	t.Helper()
	// A pod built with the race detector dies on the first race.
	p.proc = testenv.StartProcess(t, p.name, byodaBin, p.args, []string{"GORACE=halt_on_error=1"})
	testenv.Eventually(t, 30*time.Second, p.name+" answers", p.proc, func(ctx context.Context) error {
		return testenv.HTTPOK(ctx, p.client, p.ownerURL("/api/v1/status"))
	})
	var login struct {
		AuthToken string `json:"auth_token"`
	}
	p.post(t, "/api/v1/pod/authtoken", map[string]any{"username": p.account.String(), "password": p.password, "service_id": demoSID}, &login)
	p.token = login.AuthToken
}

// stop ends the pod as Kubernetes does (SIGTERM) and checks it ended
// cleanly.
func (p *pod) stop(t *testing.T) {
	t.Helper()
	p.proc.StopCleanly(t)
	p.client.CloseIdleConnections()
}

// post sends v as JSON to path on the owner port, as the owner once
// logged in, and decodes the answer into out.
func (p *pod) post(t *testing.T, path string, v, out any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.ownerURL(path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", p.name, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %s: %s", p.name, path, resp.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s %s: %v: %s", p.name, path, err, data)
	}
}

// graphQL runs a query or mutation as the owner and fails on any error.
func (p *pod) graphQL(t *testing.T, query string, vars map[string]any, out any) {
	t.Helper()
	var resp struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	p.post(t, fmt.Sprintf("/api/v1/data/service-%d", demoSID), map[string]any{"query": query, "variables": vars}, &resp)
	if len(resp.Errors) > 0 {
		t.Fatalf("%s: %s: %s", p.name, query, resp.Errors[0])
	}
	if out != nil {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// publish appends a post and returns its id.
func (p *pod) publish(t *testing.T, text string) string {
	t.Helper()
	id := uuid.NewString()
	p.graphQL(t, `mutation($id: UUID!, $ts: DateTime!, $text: String!) { append_posts(post_id: $id, created_timestamp: $ts, text: $text) }`,
		map[string]any{"id": id, "ts": time.Now().UTC().Format(time.RFC3339Nano), "text": text}, nil)
	return id
}

// feedPost is a record of a feed.
type feedPost struct {
	PostID         string `json:"post_id"`
	Text           string `json:"text"`
	OriginMemberID string `json:"origin_member_id"`
	OriginCursor   string `json:"origin_cursor"`
}

// feed returns the records of the pod's feed.
func (p *pod) feed(t *testing.T) []feedPost {
	t.Helper()
	var data struct {
		Feed struct {
			Edges []struct {
				Node feedPost `json:"node"`
			} `json:"edges"`
		} `json:"feed_connection"`
	}
	p.graphQL(t, `{ feed_connection(first: 500) { edges { node { post_id text origin_member_id origin_cursor } } } }`, nil, &data)
	out := make([]feedPost, len(data.Feed.Edges))
	for i, e := range data.Feed.Edges {
		out[i] = e.Node
	}
	return out
}

// copies counts the records of post id in the feed.
func copies(feed []feedPost, id string) int {
	n := 0
	for _, f := range feed {
		if f.PostID == id {
			n++
		}
	}
	return n
}

// metric reads a sample of the pod's /metrics, such as
// `byoda_pod_followed_pods{service="4711"}`.
func (p *pod) metric(t *testing.T, sample string) (float64, bool) {
	t.Helper()
	resp, err := p.client.Get(p.ownerURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	samples, err := testenv.ParseMetrics(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := samples[sample]
	return v, ok
}

// feedEvents subscribes, as the owner, to the pod's feed over a websocket
// and delivers the post ids of the appends, with the time each arrived.
func (p *pod) feedEvents(t *testing.T) <-chan feedEvent {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: p.client.Transport.(*http.Transport).TLSClientConfig.Clone(),
		Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	url := strings.Replace(p.ownerURL(fmt.Sprintf("/api/v1/data/service-%d", demoSID)), "https://", "wss://", 1)
	conn, _, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + p.token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	type msg struct {
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}
	if err := conn.WriteJSON(msg{Type: "connection_init", Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var ack msg
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_init: %v %v", ack, err)
	}
	sub, _ := json.Marshal(map[string]string{"query": `subscription { feed_updates { action node { post_id } } }`})
	if err := conn.WriteJSON(msg{ID: "1", Type: "subscribe", Payload: sub}); err != nil {
		t.Fatal(err)
	}
	ch := make(chan feedEvent, 64)
	go func() {
		defer close(ch)
		for {
			var m msg
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			at := time.Now()
			switch m.Type {
			case "ping":
				_ = conn.WriteJSON(msg{Type: "pong"})
			case "next":
				var ev struct {
					Data struct {
						Updates struct {
							Action string `json:"action"`
							Node   struct {
								PostID string `json:"post_id"`
							} `json:"node"`
						} `json:"feed_updates"`
					} `json:"data"`
				}
				if json.Unmarshal(m.Payload, &ev) == nil && ev.Data.Updates.Action == "append" {
					ch <- feedEvent{postID: ev.Data.Updates.Node.PostID, at: at}
				}
			}
		}
	}()
	return ch
}

type feedEvent struct {
	postID string
	at     time.Time
}

// waitFeed waits until every post of ids is in p's feed, and returns the
// feed.
func (p *pod) waitFeed(t *testing.T, what string, ids ...string) []feedPost {
	t.Helper()
	var feed []feedPost
	testenv.Eventually(t, 30*time.Second, what, p.proc, func(context.Context) error {
		feed = p.feed(t)
		for _, id := range ids {
			if copies(feed, id) == 0 {
				return fmt.Errorf("post %s is not in %s's feed", id, p.name)
			}
		}
		return nil
	})
	return feed
}

// TestFollow is must-show 4 of issue 12: Suzie follows Alice; a post of
// Alice's appears in Suzie's feed at once, once; the posts Alice makes
// while Suzie's pod is down arrive when it is back, once each; deleting
// the link stops the flow.
func TestFollow(t *testing.T) {
	// Addresses of this suite's own, and the same two ports on each.
	pp := ports{owner: testenv.FreePort(t), peer: testenv.FreePort(t)}
	alice := newPod(t, "alice", netip.MustParseAddr("127.0.88.2"), pp)
	suzie := newPod(t, "suzie", netip.MustParseAddr("127.0.88.3"), pp)
	followers := `byoda_pod_followed_pods{service="4711"}`

	events := suzie.feedEvents(t)
	suzie.graphQL(t, `mutation($m: UUID!, $ts: DateTime!) { append_network_links(member_id: $m, relation: "follow", created_timestamp: $ts) }`,
		map[string]any{"m": alice.member.String(), "ts": time.Now().UTC().Format(time.RFC3339)}, nil)
	testenv.Eventually(t, 30*time.Second, "suzie follows alice", suzie.proc, func(context.Context) error {
		if n, _ := suzie.metric(t, followers); n != 1 {
			return fmt.Errorf("%s = %v", followers, n)
		}
		return nil
	})
	// The first post also waits for Suzie's pod to connect.
	first := alice.publish(t, "Hello from Alice")
	feed := suzie.waitFeed(t, "the first post reaches suzie", first)
	if copies(feed, first) != 1 {
		t.Fatalf("the first post is in the feed %d times; want once", copies(feed, first))
	}

	// Latency: from just before Alice's pod is asked to append to the
	// event of Suzie's feed, over a warm connection.
	var latencies []time.Duration
	ids := []string{first}
	for i := range 10 {
		start := time.Now()
		id := alice.publish(t, fmt.Sprintf("post %d", i))
		ids = append(ids, id)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("the feed subscription ended")
				}
				if ev.postID == id {
					latencies = append(latencies, ev.at.Sub(start))
					break wait
				}
			case <-deadline:
				t.Fatalf("post %d did not reach suzie's feed", i)
			}
		}
	}
	slices.Sort(latencies)
	t.Logf("alice's post in suzie's feed after: min %s, median %s, max %s (10 posts, including alice's append)",
		latencies[0].Round(time.Microsecond), latencies[len(latencies)/2].Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond))

	feed = suzie.feed(t)
	for _, id := range ids {
		if n := copies(feed, id); n != 1 {
			t.Errorf("post %s is in the feed %d times; want once", id, n)
		}
	}
	for _, f := range feed {
		if f.OriginMemberID != alice.member.String() || f.OriginCursor == "" {
			t.Errorf("feed record %+v: want origin %s with a cursor", f, alice.member)
		}
	}

	// Suzie's pod is down while Alice posts three times.
	suzie.stop(t)
	var away []string
	for i := range 3 {
		away = append(away, alice.publish(t, fmt.Sprintf("while suzie is away %d", i)))
	}
	suzie.start(t)
	suzie.waitFeed(t, "the posts made while suzie was away arrive", away...)
	// Let anything that would come twice come.
	time.Sleep(time.Second)
	feed = suzie.feed(t)
	for _, id := range append(ids, away...) {
		if n := copies(feed, id); n != 1 {
			t.Errorf("post %s is in the feed %d times; want once", id, n)
		}
	}
	if len(feed) != len(ids)+len(away) {
		t.Errorf("the feed holds %d records; want %d", len(feed), len(ids)+len(away))
	}

	// Deleting the link stops the flow.
	var deleted struct {
		N int `json:"delete_from_network_links"`
	}
	suzie.graphQL(t, `mutation($m: UUID!) { delete_from_network_links(filter: {member_id: {eq: $m}, relation: {eq: "follow"}}) }`,
		map[string]any{"m": alice.member.String()}, &deleted)
	if deleted.N != 1 {
		t.Fatalf("deleted %d links; want 1", deleted.N)
	}
	testenv.Eventually(t, 30*time.Second, "suzie stops following alice", suzie.proc, func(context.Context) error {
		if n, _ := suzie.metric(t, followers); n != 0 {
			return fmt.Errorf("%s = %v", followers, n)
		}
		return nil
	})
	late := alice.publish(t, "after the unfollow")
	// A reasonable time: many times what a post took above.
	time.Sleep(3 * time.Second)
	if n := copies(suzie.feed(t), late); n != 0 {
		t.Errorf("a post made after the link was deleted is in the feed %d times", n)
	}
	if stored, ok := suzie.metric(t, `byoda_pod_follow_records_total{outcome="stored",service="4711"}`); !ok || stored != 3 {
		t.Errorf("records stored since the restart = %v (%v); want 3", stored, ok)
	}
}
