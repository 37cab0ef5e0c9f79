package pod_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// wsClient speaks graphql-transport-ws to a pod.
type wsClient struct {
	conn *websocket.Conn
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a websocket to url with tc and header, and sends
// connection_init with payload. It returns the client, or the error the
// handshake or the server gave.
func dialWS(t testing.TB, url string, tc *tls.Config, header http.Header, payload map[string]any) (*wsClient, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: tc, Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{conn: conn}
	init, _ := json.Marshal(payload)
	if err := c.send(wsMessage{Type: "connection_init", Payload: init}); err != nil {
		return nil, err
	}
	m, err := c.read(10 * time.Second)
	if err != nil {
		return nil, err
	}
	if m.Type != "connection_ack" {
		return nil, fmt.Errorf("want connection_ack, got %s %s", m.Type, m.Payload)
	}
	return c, nil
}

func (c *wsClient) send(m wsMessage) error {
	return c.conn.WriteJSON(m)
}

// read returns the next message other than a ping (which it answers).
func (c *wsClient) read(timeout time.Duration) (*wsMessage, error) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(timeout))
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			return nil, err
		}
		if m.Type == "ping" {
			if err := c.send(wsMessage{Type: "pong"}); err != nil {
				return nil, err
			}
			continue
		}
		if m.Type == "pong" {
			continue
		}
		return &m, nil
	}
}

func (c *wsClient) subscribe(id, query string) error {
	payload, _ := json.Marshal(map[string]any{"query": query})
	return c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
}

func (p *testPod) wsURL(sid uint32) string {
	return strings.Replace(p.dataURL(sid), "https://", "wss://", 1)
}

func (p *testPod) ownerTLS() *tls.Config {
	return p.owner.Transport.(*http.Transport).TLSClientConfig.Clone()
}

// messages reads the socket's messages into a channel, answering pings,
// until the socket closes.
func (c *wsClient) messages() <-chan *wsMessage {
	ch := make(chan *wsMessage, 16)
	go func() {
		defer close(ch)
		for {
			m, err := c.read(time.Minute)
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

// awaitAppend appends addresses in country until the subscription reports
// one, since a subscription starts watching a moment after the server
// acknowledged it and appends before that are not reported. It returns the
// first event and the cities appended.
func awaitAppend(t testing.TB, p *testPod, tok string, msgs <-chan *wsMessage, country string) (*wsMessage, []string) {
	t.Helper()
	var appended []string
	for i := range 20 {
		city := fmt.Sprintf("City%d", i)
		appended = append(appended, city)
		p.ownerGQL(t, demoSID, tok, appendAddress, address{uuid.NewString(), time.Now().UTC(), "home", city, country}.vars()).ok(t)
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("websocket closed")
			}
			return m, appended
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatal("the subscription reported none of 20 appends")
	return nil, nil
}

func TestSubscription(t *testing.T) {
	p := newPod(t, podOptions{})
	tok := p.login(t, demoSID)
	sub := `subscription { addresses_updates(filter: {country: {eq: "NL"}}) { action origin node { city country } } }`

	for _, tc := range []struct {
		name    string
		header  http.Header
		payload map[string]any
	}{
		{"token in connection_init", nil, map[string]any{"Authorization": "Bearer " + tok}},
		{"token in upgrade header", http.Header{"Authorization": {"Bearer " + tok}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialWS(t, p.wsURL(demoSID), p.ownerTLS(), tc.header, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.subscribe("1", sub); err != nil {
				t.Fatal(err)
			}
			msgs := c.messages()
			m, appended := awaitAppend(t, p, tok, msgs, "NL")
			first := fmt.Sprintf(`{"data":{"addresses_updates":{"action":"append","origin":"%s","node":{"city":"`, p.members[demoSID])
			if m.Type != "next" || m.ID != "1" || !strings.HasPrefix(string(m.Payload), first) {
				t.Fatalf("event = %s %s %s, want next 1 %s...", m.Type, m.ID, m.Payload, first)
			}
			// An address the filter does not match is not reported; the
			// next matching one is.
			p.ownerGQL(t, demoSID, tok, appendAddress, address{uuid.NewString(), time.Now().UTC(), "work", "Berlin", "DE"}.vars()).ok(t)
			p.ownerGQL(t, demoSID, tok, appendAddress, address{uuid.NewString(), time.Now().UTC(), "home", "Delft", "NL"}.vars()).ok(t)
			for {
				select {
				case m = <-msgs:
				case <-time.After(10 * time.Second):
					t.Fatal("no event for Delft")
				}
				if m == nil {
					t.Fatal("websocket closed")
				}
				if strings.Contains(string(m.Payload), "Berlin") {
					t.Fatalf("the filter let Berlin through: %s", m.Payload)
				}
				if strings.Contains(string(m.Payload), `"city":"Delft"`) {
					break
				}
				// Events of the appends awaitAppend made before the first
				// was reported may still arrive.
				if !slices.ContainsFunc(appended, func(c string) bool { return strings.Contains(string(m.Payload), `"city":"`+c+`"`) }) {
					t.Fatalf("unexpected event %s", m.Payload)
				}
			}
		})
	}

	t.Run("anonymous may not subscribe", func(t *testing.T) {
		c, err := dialWS(t, p.wsURL(demoSID), p.ownerTLS(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.subscribe("1", sub); err != nil {
			t.Fatal(err)
		}
		m, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if (m.Type != "error" && m.Type != "next") || !strings.Contains(string(m.Payload), `"code":"FORBIDDEN"`) {
			t.Fatalf("anonymous subscription: %s %s", m.Type, m.Payload)
		}
	})

	t.Run("bad token in connection_init", func(t *testing.T) {
		_, err := dialWS(t, p.wsURL(demoSID), p.ownerTLS(), nil, map[string]any{"Authorization": "Bearer " + tok + "x"})
		if err == nil {
			t.Fatal("a forged token in connection_init was accepted")
		}
	})

	t.Run("bad token in upgrade header", func(t *testing.T) {
		_, err := dialWS(t, p.wsURL(demoSID), p.ownerTLS(), http.Header{"Authorization": {"Bearer nonsense"}}, nil)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("a bad token in the upgrade request: %v", err)
		}
	})

	t.Run("peer port", func(t *testing.T) {
		// A family member may read addresses but not subscribe to them;
		// the payload's Authorization means nothing on the peer port.
		mid, fam := memberPeer(t, p, demoSID)
		p.link(t, demoSID, tok, mid, "family")
		tc := fam.client.Transport.(*http.Transport).TLSClientConfig.Clone()
		url := "wss://" + p.peerAddr + "/api/v1/data/service-4711"
		c, err := dialWS(t, url, tc, nil, map[string]any{"Authorization": "Bearer " + tok})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.subscribe("1", sub); err != nil {
			t.Fatal(err)
		}
		m, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if (m.Type != "error" && m.Type != "next") || !strings.Contains(string(m.Payload), `"code":"FORBIDDEN"`) {
			t.Fatalf("family subscription: %s %s", m.Type, m.Payload)
		}
	})
}
