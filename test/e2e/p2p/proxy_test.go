package p2p_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

const (
	proxiedAddresses = `query($m: UUID) { addresses_connection(remote_member_id: $m, first: 100) {
		edges { origin node { address_id city } } } }`
	proxiedInvite = `mutation($m: UUID, $me: UUID!, $ts: DateTime!) {
		append_network_invites(remote_member_id: $m, member_id: $me, relation: "friend", created_timestamp: $ts) }`
	proxiedAddress = `mutation($m: UUID, $id: UUID!, $ts: DateTime!) {
		append_addresses(remote_member_id: $m, address_id: $id, created_timestamp: $ts, city: "Sneaky", country: "NL") }`
)

// testProxy: A's owner reads and appends at one other pod through A
// (remote_member_id), and the other pod's contract decides: B, whose
// family A is, lets A read its addresses; E, whose friend A is, does not,
// but any member may append to its network_invites, and none to its
// addresses.
func testProxy(t *testing.T, g *graph) {
	a, b, e := g.pods["A"], g.pods["B"], g.pods["E"]
	all := g.all()

	t.Run("query to family", func(t *testing.T) {
		r := a.gql(t, demoSID, proxiedAddresses, map[string]any{"m": b.mid(demoSID)}).ok(t)
		sameRecords(t, records(t, r.page(t, "addresses_connection"), "A", demoSID, "address_id", all...), g.wantAddresses("B"))
	})
	t.Run("query to a friend", func(t *testing.T) {
		err := a.gql(t, demoSID, proxiedAddresses, map[string]any{"m": e.mid(demoSID)}).refused(t, "PEER_REFUSED", "")
		if !strings.Contains(err.Message, "FORBIDDEN") || !strings.Contains(err.Message, e.mid(demoSID).String()) {
			t.Errorf("message %q: want E's member id and FORBIDDEN", err.Message)
		}
	})
	t.Run("append to network_invites", func(t *testing.T) {
		a.gql(t, demoSID, proxiedInvite, map[string]any{"m": e.mid(demoSID), "me": a.mid(demoSID), "ts": now()}).ok(t)
		r := e.gql(t, demoSID, `{ network_invites_connection { edges { node { member_id relation } } } }`, nil).ok(t)
		p := r.page(t, "network_invites_connection")
		if len(p.Edges) != 1 || p.Edges[0].Node["member_id"] != a.mid(demoSID).String() || p.Edges[0].Node["relation"] != "friend" {
			t.Errorf("E's invites: %+v; want A's, as a friend", p.Edges)
		}
	})
	t.Run("append to addresses", func(t *testing.T) {
		a.gql(t, demoSID, proxiedAddress, map[string]any{"m": e.mid(demoSID), "id": uuid.NewString(), "ts": now()}).refused(t, "PEER_REFUSED", "")
		r := e.gql(t, demoSID, `{ addresses_connection { total_count } }`, nil).ok(t)
		if n := r.page(t, "addresses_connection").TotalCount; n != len(g.addresses["E"]) {
			t.Errorf("E has %d addresses, want %d: the refused append stored something", n, len(g.addresses["E"]))
		}
	})
	t.Run("unknown member", func(t *testing.T) {
		before := a.metrics(t)
		nobody := uuid.New()
		err := a.gql(t, demoSID, proxiedAddresses, map[string]any{"m": nobody}).refused(t, "PEER_NOT_FOUND", "")
		if !strings.Contains(err.Message, nobody.String()) {
			t.Errorf("message %q does not name the member", err.Message)
		}
		a.gql(t, demoSID, proxiedInvite, map[string]any{"m": nobody, "me": a.mid(demoSID), "ts": now()}).refused(t, "PEER_NOT_FOUND", "")
		if n := peerCalls(a.metrics(t), demoSID, "not_found") - peerCalls(before, demoSID, "not_found"); n != 2 {
			t.Errorf("byoda_pod_peer_calls_total{outcome=\"not_found\"} went up by %v, want 2", n)
		}
	})
	t.Run("unreachable member", func(t *testing.T) {
		// A member whose name resolves to an address where nothing
		// listens.
		z, err := openPKI(t).CreateMember(demoSID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		register(t, pki.MemberName(demoSID, z, network), addrs.take())
		before := a.metrics(t)
		a.gql(t, demoSID, proxiedAddresses, map[string]any{"m": z}).refused(t, "PEER_UNREACHABLE", "")
		if n := peerCalls(a.metrics(t), demoSID, "unreachable") - peerCalls(before, demoSID, "unreachable"); n != 1 {
			t.Errorf("byoda_pod_peer_calls_total{outcome=\"unreachable\"} went up by %v, want 1", n)
		}
	})
	t.Run("owner's bad input", func(t *testing.T) {
		many := make([]string, 17)
		for i := range many {
			many[i] = "family"
		}
		before := a.metrics(t)
		for _, c := range []struct {
			name, reason, says string
			vars               map[string]any
		}{
			{"17 relations", "relations", "at most 16", map[string]any{"d": 1, "r": many}},
			{"a relation of 65 characters", "relations", "1 to 64", map[string]any{"d": 1, "r": []string{strings.Repeat("x", 65)}}},
			{"a local cursor", "cursor", "end_cursor", map[string]any{"d": 1, "after": "not-a-recursive-cursor"}},
			{"depth 3", "depth", "max_query_depth of 2", map[string]any{"d": 3}},
		} {
			err := a.gql(t, demoSID, addressesQuery, c.vars).refused(t, "BAD_USER_INPUT", c.reason)
			if !strings.Contains(err.Message, c.says) {
				t.Errorf("%s: message %q does not say %q", c.name, err.Message, c.says)
			}
		}
		a.gql(t, demoSID, `query($m: UUID) { addresses_connection(remote_member_id: $m, depth: 1) { edges { cursor } } }`,
			map[string]any{"m": b.mid(demoSID)}).refused(t, "BAD_USER_INPUT", "")
		m := a.metrics(t)
		for reason, n := range map[string]float64{"relations": 2, "cursor": 1, "depth": 1, "caller": 1} {
			if got := refusals(m, demoSID, reason) - refusals(before, demoSID, reason); got != n {
				t.Errorf("byoda_pod_recursive_refusals_total{reason=%q} went up by %v, want %v", reason, got, n)
			}
		}
	})
}
