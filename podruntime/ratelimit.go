package podruntime

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxLoginClients bounds how many clients the login limiter remembers.
// Buckets that have refilled are forgotten first; when every remembered
// client is still limited, new clients are refused too, rather than letting
// an attacker with many addresses grow the table without bound.
const maxLoginClients = 10_000

// loginLimiter is a token bucket per client address for login attempts.
type loginLimiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newLoginLimiter(burst int, every time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

// refill brings b up to date at now.
func (l *loginLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// take takes a token from client's bucket. When there is none it returns
// how long until there is one.
func (l *loginLimiter) take(client string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxLoginClients {
			l.forgetFull(now)
		}
		if len(l.buckets) >= maxLoginClients {
			return l.every, false
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[client] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.every)), false
	}
	b.tokens--
	return 0, true
}

// refund gives back the token of an attempt that succeeded.
func (l *loginLimiter) refund(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[client]; b != nil {
		l.refill(b, l.now())
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// forgetFull drops the buckets that have refilled completely: those
// clients are as if new.
func (l *loginLimiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// clientKey is the rate-limit key of a remote address: the IPv4 address,
// or the /64 of an IPv6 address (one host usually has a whole /64). The
// pod does not trust X-Forwarded-For: behind a proxy, all clients share the
// proxy's bucket.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}
