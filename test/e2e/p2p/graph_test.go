package p2p_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// graph is the pods of TestGraph, linked in both services:
//
//	A -family-> B, C      B -family-> A, C, D     C -family-> A, B, D
//	D -family-> B, C      A -friend-> E -friend-> F (and back)
//	A -colleague-> G -colleague-> A
//
// A, B and C are a cycle, and A-B-D, A-C-D a diamond. Every pod has two
// addresses (demo service: family may read them at distance 1) and one
// profile (profiles service: family or friends may read it at distance 2).
type graph struct {
	pods      map[string]*testPod
	addresses map[string][]string // pod -> its address ids
	profiles  map[string]string   // pod -> its profile id
}

func (g *graph) all() []*testPod { return slices.Collect(maps.Values(g.pods)) }

var links = [][3]string{
	{"A", "C", "family"}, {"A", "B", "family"}, {"A", "E", "friend"}, {"A", "G", "colleague"},
	{"B", "A", "family"}, {"B", "C", "family"}, {"B", "D", "family"},
	{"C", "A", "family"}, {"C", "B", "family"}, {"C", "D", "family"},
	{"D", "B", "family"}, {"D", "C", "family"},
	{"E", "A", "friend"}, {"E", "F", "friend"},
	{"F", "E", "friend"},
	{"G", "A", "colleague"},
}

func newGraph(t *testing.T) *graph {
	t.Helper()
	g := &graph{pods: map[string]*testPod{}, addresses: map[string][]string{}, profiles: map[string]string{}}
	names := []string{"A", "B", "C", "D", "E", "F", "G"}
	pods := make([]*testPod, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { pods[i] = startPod(t, name, []uint32{demoSID, profilesSID}) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, name := range names {
		g.pods[name] = pods[i]
	}
	for _, l := range links {
		for _, sid := range []uint32{demoSID, profilesSID} {
			g.pods[l[0]].link(t, sid, g.pods[l[1]].mid(sid), l[2])
		}
	}
	for _, name := range names {
		p := g.pods[name]
		g.addresses[name] = []string{p.addAddress(t, "Amsterdam"), p.addAddress(t, "Berlin")}
		g.profiles[name] = p.addProfile(t)
	}
	return g
}

// wantAddresses is every address of the named pods, as records.
func (g *graph) wantAddresses(names ...string) []record {
	var out []record
	for _, n := range names {
		for _, id := range g.addresses[n] {
			out = append(out, record{from: n, id: id})
		}
	}
	return out
}

func (g *graph) wantProfiles(names ...string) []record {
	var out []record
	for _, n := range names {
		out = append(out, record{from: n, id: g.profiles[n]})
	}
	return out
}

// sameRecords fails unless got holds exactly the records of want, each
// once.
func sameRecords(t testing.TB, got, want []record) {
	t.Helper()
	key := func(r record) string { return r.from + "/" + r.id }
	count := map[string]int{}
	for _, r := range got {
		count[key(r)]++
	}
	var problems []string
	for _, r := range want {
		switch n := count[key(r)]; n {
		case 1:
		case 0:
			problems = append(problems, "missing "+key(r))
		default:
			problems = append(problems, fmt.Sprintf("%s %d times", key(r), n))
		}
		delete(count, key(r))
	}
	for k := range count {
		problems = append(problems, "unexpected "+k)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("%d records, want %d: %s", len(got), len(want), strings.Join(problems, "; "))
	}
}

// unansweredNames names the members of an answer's unanswered_peers after
// the graph's pods, as name:reason.
func (g *graph) unansweredNames(sid uint32, list []unansweredPeer) []string {
	var out []string
	for _, u := range list {
		name := "?" + u.MemberID
		for n, p := range g.pods {
			if p.mid(sid).String() == u.MemberID {
				name = n
			}
		}
		out = append(out, name+":"+u.Reason)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

const (
	addressesQuery = `query($d: Int, $r: [String!], $first: Int, $after: String) {
		addresses_connection(depth: $d, relations: $r, first: $first, after: $after) {
			edges { cursor origin node { address_id street city } } page_info { end_cursor has_next_page } } }`
	profilesQuery = `query($d: Int, $r: [String!], $first: Int, $after: String) {
		profiles_connection(depth: $d, relations: $r, first: $first, after: $after) {
			edges { cursor origin node { profile_id name } } page_info { end_cursor has_next_page } total_count } }`
)

func TestGraph(t *testing.T) {
	t.Parallel()
	g := newGraph(t)
	a := g.pods["A"]
	all := g.all()

	addresses := func(t *testing.T, depth int, rels []string) *gqlResp {
		vars := map[string]any{"d": depth, "first": 100}
		if rels != nil {
			vars["r"] = rels
		}
		return a.gql(t, demoSID, addressesQuery, vars).ok(t)
	}
	profiles := func(t *testing.T, depth int, rels []string) *gqlResp {
		vars := map[string]any{"d": depth, "first": 100}
		if rels != nil {
			vars["r"] = rels
		}
		return a.gql(t, profilesSID, profilesQuery, vars).ok(t)
	}

	t.Run("addresses depth 1 family", func(t *testing.T) {
		r := addresses(t, 1, []string{"family"})
		sameRecords(t, records(t, r.page(t, "addresses_connection"), "A", demoSID, "address_id", all...), g.wantAddresses("A", "B", "C"))
		if u := r.unanswered(t); len(u) > 0 {
			t.Errorf("unanswered peers %v, want none", g.unansweredNames(demoSID, u))
		}
	})
	t.Run("addresses depth 1 every link", func(t *testing.T) {
		// E is a friend and G a colleague: neither may read addresses.
		r := addresses(t, 1, nil)
		sameRecords(t, records(t, r.page(t, "addresses_connection"), "A", demoSID, "address_id", all...), g.wantAddresses("A", "B", "C"))
		got := g.unansweredNames(demoSID, r.unanswered(t))
		if want := []string{"E:refused", "G:refused"}; !slices.Equal(got, want) {
			t.Errorf("unanswered peers %v, want %v", got, want)
		}
	})
	t.Run("addresses depth 2 family", func(t *testing.T) {
		// Family may read addresses at distance 1 only: D, two hops from
		// A through B and through C, refuses both.
		r := addresses(t, 2, []string{"Family"})
		sameRecords(t, records(t, r.page(t, "addresses_connection"), "A", demoSID, "address_id", all...), g.wantAddresses("A", "B", "C"))
		// B and C are family of each other too: each may ask the other
		// (the long way, at distance 2, refused) before A's own question
		// reaches it; having answered A, neither is listed.
		got := g.unansweredNames(demoSID, r.unanswered(t))
		if want := []string{"D:refused"}; !slices.Equal(got, want) {
			t.Errorf("unanswered peers %v, want %v", got, want)
		}
		for _, u := range r.unanswered(t) {
			if u.Reason != "refused" || !strings.Contains(u.Error, "FORBIDDEN") {
				t.Errorf("unanswered peer %+v: want refused as FORBIDDEN", u)
			}
		}
	})
	t.Run("profiles depth 1 family and friends", func(t *testing.T) {
		r := profiles(t, 1, []string{"family", "friend"})
		p := r.page(t, "profiles_connection")
		sameRecords(t, records(t, p, "A", profilesSID, "profile_id", all...), g.wantProfiles("A", "B", "C", "E"))
		if p.TotalCount != 4 {
			t.Errorf("total_count %d, want 4", p.TotalCount)
		}
	})
	t.Run("profiles depth 2 family and friends", func(t *testing.T) {
		// Family or friends may read profiles at distance 2: D through
		// the diamond (once), F through E; B and C, which also reach each
		// other, answer once.
		r := profiles(t, 2, []string{"family", "friend"})
		sameRecords(t, records(t, r.page(t, "profiles_connection"), "A", profilesSID, "profile_id", all...),
			g.wantProfiles("A", "B", "C", "D", "E", "F"))
		if u := r.unanswered(t); len(u) > 0 {
			t.Errorf("unanswered peers %v, want none", g.unansweredNames(profilesSID, u))
		}
	})
	t.Run("profiles depth 2 every link", func(t *testing.T) {
		// G is asked, and refuses: a colleague may not read profiles.
		r := profiles(t, 2, nil)
		sameRecords(t, records(t, r.page(t, "profiles_connection"), "A", profilesSID, "profile_id", all...),
			g.wantProfiles("A", "B", "C", "D", "E", "F"))
		got := g.unansweredNames(profilesSID, r.unanswered(t))
		if want := []string{"G:refused"}; !slices.Equal(got, want) {
			t.Errorf("unanswered peers %v, want %v", got, want)
		}
	})
	t.Run("origins", func(t *testing.T) {
		// Every record's origin is the member id of the pod that holds
		// it, whichever pod relayed it, A's own records included.
		r := profiles(t, 2, []string{"family", "friend"})
		for _, e := range r.page(t, "profiles_connection").Edges {
			name, _ := e.Node["name"].(string)
			p := g.pods[name]
			if p == nil || e.Origin == nil || *e.Origin != p.mid(profilesSID).String() {
				t.Errorf("profile of %q has origin %v, want its pod's member id", name, e.Origin)
			}
		}
	})
	for _, first := range []int{1, 2} {
		t.Run(fmt.Sprintf("paging first %d", first), func(t *testing.T) {
			var (
				got   []record
				after string
			)
			for page := 0; ; page++ {
				if page > 20 {
					t.Fatalf("more than 20 pages: %v", got)
				}
				vars := map[string]any{"d": 2, "r": []string{"family", "friend"}, "first": first}
				if after != "" {
					vars["after"] = after
				}
				p := a.gql(t, profilesSID, profilesQuery, vars).ok(t).page(t, "profiles_connection")
				if len(p.Edges) > first {
					t.Fatalf("page %d has %d edges, want at most %d", page, len(p.Edges), first)
				}
				got = append(got, records(t, p, "A", profilesSID, "profile_id", all...)...)
				if !p.PageInfo.HasNextPage {
					break
				}
				after = p.PageInfo.EndCursor
			}
			sameRecords(t, got, g.wantProfiles("A", "B", "C", "D", "E", "F"))
		})
	}
	t.Run("proxy", func(t *testing.T) { testProxy(t, g) })
}

// TestFartherPathFirst: a query that reaches a pod first the long way,
// with no depth left, and then directly, with depth to spare, still goes
// on from there. O asks one pod at a time (--fanout 1), C before B; C
// forwards to B at hop 2, where B answers and forwards no further. When O
// then asks B itself, B has answered already, but X, linked only from B,
// has not been asked.
func TestFartherPathFirst(t *testing.T) {
	t.Parallel()
	sids := []uint32{profilesSID}
	var o, b, c, x *testPod
	var wg sync.WaitGroup
	wg.Go(func() { o = startPod(t, "O", sids, "--fanout", "1") })
	wg.Go(func() { b = startPod(t, "B", sids) })
	wg.Go(func() { c = startPod(t, "C", sids) })
	wg.Go(func() { x = startPod(t, "X", sids) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, l := range []struct {
		from, to *testPod
	}{{o, c}, {o, b}, {c, o}, {c, b}, {b, o}, {b, c}, {b, x}, {x, b}} {
		l.from.link(t, profilesSID, l.to.mid(profilesSID), "family")
	}
	want := map[string]string{}
	for _, p := range []*testPod{o, b, c, x} {
		want[p.name] = p.addProfile(t)
	}
	g := &graph{profiles: want}
	r := o.gql(t, profilesSID, profilesQuery, map[string]any{"d": 2, "r": []string{"family"}, "first": 100}).ok(t)
	sameRecords(t, records(t, r.page(t, "profiles_connection"), "O", profilesSID, "profile_id", o, b, c, x), g.wantProfiles("O", "B", "C", "X"))
	if u := r.unanswered(t); len(u) > 0 {
		t.Errorf("unanswered peers %+v, want none", u)
	}
}
