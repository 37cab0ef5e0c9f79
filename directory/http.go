package directory

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/byoda-go/byoda/directory/ratelimit"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/internal/requestid"
)

// The codes of Error, in extensions.code.
const (
	CodeBadRequest       = "BAD_REQUEST"
	CodeUnauthenticated  = "UNAUTHENTICATED"
	CodeForbidden        = "FORBIDDEN"
	CodeNotFound         = "NOT_FOUND"
	CodeConflict         = "CONFLICT"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedType  = "UNSUPPORTED_MEDIA_TYPE"
	CodeTooManyRequests  = "TOO_MANY_REQUESTS"
	CodeUnavailable      = "UNAVAILABLE"
	CodeInternal         = "INTERNAL"
)

// Error is an error with the HTTP status and code a client gets. Any other
// error a handler returns is a 500 whose details only the log sees.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter sets the Retry-After header when positive.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 with a formatted message.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

// Forbidden is a 403 with a formatted message.
func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, CodeForbidden, format, args...)
}

// Unauthenticated is a 401 with a formatted message.
func Unauthenticated(format string, args ...any) *Error {
	return Errorf(http.StatusUnauthorized, CodeUnauthenticated, format, args...)
}

// NotFound is a 404 with a formatted message.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

// Conflict is a 409 with a formatted message.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, CodeConflict, format, args...)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Errors []ErrorEntry `json:"errors"`
}

// ErrorEntry is one error of an ErrorBody.
type ErrorEntry struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// HandlerFunc is an HTTP handler that returns its error; API.Handle turns the
// error into a status and a JSON body.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// API is what the two directory servers share: error responses, metrics,
// client authentication, and the rate limit on anonymous registrations and
// their count.
type API struct {
	log      *slog.Logger
	verifier *pki.Verifier
	limiter  *ratelimit.Limiter

	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	registrations *prometheus.CounterVec
}

// latencyBuckets span 100 µs (a status answer) to about 6 s (a
// registration waiting on a busy database).
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 12)

// Defaults of APIOptions.
const (
	DefaultRegistrationRate  = 1.0 // anonymous registrations per second per address
	DefaultRegistrationBurst = 20
)

// APIOptions say how NewAPI builds a server's API.
type APIOptions struct {
	// Namespace names the server's metrics: <namespace>_http_requests_total,
	// <namespace>_registrations_total and so on.
	Namespace string
	// RegistrationsHelp is the help text of <namespace>_registrations_total,
	// naming the kinds the server counts (API.Registered).
	RegistrationsHelp string
	// Verifier checks client certificates.
	Verifier *pki.Verifier
	// RegistrationRate and RegistrationBurst limit the anonymous
	// registrations per client address (API.Limit): the defaults when
	// zero, none when RegistrationRate is negative.
	RegistrationRate  float64
	RegistrationBurst int
	// Log receives the server's logs; Now is the limiter's clock.
	Log *slog.Logger
	Now func() time.Time
}

// NewAPI returns the shared plumbing of a directory server.
func NewAPI(o APIOptions) *API {
	if o.RegistrationRate == 0 {
		o.RegistrationRate = DefaultRegistrationRate
	}
	if o.RegistrationBurst == 0 {
		o.RegistrationBurst = DefaultRegistrationBurst
	}
	a := &API{
		log:      o.Log,
		verifier: o.Verifier,
		reg:      prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: o.Namespace,
			Name:      "http_requests_total",
			Help:      "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: o.Namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Time to answer an HTTP request, by route.",
			Buckets:   latencyBuckets,
		}, []string{"route"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: o.Namespace,
			Name:      "registrations_total",
			Help:      o.RegistrationsHelp,
		}, []string{"kind"}),
	}
	if o.RegistrationRate > 0 {
		a.limiter = ratelimit.New(ratelimit.Options{Rate: o.RegistrationRate, Burst: o.RegistrationBurst, Now: o.Now})
	}
	a.reg.MustRegister(a.requests, a.latency, a.registrations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return a
}

// Registered counts a change to the registry of kind (such as "account"
// or "member") in <namespace>_registrations_total.
func (a *API) Registered(kind string) { a.registrations.WithLabelValues(kind).Inc() }

// RegistryUnavailable is the answer of a status endpoint whose registry
// did not answer: a 503, with err only in the log.
func (a *API) RegistryUnavailable(r *http.Request, err error) error {
	a.log.ErrorContext(r.Context(), "Status could not read the registry", "err", err)
	return Errorf(http.StatusServiceUnavailable, CodeUnavailable, "the registry does not answer; the server's log has the details")
}

// Registry is the server's Prometheus registry, for its own metrics.
func (a *API) Registry() *prometheus.Registry { return a.reg }

// MetricsHandler serves the registry in the Prometheus text format.
func (a *API) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})
}

// Handle registers h on mux for pattern (a ServeMux pattern with a method),
// counting its requests under route.
func (a *API) Handle(mux *http.ServeMux, pattern, route string, h HandlerFunc) {
	mux.Handle(pattern, a.Wrap(route, h))
}

// Wrap turns h into an http.Handler: it records metrics, turns returned
// errors (and panics) into JSON error responses, and never lets a panic
// become a dropped connection.
func (a *API) Wrap(route string, h HandlerFunc) http.Handler {
	latency := a.latency.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), "Request panicked", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !rec.wrote {
					a.WriteError(rec, r, errors.New("panic"))
				}
			}
			a.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
			latency.Observe(time.Since(start).Seconds())
		}()
		if err := h(rec, r); err != nil {
			if rec.wrote {
				a.log.ErrorContext(r.Context(), "Request failed after its response started", "path", r.URL.Path, "err", err)
				return
			}
			a.WriteError(rec, r, err)
		}
	})
}

// Mux returns a handler that gives every request an id (internal/requestid)
// and serves mux, answering what it has no route for with JSON errors: 404 for an unknown path, 405 (with Allow) for a
// method the path does not take. what names the server in messages.
func (a *API) Mux(mux *http.ServeMux, what string) http.Handler {
	other := a.Wrap("other", func(w http.ResponseWriter, r *http.Request) error {
		h, _ := mux.Handler(r)
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			return Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s %s: method not allowed; use %s", r.Method, r.URL.Path, allow)
		}
		return NotFound("%s %s: no such endpoint of the %s", r.Method, r.URL.Path, what)
	})
	return requestid.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			other.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// headerRecorder keeps the status and headers of ServeMux's own error
// answers and drops their plain-text bodies.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// Query parses the request's query string, refusing a malformed one (Go
// would silently drop a pair with a ';') and parameters other than allowed.
func Query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, BadRequest("query %q: %v", r.URL.RawQuery, err)
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, BadRequest("query parameter %q: unknown; this endpoint takes %s", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, BadRequest("query parameter %q: given %d times; want it once", k, len(v))
		}
	}
	return q, nil
}

// WriteError writes err as a JSON error response. An error that is not an
// *Error is logged and answered with 500 and the request's id.
func (a *API) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &tooBig):
		ae = Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body too large; want at most %d bytes", tooBig.Limit)
	default:
		id := requestid.From(r.Context())
		a.log.ErrorContext(r.Context(), "Request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = Errorf(http.StatusInternalServerError, CodeInternal, "internal error; the server's log has the details under request id %s", id)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if ae.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Errors: []ErrorEntry{{Message: ae.Message, Extensions: map[string]any{"code": ae.Code}}}})
}

// Identity returns who the client is, from the certificate chain it sent
// in the TLS handshake, verified here and now. It returns nil and no error
// for a client that sent no certificate, and a 401 Error for a certificate
// that does not verify: a caller that presents a forged, expired or foreign
// certificate is refused rather than treated as anonymous.
func (a *API) Identity(r *http.Request) (*pki.Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, nil
	}
	id, err := a.verifier.PeerIdentity(r.TLS)
	if err != nil {
		return nil, Unauthenticated("client certificate: %v; connect with a TLS certificate of network %s, or with none where the endpoint allows it", err, a.verifier.Network)
	}
	return id, nil
}

// RequireIdentity is Identity for endpoints that need a certificate.
func (a *API) RequireIdentity(r *http.Request, want string) (*pki.Identity, error) {
	id, err := a.Identity(r)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, Unauthenticated("%s %s needs a client certificate: connect with %s", r.Method, r.URL.Path, want)
	}
	return id, nil
}

// Limit takes a token of the client's registration bucket, or returns a 429.
func (a *API) Limit(r *http.Request) error {
	ok, wait := a.limiter.Allow(ClientAddr(r))
	if ok {
		return nil
	}
	return &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests, RetryAfter: wait,
		Message: fmt.Sprintf("too many registrations from your address; retry after %s", wait.Round(time.Millisecond))}
}

// ClientAddr is the address the request came from: the connection's source
// address, never a header.
func ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// PublishAddr returns the address to publish for a registration: the one
// the request names, or else its source address.
func PublishAddr(r *http.Request, named string) (netip.Addr, error) {
	if named == "" {
		a := ClientAddr(r)
		if !a.IsValid() {
			return netip.Addr{}, BadRequest("cannot tell the source address of the request; name an address in the body")
		}
		return a, nil
	}
	a, err := ParseAddress(named)
	if err != nil {
		return netip.Addr{}, BadRequest("%v", err)
	}
	return a, nil
}

// DecodeAddress reads the optional AddressRequest body of a PUT that
// publishes the caller's name and returns the address to publish
// (PublishAddr).
func DecodeAddress(w http.ResponseWriter, r *http.Request) (netip.Addr, error) {
	var req AddressRequest
	if err := DecodeJSON(w, r, MaxCSRBody, &req, true); err != nil {
		return netip.Addr{}, err
	}
	return PublishAddr(r, req.Address)
}

// DecodeJSON reads the request body (at most limit bytes) into v: exactly
// one JSON value, no unknown fields. An empty body is allowed when
// optional is true and leaves v as it is.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "content type %q: want application/json", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return BadRequest("empty body; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest("body: %v; want a JSON object with the documented fields", err)
	}
	if dec.More() {
		return BadRequest("body: data after the JSON object")
	}
	return nil
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(data, '\n'))
	return err
}

// recorder notes the status a handler wrote, for metrics.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
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
	return r.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Timeouts and sizes of the directory servers.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 16 << 10
	ShutdownTimeout   = 10 * time.Second
)

// ServerTLS is the TLS configuration of a directory: TLS 1.2 or 1.3, the
// server's certificate, and a request (never a demand) for a client
// certificate, which Identity verifies per request.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve serves h (a handler from Mux) over TLS on l until ctx is done, then shuts down
// gracefully, waiting up to ShutdownTimeout for requests in flight.
func Serve(ctx context.Context, l net.Listener, h http.Handler, tc *tls.Config, log *slog.Logger) error {
	base, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		// Handshake failures (scanners, clients that do not trust the
		// server) are routine: debug level.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// HTTP/1.1 only: every client speaks it, and its limits are simple.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(tls.NewListener(l, tc)); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	})
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		log.Warn("Graceful shutdown timed out; closing connections", "err", serr)
		srv.Close()
	}
	endRequests()
	wg.Wait()
	return err
}
