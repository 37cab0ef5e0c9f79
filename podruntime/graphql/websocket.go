package graphql

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// gqlgen's websocket transport (v0.17.90) upgrades the connection itself
// and never sets a read limit on the gorilla connection it makes, which it
// keeps to itself: it decodes each message with a json.Decoder that buffers
// all of it, so one frame can claim any amount of memory, before
// connection_init is even answered. Nor does it close a socket that runs no
// subscription. So the handler puts wsConn below it: the hijacked network
// connection, seen by gorilla as the connection it speaks websocket on.
// wsConn follows the frames in both directions (their headers say how long
// each is), refuses a message whose frames add up to more than the limit as
// soon as a header says so (before its payload is read), and sends a close
// frame of its own, between two of gorilla's frames, when it refuses one or
// when the socket has been idle too long.

// Close frames wsConn sends: the code, and the longest reason a close
// frame has room for.
const (
	closeMessageTooBig = websocket.CloseMessageTooBig // 1009
	closeNormal        = websocket.CloseNormalClosure // 1000
	maxCloseReason     = 123
)

// Timing of a close that wsConn starts.
const (
	// closeWait bounds the write of a close frame, and how long a close
	// waits for a frame gorilla is writing to end before giving up on
	// sending one.
	closeWait = 5 * time.Second
	// lingerTime is how long the connection, after refusing a message, keeps
	// reading (and dropping) what the client still sends before closing:
	// closing with unread data would reset the connection, and the client
	// might lose the close frame that says why.
	lingerTime = 500 * time.Millisecond
)

// wsKey is the context key of a websocket's wsConn.
type wsKey struct{}

// wsFrom returns the wsConn of the websocket a request (or subscription)
// runs on, or nil.
func wsFrom(ctx context.Context) *wsConn {
	c, _ := ctx.Value(wsKey{}).(*wsConn)
	return c
}

// websocket prepares a websocket upgrade request for gqlgen's transport:
// the upgrade's hijacked connection becomes a wsConn, which the request's
// context (and so every subscription's) carries.
func (h *httpHandler) websocket(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	c := &wsConn{limit: h.maxBody, idle: h.idle, onLimit: h.onLimit}
	ctx := context.WithValue(r.Context(), wsKey{}, c)
	c.ctx = ctx
	return &hijacker{ResponseWriter: w, c: c}, r.WithContext(ctx)
}

// hijacker hands gorilla's upgrade the wsConn over the hijacked
// connection.
type hijacker struct {
	http.ResponseWriter
	c *wsConn
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c := h.c
	c.Conn = conn
	// What the server read ahead comes first; gorilla then reads through
	// the same buffer, now filled from c.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		c.pending = bytes.Clone(b)
	}
	brw.Reader.Reset(c)
	brw.Writer.Reset(c)
	c.mu.Lock()
	c.armIdle()
	c.mu.Unlock()
	return c, brw, nil
}

// wsConn is the network connection of one websocket, below gorilla (see
// above). Read is called by one goroutine at a time, Write under gorilla's
// write lock, the rest from anywhere.
type wsConn struct {
	net.Conn
	ctx     context.Context
	limit   int64 // the largest message
	idle    time.Duration
	onLimit func(context.Context, Limit)

	// The read side, owned by the reading goroutine.
	pending []byte // read ahead by the HTTP server
	in      frameScanner
	msgLen  int64 // the size of the data message being read so far
	readErr error

	// The write side: wmu is held while writing, so that a close frame
	// goes between two frames.
	wmu       sync.Mutex
	out       frameScanner
	handshake int // bytes of "\r\n\r\n" matched of the HTTP response written; 4 once it is

	// The close wsConn starts, guarded by cmu rather than wmu, so that a
	// write that is stuck (a client that reads nothing) holds up nothing.
	cmu     sync.Mutex
	closing []byte      // a close frame waiting for the frame being written to end
	closed  bool        // the close frame is written, or the connection closed: nothing more is written
	linger  atomic.Bool // Close lingers (see lingerTime)

	// Idle: subscriptions running, and the timer that closes the socket
	// when none has been for idle.
	mu       sync.Mutex
	active   int
	timer    *time.Timer
	gen      int  // which arming of timer is current
	shut     bool // Close was called
	shutOnce sync.Once
}

func (c *wsConn) Read(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	var n int
	var err error
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		if ferr := c.in.feed(p[:n], c.header); ferr != nil {
			c.readErr = ferr
			return 0, ferr
		}
	}
	return n, err
}

// header checks the header of a frame the client sent, before its payload
// is read.
func (c *wsConn) header(b0 byte, length int64) error {
	switch opcode := b0 & 0x0f; {
	case opcode >= 8:
		return nil // a control frame, at most 125 bytes (gorilla checks)
	case opcode == 0:
		c.msgLen += length // a continuation
	default:
		c.msgLen = length
	}
	if length >= 0 && c.msgLen >= 0 && c.msgLen <= c.limit {
		return nil
	}
	c.onLimit(c.ctx, LimitMessageSize)
	c.linger.Store(true)
	c.closeWith(closeMessageTooBig, fmt.Sprintf("message too big: the limit is %d bytes; send less in one message", c.limit))
	return fmt.Errorf("websocket message larger than %d bytes", c.limit)
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.cmu.Lock()
	closed, closing := c.closed, c.closing != nil
	c.cmu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	if !closing {
		c.follow(p)
		return c.Conn.Write(p)
	}
	// A close frame waits for the frame being written to end.
	n := c.finish(p)
	if n > 0 {
		if _, err := c.Conn.Write(p[:n]); err != nil {
			return 0, err
		}
	}
	if !c.atBoundary() {
		return n, nil
	}
	c.sendClose()
	if n < len(p) {
		return n, net.ErrClosed
	}
	return n, nil
}

// follow advances the write side over p.
func (c *wsConn) follow(p []byte) {
	p = p[c.skipHandshake(p):]
	_ = c.out.feed(p, nil)
}

// skipHandshake returns how many bytes of p belong to the HTTP response
// that precedes the frames.
func (c *wsConn) skipHandshake(p []byte) int {
	const end = "\r\n\r\n"
	i := 0
	for ; i < len(p) && c.handshake < len(end); i++ {
		switch {
		case p[i] == end[c.handshake]:
			c.handshake++
		case p[i] == '\r':
			c.handshake = 1
		default:
			c.handshake = 0
		}
	}
	return i
}

// atBoundary reports whether the next byte written starts a frame.
func (c *wsConn) atBoundary() bool { return c.handshake == 4 && c.out.atBoundary() }

// finish returns how many bytes of p end the HTTP response or frame being
// written, and advances over them.
func (c *wsConn) finish(p []byte) int {
	n := c.skipHandshake(p)
	for n < len(p) && !c.atBoundary() {
		n += c.out.step(p[n:])
	}
	return n
}

// closeWith closes the socket with a close frame of code and reason: sent
// now when no frame is being written, else as soon as the one being
// written ends.
func (c *wsConn) closeWith(code int, reason string) {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	payload := websocket.FormatCloseMessage(code, reason)
	c.cmu.Lock()
	if c.closed || c.closing != nil {
		c.cmu.Unlock()
		return
	}
	c.closing = append([]byte{0x80 | websocket.CloseMessage, byte(len(payload))}, payload...)
	c.cmu.Unlock()
	if c.wmu.TryLock() {
		if c.atBoundary() {
			c.sendClose()
			c.wmu.Unlock()
			return
		}
		c.wmu.Unlock()
	}
	// The frame being written ends with a later Write of gorilla's, which
	// sends the close frame; if it never does, the connection is closed
	// without one.
	time.AfterFunc(closeWait, func() { _ = c.Close() })
}

// sendClose writes the waiting close frame and ends the connection: the
// reading goroutine sees it closed, and gqlgen ends the socket's
// subscriptions. c.wmu is held.
func (c *wsConn) sendClose() {
	c.cmu.Lock()
	frame := c.closing
	c.closed = true
	c.cmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWait))
	_, _ = c.Conn.Write(frame)
	go func() { _ = c.Close() }()
}

// Close closes the connection, after lingering if a message was refused.
// It never waits for a write.
func (c *wsConn) Close() error {
	c.shutOnce.Do(func() {
		c.mu.Lock()
		c.shut = true
		c.gen++
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
		c.cmu.Lock()
		c.closed = true
		c.cmu.Unlock()
		if !c.linger.Load() {
			_ = c.Conn.Close()
			return
		}
		go func() {
			// However the client behaves, the connection is closed
			// after the lingering.
			hard := time.AfterFunc(lingerTime+closeWait, func() { _ = c.Conn.Close() })
			defer hard.Stop()
			if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.CopyN(io.Discard, c.Conn, c.limit)
			_ = c.Conn.Close()
		}()
	})
	return nil
}

// subscribed counts a subscription running on the socket until ctx ends.
func (c *wsConn) subscribed(ctx context.Context) {
	c.mu.Lock()
	c.active++
	c.gen++ // disarms the idle timer
	c.mu.Unlock()
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.active--; c.active == 0 {
			c.armIdle()
		}
	})
}

// armIdle starts the idle period. c.mu is held.
func (c *wsConn) armIdle() {
	if c.idle <= 0 || c.shut {
		return
	}
	c.gen++
	gen := c.gen
	fire := func() {
		c.mu.Lock()
		current := c.gen == gen && c.active == 0
		c.mu.Unlock()
		if !current {
			return
		}
		c.onLimit(c.ctx, LimitIdle)
		c.closeWith(closeNormal, fmt.Sprintf("idle: no subscription for %s; reconnect to subscribe", c.idle))
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(c.idle, fire)
}

// frameScanner follows the websocket frames of one direction of a
// connection: where each header ends and how long each payload is
// (RFC 6455, section 5.2).
type frameScanner struct {
	hdr    [14]byte
	nhdr   int   // bytes of the header seen
	remain int64 // bytes of the payload left
	// done says the last step ended a header, whose first byte is b0
	// and payload length length (negative when it does not fit an
	// int64, which gorilla refuses).
	done   bool
	b0     byte
	length int64
}

func (f *frameScanner) atBoundary() bool { return f.nhdr == 0 && f.remain == 0 }

// step advances over the start of p, which is not empty: the rest of a
// payload, or one byte of a header. It returns how many bytes it took.
func (f *frameScanner) step(p []byte) int {
	f.done = false
	if f.remain > 0 {
		n := min(int64(len(p)), f.remain)
		f.remain -= n
		return int(n)
	}
	f.hdr[f.nhdr] = p[0]
	f.nhdr++
	if f.nhdr < 2 || f.nhdr < headerLen(f.hdr[1]) {
		return 1
	}
	f.b0, f.length = f.hdr[0], payloadLen(f.hdr[:f.nhdr])
	f.nhdr, f.remain, f.done = 0, max(f.length, 0), true
	return 1
}

// feed advances over p, and calls header (when not nil) with the first
// byte and the payload length of each header it completes; it stops at
// header's error.
func (f *frameScanner) feed(p []byte, header func(b0 byte, length int64) error) error {
	for len(p) > 0 {
		p = p[f.step(p):]
		if f.done && header != nil {
			if err := header(f.b0, f.length); err != nil {
				return err
			}
		}
	}
	return nil
}

// headerLen is the length of a frame header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4 // the mask
	}
	return n
}

// payloadLen is the payload length a complete frame header gives.
func payloadLen(h []byte) int64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return int64(binary.BigEndian.Uint64(h[2:10])) // negative if too long
	default:
		return int64(n)
	}
}
