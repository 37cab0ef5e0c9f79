package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/byoda-go/byoda/internal/contract"
)

// wsClient speaks graphql-transport-ws to the test server.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a websocket as caller (through the test's auth header) and
// sends connection_init with payload.
func dialWS(t *testing.T, ts *testServer, caller *contract.Caller, payload map[string]any) (*wsClient, *wsMessage) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	h := http.Header{}
	if caller != nil {
		cb, _ := json.Marshal(caller)
		h.Set(callerHeader, string(cb))
	}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.srv.URL, "http"), h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	if conn.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q", conn.Subprotocol())
	}
	c := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	p, _ := json.Marshal(payload)
	c.send(wsMessage{Type: "connection_init", Payload: p})
	return c, c.read()
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next message other than ping (which it answers) and
// pong; nil when the server closed the socket.
func (c *wsClient) read() *wsMessage {
	c.t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return nil
			}
			c.t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ping":
			c.send(wsMessage{Type: "pong"})
		case "pong":
		default:
			return &m
		}
	}
}

func (c *wsClient) subscribe(id, query string) {
	p, _ := json.Marshal(map[string]any{"query": query})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: p})
}

// waitWatching waits until class has n watchers, so that a change made
// next reaches the subscription.
func waitWatching(t *testing.T, data *memData, class string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for data.watching(class) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d watchers; want %d", class, data.watching(class), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscriptionReceivesAppend(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	c, ack := dialWS(t, ts, &owner, nil)
	if ack == nil || ack.Type != "connection_ack" {
		t.Fatalf("init: %+v", ack)
	}
	c.subscribe("upd", `subscription { home: addresses_updates(filter: {label: {eq: "home"}}) { __typename action node { city country } } }`)
	c.subscribe("cnt", `subscription { addresses_counter(filter: {country: {eq: "NL"}}) }`)
	waitWatching(t, ts.data, "addresses", 2)

	// The counter starts with the count now.
	m := c.read()
	if m.ID != "cnt" || m.Type != "next" || string(m.Payload) != `{"data":{"addresses_counter":0}}` {
		t.Fatalf("first count: %+v %s", m, m.Payload)
	}
	appendAddress(t, ts, uuidN(1), "2025-03-01T12:00:00Z", "work", "Utrecht", "NL")
	appendAddress(t, ts, uuidN(2), "2025-03-02T12:00:00Z", "home", "Antwerp", "BE")

	got := map[string][]string{}
	for len(got["upd"]) < 1 || len(got["cnt"]) < 1 {
		m := c.read()
		if m == nil || m.Type != "next" {
			t.Fatalf("message %+v", m)
		}
		got[m.ID] = append(got[m.ID], string(m.Payload))
	}
	if want := `{"data":{"home":{"__typename":"addresses_update_event","action":"append","node":{"city":"Antwerp","country":"BE"}}}}`; got["upd"][0] != want {
		t.Errorf("update event %s; want %s", got["upd"][0], want)
	}
	if want := `{"data":{"addresses_counter":1}}`; got["cnt"][0] != want {
		t.Errorf("count %s; want %s", got["cnt"][0], want)
	}

	// An update that brings an item into the filter is an event; it does
	// not change the count. A delete changes both.
	mustOK(t, ts.post(t, owner, `mutation { update_addresses(filter: {city: {eq: "Utrecht"}}, label: "home") }`, nil))
	if m := c.read(); m.ID != "upd" || string(m.Payload) != `{"data":{"home":{"__typename":"addresses_update_event","action":"update","node":{"city":"Utrecht","country":"NL"}}}}` {
		t.Fatalf("update event: %+v %s", m, m.Payload)
	}
	mustOK(t, ts.post(t, owner, `mutation { delete_from_addresses(filter: {city: {eq: "Utrecht"}}) }`, nil))
	got = map[string][]string{}
	for len(got["upd"]) < 1 || len(got["cnt"]) < 1 {
		m := c.read()
		got[m.ID] = append(got[m.ID], string(m.Payload))
	}
	if want := `{"data":{"home":{"__typename":"addresses_update_event","action":"delete","node":{"city":"Utrecht","country":"NL"}}}}`; got["upd"][0] != want {
		t.Errorf("delete event %s; want %s", got["upd"][0], want)
	}
	if want := `{"data":{"addresses_counter":0}}`; got["cnt"][0] != want {
		t.Errorf("count after delete %s; want %s", got["cnt"][0], want)
	}

	// Stopping a subscription ends its watch.
	c.send(wsMessage{ID: "upd", Type: "complete"})
	c.send(wsMessage{ID: "cnt", Type: "complete"})
	waitWatching(t, ts.data, "addresses", 0)
}

// TestSubscriptionAuth authenticates the socket in connection_init, as an
// owner's browser does with its JWT, and checks that the subscription's
// access follows the caller it set.
func TestSubscriptionAuth(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{
		WebsocketInit: func(ctx context.Context, payload map[string]any) (context.Context, error) {
			switch payload["token"] {
			case "owner":
				return WithCaller(ctx, owner), nil
			case nil:
				return ctx, nil
			}
			return nil, errors.New("invalid token")
		},
	})

	// graphql-transport-ws has no message for a refused init: the server
	// closes the socket without an ack.
	_, m := dialWS(t, ts, nil, map[string]any{"token": "forged"})
	if m != nil {
		t.Fatalf("forged token: got %+v; want the socket closed", m)
	}

	c, _ := dialWS(t, ts, nil, nil)
	c.subscribe("1", `subscription { addresses_updates { action } }`)
	m = c.read()
	if m.Type != "next" || !strings.Contains(string(m.Payload), CodeForbidden) || !strings.Contains(string(m.Payload), `"path":["addresses_updates"]`) {
		t.Fatalf("anonymous subscription: %+v %s", m, m.Payload)
	}
	if m := c.read(); m.Type != "complete" {
		t.Fatalf("after the error: %+v", m)
	}

	c, _ = dialWS(t, ts, nil, map[string]any{"token": "owner"})
	// The owner may not subscribe to tags, but to addresses.
	c.subscribe("1", `subscription { tags_updates { action node } }`)
	if m := c.read(); m.Type != "next" || !strings.Contains(string(m.Payload), CodeForbidden) {
		t.Fatalf("owner subscription to tags: %+v %s", m, m.Payload)
	}
	c.subscribe("2", `subscription { addresses_updates { action node { city } } }`)
	waitWatching(t, ts.data, "addresses", 1)
	appendAddress(t, ts, uuidN(1), "2025-03-01T12:00:00Z", "work", "Utrecht", "NL")
	for {
		m := c.read()
		if m.ID == "1" && m.Type == "complete" {
			continue
		}
		if m.ID != "2" || m.Type != "next" || string(m.Payload) != `{"data":{"addresses_updates":{"action":"append","node":{"city":"Utrecht"}}}}` {
			t.Fatalf("address event: %+v %s", m, m.Payload)
		}
		break
	}
}

func TestSubscriptionOverHTTP(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	r := ts.post(t, owner, `subscription { addresses_counter }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].code() != CodeBadUserInput || !strings.Contains(r.Errors[0].Message, "websocket") {
		t.Fatalf("subscription over POST: %s", r.Raw)
	}
}

// TestSubscriptionFilterIsTheQueryFilter: a subscription filters with the
// store's engine, as a query does, glob classes included, and its counter
// follows updates that move items out of the filter and deletes of items
// in it.
func TestSubscriptionFilterIsTheQueryFilter(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	c, _ := dialWS(t, ts, &owner, nil)
	const filter = `{city: {glob: "[AB]*"}}`
	c.subscribe("upd", `subscription { addresses_updates(filter: `+filter+`) { action node { city } } }`)
	c.subscribe("cnt", `subscription { addresses_counter(filter: `+filter+`) }`)
	waitWatching(t, ts.data, "addresses", 2)
	count := func() string {
		r := mustOK(t, ts.post(t, owner, `{ addresses_connection(filter: `+filter+`) { total_count } }`, nil))
		return fmt.Sprint(dig(r.Data, "addresses_connection", "total_count"))
	}
	var events []string
	lastCount := ""
	// expect reads until the counter says want and the events number n.
	expect := func(want string, n int) {
		t.Helper()
		for lastCount != want || len(events) < n {
			m := c.read()
			if m == nil || m.Type != "next" {
				t.Fatalf("message %+v; events %q, count %s, want %s", m, events, lastCount, want)
			}
			var p struct {
				Data map[string]any `json:"data"`
			}
			_ = json.Unmarshal(m.Payload, &p)
			if m.ID == "cnt" {
				lastCount = fmt.Sprint(p.Data["addresses_counter"])
				continue
			}
			ev := p.Data["addresses_updates"]
			events = append(events, fmt.Sprint(dig(ev, "action"), " ", dig(ev, "node", "city")))
		}
	}
	expect("0", 0)
	for i, city := range []string{"Amsterdam", "Utrecht", "Berlin", "Antwerp"} {
		appendAddress(t, ts, uuidN(i+1), "2025-03-01T12:00:00Z", "home", city, "NL")
	}
	expect(count(), 3)
	if lastCount != "3" {
		t.Errorf("count %s; want 3", lastCount)
	}
	mustOK(t, ts.post(t, owner, `mutation { update_addresses(filter: {city: {eq: "Berlin"}}, city: "Cologne") }`, nil))
	expect("2", 3)
	mustOK(t, ts.post(t, owner, `mutation { delete_from_addresses(filter: {city: {eq: "Amsterdam"}}) }`, nil))
	expect("1", 4)
	if count() != "1" {
		t.Errorf("total_count %s; want 1", count())
	}
	want := []string{"append Amsterdam", "append Berlin", "append Antwerp", "delete Amsterdam"}
	if !slices.Equal(events, want) {
		t.Errorf("events %q; want %q", events, want)
	}
}
