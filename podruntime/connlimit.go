package podruntime

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Defaults of the connection limits. Every open connection costs a file
// descriptor and memory (an idle TLS connection some 20 KiB, an idle
// websocket about 50 KiB), so the defaults are sized from the file limit
// and capped where memory, not files, runs out first.
const (
	// DefaultMaxConns is the most connections a port takes by default,
	// whatever the file limit: 2,048 idle websockets are about 100 MiB.
	DefaultMaxConns = 2048
	// DefaultMaxConnsPerAddress is the most connections from one client
	// address by default: a browser opens six per host, an app or a peer
	// a few more; a NAT shares one address between several.
	DefaultMaxConnsPerAddress = 64
	// minMaxConns is the least connections a port takes by default, on a
	// process with very few files.
	minMaxConns = 16
	// fileHeadroom is the least file descriptors kept out of the ports'
	// shares, for the store's files, outbound connections and the
	// runtime.
	fileHeadroom = 128
	// acceptWarnEvery is how often an accept error is logged at warn
	// level; those in between are counted and reported with the next.
	acceptWarnEvery = 10 * time.Second
)

// The reasons a connection is refused, as metrics name them.
const (
	refusedPortFull    = "port_full"
	refusedAddressFull = "address_full"
)

// defaultMaxConns is the default of Config.MaxConns for a process that
// may open nofile files: a quarter of them (at least fileHeadroom) is
// kept back for everything but the ports, and the owner and the peer
// port each get half of the rest, within [minMaxConns, DefaultMaxConns].
func defaultMaxConns(nofile uint64) int {
	reserve := max(nofile/4, fileHeadroom)
	if nofile <= reserve {
		return minMaxConns
	}
	return int(min(max((nofile-reserve)/2, minMaxConns), DefaultMaxConns))
}

// defaultMaxConnsPerAddress is the default of Config.MaxConnsPerAddress:
// a quarter of the port, so that one address never takes a port, and at
// most DefaultMaxConnsPerAddress.
func defaultMaxConnsPerAddress(maxConns int) int {
	return min(DefaultMaxConnsPerAddress, max(1, maxConns/4))
}

// limitListener caps the connections of one port at accept: in all and
// per client address (clientKey: an IPv4 address, an IPv6 /64). A
// connection over either cap is closed at once, before its TLS handshake
// costs anything, and counted. Accept errors (running out of files) are
// counted and logged at warn level, at most every acceptWarnEvery.
type limitListener struct {
	net.Listener
	port    string
	max     int
	perAddr int
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	open   int
	byAddr map[string]int
	// warnedAt is when an accept error was last logged; suppressed
	// counts those since.
	warnedAt   time.Time
	suppressed int
}

func (p *Pod) limitListener(l net.Listener, port string) *limitListener {
	return &limitListener{
		Listener: l,
		port:     port,
		max:      p.cfg.MaxConns,
		perAddr:  p.cfg.MaxConnsPerAddress,
		metrics:  p.metrics,
		log:      p.log.With("port", port),
		now:      p.now,
		byAddr:   map[string]int{},
	}
}

// Accept returns the next connection within the limits; it closes those
// over them without returning.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.acceptFailed(err)
			}
			// http.Server retries temporary errors with a backoff.
			return nil, err
		}
		key := clientKey(c.RemoteAddr().String())
		if reason := l.admit(key); reason != "" {
			l.metrics.connRefused.WithLabelValues(l.port, reason).Inc()
			c.Close()
			continue
		}
		l.metrics.connsOpen.WithLabelValues(l.port).Inc()
		return &limitConn{Conn: c, l: l, key: key}, nil
	}
}

// admit counts a new connection from key in, or says why it may not
// open.
func (l *limitListener) admit(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return refusedPortFull
	case l.byAddr[key] >= l.perAddr:
		return refusedAddressFull
	}
	l.open++
	l.byAddr[key]++
	return ""
}

// release counts a closed connection from key out.
func (l *limitListener) release(key string) {
	l.mu.Lock()
	l.open--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
	l.mu.Unlock()
	l.metrics.connsOpen.WithLabelValues(l.port).Dec()
}

// acceptFailed counts an accept error and logs it, at most every
// acceptWarnEvery.
func (l *limitListener) acceptFailed(err error) {
	l.metrics.acceptErrors.WithLabelValues(l.port).Inc()
	l.mu.Lock()
	now := l.now()
	if !l.warnedAt.IsZero() && now.Sub(l.warnedAt) < acceptWarnEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.warnedAt, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("Accepting a connection failed; new clients wait until connections close",
		"err", err, "open", l.openConns(), "max_conns", l.max, "errors_not_logged", suppressed)
}

func (l *limitListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// limitConn is an admitted connection: closing it makes room for
// another.
type limitConn struct {
	net.Conn
	l    *limitListener
	key  string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
