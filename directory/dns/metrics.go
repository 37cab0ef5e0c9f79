package dns

import (
	"fmt"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the server answers.
type metrics struct {
	answers    *prometheus.CounterVec
	byRcode    map[int]prometheus.Counter
	limited    prometheus.Counter
	malformed  prometheus.Counter
	tcpRefused prometheus.Counter
}

var rcodes = []int{
	mdns.RcodeSuccess, mdns.RcodeFormatError, mdns.RcodeServerFailure, mdns.RcodeNameError,
	mdns.RcodeNotImplemented, mdns.RcodeRefused, mdns.RcodeBadVers,
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoda_dns_answers_total",
			Help: "DNS answers sent, by response code.",
		}, []string{"rcode"}),
		byRcode: map[int]prometheus.Counter{},
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "byoda_dns_rate_limited_total",
			Help: "DNS queries over their client's rate (dropped, or answered truncated or REFUSED).",
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "byoda_dns_malformed_total",
			Help: "DNS packets that did not parse, were responses or were too large.",
		}),
		tcpRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "byoda_dns_tcp_refused_total",
			Help: "TCP connections closed at once because the server had as many as it keeps.",
		}),
	}
	for _, rc := range rcodes {
		m.byRcode[rc] = m.answers.WithLabelValues(mdns.RcodeToString[rc])
	}
	if reg != nil {
		reg.MustRegister(m.collectors()...)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.answers, m.limited, m.malformed, m.tcpRefused}
}

// RegisterMetrics registers the server's metrics with reg, for an owner
// whose registry exists only after the server (Options.Registerer is the
// other way).
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range s.metrics.collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register DNS metrics: %w", err)
		}
	}
	return nil
}

// rcode returns the counter of answers with rcode.
func (m *metrics) rcode(rc int) prometheus.Counter {
	if c, ok := m.byRcode[rc]; ok {
		return c
	}
	return m.answers.WithLabelValues(mdns.RcodeToString[rc])
}
