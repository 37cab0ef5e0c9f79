package podruntime

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/store"
)

// latencyBuckets suit a pod that answers from memory: 100 µs to about 6 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 12)

// metrics are the pod's Prometheus metrics, in a registry of its own.
//
// HTTP requests are counted by port, route (data, authtoken, logout,
// status, metrics, other), service and outcome; the outcome is "ok",
// "error" for a GraphQL response that carries errors (such as FORBIDDEN),
// "websocket" for an upgrade, or the HTTP status code. Storage operations the GraphQL
// executor makes are counted by service, class, operation (get, mutate,
// append, query, count, update, delete, watch) and outcome (ok, invalid,
// unavailable, error), since the class and operation of a GraphQL request
// are only known inside the executor. Both have latency histograms.
//
// GraphQL requests refused for a limit (and websockets closed for one) are
// counted by service and limit (graphql.Limit).
//
// Connections are counted per port: those open, those refused at accept
// by reason (port_full, address_full), and accept errors (such as running
// out of file descriptors). Recursive queries are counted by service and
// role (origin, forwarded, repeat for one answered before), refused ones by
// reason (recursion.Reason, or caller), with a histogram of their time; calls
// to other pods by outcome (ok, or the peer.Kind of the failure), records
// that followed pods delivered by outcome, and the pods followed. Revocations of every owner token are counted
// by reason (password_changed, logout_everywhere). Memory given back to the
// OS is counted by reason (ready, idle, remapped; see idle.go): the times,
// and the resident bytes it dropped.
//
// activity is not a Prometheus metric: it is what the idle watcher reads,
// kept here because every request and every storage operation of a GraphQL
// request (one sent over a websocket too) passes through the metrics.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	dataOps      *prometheus.CounterVec
	dataLat      *prometheus.HistogramVec
	logins       *prometheus.CounterVec
	connsOpen    *prometheus.GaugeVec
	connRefused  *prometheus.CounterVec
	acceptErrors *prometheus.CounterVec
	revocations  *prometheus.CounterVec
	limits       *prometheus.CounterVec
	// The graph between pods.
	recursiveQueries  *prometheus.CounterVec
	recursiveRefusals *prometheus.CounterVec
	recursiveSeconds  *prometheus.HistogramVec
	peerCalls         *prometheus.CounterVec
	follows           *prometheus.CounterVec
	followed          *prometheus.GaugeVec
	// Memory given back to the OS.
	releases      *prometheus.CounterVec
	releasedBytes *prometheus.CounterVec
	activity      *activity
	handler       http.Handler
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoda_pod_http_requests_total",
			Help: "HTTP requests by port, route, service and outcome (ok, error for a GraphQL response with errors, websocket, or the HTTP status).",
		}, []string{"port", "route", "service", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "byoda_pod_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (websockets excluded), by port, route and service.",
			Buckets: latencyBuckets,
		}, []string{"port", "route", "service"}),
		dataOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoda_pod_data_operations_total",
			Help: "Storage operations of GraphQL requests, by service, class, operation and outcome.",
		}, []string{"service", "class", "operation", "outcome"}),
		dataLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "byoda_pod_data_operation_duration_seconds",
			Help:    "Time of a storage operation of a GraphQL request, by service, class and operation.",
			Buckets: latencyBuckets,
		}, []string{"service", "class", "operation"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoda_pod_logins_total",
			Help: "Owner login attempts by outcome (ok, refused, rate_limited, bad_request).",
		}, []string{"outcome"}),
	}
	m.connsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "byoda_pod_connections_open",
		Help: "Connections open, by port.",
	}, []string{"port"})
	m.connRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_connections_refused_total",
		Help: "Connections closed at accept for a limit, by port and reason (port_full, address_full).",
	}, []string{"port", "reason"})
	m.acceptErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_accept_errors_total",
		Help: "Errors accepting a connection (such as too many open files), by port.",
	}, []string{"port"})
	m.revocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_owner_sessions_revoked_total",
		Help: "Revocations of every owner token, by reason (password_changed, logout_everywhere).",
	}, []string{"reason"})
	for _, port := range []string{portOwner, portPeer} {
		m.connsOpen.WithLabelValues(port)
		m.acceptErrors.WithLabelValues(port)
		for _, reason := range []string{refusedPortFull, refusedAddressFull} {
			m.connRefused.WithLabelValues(port, reason)
		}
	}
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_graphql_limits_total",
		Help: "GraphQL requests refused, and websockets closed, for a limit, by service and limit (depth, complexity, response_size, body_size, message_size, websocket_idle).",
	}, []string{"service", "limit"})
	m.reg.MustRegister(m.limits)
	m.recursiveQueries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_recursive_queries_total",
		Help: "Recursive and proxied queries answered, by service and role (origin, forwarded, repeat).",
	}, []string{"service", "role"})
	m.recursiveRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_recursive_refusals_total",
		Help: "Recursive queries refused, by service and reason (extensions, signature, origin, timestamp, depth, relations, cursor, busy, caller).",
	}, []string{"service", "reason"})
	m.recursiveSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "byoda_pod_recursive_query_duration_seconds",
		Help:    "Time to answer a recursive query, the pods it asked included, by service and role.",
		Buckets: latencyBuckets,
	}, []string{"service", "role"})
	m.peerCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_peer_calls_total",
		Help: "Calls to other pods, by service and outcome (ok, or why not: not_found, unreachable, untrusted, timeout, canceled, refused, invalid, too_large).",
	}, []string{"service", "outcome"})
	m.follows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_follow_records_total",
		Help: "Records of followed pods (listen_relations), per destination class, by service and outcome (stored, duplicate, invalid for one the destination does not accept, error).",
	}, []string{"service", "outcome"})
	m.followed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "byoda_pod_followed_pods",
		Help: "Pods followed (listen_relations) at the moment, each class of each pod once, by service.",
	}, []string{"service"})
	m.reg.MustRegister(m.recursiveQueries, m.recursiveRefusals, m.recursiveSeconds, m.peerCalls, m.follows, m.followed)
	m.releases = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_memory_releases_total",
		Help: "Times the pod gave memory back to the OS (its free heap and its mappings of the binary's read-only pages), by reason (ready; idle, after work; remapped, idle since the last release and pages mapped back since).",
	}, []string{"reason"})
	m.releasedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byoda_pod_memory_released_bytes_total",
		Help: "Resident memory those releases dropped (VmRSS before less after), by reason (ready, idle, remapped).",
	}, []string{"reason"})
	for _, reason := range []string{releaseReady, releaseIdle, releaseRemapped} {
		m.releases.WithLabelValues(reason)
		m.releasedBytes.WithLabelValues(reason)
	}
	m.reg.MustRegister(m.releases, m.releasedBytes)
	m.activity = new(activity)
	m.reg.MustRegister(m.requests, m.latency, m.dataOps, m.dataLat, m.logins,
		m.connsOpen, m.connRefused, m.acceptErrors, m.revocations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// routeMetrics observes the requests of one route.
type routeMetrics struct {
	m                    *metrics
	port, route, service string
	latency              prometheus.Observer
}

func (m *metrics) route(port, route, service string) *routeMetrics {
	return &routeMetrics{m: m, port: port, route: route, service: service,
		latency: m.latency.WithLabelValues(port, route, service)}
}

func (rm *routeMetrics) done(rec *recorder, d time.Duration) {
	outcome := "ok"
	switch {
	case rec.status == http.StatusSwitchingProtocols:
		outcome = "websocket"
	case rec.status == 0 || rec.status == http.StatusOK:
		if rec.gqlErrors {
			outcome = "error"
		}
	default:
		outcome = strconv.Itoa(rec.status)
	}
	rm.m.requests.WithLabelValues(rm.port, rm.route, rm.service, outcome).Inc()
	if outcome != "websocket" {
		rm.latency.Observe(d.Seconds())
	}
}

// observeData records one storage operation.
func (m *metrics) observeData(service, class, op string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, graphql.ErrInvalid), errors.Is(err, store.ErrInvalid):
		outcome = "invalid"
	case errors.Is(err, graphql.ErrUnavailable), errors.Is(err, store.ErrUnavailable):
		outcome = "unavailable"
	default:
		outcome = "error"
	}
	m.dataOps.WithLabelValues(service, class, op, outcome).Inc()
	m.dataLat.WithLabelValues(service, class, op).Observe(time.Since(start).Seconds())
	// Messages on a websocket are not requests: their operations are how
	// the idle watcher sees them.
	m.activity.touch()
}

// released records memory given back to the OS.
func (m *metrics) released(reason string, bytes int64) {
	m.releases.WithLabelValues(reason).Inc()
	m.releasedBytes.WithLabelValues(reason).Add(float64(bytes))
}

func (p *Pod) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r, "GET")
	}
	p.metrics.handler.ServeHTTP(w, r)
	return nil
}
