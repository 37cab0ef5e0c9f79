package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// Subprotocol is the websocket subprotocol of subscriptions.
const Subprotocol = "graphql-transport-ws"

// Subscription is a subscription at another pod. Its events arrive on
// Events until it ends, when Events is closed and Err says why (nil when
// the server completed it).
type Subscription struct {
	events chan *Response
	err    error
	conn   *websocket.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

// Events delivers each event of the subscription.
func (s *Subscription) Events() <-chan *Response { return s.events }

// Err is why the subscription ended; valid once Events is closed.
func (s *Subscription) Err() error { return s.err }

// Close ends the subscription and waits for it.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Subscribe starts the subscription req at member mid's pod, over a
// websocket on its peer port (graphql-transport-ws), and returns once the
// server has accepted the connection. It ends when ctx does.
func (c *Client) Subscribe(ctx context.Context, mid uuid.UUID, req *Request) (*Subscription, error) {
	dialer := &net.Dialer{Timeout: c.opts.DialTimeout, Resolver: c.resolver, KeepAlive: 30 * time.Second}
	d := websocket.Dialer{
		NetDialContext:   dialer.DialContext,
		TLSClientConfig:  c.tlsConfig(),
		HandshakeTimeout: c.opts.DialTimeout,
		Subprotocols:     []string{Subprotocol},
	}
	url := "wss://" + c.host(mid) + DataPath(c.opts.ServiceID)
	conn, resp, err := d.DialContext(ctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, &Error{Kind: KindRefused, Member: mid, Err: fmt.Errorf("websocket upgrade: HTTP %d", resp.StatusCode)}
		}
		return nil, classify(ctx, mid, err)
	}
	conn.SetReadLimit(c.opts.MaxResponseBytes)
	fail := func(kind Kind, err error) (*Subscription, error) {
		conn.Close()
		return nil, &Error{Kind: kind, Member: mid, Err: err}
	}
	deadline := time.Now().Add(c.opts.DialTimeout)
	_ = conn.SetWriteDeadline(deadline)
	if err := conn.WriteJSON(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)}); err != nil {
		return fail(KindUnreachable, err)
	}
	_ = conn.SetReadDeadline(deadline)
	var ack wsMessage
	if err := conn.ReadJSON(&ack); err != nil {
		return fail(KindRefused, fmt.Errorf("waiting for connection_ack: %w", err))
	}
	if ack.Type != "connection_ack" {
		return fail(KindRefused, fmt.Errorf("the server sent %q, not connection_ack", ack.Type))
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fail(KindInvalid, err)
	}
	if err := conn.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: payload}); err != nil {
		return fail(KindUnreachable, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})

	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{events: make(chan *Response), conn: conn, cancel: cancel, done: make(chan struct{})}
	go func() {
		<-ctx.Done()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	}()
	go s.read(ctx, mid)
	return s, nil
}

// read delivers the subscription's messages until it ends.
func (s *Subscription) read(ctx context.Context, mid uuid.UUID) {
	defer close(s.done)
	defer close(s.events)
	defer s.cancel()
	for {
		var m wsMessage
		if err := s.conn.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				s.err = context.Cause(ctx)
			} else {
				s.err = classify(ctx, mid, err)
			}
			return
		}
		switch m.Type {
		case "next":
			var r Response
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				s.err = &Error{Kind: KindInvalid, Member: mid, Err: fmt.Errorf("event: %w", err)}
				return
			}
			select {
			case s.events <- &r:
			case <-ctx.Done():
				s.err = context.Cause(ctx)
				return
			}
		case "error":
			var errs []ResponseError
			_ = json.Unmarshal(m.Payload, &errs)
			msg := "the subscription was refused"
			if len(errs) > 0 {
				msg = errs[0].Message
			}
			s.err = &Error{Kind: KindRefused, Member: mid, Err: errors.New(msg)}
			return
		case "complete":
			return
		case "ping":
			_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := s.conn.WriteJSON(wsMessage{Type: "pong"}); err != nil {
				s.err = classify(ctx, mid, err)
				return
			}
		}
	}
}
