// Package ratelimit keeps a token bucket per client, in bounded memory, for
// what anonymous callers can send to a directory: registrations over HTTPS
// and queries to the built-in DNS server.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxClients bounds how many clients a Limiter remembers when
// Options.MaxClients is zero.
const DefaultMaxClients = 65536

// Options configure a Limiter.
type Options struct {
	// Rate is how many tokens a client gains per second.
	Rate float64
	// Burst is how many tokens a client may hold: the requests it may make
	// at once after a quiet spell.
	Burst int
	// MaxClients bounds the clients remembered. Buckets that have refilled
	// are forgotten first; when every remembered client is still limited,
	// new clients are refused, rather than letting an attacker with many
	// addresses grow the table without bound.
	MaxClients int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter is a token bucket per client key (see Key). It is safe for
// concurrent use. The buckets are split into shards so that concurrent
// callers rarely wait on one another.
type Limiter struct {
	rate, burst float64
	now         func() time.Time
	shards      [shardCount]shard
}

const shardCount = 32

type shard struct {
	mu      sync.Mutex
	max     int
	buckets map[netip.Prefix]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter; a Rate of zero or less gives a limiter that allows
// everything.
func New(o Options) *Limiter {
	if o.Burst < 1 {
		o.Burst = 1
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Limiter{rate: o.Rate, burst: float64(o.Burst), now: o.Now}
	perShard := max(1, o.MaxClients/shardCount)
	for i := range l.shards {
		l.shards[i] = shard{max: perShard, buckets: map[netip.Prefix]*bucket{}}
	}
	return l
}

// Key is the bucket of an address: the IPv4 address, or the /64 of an IPv6
// address, since one host usually holds a whole /64.
func Key(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// Allow takes a token from the bucket of client's address. When there is
// none, it returns false and how long until there is one.
func (l *Limiter) Allow(client netip.Addr) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	k := Key(client)
	s := &l.shards[shardOf(k)]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[k]
	if b == nil {
		if len(s.buckets) >= s.max {
			s.forgetFull(l, now)
		}
		if len(s.buckets) >= s.max {
			return false, time.Duration(float64(time.Second) / l.rate)
		}
		b = &bucket{tokens: l.burst, at: now}
		s.buckets[k] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// Len returns how many clients the limiter remembers.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
}

// forgetFull drops the buckets that have refilled completely: those
// clients are as if new.
func (s *shard) forgetFull(l *Limiter, now time.Time) {
	for k, b := range s.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(s.buckets, k)
		}
	}
}

func shardOf(p netip.Prefix) int {
	b := p.Addr().As16()
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % shardCount)
}
