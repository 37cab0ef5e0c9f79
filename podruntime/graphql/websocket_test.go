package graphql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawFrameHeader is the header of a masked client frame of a payload of n
// bytes, with a mask of zeros (so the payload goes as it is).
func rawFrameHeader(fin bool, opcode byte, n uint64) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(h[2:], n)
	return append(h, 0, 0, 0, 0)
}

// closeCode reads until the server closes the socket, and returns the
// code of its close frame; 0 if the connection ended without one.
func closeCode(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the socket is still open: %v", err)
		}
		return 0, err.Error()
	}
}

// heapGrowth runs fn and returns how many bytes the process allocated
// meanwhile.
func heapGrowth(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestWebsocketMessageLimit sends messages larger than MaxBodyBytes over a
// websocket, before and after connection_init: each closes the socket with
// 1009 as soon as its frame header says how long it is, and the server
// does not buffer it (the process allocates a few KiB, not the message).
func TestWebsocketMessageLimit(t *testing.T) {
	var limits limitCounter
	ts := newTestServer(t, demoPath, Options{OnLimit: limits.onLimit})
	const huge = 64 << 20

	t.Run("header of a 64 MiB connection_init", func(t *testing.T) {
		c := dialRaw(t, ts)
		if _, err := c.NetConn().Write(rawFrameHeader(true, websocket.TextMessage, huge)); err != nil {
			t.Fatal(err)
		}
		if code, text := closeCode(t, c); code != websocket.CloseMessageTooBig || !strings.Contains(text, "the limit is 1048576 bytes") {
			t.Fatalf("close %d %q; want 1009 naming the limit", code, text)
		}
	})

	t.Run("a 64 MiB connection_init", func(t *testing.T) {
		c := dialRaw(t, ts)
		grown := heapGrowth(func() {
			conn := c.NetConn()
			if _, err := conn.Write(rawFrameHeader(true, websocket.TextMessage, huge)); err != nil {
				t.Fatal(err)
			}
			// A JSON string that goes on: the transport's decoder would
			// keep reading it.
			prefix := []byte(`{"type":"connection_init","payload":{"x":"`)
			if _, err := conn.Write(prefix); err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			sent := len(prefix)
			for sent < huge {
				n, err := conn.Write(chunk)
				sent += n
				if err != nil {
					break // the server closed the connection, as it should
				}
			}
			code, text := closeCode(t, c)
			if code != websocket.CloseMessageTooBig && code != 0 {
				t.Errorf("close %d %q; want 1009 or the connection closed", code, text)
			}
			t.Logf("sent %d bytes; close %d %q", sent, code, text)
		})
		if grown > 8<<20 {
			t.Errorf("the process allocated %d bytes while the client sent a 64 MiB frame; want a few KiB", grown)
		}
	})

	t.Run("a message of many frames after connection_init", func(t *testing.T) {
		c, ack := dialWS(t, ts, &owner, nil)
		if ack == nil || ack.Type != "connection_ack" {
			t.Fatalf("init: %+v", ack)
		}
		grown := heapGrowth(func() {
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			// A JSON string that goes on: the transport's decoder keeps
			// reading it.
			if _, err := w.Write([]byte(`{"id":"1","type":"subscribe","payload":{"query":"`)); err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte("x"), 32<<10)
			for range (4 << 20) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			_ = w.Close()
			if code, text := closeCode(t, c.conn); code != websocket.CloseMessageTooBig && code != 0 {
				t.Errorf("close %d %q; want 1009", code, text)
			}
		})
		if grown > 8<<20 {
			t.Errorf("the process allocated %d bytes for a 4 MiB message; want less than the message", grown)
		}
	})

	if n := limits.count(LimitMessageSize); n != 3 {
		t.Errorf("OnLimit told of %d messages too big; want 3", n)
	}
	// A message within the limit still works.
	c, ack := dialWS(t, ts, &owner, map[string]any{"pad": strings.Repeat("x", 500<<10)})
	if ack == nil || ack.Type != "connection_ack" {
		t.Fatalf("init of 500 KiB: %+v", ack)
	}
	c.subscribe("1", `subscription { tags_counter }`)
	if m := c.read(); m.Type != "next" {
		t.Fatalf("subscription: %+v", m)
	}
}

// dialRaw opens a websocket to the test server without sending anything.
func dialRaw(t *testing.T, ts *testServer) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

// TestWebsocketIdle: a socket with no subscription is closed after
// WebsocketIdleTimeout, pings and pongs notwithstanding; one with a
// subscription stays open, and is closed once its last subscription ends.
func TestWebsocketIdle(t *testing.T) {
	const idle = 300 * time.Millisecond
	var limits limitCounter
	ts := newTestServer(t, demoPath, Options{WebsocketIdleTimeout: idle, KeepAlive: 50 * time.Millisecond, OnLimit: limits.onLimit})

	c, ack := dialWS(t, ts, &owner, nil)
	if ack == nil || ack.Type != "connection_ack" {
		t.Fatalf("init: %+v", ack)
	}
	// read answers the server's pings until the socket closes.
	if m := c.read(); m != nil {
		t.Fatalf("message %+v; want the socket closed", m)
	}
	if limits.count(LimitIdle) != 1 {
		t.Errorf("OnLimit told of %d idle sockets; want 1", limits.count(LimitIdle))
	}

	c, _ = dialWS(t, ts, &owner, nil)
	c.subscribe("1", `subscription { addresses_updates { action node { city } } }`)
	waitWatching(t, ts.data, "addresses", 1)
	// Keep answering the server's pings (every 50 ms) meanwhile.
	for end := time.Now().Add(3 * idle); time.Now().Before(end); {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m wsMessage
		err := c.conn.ReadJSON(&m)
		if err != nil || m.Type != "ping" {
			t.Fatalf("with a subscription: %+v %v", m, err)
		}
		c.send(wsMessage{Type: "pong"})
	}
	appendAddress(t, ts, uuidN(1), "2025-03-01T12:00:00Z", "home", "Late", "NL")
	if m := c.read(); m == nil || m.ID != "1" || !strings.Contains(string(m.Payload), `"Late"`) {
		t.Fatalf("after %s with a subscription: %+v; want the event", 3*idle, m)
	}
	c.send(wsMessage{ID: "1", Type: "complete"})
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m wsMessage
		err := c.conn.ReadJSON(&m)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseNormalClosure || !strings.Contains(ce.Text, "idle") {
				t.Errorf("close %d %q; want 1000, idle", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Type == "ping" {
			c.send(wsMessage{Type: "pong"})
		}
	}
}

// TestWSConnCloseBetweenFrames checks that a close frame wsConn sends on
// its own goes between two of the frames gorilla writes, never inside one,
// and that nothing follows it.
func TestWSConnCloseBetweenFrames(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &wsConn{Conn: server, limit: 1 << 20}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	handshake := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	payload := bytes.Repeat([]byte("p"), 300)
	frame := append([]byte{0x81, 126, 1, 44}, payload...) // 300 bytes
	for _, part := range [][]byte{handshake[:20], handshake[20:], frame[:3], frame[3:100]} {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	c.closeWith(closeNormal, "bye") // in the middle of the frame: it waits
	if n, err := c.Write(frame[100:]); n != len(frame)-100 || err != nil {
		t.Fatalf("the rest of the frame: %d %v", n, err)
	}
	if _, err := c.Write([]byte{0x81, 1, 'x'}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a frame after the close frame: %v", err)
	}
	b := <-got
	want := append(append(append([]byte{}, handshake...), frame...), 0x88, 5, 0x03, 0xe8, 'b', 'y', 'e')
	if !bytes.Equal(b, want) {
		t.Fatalf("the client read\n%q\nwant\n%q", b, want)
	}
}

// TestFrameScanner feeds frames of every length encoding a byte at a time
// and whole, and checks the headers it finds.
func TestFrameScanner(t *testing.T) {
	var stream []byte
	var want []int64
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		h := []byte{0x82, byte(n)}
		switch {
		case n >= 65536:
			h = append([]byte{0x82, 127}, binary.BigEndian.AppendUint64(nil, uint64(n))...)
		case n >= 126:
			h = append([]byte{0x82, 126}, binary.BigEndian.AppendUint16(nil, uint16(n))...)
		}
		h[1] |= 0x80
		h = append(h, 1, 2, 3, 4) // mask
		stream = append(append(stream, h...), make([]byte, n)...)
		want = append(want, int64(n))
	}
	for _, step := range []int{1, 7, len(stream)} {
		var f frameScanner
		var got []int64
		for i := 0; i < len(stream); i += step {
			_ = f.feed(stream[i:min(i+step, len(stream))], func(b0 byte, n int64) error {
				got = append(got, n)
				return nil
			})
		}
		if !slices.Equal(got, want) || !f.atBoundary() {
			t.Errorf("fed %d at a time: headers %v, at a boundary %t; want %v", step, got, f.atBoundary(), want)
		}
	}
}
