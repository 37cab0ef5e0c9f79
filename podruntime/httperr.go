package podruntime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/byoda-go/byoda/internal/requestid"
)

// The extensions.code of the errors the pod itself answers with (the
// GraphQL handler adds its own, such as FORBIDDEN with a path, and
// GRAPHQL_VALIDATION_FAILED).
const (
	codeBadRequest       = "BAD_REQUEST"
	codeUnauthenticated  = "UNAUTHENTICATED"
	codeForbidden        = "FORBIDDEN"
	codeNotFound         = "NOT_FOUND"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeTooLarge         = "PAYLOAD_TOO_LARGE"
	codeUnsupportedType  = "UNSUPPORTED_MEDIA_TYPE"
	codeTooManyRequests  = "TOO_MANY_REQUESTS"
	codeUnavailable      = "UNAVAILABLE"
	codeInternal         = "INTERNAL"
)

// handlerFunc is an HTTP handler that returns its error; route turns the
// error into a status and a JSON body.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// apiError is an error with the HTTP status and code the client gets. Any
// other error a handler returns is a 500 whose details only the log sees.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration // sets Retry-After when positive
	allow      string        // sets Allow on 405
	bearer     bool          // sets WWW-Authenticate on 401
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func methodNotAllowed(r *http.Request, allow string) *apiError {
	e := errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s %s: method not allowed; use %s", r.Method, r.URL.Path, allow)
	e.allow = allow
	return e
}

// errorBody is the JSON body of every error response: the shape of a
// GraphQL response with errors, so that clients parse one shape.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// route wraps a handler of one route: it records metrics, turns returned
// errors (and panics) into JSON error responses, and never lets a panic
// become a dropped connection.
func (p *Pod) route(port, route, service string, h handlerFunc) http.Handler {
	obs := p.metrics.route(port, route, service)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				p.log.ErrorContext(r.Context(), "Request panicked", "port", port, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !rec.wrote {
					p.writeError(rec, r, errors.New("panic"))
				}
			}
			obs.done(rec, time.Since(start))
		}()
		if err := h(rec, r); err != nil {
			if rec.wrote {
				p.log.ErrorContext(r.Context(), "Request failed after its response started", "port", port, "path", r.URL.Path, "err", err)
				return
			}
			p.writeError(rec, r, err)
		}
	})
}

// writeError writes err as a JSON error response. An error that is not
// an apiError is a 500 whose cause only the log gets, under the request's
// id, which the answer names (extensions.request_id and X-Request-Id).
func (p *Pod) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var tooBig *http.MaxBytesError
	ext := map[string]any{}
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &tooBig):
		ae = errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body too large; want at most %d bytes", tooBig.Limit)
	default:
		p.log.ErrorContext(r.Context(), "Request failed", "path", r.URL.Path, "err", err)
		id := requestid.From(r.Context())
		ae = errorf(http.StatusInternalServerError, codeInternal, "internal error; the pod's log has the details under request id %s", id)
		ext["request_id"] = id
	}
	ext["code"] = ae.code
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if ae.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
	}
	if ae.allow != "" {
		h.Set("Allow", ae.allow)
	}
	if ae.bearer {
		h.Set("WWW-Authenticate", `Bearer realm="byoda pod", error="invalid_token"`)
	}
	w.WriteHeader(ae.status)
	body := errorBody{Errors: []errorEntry{{Message: ae.msg, Extensions: ext}}}
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON writes v as a 200 JSON response.
func writeJSON(w http.ResponseWriter, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(append(data, '\n'))
	return err
}

// recorder notes what a handler wrote, for metrics: the status, and
// whether a 200 body is a GraphQL response with errors. It keeps the
// ResponseWriter's other abilities (hijacking for websockets, flushing)
// through Unwrap, as http.ResponseController expects.
type recorder struct {
	http.ResponseWriter
	status    int
	wrote     bool
	gqlErrors bool
	sniffed   bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status = http.StatusOK
		r.wrote = true
	}
	if !r.sniffed && len(b) > 0 {
		r.sniffed = true
		// gqlgen writes "errors" first when there are any.
		r.gqlErrors = len(b) >= 10 && string(b[:10]) == `{"errors":`
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes on, for streaming transports.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over to a websocket.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.status = http.StatusSwitchingProtocols
		r.wrote = true
	}
	return c, rw, err
}
