package p2p_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/podruntime/recursion"
)

// TestForwardedQueries plays a pod that forwards queries to a real one:
// member X (a fake peer with its own certificates, serving its data
// certificate) sends signed queries straight to pod T's peer port. T links
// X and Y as family and has two addresses. A genuine query is answered;
// each signed field changed in turn, a signature of another key, a forged
// origin, an old or future timestamp, depth beyond the contract, too many
// relations and malformed envelopes are refused with the reason, counted
// in T's metrics, and change nothing: the genuine query is answered after
// them all, and its replay is answered with no records and no error.
func TestForwardedQueries(t *testing.T) {
	t.Parallel()
	target := startPod(t, "T", nil)
	x := startFakePeer(t, "X", demoSID, nil)
	y := startFakePeer(t, "Y", demoSID, nil)
	target.link(t, demoSID, x.mid, "family")
	target.link(t, demoSID, y.mid, "family")
	amsterdam := target.addAddress(t, "Amsterdam")
	target.addAddress(t, "Berlin")

	base := forwarded{
		class:     "addresses",
		filter:    &condition{field: "city", op: "eq", value: "Amsterdam"},
		fields:    []string{"address_id", "city"},
		first:     10,
		depth:     1,
		hops:      1,
		relations: []string{"family"},
		queryID:   uuid.NewString(),
	}
	// genuine is signed once: every case below is refused before T
	// remembers anything, so it is still new at the end.
	genuineTS := time.Now()
	genuine := x.sign(t, base.request(demoSID, x.mid, genuineTS), 1)

	type tampered struct {
		name   string
		query  string         // the GraphQL text sent
		env    any            // extensions.byoda_query
		reason string         // extensions.reason of the refusal
		says   string         // a part of the message
		code   string         // default BAD_USER_INPUT
		extra  map[string]any // other extensions
	}
	with := func(f func(q *forwarded)) forwarded {
		q := base
		q.relations = append([]string(nil), base.relations...)
		q.fields = append([]string(nil), base.fields...)
		filter := *base.filter
		q.filter = &filter
		f(&q)
		return q
	}
	// signedAs signs q as origin, with key's member-data key, at ts.
	signedAs := func(q forwarded, key *fakePeer, origin uuid.UUID, ts time.Time, hops int) recursion.Envelope {
		env := key.sign(t, q.request(demoSID, origin, ts), hops)
		env.Origin = origin.String()
		return env
	}
	envWith := func(f func(e *recursion.Envelope)) recursion.Envelope {
		e := genuine
		e.Signature = bytes.Clone(genuine.Signature)
		f(&e)
		return e
	}
	cursor := recursion.Cursor{target.mid(demoSID): "AQ"}.String()
	// deep is a query at hop 2, of a class any member may read at any
	// distance.
	deep := with(func(q *forwarded) {
		q.depth = 2
		q.hops = 2
		q.class = "posts"
		q.filter = nil
		q.fields = []string{"post_id", "text"}
	})
	proxied := with(func(q *forwarded) { q.depth = 0 })
	manyRelations := make([]string, recursion.MaxRelations+1)
	for i := range manyRelations {
		manyRelations[i] = fmt.Sprintf("r%d", i)
	}
	wrongSig := make([]byte, 64)
	rand.Read(wrongSig)

	cases := []tampered{
		// Each signed field changed after signing.
		{name: "filter", query: with(func(q *forwarded) { q.filter.value = "Berlin" }).graphQL(), env: genuine, reason: "signature"},
		{name: "fields", query: with(func(q *forwarded) { q.fields = append(q.fields, "street") }).graphQL(), env: genuine, reason: "signature"},
		{name: "first", query: with(func(q *forwarded) { q.first = 11 }).graphQL(), env: genuine, reason: "signature"},
		{name: "after", query: with(func(q *forwarded) { q.after = cursor }).graphQL(), env: genuine, reason: "signature"},
		{name: "depth", query: with(func(q *forwarded) { q.depth = 2 }).graphQL(), env: envWith(func(e *recursion.Envelope) { e.Depth = 2 }), reason: "signature"},
		{name: "relations", query: with(func(q *forwarded) { q.relations = append(q.relations, "friend") }).graphQL(), env: genuine, reason: "signature"},
		{name: "query_id", query: with(func(q *forwarded) { q.queryID = uuid.NewString() }).graphQL(), env: genuine, reason: "signature"},
		{name: "remote_member_id", query: with(func(q *forwarded) { q.depth = 0; q.remote = target.mid(demoSID).String() }).graphQL(),
			env: signedAs(proxied, x, x.mid, time.Now(), 1), reason: "signature"},
		{name: "class", query: base.graphQL(), env: signedAs(with(func(q *forwarded) { q.class = "posts" }), x, x.mid, time.Now(), 1), reason: "signature"},
		{name: "service", query: base.graphQL(), env: func() recursion.Envelope {
			r := base.request(profilesSID, x.mid, time.Now())
			return x.sign(t, r, 1)
		}(), reason: "signature"},
		{name: "timestamp", query: base.graphQL(), env: envWith(func(e *recursion.Envelope) { e.Timestamp = e.Timestamp.Add(time.Millisecond) }), reason: "signature"},
		{name: "origin", query: deep.graphQL(), env: signedAs(deep, x, y.mid, time.Now(), 2), reason: "signature", says: "another key"},

		// Signatures.
		{name: "signature of another member's key", query: base.graphQL(), env: signedAs(base, y, x.mid, time.Now(), 1), reason: "signature"},
		{name: "wrong signature", query: base.graphQL(), env: envWith(func(e *recursion.Envelope) { e.Signature = wrongSig }), reason: "signature"},
		{name: "short signature", query: base.graphQL(), env: envWith(func(e *recursion.Envelope) { e.Signature = e.Signature[:10] }), reason: "signature", says: "64"},
		{name: "replayed signature", query: with(func(q *forwarded) { q.queryID = uuid.NewString(); q.filter.value = "Berlin" }).graphQL(), env: genuine, reason: "signature"},
		{name: "unknown origin", query: deep.graphQL(), env: signedAs(deep, x, uuid.New(), time.Now(), 2), reason: "origin", says: "not_found"},

		// Time, depth and hops.
		{name: "old timestamp", query: base.graphQL(), env: signedAs(base, x, x.mid, time.Now().Add(-recursion.MaxAge-time.Minute), 1), reason: "timestamp"},
		{name: "future timestamp", query: base.graphQL(), env: signedAs(base, x, x.mid, time.Now().Add(recursion.MaxAge+time.Minute), 1), reason: "timestamp"},
		{name: "depth beyond the contract", query: with(func(q *forwarded) { q.depth = 3 }).graphQL(),
			env: signedAs(with(func(q *forwarded) { q.depth = 3 }), x, x.mid, time.Now(), 1), reason: "depth", says: "max_query_depth of 2"},
		{name: "depth argument off the envelope", query: with(func(q *forwarded) { q.depth = 2 }).graphQL(), env: genuine, reason: "depth"},
		{name: "origin at hop 2", query: deep.graphQL(), env: signedAs(deep, x, x.mid, time.Now(), 2), reason: "depth", says: "only the origin"},
		{name: "another origin at hop 1", query: base.graphQL(), env: signedAs(base, y, y.mid, time.Now(), 1), reason: "depth", says: "only the origin"},

		// Relations.
		{name: "too many relations", query: with(func(q *forwarded) { q.relations = manyRelations }).graphQL(),
			env: signedAs(with(func(q *forwarded) { q.relations = manyRelations }), x, x.mid, time.Now(), 1), reason: "relations"},
		{name: "relation too long", query: with(func(q *forwarded) { q.relations = []string{strings.Repeat("f", 65)} }).graphQL(),
			env: signedAs(with(func(q *forwarded) { q.relations = []string{strings.Repeat("f", 65)} }), x, x.mid, time.Now(), 1), reason: "relations"},

		// Malformed envelopes.
		{name: "envelope is a string", query: base.graphQL(), env: "signed, trust me", reason: "extensions", says: "want an object"},
		{name: "envelope is a list", query: base.graphQL(), env: []any{1, 2}, reason: "extensions"},
		{name: "envelope is null", query: base.graphQL(), env: nil, reason: "extensions", says: "v is missing"},
		{name: "missing signature", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1},
			reason: "extensions", says: "signature is missing"},
		{name: "unknown field", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1,
			"signature": base64.RawURLEncoding.EncodeToString(genuine.Signature), "trust": true}, reason: "extensions", says: "trust"},
		{name: "version 2", query: base.graphQL(), env: map[string]any{"v": 2, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1,
			"signature": base64.RawURLEncoding.EncodeToString(genuine.Signature)}, reason: "extensions", says: "version 1"},
		{name: "origin not a member id", query: base.graphQL(), env: map[string]any{"v": 1, "origin": strings.ToUpper(x.mid.String()), "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1,
			"signature": base64.RawURLEncoding.EncodeToString(genuine.Signature)}, reason: "extensions", says: "lower-case UUID"},
		{name: "hops 0", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 0,
			"signature": base64.RawURLEncoding.EncodeToString(genuine.Signature)}, reason: "extensions", says: "hops"},
		{name: "timestamp a string", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": "now", "depth": 1, "hops": 1,
			"signature": base64.RawURLEncoding.EncodeToString(genuine.Signature)}, reason: "extensions", says: "timestamp"},
		{name: "signature not base64url", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1,
			"signature": "not base64!"}, reason: "extensions", says: "base64url"},
		{name: "oversized envelope", query: base.graphQL(), env: map[string]any{"v": 1, "origin": x.mid, "timestamp": time.Now().UnixMilli(), "depth": 1, "hops": 1,
			"signature": strings.Repeat("A", 2000)}, reason: "extensions", says: "at most 1024"},

		// Who may ask.
		{name: "recursive query without an envelope", query: with(func(q *forwarded) { q.hops = 0 }).graphQL(),
			env: nil, extra: map[string]any{}, code: "FORBIDDEN", reason: "", says: "only the pod's owner"},
	}

	before := target.metrics(t)
	want := map[string]float64{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extensions := ext(c.env)
			if c.extra != nil {
				extensions = c.extra
			}
			code := c.code
			if code == "" {
				code = "BAD_USER_INPUT"
			}
			e := x.send(t, target, c.query, extensions).refused(t, code, c.reason)
			if c.says != "" && !strings.Contains(e.Message, c.says) {
				t.Errorf("message %q does not say %q", e.Message, c.says)
			}
		})
		reason := c.reason
		if reason == "" {
			reason = "caller"
		}
		want[reason]++
	}

	t.Run("owner sends an envelope", func(t *testing.T) {
		// Forwarded queries come from members' pods on the peer port.
		target.gqlExt(t, demoSID, base.graphQL(), nil, ext(genuine)).refused(t, "FORBIDDEN", "")
		want["caller"]++
	})

	after := target.metrics(t)
	for reason, n := range want {
		if got := refusals(after, demoSID, reason) - refusals(before, demoSID, reason); got != n {
			t.Errorf("byoda_pod_recursive_refusals_total{reason=%q} went up by %v, want %v", reason, got, n)
		}
	}
	forwardedQueries := func(m map[string]float64, role string) float64 {
		return m[fmt.Sprintf(`byoda_pod_recursive_queries_total{role=%q,service="%d"}`, role, demoSID)]
	}
	if n := forwardedQueries(after, "forwarded") - forwardedQueries(before, "forwarded"); n != 0 {
		t.Errorf("%v refused queries were answered", n)
	}

	t.Run("genuine, then replayed", func(t *testing.T) {
		p := x.send(t, target, base.graphQL(), ext(genuine)).ok(t).page(t, "addresses_connection")
		if len(p.Edges) != 1 || p.Edges[0].Node["address_id"] != amsterdam || p.Edges[0].Origin == nil || *p.Edges[0].Origin != target.mid(demoSID).String() {
			t.Fatalf("genuine query: %+v; want the Amsterdam address, of origin T", p.Edges)
		}
		again := x.send(t, target, base.graphQL(), ext(genuine)).ok(t)
		if p := again.page(t, "addresses_connection"); len(p.Edges) != 0 {
			t.Errorf("replay answered %d records, want none", len(p.Edges))
		}
		m := target.metrics(t)
		if n := forwardedQueries(m, "repeat") - forwardedQueries(after, "repeat"); n != 1 {
			t.Errorf("repeats went up by %v, want 1", n)
		}
	})
}
