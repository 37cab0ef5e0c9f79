package graphql

import (
	"bytes"
	"sync"
)

// Response buffers are reused: a 20-record page is a few kilobytes, written
// by appends that would otherwise grow a new buffer four or five times per
// request. The executor takes one for each response; the POST transport,
// once it has written the response, gives it back with the one it built the
// body in. Responses other transports write are left to the garbage
// collector.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuffer keeps the odd huge response from pinning its buffer.
const maxPooledBuffer = 256 << 10

func getBuffer() []byte { return (*buffers.Get().(*[]byte))[:0] }

func putBuffer(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBuffer {
		b = b[:0]
		buffers.Put(&b)
	}
}

// requestBody is a request body read into a pooled buffer: httpHandler
// reads it once, within the limit, and the POST transport decodes it where
// it lies. Anyone else reads it as an io.Reader.
type requestBody struct {
	b []byte
	r bytes.Reader
}

var bodies = sync.Pool{New: func() any { return new(requestBody) }}

func getBody() *requestBody { return bodies.Get().(*requestBody) }

// putBody gives b back once the request is done with it.
func putBody(b *requestBody) {
	if cap(b.b) > maxPooledBuffer {
		b.b = nil
	}
	b.b = b.b[:0]
	b.r.Reset(nil)
	bodies.Put(b)
}

func (b *requestBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *requestBody) Close() error { return nil }
