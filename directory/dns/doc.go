// Package dns is the authoritative DNS server of a byoda network's zone,
// answering from an in-memory view of the names the directory has
// registered: A and AAAA records for accounts, members and services, the
// zone's SOA and NS, and NXDOMAIN for everything else in the zone. It
// serves UDP and TCP with github.com/miekg/dns's message codec.
//
// The view is fed by its owner through Set and Delete: the network
// directory keeps it in step with its registry (directory/network), and the
// local network (byoda devnet) can run a Server in process and feed it
// directly. Answers come from memory under a read lock, so a change is
// visible to the very next query.
//
// # Answers
//
//   - A name with records: its A or AAAA records (both for ANY), with the
//     configured TTL; other types get NOERROR with no answer (NODATA).
//   - A name above registered names (accounts.<zone>) exists without
//     records: NODATA, not NXDOMAIN.
//   - The apex: SOA and NS (with glue for name servers inside the zone).
//   - Any other name of the zone: NXDOMAIN. NXDOMAIN and NODATA carry the
//     SOA in the authority section, with the negative TTL (RFC 2308).
//   - Names outside the zone, classes other than IN, zone transfers:
//     REFUSED. Opcodes other than QUERY: NOTIMP. A packet that does not
//     parse but has a query header: FORMERR. Responses are never answered.
//   - EDNS0 is honoured (version 0, else BADVERS); a UDP answer never
//     exceeds the client's advertised size (at most 1232 bytes, the size
//     that avoids fragmentation, or 512 without EDNS0) and is truncated
//     with TC set when it would.
//
// # Limits
//
// Each client address (IPv4, or an IPv6 /64) has a token bucket. Over UDP,
// a client over its rate has every other query answered with an empty
// truncated response (so that a real resolver retries over TCP, where
// addresses cannot be spoofed) and the others dropped, which keeps the
// server from amplifying a flood aimed at a spoofed address. Over TCP it
// gets REFUSED. TCP connections are bounded in number, idle time, queries
// per connection and query size. A name holds at most MaxAddrs addresses,
// so every answer is small.
package dns
