package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestAllow(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Options{Rate: 2, Burst: 3, Now: c.now})
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, _ := l.Allow(a); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow(a)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("after the burst: Allow = %v, %s; want false, 500ms", ok, wait)
	}
	// Another client has its own bucket.
	if ok, _ := l.Allow(netip.MustParseAddr("192.0.2.2")); !ok {
		t.Error("another client refused")
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if ok, _ := l.Allow(a); !ok {
		t.Error("refused after a token came back")
	}
	if ok, _ := l.Allow(a); ok {
		t.Error("allowed a second request on one token")
	}
}

func TestIPv6SharesSlash64(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Options{Rate: 1, Burst: 1, Now: c.now})
	if ok, _ := l.Allow(netip.MustParseAddr("2001:db8::1")); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := l.Allow(netip.MustParseAddr("2001:db8::ffff:2")); ok {
		t.Error("another address of the same /64 has a bucket of its own")
	}
	if ok, _ := l.Allow(netip.MustParseAddr("2001:db8:0:1::1")); !ok {
		t.Error("another /64 shares the bucket")
	}
	// An IPv4-mapped address is the IPv4 address.
	if Key(netip.MustParseAddr("::ffff:192.0.2.7")) != Key(netip.MustParseAddr("192.0.2.7")) {
		t.Error("mapped IPv4 address has a key of its own")
	}
}

func TestBoundedMemory(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(Options{Rate: 1, Burst: 1, MaxClients: 64, Now: c.now})
	refused := 0
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(a); !ok {
			refused++
		}
	}
	if n := l.Len(); n > 64 {
		t.Errorf("remembers %d clients; want at most 64", n)
	}
	if refused == 0 {
		t.Error("a full table refused nobody")
	}
	// Once buckets refill, they are forgotten and new clients get in.
	c.t = c.t.Add(2 * time.Second)
	if ok, _ := l.Allow(netip.MustParseAddr("10.200.0.1")); !ok {
		t.Error("new client refused after every bucket refilled")
	}
}

func TestZeroRateAllowsAll(t *testing.T) {
	l := New(Options{})
	for range 100 {
		if ok, _ := l.Allow(netip.MustParseAddr("192.0.2.1")); !ok {
			t.Fatal("a limiter without a rate refused")
		}
	}
	var nl *Limiter
	if ok, _ := nl.Allow(netip.MustParseAddr("192.0.2.1")); !ok {
		t.Fatal("a nil limiter refused")
	}
}
