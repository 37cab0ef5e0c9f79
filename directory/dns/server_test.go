package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/byoda-go/byoda/test/testenv"
)

const zone = "byoda.test"

// server is a Server listening on loopback UDP and TCP ports.
type server struct {
	*Server
	addr string
}

func start(t testing.TB, o Options) *server {
	t.Helper()
	s, err := NewServer(zone, o)
	if err != nil {
		t.Fatal(err)
	}
	pc, l, err := testenv.ListenDNS()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return &server{Server: s, addr: pc.LocalAddr().String()}
}

func (s *server) query(t testing.TB, net, name string, qtype uint16, edit ...func(*mdns.Msg)) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	for _, f := range edit {
		f(m)
	}
	c := &mdns.Client{Net: net, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, s.addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", net, name, mdns.TypeToString[qtype], err)
	}
	if r.Id != m.Id || !r.Response {
		t.Fatalf("answer id %d (response %v), want %d", r.Id, r.Response, m.Id)
	}
	return r
}

func rdata(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, mdns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String())))
	}
	slices.Sort(out)
	return out
}

func TestAnswers(t *testing.T) {
	s := start(t, Options{TTL: 90 * time.Second, NegativeTTL: 30 * time.Second, NameServers: []string{"dir.byoda.test"}})
	aid := "3f1c2a44-8a5e-4cb1-9d4e-0f4c1d2b3a45"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Set(aid+".accounts.byoda.test", netip.MustParseAddr("192.0.2.10")))
	must(s.Set("Service.Service-4711.BYODA.test.", netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("2001:db8::20")))
	must(s.Set("dir.byoda.test", netip.MustParseAddr("192.0.2.1")))

	type want struct {
		rcode  int
		answer []string
		soa    bool // SOA in the authority section
		extra  []string
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{"account A", aid + ".accounts.byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeSuccess, answer: []string{"A 192.0.2.10"}}},
		{"account AAAA", aid + ".accounts.byoda.test.", mdns.TypeAAAA, want{rcode: mdns.RcodeSuccess, soa: true}},
		{"account MX", aid + ".accounts.byoda.test.", mdns.TypeMX, want{rcode: mdns.RcodeSuccess, soa: true}},
		{"service A", "service.service-4711.byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeSuccess, answer: []string{"A 192.0.2.20"}}},
		{"service AAAA", "service.service-4711.byoda.test.", mdns.TypeAAAA, want{rcode: mdns.RcodeSuccess, answer: []string{"AAAA 2001:db8::20"}}},
		{"service ANY", "service.service-4711.byoda.test.", mdns.TypeANY, want{rcode: mdns.RcodeSuccess, answer: []string{"A 192.0.2.20", "AAAA 2001:db8::20"}}},
		{"unknown", "nobody.accounts.byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeNameError, soa: true}},
		{"below a name", "x." + aid + ".accounts.byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeNameError, soa: true}},
		{"empty non-terminal", "accounts.byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeSuccess, soa: true}},
		{"apex SOA", "byoda.test.", mdns.TypeSOA, want{rcode: mdns.RcodeSuccess, answer: []string{"SOA dir.byoda.test. hostmaster.byoda.test. 3 3600 600 604800 30"}}},
		{"apex NS", "byoda.test.", mdns.TypeNS, want{rcode: mdns.RcodeSuccess, answer: []string{"NS dir.byoda.test."}, extra: []string{"A 192.0.2.1"}}},
		{"apex A", "byoda.test.", mdns.TypeA, want{rcode: mdns.RcodeSuccess, soa: true}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				r := s.query(t, network, tt.qname, tt.qtype)
				if r.Rcode != tt.want.rcode {
					t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.want.rcode])
				}
				if !r.Authoritative {
					t.Error("answer not authoritative")
				}
				if got := rdata(r.Answer); !slices.Equal(got, tt.want.answer) {
					t.Errorf("answer %v, want %v", got, tt.want.answer)
				}
				for _, rr := range r.Answer {
					if rr.Header().Name != tt.qname {
						t.Errorf("answer owner %q, want %q", rr.Header().Name, tt.qname)
					}
					if rr.Header().Rrtype != mdns.TypeSOA && rr.Header().Ttl != 90 {
						t.Errorf("TTL %d, want 90", rr.Header().Ttl)
					}
				}
				var extra []mdns.RR
				for _, rr := range r.Extra {
					if rr.Header().Rrtype != mdns.TypeOPT {
						extra = append(extra, rr)
					}
				}
				if got := rdata(extra); !slices.Equal(got, tt.want.extra) {
					t.Errorf("additional %v, want %v", got, tt.want.extra)
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA
				if hasSOA != tt.want.soa {
					t.Errorf("authority %v; want an SOA: %v", r.Ns, tt.want.soa)
				}
				if hasSOA && r.Ns[0].Header().Ttl != 30 {
					t.Errorf("negative TTL %d, want 30", r.Ns[0].Header().Ttl)
				}
			})
		}
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, Options{})
	if err := s.Set("a.byoda.test", netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		edit  func(*mdns.Msg)
		rcode int
	}{
		{"other zone", "example.com.", mdns.TypeA, nil, mdns.RcodeRefused},
		{"zone suffix without a dot", "xbyoda.test.", mdns.TypeA, nil, mdns.RcodeRefused},
		{"class CHAOS", "a.byoda.test.", mdns.TypeTXT, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS }, mdns.RcodeRefused},
		{"AXFR", "byoda.test.", mdns.TypeAXFR, nil, mdns.RcodeRefused},
		{"NOTIFY", "byoda.test.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }, mdns.RcodeNotImplemented},
		{"UPDATE", "byoda.test.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate }, mdns.RcodeNotImplemented},
		{"two questions", "a.byoda.test.", mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }, mdns.RcodeFormatError},
		{"EDNS version 1", "a.byoda.test.", mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }, mdns.RcodeBadVers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []func(*mdns.Msg)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			r := s.query(t, "udp", tt.qname, tt.qtype, edits...)
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
			}
			if len(r.Answer) != 0 {
				t.Errorf("answer %v", r.Answer)
			}
		})
	}
}

// TestCase checks that names match in any case and that answers keep the
// question's case (resolvers that randomise it, "0x20", compare).
func TestCase(t *testing.T) {
	s := start(t, Options{})
	if err := s.Set("MiXeD.byoda.test", netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	r := s.query(t, "udp", "mIxEd.ByOdA.TeSt.", mdns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Name != "mIxEd.ByOdA.TeSt." {
		t.Errorf("answer %v", r.Answer)
	}
}

// TestChangesAreImmediate sets, moves and deletes a name and queries after
// each change.
func TestChangesAreImmediate(t *testing.T) {
	s := start(t, Options{})
	name := "m.members-1.byoda.test."
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::3"} {
		if err := s.Set(name, netip.MustParseAddr(a)); err != nil {
			t.Fatal(err)
		}
		r := s.query(t, "udp", name, mdns.TypeANY)
		if got := rdata(r.Answer); len(got) != 1 || !strings.HasSuffix(got[0], " "+a) {
			t.Errorf("after Set %s: %v", a, got)
		}
	}
	serial := s.Serial()
	if err := s.Delete(name); err != nil {
		t.Fatal(err)
	}
	if s.Serial() != serial+1 {
		t.Errorf("serial %d after delete, want %d", s.Serial(), serial+1)
	}
	if r := s.query(t, "udp", name, mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("after Delete: %s", mdns.RcodeToString[r.Rcode])
	}
	// Its parent existed only because of it.
	if r := s.query(t, "udp", "members-1.byoda.test.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("empty non-terminal after Delete: %s", mdns.RcodeToString[r.Rcode])
	}
}

func TestSetRefuses(t *testing.T) {
	s, err := NewServer(zone, Options{})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]netip.Addr, MaxAddrs+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
	}
	tests := []struct {
		name  string
		addrs []netip.Addr
		want  string
	}{
		{"example.com", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, "not in zone"},
		{"xbyoda.test", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, "not in zone"},
		{"a..byoda.test", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, "not a domain name"},
		{strings.Repeat("a", 64) + ".byoda.test", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, "not a domain name"},
		{"a.byoda.test", many, "want at most 8"},
		{"a.byoda.test", []netip.Addr{{}}, "invalid address"},
	}
	for _, tt := range tests {
		if err := s.Set(tt.name, tt.addrs...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Set(%q) = %v, want %q", tt.name, err, tt.want)
		}
	}
	if s.Len() != 0 {
		t.Errorf("refused Sets left %d names", s.Len())
	}
	if _, err := NewServer("", Options{}); err == nil {
		t.Error("NewServer accepted an empty zone")
	}
}

// TestMalformed sends packets that are not queries: the server answers
// FORMERR when it can tell the query's id, ignores the rest, and keeps
// answering.
func TestMalformed(t *testing.T) {
	s := start(t, Options{})
	conn, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(p []byte) []byte {
		t.Helper()
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 2048)
		n, err := conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	// A header claiming a question that is not there.
	truncated := []byte{0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 5, 'a', 'b'}
	r := exchange(truncated)
	if len(r) != headerLen || r[0] != 0xbe || r[1] != 0xef || r[2]&0x80 == 0 || r[3]&0x0f != mdns.RcodeFormatError {
		t.Errorf("answer to a truncated question: % x", r)
	}
	// A compression pointer loop.
	loop := []byte{0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}
	if r := exchange(loop); len(r) != headerLen || r[3]&0x0f != mdns.RcodeFormatError {
		t.Errorf("answer to a pointer loop: % x", r)
	}
	for _, p := range [][]byte{
		{}, {1, 2, 3},
		// A response: never answered, so that two servers cannot ping-pong.
		{0x12, 0x34, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if r := exchange(p); r != nil {
			t.Errorf("answer to % x: % x", p, r)
		}
	}
	// Over TCP: a length beyond MaxTCPQuery ends the connection.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], MaxTCPQuery+1)
	c.Write(l[:])
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("oversized TCP query: read = %v, want EOF", err)
	}
	if r := s.query(t, "udp", "byoda.test.", mdns.TypeSOA); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("after the malformed packets: %s", mdns.RcodeToString[r.Rcode])
	}
}

// TestRateLimit floods the server from one address: over UDP it answers
// part of the excess with empty truncated answers and drops the rest; over
// TCP it refuses.
func TestRateLimit(t *testing.T) {
	// A stopped clock: no token comes back during the test.
	stopped := time.Now()
	s := start(t, Options{Rate: 1, Burst: 3, Now: func() time.Time { return stopped }})
	if err := s.Set("a.byoda.test", netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 20
	for i := range sent {
		m := new(mdns.Msg)
		m.SetQuestion("a.byoda.test.", mdns.TypeA)
		m.Id = uint16(i)
		p, _ := m.Pack()
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	var answered, slipped int
	buf := make([]byte, 2048)
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		r := new(mdns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Truncated && len(r.Answer) == 0:
			slipped++
		case len(r.Answer) == 1:
			answered++
		default:
			t.Errorf("unexpected answer %v", r)
		}
	}
	if answered < 3 || answered >= sent || slipped == 0 || answered+slipped >= sent {
		t.Errorf("of %d queries: %d answered, %d truncated, %d dropped; want the burst of 3 answered and the excess part truncated, part dropped",
			sent, answered, slipped, sent-answered-slipped)
	}
	// TCP: the bucket is empty, so REFUSED.
	r := s.query(t, "tcp", "a.byoda.test.", mdns.TypeA)
	if r.Rcode != mdns.RcodeRefused {
		t.Errorf("TCP over the rate: %s", mdns.RcodeToString[r.Rcode])
	}
}

// TestTCPConnectionLimit opens more connections than the server keeps.
func TestTCPConnectionLimit(t *testing.T) {
	s := start(t, Options{MaxTCPConns: 2})
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// Make sure both are accepted and served before the third.
	for _, c := range conns {
		co := &mdns.Conn{Conn: c}
		m := new(mdns.Msg)
		m.SetQuestion("byoda.test.", mdns.TypeSOA)
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatal(err)
		}
	}
	third, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("third connection: read = %v, want EOF", err)
	}
	conns[0].Close()
	testenv.Eventually(t, 10*time.Second, "a connection after one closed", nil, func(ctx context.Context) error {
		c := &mdns.Client{Net: "tcp", Timeout: time.Second}
		m := new(mdns.Msg)
		m.SetQuestion("byoda.test.", mdns.TypeSOA)
		_, _, err := c.ExchangeContext(ctx, m, s.addr)
		return err
	})
}

// TestDig asks dig, the resolver tool most people would reach for.
func TestDig(t *testing.T) {
	dig := testenv.SystemBinary(t, "dig", "hack/pdns.sh (Debian package dnsutils)")
	s := start(t, Options{})
	if err := s.Set("abc.accounts.byoda.test", netip.MustParseAddr("192.0.2.77")); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.addr)
	for _, proto := range []string{"+notcp", "+tcp"} {
		out, err := exec.Command(dig, "@"+host, "-p", port, proto, "+short", "abc.accounts.byoda.test", "A").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "192.0.2.77" {
			t.Errorf("dig %s: %v: %q", proto, err, out)
		}
		out, err = exec.Command(dig, "@"+host, "-p", port, proto, "nobody.accounts.byoda.test", "A").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "status: NXDOMAIN") || !strings.Contains(string(out), "flags: qr aa") {
			t.Errorf("dig %s unknown name: %v:\n%s", proto, err, out)
		}
	}
}
