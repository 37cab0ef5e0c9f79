package recursion

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testNet is a network with service 4711 and two members.
type testNet struct {
	dir      *pki.Dir
	verifier *pki.Verifier
	alice    uuid.UUID
	bob      uuid.UUID
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	dir, err := pki.InitNetwork(t.TempDir(), "byoda.test", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.CreateService(4711, t0); err != nil {
		t.Fatal(err)
	}
	n := &testNet{dir: dir}
	for _, id := range []*uuid.UUID{&n.alice, &n.bob} {
		if *id, err = dir.CreateMember(4711, t0); err != nil {
			t.Fatal(err)
		}
	}
	roots, err := dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	n.verifier = &pki.Verifier{Roots: roots, Network: "byoda.test", Now: func() time.Time { return t0 }}
	return n
}

func (n *testNet) dataKey(t *testing.T, mid uuid.UUID) *pki.KeyPair {
	t.Helper()
	kp, err := n.dir.MemberDataKey(4711, mid)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func sampleRequest(origin uuid.UUID) *Request {
	return &Request{
		ServiceID: 4711,
		Class:     "addresses",
		Filter: []Condition{
			{Field: "city", Op: "glob", Value: "[AB]*"},
			{Field: "country", Op: "vin", Value: []string{"NL", "BE"}},
			{Field: "number", Op: "gt", Value: int64(3)},
			{Field: "score", Op: "elt", Value: 2.5},
			{Field: "active", Op: "eq", Value: true},
			{Field: "created_timestamp", Op: "gt", Value: t0.Add(-time.Hour)},
		},
		Fields:         []string{"street", "city"},
		First:          20,
		After:          "",
		Depth:          2,
		Relations:      []string{"Family", "friend", "family"},
		QueryID:        "0b5c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3",
		Origin:         origin.String(),
		Timestamp:      t0.Add(123456 * time.Microsecond),
		RemoteMemberID: "",
	}
}

// TestSignTamper signs a request and changes each signed field in turn:
// every change must fail verification, and the unchanged request verify.
func TestSignTamper(t *testing.T) {
	n := newTestNet(t)
	key := n.dataKey(t, n.alice).Key.(*ecdsa.PrivateKey)
	pub := &key.PublicKey
	req := sampleRequest(n.alice)
	req.Normalize()
	sig, err := req.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Verify(pub, sig); err != nil {
		t.Fatalf("the signed request does not verify: %v", err)
	}
	// Normalize made the relations and fields canonical.
	if strings.Join(req.Relations, ",") != "family,friend" || strings.Join(req.Fields, ",") != "city,street" {
		t.Fatalf("normalized relations %q, fields %q", req.Relations, req.Fields)
	}
	tampers := map[string]func(r *Request){
		"service":          func(r *Request) { r.ServiceID++ },
		"class":            func(r *Request) { r.Class = "person" },
		"filter op":        func(r *Request) { r.Filter[0].Op = "regex" },
		"filter value":     func(r *Request) { r.Filter[0].Value = "[AC]*" },
		"filter list":      func(r *Request) { r.Filter[1].Value = []string{"NL"} },
		"filter int":       func(r *Request) { r.Filter[2].Value = int64(4) },
		"filter type":      func(r *Request) { r.Filter[2].Value = float64(3) },
		"filter number":    func(r *Request) { r.Filter[3].Value = 2.25 },
		"filter bool":      func(r *Request) { r.Filter[4].Value = false },
		"filter time":      func(r *Request) { r.Filter[5].Value = t0 },
		"filter dropped":   func(r *Request) { r.Filter = r.Filter[1:] },
		"filter field":     func(r *Request) { r.Filter[0].Field = "street" },
		"fields":           func(r *Request) { r.Fields = append(r.Fields, "email") },
		"first":            func(r *Request) { r.First = 500 },
		"after":            func(r *Request) { r.After = Cursor{n.bob: "AQE"}.String() },
		"depth":            func(r *Request) { r.Depth = 1 },
		"relations":        func(r *Request) { r.Relations = []string{"family"} },
		"remote_member_id": func(r *Request) { r.RemoteMemberID = n.bob.String() },
		"query_id":         func(r *Request) { r.QueryID = uuid.NewString() },
		"origin":           func(r *Request) { r.Origin = n.bob.String() },
		"timestamp":        func(r *Request) { r.Timestamp = r.Timestamp.Add(time.Millisecond) },
	}
	for name, tamper := range tampers {
		t.Run(name, func(t *testing.T) {
			r := sampleRequest(n.alice)
			r.Normalize()
			tamper(r)
			r.Normalize()
			err := r.Verify(pub, sig)
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Reason != ReasonSignature {
				t.Errorf("after changing %s: Verify = %v; want a signature refusal", name, err)
			}
		})
	}
	// Another member's key (a forged origin) does not verify either.
	other := n.dataKey(t, n.bob).Key.(*ecdsa.PrivateKey)
	forged, err := req.Sign(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Verify(pub, forged); err == nil {
		t.Error("a request signed with another member's key verifies with the origin's")
	}
	if err := req.Verify(pub, sig[:63]); err == nil {
		t.Error("a short signature verifies")
	}
}

func TestCanonicalUnsignable(t *testing.T) {
	r := sampleRequest(uuid.New())
	r.Filter = []Condition{{Field: "x", Op: "eq", Value: struct{}{}}}
	if _, err := r.Canonical(); err == nil {
		t.Error("a filter value of an unknown type has a canonical form")
	}
}

func TestEnvelope(t *testing.T) {
	origin := uuid.New()
	env := Envelope{Origin: origin.String(), Timestamp: t0, Depth: 2, Hops: 1, Signature: []byte{1, 2, 3}}
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEnvelope(data)
	if err != nil {
		t.Fatalf("ParseEnvelope(%s): %v", data, err)
	}
	if back.Origin != env.Origin || !back.Timestamp.Equal(env.Timestamp) || back.Depth != 2 || back.Hops != 1 || string(back.Signature) != string(env.Signature) {
		t.Errorf("round trip: %+v; want %+v", back, env)
	}
	good := fmt.Sprintf(`"v":1,"origin":%q,"timestamp":1,"depth":2,"hops":1,"signature":"AQID"`, origin)
	for _, tc := range []struct{ in, want string }{
		{`{` + good + `}`, ""},
		{``, "EOF"},
		{`[]`, "a JSON array; want an object"},
		{`{` + good + `,"extra":1}`, `unknown field "extra"`},
		{`{` + good + `} {}`, "unexpected data after"},
		{`{"v":1}`, "origin is missing"},
		{strings.Replace(`{`+good+`}`, `"v":1`, `"v":2`, 1), "speaks version 1"},
		{strings.Replace(`{`+good+`}`, `"v":1`, `"v":"1"`, 1), "field v is a JSON string"},
		{strings.Replace(`{`+good+`}`, origin.String(), strings.ToUpper(origin.String()), 1), "want a member id"},
		{strings.Replace(`{`+good+`}`, `"hops":1`, `"hops":0`, 1), "1 <= hops"},
		{strings.Replace(`{`+good+`}`, `"hops":1`, `"hops":3`, 1), "1 <= hops"},
		{strings.Replace(`{`+good+`}`, `"depth":2`, `"depth":-1`, 1), "depth >= 0"},
		{strings.Replace(`{`+good+`}`, `"AQID"`, `"AQ=="`, 1), "base64url"},
		{`{"v":1,"origin":"` + strings.Repeat("x", MaxEnvelopeBytes) + `"}`, "bytes; at most"},
	} {
		_, err := ParseEnvelope([]byte(tc.in))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseEnvelope(%.60s): %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ParseEnvelope(%.60s) = %v; want an error with %q", tc.in, err, tc.want)
		}
		var ref *Refusal
		if err != nil && (!errors.As(err, &ref) || ref.Reason != ReasonExtensions) {
			t.Errorf("ParseEnvelope(%.60s) error %v is not an extensions refusal", tc.in, err)
		}
	}
}

func TestCheck(t *testing.T) {
	origin, mike, jane := uuid.New(), uuid.New(), uuid.New()
	received := func(caller, self uuid.UUID, depth, hops, arg int, ts time.Time) *Received {
		req := sampleRequest(origin)
		return &Received{
			Request:  req,
			Envelope: Envelope{Origin: origin.String(), Timestamp: ts, Depth: depth, Hops: hops},
			Caller:   caller.String(), Self: self.String(), DepthArg: arg,
		}
	}
	for _, tc := range []struct {
		name     string
		r        *Received
		distance int
		reason   Reason
	}{
		{"origin asks a link", received(origin, mike, 2, 1, 1, t0), 1, ""},
		{"a link forwards", received(mike, jane, 2, 2, 0, t0), 2, ""},
		{"four minutes old", received(origin, mike, 2, 1, 1, t0.Add(-4*time.Minute)), 1, ""},
		{"six minutes old", received(origin, mike, 2, 1, 1, t0.Add(-6*time.Minute)), 0, ReasonTimestamp},
		{"from the future", received(origin, mike, 2, 1, 1, t0.Add(6*time.Minute)), 0, ReasonTimestamp},
		{"beyond max_query_depth", received(origin, mike, 3, 1, 2, t0), 0, ReasonDepth},
		{"depth argument does not fit", received(origin, mike, 2, 1, 2, t0), 0, ReasonDepth},
		{"forwarder claims hop 1", received(mike, jane, 2, 1, 1, t0), 0, ReasonDepth},
		{"origin claims hop 2", received(origin, jane, 2, 2, 0, t0), 0, ReasonDepth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.r.Check(t0, 2)
			var ref *Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.reason == "" && d != tc.distance:
				t.Errorf("distance %d; want %d", d, tc.distance)
			case tc.reason != "" && (!errors.As(err, &ref) || ref.Reason != tc.reason):
				t.Errorf("Check = %v; want a %s refusal", err, tc.reason)
			}
		})
	}
	// Relations are bounded.
	r := received(origin, mike, 2, 1, 1, t0)
	r.Request.Relations = strings.Split(strings.Repeat("r,", MaxRelations+1), ",")
	if _, err := r.Check(t0, 2); err == nil || !strings.Contains(err.Error(), "relations") {
		t.Errorf("too many relations: %v", err)
	}
	// A proxied query comes from its origin to the remote member at depth 0.
	p := received(origin, mike, 0, 1, 0, t0)
	p.Request.RemoteMemberID = mike.String()
	if d, err := p.Check(t0, 2); err != nil || d != 1 {
		t.Errorf("proxied query: %d, %v", d, err)
	}
	p = received(origin, jane, 0, 1, 0, t0)
	p.Request.RemoteMemberID = mike.String()
	if _, err := p.Check(t0, 2); err == nil {
		t.Error("a query proxied to mike is answered by jane")
	}
}

func TestCursor(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	c := Cursor{a: "AQE", b: "AYAB"}
	back, err := ParseCursor(c.String())
	if err != nil || len(back) != 2 || back[a] != "AQE" || back[b] != "AYAB" {
		t.Fatalf("ParseCursor(%q) = %v, %v", c.String(), back, err)
	}
	if c.String() != (Cursor{b: "AYAB", a: "AQE"}).String() {
		t.Error("the encoding depends on map order")
	}
	if got, err := ParseCursor(""); err != nil || len(got) != 0 {
		t.Errorf(`ParseCursor("") = %v, %v`, got, err)
	}
	for _, bad := range []string{"AQE", "!!", "Ug", c.String()[:10], strings.Repeat("A", MaxCursorBytes+1)} {
		var ref *Refusal
		if _, err := ParseCursor(bad); !errors.As(err, &ref) || ref.Reason != ReasonCursor {
			t.Errorf("ParseCursor(%.20q) = %v; want a cursor refusal", bad, err)
		}
	}
}

// TestMergePaging pages through answers of several origins, with parts
// that hold records of several origins, and checks that every record comes
// exactly once and that pages take from every origin.
func TestMergePaging(t *testing.T) {
	self := uuid.MustParse("ffffffff-0000-4000-8000-000000000000")
	origins := []uuid.UUID{self, uuid.New(), uuid.New(), uuid.New()}
	counts := []int{7, 0, 13, 3}
	// records[o] are origin o's records: cursors c1, c2, ...
	records := map[uuid.UUID][]string{}
	for i, o := range origins {
		for k := 1; k <= counts[i]; k++ {
			records[o] = append(records[o], fmt.Sprintf("c%02d", k))
		}
	}
	// answer is what the network answers after the cursor: self's page
	// alone, and the others in one part, as a peer that merged them
	// would send them (with its own page bound).
	answer := func(after Cursor, first int) []Part {
		page := func(o uuid.UUID) ([]Item, bool) {
			var items []Item
			for _, c := range records[o] {
				if c > after[o] && len(items) < first {
					items = append(items, Item{Origin: o, Cursor: c, Node: o.String() + "/" + c})
				}
			}
			more := 0
			for _, c := range records[o] {
				if c > after[o] {
					more++
				}
			}
			return items, more > len(items)
		}
		own, ownNext := page(self)
		parts := []Part{{Items: own, HasNext: ownNext}}
		var peer Part
		for _, o := range origins[1:] {
			items, next := page(o)
			peer.Items = append(peer.Items, items...)
			peer.HasNext = peer.HasNext || next
		}
		// The peer sends a duplicate too.
		if len(peer.Items) > 0 {
			peer.Items = append(peer.Items, peer.Items[0])
		}
		return append(parts, peer)
	}
	for _, first := range []int{1, 2, 5, 20} {
		got := map[string]int{}
		after := Cursor{}
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("first %d: paging does not end", first)
			}
			parsed, err := ParseCursor(after.String())
			if err != nil {
				t.Fatal(err)
			}
			page, next, more := Merge(self, parsed, first, answer(parsed, first))
			if len(page) > first {
				t.Fatalf("first %d: a page of %d", first, len(page))
			}
			if pages == 0 && first >= 3 {
				// The first page takes from every origin that has records.
				from := map[uuid.UUID]bool{}
				for _, it := range page {
					from[it.Origin] = true
				}
				if len(from) != 3 || page[0].Origin != self {
					t.Errorf("first %d: the first page comes from %d origins, starting with %s", first, len(from), page[0].Origin)
				}
			}
			for _, it := range page {
				got[it.Node.(string)]++
			}
			after = next
			if !more {
				break
			}
		}
		total := 0
		for o, rs := range records {
			for _, c := range rs {
				total++
				if n := got[o.String()+"/"+c]; n != 1 {
					t.Errorf("first %d: %s/%s came %d times", first, o, c, n)
				}
			}
		}
		if len(got) != total {
			t.Errorf("first %d: %d distinct records; want %d", first, len(got), total)
		}
	}
}

func TestSeen(t *testing.T) {
	s := NewSeen(2)
	d1, d2, d3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	if v, err := s.Arrive(d1, 1, t0, t0); v != VisitNew || err != nil {
		t.Fatalf("first sight: %v, %v", v, err)
	}
	if v, err := s.Arrive(d1, 1, t0, t0.Add(time.Minute)); v != VisitRepeat || err != nil {
		t.Errorf("replay: %v, %v; want a repeat", v, err)
	}
	if v, _ := s.Arrive(d2, 0, t0.Add(time.Minute), t0.Add(time.Minute)); v != VisitNew {
		t.Errorf("another query: %v; want new", v)
	}
	var ref *Refusal
	if _, err := s.Arrive(d3, 0, t0, t0.Add(time.Minute)); !errors.As(err, &ref) || ref.Reason != ReasonBusy {
		t.Errorf("full: %v; want busy", err)
	}
	// Once d1 can no longer be accepted, it is forgotten and room is made.
	later := t0.Add(2*MaxAge + time.Second)
	if v, err := s.Arrive(d3, 0, later, later); v != VisitNew || err != nil {
		t.Errorf("after expiry: %v, %v", v, err)
	}
	if s.Len() != 2 {
		t.Errorf("Len %d; want 2 (d2 still acceptable, d3)", s.Len())
	}
}

// TestSeenDeeper: a query that first arrives the long way, with less
// depth left, is forwarded again when it arrives with more, and only
// then.
func TestSeenDeeper(t *testing.T) {
	s := NewSeen(0)
	d := [32]byte{9}
	for i, c := range []struct {
		left int
		want Visit
	}{
		{0, VisitNew},    // through a neighbour, at the last hop
		{0, VisitRepeat}, // the same way again
		{1, VisitDeeper}, // straight from the origin: forward, no records
		{1, VisitRepeat},
		{0, VisitRepeat},
		{2, VisitDeeper},
	} {
		if v, err := s.Arrive(d, c.left, t0, t0); v != c.want || err != nil {
			t.Errorf("arrival %d with %d left: %v, %v; want %v", i, c.left, v, err, c.want)
		}
	}
	if s.Len() != 1 {
		t.Errorf("Len %d; want 1", s.Len())
	}
}

func TestKeys(t *testing.T) {
	n := newTestNet(t)
	var fetches atomic.Int32
	chains := map[uuid.UUID][]*x509.Certificate{
		n.alice: n.dataKey(t, n.alice).Chain,
	}
	// bob serves alice's chain: a forged origin.
	chains[n.bob] = n.dataKey(t, n.alice).Chain
	release := make(chan struct{})
	keys := NewKeys(n.verifier, func(ctx context.Context, sid uint32, mid uuid.UUID) ([]*x509.Certificate, error) {
		fetches.Add(1)
		<-release
		if c, ok := chains[mid]; ok {
			return c, nil
		}
		return nil, errors.New("no such member")
	}, 0)
	ctx := context.Background()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			pub, err := keys.Get(ctx, 4711, n.alice)
			if err == nil && !pub.Equal(n.dataKey(t, n.alice).Cert.PublicKey) {
				err = errors.New("wrong key")
			}
			errs <- err
		}()
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.Get(ctx, 4711, n.alice); err != nil {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 1 {
		t.Errorf("%d fetches for nine lookups of one member; want 1", got)
	}
	for mid, want := range map[uuid.UUID]string{n.bob: "presented the certificate of", uuid.New(): "no such member"} {
		_, err := keys.Get(ctx, 4711, mid)
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Reason != ReasonOrigin || !strings.Contains(err.Error(), want) {
			t.Errorf("Get(%s) = %v; want an origin refusal with %q", mid, err, want)
		}
	}
	// A TLS certificate is not a data certificate.
	tlsChain := func() []*x509.Certificate {
		kp, err := n.dir.MemberKey(4711, n.alice)
		if err != nil {
			t.Fatal(err)
		}
		return kp.Chain
	}()
	chains[n.alice] = tlsChain
	k2 := NewKeys(n.verifier, func(context.Context, uint32, uuid.UUID) ([]*x509.Certificate, error) { return tlsChain, nil }, 0)
	if _, err := k2.Get(ctx, 4711, n.alice); err == nil {
		t.Error("a member TLS certificate is accepted as a data certificate")
	}
}

func TestFanOut(t *testing.T) {
	var running, most atomic.Int32
	peers := make([]int, 20)
	for i := range peers {
		peers[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), HopMargin+500*time.Millisecond)
	defer cancel()
	out := FanOut(ctx, peers, 4, func(ctx context.Context, p int) (string, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		switch p {
		case 3:
			return "", errors.New("refused")
		case 7:
			// Never answers, and ignores its context.
			select {}
		case 8:
			<-ctx.Done() // answers when told to stop
			return "", ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
		return fmt.Sprint("answer ", p), nil
	})
	if m := most.Load(); m > 4 {
		t.Errorf("%d peers asked at once; the bound is 4", m)
	}
	for i, o := range out {
		switch i {
		case 3, 7, 8:
			if o.Err == nil {
				t.Errorf("peer %d: no error", i)
			}
		default:
			if o.Err != nil || o.Result != fmt.Sprint("answer ", i) {
				t.Errorf("peer %d: %q, %v", i, o.Result, o.Err)
			}
		}
	}
}
