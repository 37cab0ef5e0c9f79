// Package requestid gives every HTTP request a short random id, carried in
// its context, sent back in the X-Request-Id response header, and added to
// every log record written with that context. An answer that hides its
// cause (a 500, an INTERNAL GraphQL error) names the id, so that an
// operator can find the log line that explains it.
//
// The id is always made by the server: an id a client sends is ignored,
// so that it cannot forge or collide with another request's log lines.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
)

// Header is the response header that carries a request's id.
const Header = "X-Request-Id"

// LogKey is the attribute the id has in log records.
const LogKey = "request_id"

type ctxKey struct{}

// New returns a fresh id: 16 characters of base32 (80 random bits).
func New() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base32.StdEncoding.EncodeToString(b[:])
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the id ctx carries, or "" when it carries none.
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler gives each request through next a new id: in its context and
// in the response's X-Request-Id header.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := New()
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(With(r.Context(), id)))
	})
}

// LogHandler wraps h so that every record logged with a context that
// carries an id has the id as its request_id attribute. A handler that is
// already wrapped is returned as it is.
func LogHandler(h slog.Handler) slog.Handler {
	if l, ok := h.(logHandler); ok {
		return l
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String(LogKey, id))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{l.Handler.WithGroup(name)}
}
