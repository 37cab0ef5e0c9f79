package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/byoda-go/byoda/directory/ratelimit"
)

// Defaults of Options.
const (
	DefaultTTL         = 60 * time.Second
	DefaultNegativeTTL = 60 * time.Second
	DefaultRate        = 100 // queries per second per client
	DefaultBurst       = 200
	DefaultMaxTCPConns = 256
	// MaxAddrs bounds the addresses of one name.
	MaxAddrs = 8
	// MaxUDPSize is the largest UDP answer, whatever a client advertises:
	// the DNS flag day 2020 size, which avoids IP fragmentation.
	MaxUDPSize = 1232
	// MaxTCPQuery bounds one query read over TCP; real queries are well
	// under 512 bytes.
	MaxTCPQuery = 4096
	// TCPIdleTimeout is how long a TCP connection may wait for a query, and
	// TCPMaxQueries how many it may send.
	TCPIdleTimeout = 10 * time.Second
	TCPMaxQueries  = 100
)

// Options configure a Server. The zero value gives the defaults.
type Options struct {
	// TTL of A and AAAA answers; DefaultTTL when zero.
	TTL time.Duration
	// NegativeTTL is the SOA minimum, how long resolvers may cache an
	// NXDOMAIN; DefaultNegativeTTL when zero.
	NegativeTTL time.Duration
	// NameServers are the zone's NS names (fully qualified or relative to
	// nothing, with or without the trailing dot); "ns1.<zone>" when empty.
	// The addresses of those inside the zone come from the view (Set).
	NameServers []string
	// Hostmaster is the SOA's mailbox as a name; "hostmaster.<zone>" when
	// empty.
	Hostmaster string
	// Rate and Burst are each client's token bucket; DefaultRate and
	// DefaultBurst when zero. A negative Rate disables the limit (for
	// benchmarks).
	Rate  float64
	Burst int
	// MaxTCPConns bounds open TCP connections; DefaultMaxTCPConns when
	// zero.
	MaxTCPConns int
	// Workers is the number of goroutines reading UDP; GOMAXPROCS when
	// zero.
	Workers int
	// Log receives the server's logs; slog.Default() when nil.
	Log *slog.Logger
	// Now is the rate limiter's clock; time.Now when nil.
	Now func() time.Time
	// Registerer, when set, receives the server's metrics.
	Registerer prometheus.Registerer
}

// Server is an authoritative DNS server for one zone.
type Server struct {
	zone    string // lower case, fully qualified
	ttl     uint32
	negTTL  uint32
	ns      []string
	mbox    string
	limiter *ratelimit.Limiter
	maxTCP  int
	workers int
	log     *slog.Logger
	metrics *metrics

	mu    sync.RWMutex
	names map[string]entry // lower-case fully qualified name -> addresses
	// ents counts, for each name between a registered name and the apex,
	// the registered names below it: such a name exists (NODATA) though
	// it has no records.
	ents   map[string]int
	serial atomic.Uint32
}

// entry holds the addresses of a name.
type entry struct {
	v4, v6 []netip.Addr
}

// NewServer returns a server for zone (such as "byoda.net") with an empty
// view.
func NewServer(zone string, o Options) (*Server, error) {
	z := strings.ToLower(mdns.Fqdn(zone))
	if _, ok := mdns.IsDomainName(z); !ok || z == "." {
		return nil, fmt.Errorf("DNS zone %q: not a domain name", zone)
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.TTL < 0 || o.NegativeTTL < 0 || o.TTL > 7*24*time.Hour || o.NegativeTTL > 7*24*time.Hour {
		return nil, fmt.Errorf("DNS TTLs %s and %s: want durations from 1s to 168h", o.TTL, o.NegativeTTL)
	}
	if len(o.NameServers) == 0 {
		o.NameServers = []string{"ns1." + z}
	}
	if o.Hostmaster == "" {
		o.Hostmaster = "hostmaster." + z
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxTCPConns <= 0 {
		o.MaxTCPConns = DefaultMaxTCPConns
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{
		zone:    z,
		ttl:     uint32(o.TTL / time.Second),
		negTTL:  uint32(o.NegativeTTL / time.Second),
		mbox:    strings.ToLower(mdns.Fqdn(o.Hostmaster)),
		maxTCP:  o.MaxTCPConns,
		workers: o.Workers,
		log:     o.Log,
		names:   map[string]entry{},
		ents:    map[string]int{},
	}
	for _, n := range o.NameServers {
		n = strings.ToLower(mdns.Fqdn(n))
		if _, ok := mdns.IsDomainName(n); !ok {
			return nil, fmt.Errorf("DNS name server %q: not a domain name", n)
		}
		s.ns = append(s.ns, n)
	}
	if _, ok := mdns.IsDomainName(s.mbox); !ok {
		return nil, fmt.Errorf("DNS hostmaster %q: not a domain name", o.Hostmaster)
	}
	if o.Rate > 0 {
		s.limiter = ratelimit.New(ratelimit.Options{Rate: o.Rate, Burst: o.Burst, Now: o.Now})
	}
	s.metrics = newMetrics(o.Registerer)
	return s, nil
}

// Zone returns the zone, fully qualified.
func (s *Server) Zone() string { return s.zone }

// normalize returns name in the form the view keys it by, or an error if it
// is not a name of the zone.
func (s *Server) normalize(name string) (string, error) {
	n := strings.ToLower(mdns.Fqdn(name))
	if _, ok := mdns.IsDomainName(n); !ok || len(n) > 254 {
		return "", fmt.Errorf("DNS name %q: not a domain name", name)
	}
	if n != s.zone && !strings.HasSuffix(n, "."+s.zone) {
		return "", fmt.Errorf("DNS name %q: not in zone %s", name, s.zone)
	}
	return n, nil
}

// Set makes name (in the zone, with or without the trailing dot, any case)
// resolve to addrs, replacing what it resolved to; with no addrs it deletes
// the name. It refuses more than MaxAddrs addresses and invalid ones.
func (s *Server) Set(name string, addrs ...netip.Addr) error {
	n, err := s.normalize(name)
	if err != nil {
		return err
	}
	if len(addrs) > MaxAddrs {
		return fmt.Errorf("DNS name %s: %d addresses; want at most %d", n, len(addrs), MaxAddrs)
	}
	var e entry
	for _, a := range addrs {
		if !a.IsValid() {
			return fmt.Errorf("DNS name %s: invalid address", n)
		}
		a = a.Unmap().WithZone("")
		if a.Is4() {
			e.v4 = appendUnique(e.v4, a)
		} else {
			e.v6 = appendUnique(e.v6, a)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, had := s.names[n]
	switch {
	case len(addrs) == 0 && had:
		delete(s.names, n)
		s.countENTs(n, -1)
	case len(addrs) == 0:
		return nil
	default:
		s.names[n] = e
		if !had {
			s.countENTs(n, +1)
		}
	}
	s.serial.Add(1)
	return nil
}

// Delete removes name from the view.
func (s *Server) Delete(name string) error { return s.Set(name) }

// SetSerial sets the SOA serial, for a feeder that follows a registry's
// own serial. Set and Delete otherwise raise it by one per change.
func (s *Server) SetSerial(serial uint32) { s.serial.Store(serial) }

// Serial returns the SOA serial.
func (s *Server) Serial() uint32 { return s.serial.Load() }

// Len returns how many names the view holds.
func (s *Server) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.names)
}

// Lookup returns the addresses name resolves to in the view.
func (s *Server) Lookup(name string) []netip.Addr {
	n, err := s.normalize(name)
	if err != nil {
		return nil
	}
	s.mu.RLock()
	e := s.names[n]
	s.mu.RUnlock()
	return append(append([]netip.Addr(nil), e.v4...), e.v6...)
}

// countENTs adds d to the count of every name strictly between n and the
// apex. The caller holds s.mu.
func (s *Server) countENTs(n string, d int) {
	for {
		_, rest, ok := strings.Cut(n, ".")
		if !ok || len(rest) <= len(s.zone) {
			return
		}
		n = rest
		if c := s.ents[n] + d; c > 0 {
			s.ents[n] = c
		} else {
			delete(s.ents, n)
		}
	}
}

func appendUnique(list []netip.Addr, a netip.Addr) []netip.Addr {
	for _, b := range list {
		if a == b {
			return list
		}
	}
	return append(list, a)
}

// Serve answers queries on pc (UDP) and l (TCP), either of which may be
// nil, until ctx is done; then it closes both and returns nil. It returns
// early with an error if reading from one fails otherwise.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, l net.Listener) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var closing atomic.Bool
	fail := func(err error) {
		if !closing.Load() {
			cancel(err)
		}
	}
	if pc != nil {
		for range s.workers {
			wg.Go(func() { fail(s.serveUDP(pc)) })
		}
	}
	if l != nil {
		wg.Go(func() { fail(s.serveTCP(ctx, l)) })
	}
	<-ctx.Done()
	closing.Store(true)
	if pc != nil {
		pc.Close()
	}
	if l != nil {
		l.Close()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// serveUDP reads and answers datagrams until pc is closed.
func (s *Server) serveUDP(pc net.PacketConn) error {
	buf := make([]byte, 65536)
	out := make([]byte, 0, MaxUDPSize)
	udp, _ := pc.(*net.UDPConn)
	var limited uint64
	for {
		var (
			n      int
			client netip.AddrPort
			addr   net.Addr
			err    error
		)
		if udp != nil {
			n, client, err = udp.ReadFromUDPAddrPort(buf)
		} else {
			n, addr, err = pc.ReadFrom(buf)
			if ua, ok := addr.(*net.UDPAddr); ok {
				client = ua.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read UDP: %w", err)
		}
		slip := false
		if ok, _ := s.limiter.Allow(client.Addr()); !ok {
			s.metrics.limited.Inc()
			limited++
			if limited%2 == 1 {
				continue
			}
			slip = true
		}
		resp := s.handle(buf[:n], false, slip, out[:0])
		if resp == nil {
			continue
		}
		if udp != nil {
			_, err = udp.WriteToUDPAddrPort(resp, client)
		} else {
			_, err = pc.WriteTo(resp, addr)
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			return nil
		}
	}
}

// serveTCP accepts connections until l is closed.
func (s *Server) serveTCP(ctx context.Context, l net.Listener) error {
	sem := make(chan struct{}, s.maxTCP)
	var wg sync.WaitGroup
	defer wg.Wait()
	var conns sync.Map
	go func() {
		<-ctx.Done()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept TCP: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			s.metrics.tcpRefused.Inc()
			c.Close()
			continue
		}
		conns.Store(c, nil)
		wg.Go(func() {
			defer func() { conns.Delete(c); c.Close(); <-sem }()
			s.serveConn(c)
		})
	}
}

// serveConn answers the queries of one TCP connection.
func (s *Server) serveConn(c net.Conn) {
	var client netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort().Addr()
	}
	buf := make([]byte, MaxTCPQuery)
	out := make([]byte, 2, 2+512)
	for range TCPMaxQueries {
		if err := c.SetDeadline(time.Now().Add(TCPIdleTimeout)); err != nil {
			return
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n > MaxTCPQuery {
			s.metrics.malformed.Inc()
			return
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		var resp []byte
		if ok, _ := s.limiter.Allow(client); ok {
			resp = s.handle(buf[:n], true, false, out[2:2])
		} else {
			s.metrics.limited.Inc()
			resp = s.refuse(buf[:n], out[2:2])
		}
		if resp == nil {
			return
		}
		msg := append(out[:2], resp...)
		binary.BigEndian.PutUint16(msg, uint16(len(resp)))
		if _, err := c.Write(msg); err != nil {
			return
		}
		out = msg[:2]
	}
}
