package graphql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	gql "github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/byoda-go/byoda/internal/contract"
)

// Defaults of Options.
const (
	DefaultMaxDepth         = 10
	DefaultMaxComplexity    = 50_000
	DefaultMaxBodyBytes     = 1 << 20
	DefaultMaxTokens        = 10_000
	DefaultQueryCacheSize   = 1000
	DefaultAPQCacheSize     = 1000
	DefaultKeepAlive        = 10 * time.Second
	DefaultWebsocketTimeout = 10 * time.Second
	DefaultMaxResponseBytes = 4 << 20
	DefaultWebsocketIdle    = 60 * time.Second
)

// Limit names a limit the handler refused a request (or closed a
// websocket) for, for Options.OnLimit.
type Limit string

// The limits Options.OnLimit is told about.
const (
	// LimitDepth: the operation nests fields deeper than
	// Options.MaxDepth.
	LimitDepth Limit = "depth"
	// LimitComplexity: the operation costs more than
	// Options.MaxComplexity.
	LimitComplexity Limit = "complexity"
	// LimitResponseSize: the answer grew past Options.MaxResponseBytes.
	LimitResponseSize Limit = "response_size"
	// LimitBodySize: a request body was larger than Options.MaxBodyBytes.
	LimitBodySize Limit = "body_size"
	// LimitMessageSize: a websocket message was larger than
	// Options.MaxBodyBytes.
	LimitMessageSize Limit = "message_size"
	// LimitIdle: a websocket had no subscription for
	// Options.WebsocketIdleTimeout and was closed.
	LimitIdle Limit = "websocket_idle"
)

// Options tune NewHandler. The zero value serves with the defaults above.
type Options struct {
	// MaxDepth is how deeply a query may nest fields, not counting
	// introspection, which gqlparser limits itself.
	MaxDepth int
	// MaxComplexity bounds the cost of an operation: one per field, a
	// connection its page size times the cost of an item, introspection
	// as much as its answer holds (see the package doc, Limits).
	MaxComplexity int
	// MaxBodyBytes is the largest request body, larger ones get 413, and
	// the largest websocket message, larger ones close the socket (1009).
	MaxBodyBytes int64
	// MaxResponseBytes bounds an answer: one that grows past it (data and
	// errors) is not finished but answered with data null and a
	// RESPONSE_TOO_LARGE error.
	MaxResponseBytes int
	// MaxTokens is the most tokens the parser reads in one query.
	MaxTokens int
	// QueryCacheSize and APQCacheSize are how many parsed queries, and
	// automatic persisted queries, the handler keeps.
	QueryCacheSize int
	APQCacheSize   int
	// DisableIntrospection refuses __schema and __type.
	DisableIntrospection bool
	// DisableGraphiQL serves no GraphiQL page to browsers.
	DisableGraphiQL bool
	// MemberID is the pod's member id for the service: the origin of the
	// items it serves.
	MemberID string
	// Network serves recursive and proxied queries and appends, and
	// queries forwarded by other pods; nil refuses them.
	Network Network
	// Observe, when set, is told about each root field of each request
	// after it ran, for metrics.
	Observe func(ctx context.Context, o Observation)
	// OnLimit, when set, is told each time a request is refused, or a
	// websocket closed, for one of the limits above, for metrics. It must
	// return quickly.
	OnLimit func(ctx context.Context, l Limit)
	// Logger receives what the client does not see: storage errors and
	// panics, with their details. A handler serves one service: pass a
	// logger that names it. Nil discards.
	Logger *slog.Logger
	// WebsocketInit authenticates a websocket from the payload of its
	// connection_init message, and returns the context for its
	// subscriptions (with WithCaller). An error closes the socket. Nil
	// keeps the caller of the upgrade request's context.
	WebsocketInit func(ctx context.Context, payload map[string]any) (context.Context, error)
	// KeepAlive is how often the server pings a websocket; a client that
	// misses two pongs is disconnected.
	KeepAlive time.Duration
	// WebsocketInitTimeout is how long a client has to send
	// connection_init.
	WebsocketInitTimeout time.Duration
	// WebsocketIdleTimeout closes a websocket that has had no
	// subscription running for this long (pings do not count).
	WebsocketIdleTimeout time.Duration
	// CheckOrigin decides whether a websocket may be opened from the
	// request's Origin; nil allows only the same host.
	CheckOrigin func(r *http.Request) bool
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxDepth, DefaultMaxDepth)
	def(&o.MaxComplexity, DefaultMaxComplexity)
	def(&o.MaxTokens, DefaultMaxTokens)
	def(&o.QueryCacheSize, DefaultQueryCacheSize)
	def(&o.APQCacheSize, DefaultAPQCacheSize)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.WebsocketInitTimeout <= 0 {
		o.WebsocketInitTimeout = DefaultWebsocketTimeout
	}
	if o.WebsocketIdleTimeout <= 0 {
		o.WebsocketIdleTimeout = DefaultWebsocketIdle
	}
	def(&o.MaxResponseBytes, DefaultMaxResponseBytes)
	if o.OnLimit == nil {
		o.OnLimit = func(context.Context, Limit) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// NewHandler returns the GraphQL endpoint of one service: the schema of
// contract c (see SchemaFor) over data, served by gqlgen with the POST, GET
// and websocket (graphql-transport-ws, and the older graphql-ws)
// transports, introspection, automatic persisted queries, a parsed-query
// cache, and the limits of Options (depth, cost, tokens, body, answer and
// websocket message sizes, idle websockets). A browser's GET
// without a query gets GraphiQL. The caller of each request is the one
// WithCaller put in its context; without one, it is anonymous.
//
// Every error has an extensions.code; none is a 500. A panic is logged and
// reported as an INTERNAL error without details.
func NewHandler(c *contract.Contract, data Data, opts Options) (http.Handler, error) {
	opts = opts.withDefaults()
	es, err := newExecutableSchema(c, data, opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	srv := handler.New(es)
	srv.AddTransport(transport.Websocket{
		Upgrader: websocket.Upgrader{CheckOrigin: opts.CheckOrigin},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if opts.WebsocketInit == nil {
				return ctx, nil, nil
			}
			next, err := opts.WebsocketInit(ctx, p)
			if next == nil {
				next = ctx
			}
			return next, nil, err
		},
		InitTimeout:           opts.WebsocketInitTimeout,
		KeepAlivePingInterval: opts.KeepAlive,
		PingPongInterval:      opts.KeepAlive,
		ErrorFunc: func(ctx context.Context, err error) {
			log.DebugContext(ctx, "Websocket closed", "err", err)
		},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](opts.QueryCacheSize))
	srv.SetParserTokenLimit(opts.MaxTokens)
	depth := depthRule(opts.MaxDepth)
	introDepth := introspectionDepthRule()
	overlap := overlapRule()
	srv.SetValidationRulesFn(func() *rules.Rules {
		r := rules.NewDefaultRules()
		r.ReplaceRule(introDepth.Name, introDepth.RuleFunc)
		r.ReplaceRule(overlap.Name, overlap.RuleFunc)
		r.AddRule(depth.Name, depth.RuleFunc)
		r.AddRule(scalarLiteralsRule.Name, scalarLiteralsRule.RuleFunc)
		return r
	})
	if !opts.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](opts.APQCacheSize)})
	srv.Use(&complexityLimit{limit: opts.MaxComplexity, es: es, onLimit: opts.OnLimit})
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "GraphQL request panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		return internalError(ctx, nil, "")
	})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			// A depth refusal is a validation error: every request
			// that makes one passes it here.
			if ge.Rule == depth.Name {
				opts.OnLimit(ctx, LimitDepth)
			}
			return ge
		}
		// Errors the executor did not make carry no code and may carry
		// details the client should not see.
		log.ErrorContext(ctx, "GraphQL request failed", "err", err)
		return internalError(ctx, gql.GetPath(ctx), "")
	})

	h := &httpHandler{srv: srv, maxBody: opts.MaxBodyBytes, idle: opts.WebsocketIdleTimeout, onLimit: opts.OnLimit}
	if !opts.DisableGraphiQL {
		h.title = fmt.Sprintf("byoda: %s (service %d)", c.Name, c.ServiceID)
	}
	return h, nil
}

// httpHandler puts the limits of the request itself in front of gqlgen's
// server, and serves GraphiQL.
type httpHandler struct {
	srv     *handler.Server
	maxBody int64
	idle    time.Duration
	onLimit func(context.Context, Limit)
	title   string // empty: no GraphiQL
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		if h.title != "" && r.Header.Get("Upgrade") == "" && !r.URL.Query().Has("query") && acceptsHTML(r) {
			// The page posts back to where the browser found it, even
			// when a router stripped a prefix from r.URL.
			endpoint := r.URL.Path
			if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
				endpoint = u.Path
			}
			playground.Handler(h.title, endpoint).ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Upgrade") != "" {
			// gqlgen's websocket transport sets no limit on what it
			// reads: the socket below it sets them.
			w, r = h.websocket(w, r)
		}
	case http.MethodPost:
		// gqlgen reads the whole body, and would answer a failed read with
		// 200: read it here, within the limit.
		if r.ContentLength > h.maxBody {
			h.tooLarge(w, r)
			return
		}
		body := getBody()
		defer putBody(body)
		var err error
		body.b, err = readBody(body.b, io.LimitReader(r.Body, h.maxBody+1))
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			transport.SendErrorf(w, http.StatusBadRequest, "read request body: %v", err)
			return
		}
		if int64(len(body.b)) > h.maxBody {
			h.tooLarge(w, r)
			return
		}
		body.r.Reset(body.b)
		r.Body = body
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
				w.Header().Set("Content-Type", "application/json")
				transport.SendErrorf(w, http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
				return
			}
		}
	}
	h.srv.ServeHTTP(w, r)
}

func (h *httpHandler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.onLimit(r.Context(), LimitBodySize)
	w.Header().Set("Content-Type", "application/json")
	transport.SendErrorf(w, http.StatusRequestEntityTooLarge, "request body too large; want at most %d bytes", h.maxBody)
}

// acceptsHTML reports whether the request is a browser's, asking for a
// page.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/html" {
			return true
		}
	}
	return false
}
