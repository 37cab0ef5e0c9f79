package dns

import (
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// headerLen is the length of a DNS message header.
const headerLen = 12

// handle answers the query in raw, appending the packed response to out.
// It returns nil when nothing should be sent: raw is too short to hold a
// header, or is itself a response. slip asks for an empty truncated answer
// (a client over its rate, see the package documentation).
func (s *Server) handle(raw []byte, tcp, slip bool, out []byte) []byte {
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		s.metrics.malformed.Inc()
		return nil
	}
	req := new(mdns.Msg)
	if err := req.Unpack(raw); err != nil {
		s.metrics.malformed.Inc()
		return s.formErr(raw, out)
	}
	resp, size := s.answer(req)
	if slip {
		// Keep the question and the OPT record, drop the records.
		resp.Answer, resp.Ns = nil, nil
		resp.Extra = slices.DeleteFunc(resp.Extra, func(rr mdns.RR) bool { return rr.Header().Rrtype != mdns.TypeOPT })
		resp.Truncated = true
	}
	if !tcp {
		resp.Truncate(size)
	}
	packed, err := resp.PackBuffer(out[:cap(out)])
	if err != nil {
		// Only a name the codec cannot compress or pack could get here;
		// answer with the error rather than nothing.
		s.metrics.rcode(mdns.RcodeServerFailure).Inc()
		return s.header(raw, mdns.RcodeServerFailure, out)
	}
	s.metrics.rcode(resp.Rcode).Inc()
	return packed
}

// refuse answers raw with REFUSED and no records, for a TCP client over
// its rate.
func (s *Server) refuse(raw []byte, out []byte) []byte {
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		return nil
	}
	return s.header(raw, mdns.RcodeRefused, out)
}

// formErr answers a packet that has a query header but does not parse:
// FORMERR with the query's id and opcode and nothing else.
func (s *Server) formErr(raw []byte, out []byte) []byte {
	s.metrics.rcode(mdns.RcodeFormatError).Inc()
	return s.header(raw, mdns.RcodeFormatError, out)
}

// header returns a bare response header to raw with rcode.
func (s *Server) header(raw []byte, rcode int, out []byte) []byte {
	var h [headerLen]byte
	copy(h[0:2], raw[0:2])                  // id
	h[2] = 0x80 | raw[2]&0x78 | raw[2]&0x01 // QR, opcode, RD
	h[3] = byte(rcode & 0x0f)
	return append(out, h[:]...)
}

// ednsSize is the UDP payload size to answer a client that advertised opt.
func ednsSize(opt *mdns.OPT) uint16 {
	return min(max(opt.UDPSize(), mdns.MinMsgSize), MaxUDPSize)
}

// answer builds the response to a parsed query and returns it with the
// largest size it may have over UDP.
func (s *Server) answer(req *mdns.Msg) (*mdns.Msg, int) {
	m := new(mdns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Compress = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(ednsSize(opt))
		m.SetEdns0(uint16(size), false)
		if opt.Version() != 0 {
			m.Rcode = mdns.RcodeBadVers
			return m, size
		}
	}
	if req.Opcode != mdns.OpcodeQuery {
		m.Rcode = mdns.RcodeNotImplemented
		return m, size
	}
	if len(req.Question) != 1 || len(req.Answer) > 0 || len(req.Ns) > 0 {
		m.Rcode = mdns.RcodeFormatError
		return m, size
	}
	q := req.Question[0]
	m.Question = req.Question
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		return m, size
	}
	name := strings.ToLower(q.Name)
	if name != s.zone && !strings.HasSuffix(name, "."+s.zone) {
		m.Rcode = mdns.RcodeRefused
		return m, size
	}
	switch q.Qtype {
	case mdns.TypeAXFR, mdns.TypeIXFR:
		m.Rcode = mdns.RcodeRefused
		return m, size
	}
	m.Authoritative = true

	s.mu.RLock()
	e, found := s.names[name]
	exists := found || name == s.zone || s.ents[name] > 0
	if found {
		m.Answer = appendAddrs(m.Answer, s.hdr(q.Name, 0, s.ttl), q.Qtype, e)
	}
	if name == s.zone {
		if q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY {
			m.Answer = append(m.Answer, s.soa(q.Name, s.ttl))
		}
		if q.Qtype == mdns.TypeNS || q.Qtype == mdns.TypeANY {
			for _, ns := range s.ns {
				m.Answer = append(m.Answer, &mdns.NS{Hdr: s.hdr(q.Name, mdns.TypeNS, s.ttl), Ns: ns})
				// Glue: the addresses of name servers inside the zone.
				if ne, ok := s.names[ns]; ok {
					m.Extra = appendAddrs(m.Extra, s.hdr(ns, 0, s.ttl), mdns.TypeANY, ne)
				}
			}
		}
	}
	s.mu.RUnlock()

	if !exists {
		m.Rcode = mdns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		// NXDOMAIN or NODATA: the SOA tells resolvers how long to cache it.
		m.Ns = append(m.Ns, s.soa(s.zone, s.negTTL))
	}
	return m, size
}

// appendAddrs appends the A and AAAA records of e that qtype asks for to
// rrs, with the name and TTL of h.
func appendAddrs(rrs []mdns.RR, h mdns.RR_Header, qtype uint16, e entry) []mdns.RR {
	if qtype == mdns.TypeA || qtype == mdns.TypeANY {
		h.Rrtype = mdns.TypeA
		for _, a := range e.v4 {
			ip := a.As4()
			rrs = append(rrs, &mdns.A{Hdr: h, A: ip[:]})
		}
	}
	if qtype == mdns.TypeAAAA || qtype == mdns.TypeANY {
		h.Rrtype = mdns.TypeAAAA
		for _, a := range e.v6 {
			ip := a.As16()
			rrs = append(rrs, &mdns.AAAA{Hdr: h, AAAA: ip[:]})
		}
	}
	return rrs
}

func (s *Server) hdr(name string, t uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}

// soa is the zone's SOA record, owned by name, with ttl.
func (s *Server) soa(name string, ttl uint32) *mdns.SOA {
	return &mdns.SOA{
		Hdr:     s.hdr(name, mdns.TypeSOA, min(ttl, s.negTTL)),
		Ns:      s.ns[0],
		Mbox:    s.mbox,
		Serial:  s.serial.Load(),
		Refresh: 3600,
		Retry:   600,
		Expire:  604800,
		Minttl:  s.negTTL,
	}
}
