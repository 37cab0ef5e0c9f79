package dns

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/byoda-go/byoda/test/testenv"
)

// benchRecords is the zone both servers serve in BenchmarkAnswers.
func benchRecords(n int) map[string]netip.Addr {
	out := make(map[string]netip.Addr, n)
	for i := range n {
		name := fmt.Sprintf("%08x-0000-4000-8000-%012x.accounts.%s", i, i, zone)
		out[name] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	return out
}

// BenchmarkAnswers measures DNS answers per second over UDP of the built-in
// server and of PowerDNS (gsqlite3) serving the same 10,000 A records, side
// by side in one run: "powerdns" as the test environment runs it (no
// caches, one receiver thread), "powerdns-cached" with its packet and query
// caches and two receiver threads, as a production PowerDNS would run. The
// built-in server runs without its per-client rate limit, which would
// otherwise hold one client to 100 queries a second. Each query asks for a
// random name of the zone; 16 clients keep one query each in flight.
func BenchmarkAnswers(b *testing.B) {
	records := benchRecords(10_000)
	names := make([]string, 0, len(records))
	for name := range records {
		names = append(names, name)
	}
	b.Run("builtin", func(b *testing.B) {
		s := start(b, Options{Rate: -1})
		for name, a := range records {
			if err := s.Set(name, a); err != nil {
				b.Fatal(err)
			}
		}
		benchUDP(b, s.addr, names)
	})
	if testing.Short() {
		return
	}
	b.Run("powerdns", func(b *testing.B) {
		d := testenv.StartPowerDNS(b, zone, records, testenv.PowerDNSOptions{})
		benchUDP(b, d.Addr, names)
	})
	b.Run("powerdns-cached", func(b *testing.B) {
		d := testenv.StartPowerDNS(b, zone, records, testenv.PowerDNSOptions{Config: []string{
			"cache-ttl=60", "query-cache-ttl=60", "negquery-cache-ttl=60", "receiver-threads=2",
		}})
		benchUDP(b, d.Addr, names)
	})
}

// benchUDP sends b.N queries for random names to server from 16 clients and
// reports answers per second. Every answer must be NOERROR with one A.
func benchUDP(b *testing.B, server string, names []string) {
	// Warm up, and check the server answers what the zone holds.
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(names[0]+".", mdns.TypeA)
	if r, _, err := c.Exchange(m, server); err != nil || len(r.Answer) != 1 {
		b.Fatalf("warm-up query: %v %v", r, err)
	}
	var failed atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", server)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		buf := make([]byte, 1500)
		q := new(mdns.Msg)
		resp := new(mdns.Msg)
		for pb.Next() {
			q.SetQuestion(names[rng.IntN(len(names))]+".", mdns.TypeA)
			q.Id = uint16(rng.Uint32())
			p, err := q.Pack()
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := conn.Write(p); err != nil {
				b.Error(err)
				return
			}
			for {
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := conn.Read(buf)
				if err != nil {
					failed.Add(1)
					break
				}
				if err := resp.Unpack(buf[:n]); err != nil || resp.Id != q.Id {
					continue // a late answer to an earlier query
				}
				if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
					failed.Add(1)
				}
				break
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "answers/s")
	if f := failed.Load(); f > int64(b.N)/100 {
		b.Errorf("%d of %d queries failed or timed out", f, b.N)
	}
}
