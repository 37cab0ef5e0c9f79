// Package recursion is the protocol of recursive queries between pods: one
// query to a member's pod that the pod answers from its own store and
// forwards, over mutual TLS, to the pods it links to, which answer and
// forward in turn, up to the depth the service's contract allows.
//
// # Signed queries
//
// The pod a client asks (the origin) signs the query with its member-data
// key (ES256): a Request holds everything that shapes the answer (service,
// class, filter, selected fields, first, after, depth, relations,
// remote_member_id, query_id, the origin's member id and a timestamp), and
// Request.Canonical is the one serialisation both signer and verifier
// hash. Later hops forward the origin's signature unchanged, in the
// GraphQL request's extensions (Envelope), with the number of hops the
// query has travelled; each hop authenticates its own caller by its TLS
// client certificate.
//
// A receiver refuses (Check): a missing or malformed envelope, a bad
// signature, a timestamp more than MaxAge away from its clock, a depth
// beyond the contract's max_query_depth, hops that do not fit the caller
// (the origin itself is at hop 0 and must call directly; anyone else calls
// from hop 1 on), too many relations. A query it has already answered
// (the same canonical request: a cycle or a diamond in the graph) is
// answered with no records, never an error (Seen). One that first came the
// long way round, with less depth left than it now has, is forwarded
// again, further, without the pod's records, which went the first time:
// so a pod that the query reaches first through a neighbour, at its last
// hop, still passes it on to the pods beyond it.
//
// # Paging
//
// A recursive answer's page_info.end_cursor is a Cursor: for each origin
// pod, the cursor of the last of its records a page returned. Every hop
// reads its own entry for its local query and forwards the whole cursor.
// Merge builds a page from the records of every origin, taking from each
// origin in turn so that every origin contributes a prefix of its records,
// and so each record is returned exactly once across pages.
//
// # Fan-out
//
// FanOut asks peers in parallel, at most a bound at a time, each with the
// caller's deadline less a margin, and collects every answer and every
// failure: a peer that is down, slow or refuses does not fail the query.
package recursion
