package dns

import (
	"bytes"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandle feeds the server arbitrary packets, as UDP and as TCP
// messages: it must never panic, must answer every packet that has a query
// header and no other, and every answer must parse, carry the query's id
// and fit the size the transport allows. The seed corpus is in
// testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	s, err := NewServer(zone, Options{Rate: -1})
	if err != nil {
		f.Fatal(err)
	}
	for i, name := range []string{"a.accounts.byoda.test", "service.service-1.byoda.test", "ns1.byoda.test"} {
		addrs := []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
		for j := range MaxAddrs - 1 {
			addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(j)}))
		}
		if err := s.Set(name, addrs...); err != nil {
			f.Fatal(err)
		}
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"a.accounts.byoda.test.", mdns.TypeA, false},
		{"service.service-1.byoda.test.", mdns.TypeANY, true},
		{"byoda.test.", mdns.TypeNS, false},
		{"nope.byoda.test.", mdns.TypeAAAA, true},
		{"example.com.", mdns.TypeA, false},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, true)
		}
		p, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, false)
		f.Add(p, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		resp := s.handle(data, tcp, false, make([]byte, 0, MaxUDPSize))
		if len(data) < headerLen || data[2]&0x80 != 0 {
			if resp != nil {
				t.Fatalf("answered a packet without a query header: % x", resp)
			}
			return
		}
		if resp == nil {
			t.Fatal("no answer to a packet with a query header")
		}
		if len(resp) < headerLen || !bytes.Equal(resp[:2], data[:2]) || resp[2]&0x80 == 0 {
			t.Fatalf("answer header % x to query header % x", resp[:min(len(resp), headerLen)], data[:headerLen])
		}
		m := new(mdns.Msg)
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("answer does not parse: %v: % x", err, resp)
		}
		if !tcp {
			limit := mdns.MinMsgSize
			req := new(mdns.Msg)
			if req.Unpack(data) == nil && req.IsEdns0() != nil {
				limit = int(ednsSize(req.IsEdns0()))
			}
			if len(resp) > limit {
				t.Fatalf("UDP answer of %d bytes; the client allows %d", len(resp), limit)
			}
		}
	})
}
