// Package registrytest is the conformance suite of the directories'
// registry: every dialect registry.Open supports must pass it. A test
// package calls Run with a function that returns the URL of a new, empty
// database.
package registrytest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/registry"
)

// Run runs the suite. newURL returns the URL of a new, empty database each
// time it is called.
func Run(t *testing.T, newURL func(t *testing.T) string) {
	tests := []struct {
		name string
		f    func(t *testing.T, r *registry.DB)
	}{
		{"Accounts", testAccounts},
		{"Services", testServices},
		{"Contracts", testContracts},
		{"ContractRace", testContractRace},
		{"ListServices", testListServices},
		{"Members", testMembers},
		{"Records", testRecords},
		{"RecordsFollowConcurrentWriters", testRecordsFollow},
		{"ServiceMembers", testServiceMembers},
		{"Search", testSearch},
		{"Metacharacters", testMetacharacters},
		{"Counts", testCounts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f(t, open(t, newURL(t)))
		})
	}
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, newURL(t)) })
}

var clock = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func open(t *testing.T, url string) *registry.DB {
	t.Helper()
	r, err := registry.Open(t.Context(), url, registry.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func want(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// records returns every record with an address, by name.
func records(t *testing.T, r *registry.DB) map[string]registry.Record {
	t.Helper()
	out := map[string]registry.Record{}
	var after uint64
	for {
		page, err := r.RecordsSince(t.Context(), after, 7)
		ok(t, "RecordsSince", err)
		if len(page) == 0 {
			return out
		}
		for _, rec := range page {
			if rec.Serial <= after {
				t.Fatalf("RecordsSince(%d) returned serial %d", after, rec.Serial)
			}
			after = rec.Serial
			if rec.Addr.IsValid() {
				out[rec.Name] = rec
			} else {
				delete(out, rec.Name)
			}
		}
	}
}

func testAccounts(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	aid := uuid.New()
	name := aid.String() + ".accounts.byoda.test"
	ok(t, "CreateAccount", r.CreateAccount(ctx, aid, "chain-1", &registry.Record{Name: name, Addr: addr("192.0.2.1")}))
	a, err := r.Account(ctx, aid)
	ok(t, "Account", err)
	if a.ID != aid || a.CertChain != "chain-1" || !a.Created.Equal(clock) || !a.Updated.Equal(clock) {
		t.Errorf("Account = %+v", a)
	}
	if got := records(t, r)[name].Addr; got != addr("192.0.2.1") {
		t.Errorf("record %s = %v", name, got)
	}
	// The first registration wins; the second changes nothing.
	err = r.CreateAccount(ctx, aid, "chain-2", &registry.Record{Name: name, Addr: addr("192.0.2.66")})
	want(t, "second CreateAccount", err, registry.ErrExists)
	a, _ = r.Account(ctx, aid)
	if a.CertChain != "chain-1" {
		t.Errorf("second CreateAccount replaced the chain: %q", a.CertChain)
	}
	if got := records(t, r)[name].Addr; got != addr("192.0.2.1") {
		t.Errorf("second CreateAccount changed the record to %v", got)
	}
	ok(t, "RenewAccount", r.RenewAccount(ctx, aid, "chain-3"))
	if a, _ = r.Account(ctx, aid); a.CertChain != "chain-3" {
		t.Errorf("after RenewAccount chain = %q", a.CertChain)
	}
	want(t, "RenewAccount of an unknown account", r.RenewAccount(ctx, uuid.New(), "x"), registry.ErrNotFound)
	_, err = r.Account(ctx, uuid.New())
	want(t, "Account of an unknown account", err, registry.ErrNotFound)
	// Without a record.
	ok(t, "CreateAccount without record", r.CreateAccount(ctx, uuid.New(), "c", nil))
}

func testServices(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	ok(t, "CreateService", r.CreateService(ctx, 4711, "ca-1"))
	want(t, "second CreateService", r.CreateService(ctx, 4711, "ca-2"), registry.ErrExists)
	s, err := r.Service(ctx, 4711)
	ok(t, "Service", err)
	if s.ID != 4711 || s.CAChain != "ca-1" || s.DataChain != "" || s.Contract != nil || s.Summary.Version != 0 {
		t.Errorf("Service = %+v", s)
	}
	ok(t, "RenewService", r.RenewService(ctx, 4711, "ca-3"))
	want(t, "RenewService of an unknown service", r.RenewService(ctx, 1, "x"), registry.ErrNotFound)
	name := "service.service-4711.byoda.test"
	ok(t, "SetServiceData", r.SetServiceData(ctx, 4711, "data-1", registry.Record{Name: name, Addr: addr("2001:db8::7")}))
	s, _ = r.Service(ctx, 4711)
	if s.CAChain != "ca-3" || s.DataChain != "data-1" {
		t.Errorf("Service = %+v", s)
	}
	if got := records(t, r)[name].Addr; got != addr("2001:db8::7") {
		t.Errorf("record %s = %v", name, got)
	}
	other := "service.service-1.byoda.test"
	err = r.SetServiceData(ctx, 1, "data", registry.Record{Name: other, Addr: addr("192.0.2.1")})
	want(t, "SetServiceData of an unknown service", err, registry.ErrNotFound)
	if _, found := records(t, r)[other]; found {
		t.Error("SetServiceData of an unknown service published a record")
	}
	_, err = r.Service(ctx, 1)
	want(t, "Service of an unknown service", err, registry.ErrNotFound)
	// The largest service id survives the round trip.
	ok(t, "CreateService max", r.CreateService(ctx, 4294967295, "ca"))
	if s, err := r.Service(ctx, 4294967295); err != nil || s.ID != 4294967295 {
		t.Errorf("Service(max) = %v, %v", s, err)
	}
}

func testContracts(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	ok(t, "CreateService", r.CreateService(ctx, 7, "ca"))
	sum := func(v int) registry.Summary {
		return registry.Summary{ServiceID: 7, Version: v, Name: fmt.Sprint("v", v), Description: "d", Owner: "o",
			Website: "https://example.test", SupportEmail: "s@example.test"}
	}
	ok(t, "SetContract 2", r.SetContract(ctx, sum(2), []byte(`{"v":2}`)))
	s, _ := r.Service(ctx, 7)
	if s.Summary != sum(2) || string(s.Contract) != `{"v":2}` {
		t.Errorf("Service = %+v %s", s.Summary, s.Contract)
	}
	for _, v := range []int{2, 1, 0, -5} {
		err := r.SetContract(ctx, sum(v), []byte(`{"stale":true}`))
		want(t, fmt.Sprint("SetContract ", v), err, registry.ErrStale)
	}
	s, _ = r.Service(ctx, 7)
	if s.Summary.Version != 2 || string(s.Contract) != `{"v":2}` {
		t.Errorf("a stale contract changed the service: %+v %s", s.Summary, s.Contract)
	}
	ok(t, "SetContract 3", r.SetContract(ctx, sum(3), []byte(`{"v":3}`)))
	if s, _ = r.Service(ctx, 7); s.Summary.Version != 3 {
		t.Errorf("version = %d, want 3", s.Summary.Version)
	}
	unknown := sum(1)
	unknown.ServiceID = 8
	want(t, "SetContract of an unknown service", r.SetContract(ctx, unknown, []byte(`{}`)), registry.ErrNotFound)
	nul := sum(9)
	nul.Name = "a\x00b"
	want(t, "SetContract with NUL", r.SetContract(ctx, nul, []byte(`{}`)), registry.ErrInvalid)
}

// testContractRace submits the same version from many goroutines: exactly
// one wins.
func testContractRace(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	ok(t, "CreateService", r.CreateService(ctx, 9, "ca"))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = r.SetContract(ctx, registry.Summary{ServiceID: 9, Version: 5, Name: fmt.Sprint(i)}, []byte(fmt.Sprint(i)))
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("both %d and %d won", won, i)
			}
			won = i
		case !errors.Is(err, registry.ErrStale):
			t.Fatalf("SetContract %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("nobody won")
	}
	s, _ := r.Service(ctx, 9)
	if string(s.Contract) != fmt.Sprint(won) || s.Summary.Name != fmt.Sprint(won) {
		t.Errorf("stored %q (%s), but %d won", s.Contract, s.Summary.Name, won)
	}
}

func testListServices(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	var listed []uint32
	for i := range 25 {
		sid := uint32(i*3 + 1)
		ok(t, "CreateService", r.CreateService(ctx, sid, "ca"))
		if i%5 == 4 {
			continue // no contract: not listed
		}
		ok(t, "SetContract", r.SetContract(ctx, registry.Summary{ServiceID: sid, Version: 1, Name: fmt.Sprint(sid)}, []byte("{}")))
		listed = append(listed, sid)
	}
	var got []uint32
	after := int64(-1)
	for {
		page, err := r.ListServices(ctx, after, 7)
		ok(t, "ListServices", err)
		if len(page) > 7 {
			t.Fatalf("page of %d", len(page))
		}
		for _, s := range page {
			got = append(got, s.ServiceID)
			if s.Name != fmt.Sprint(s.ServiceID) || s.Version != 1 {
				t.Errorf("summary %+v", s)
			}
		}
		if len(page) < 7 {
			break
		}
		after = int64(page[len(page)-1].ServiceID)
	}
	if !slices.Equal(got, listed) {
		t.Errorf("listed %v, want %v", got, listed)
	}
	page, err := r.ListServices(ctx, int64(listed[len(listed)-1]), 10)
	ok(t, "ListServices after the last", err)
	if len(page) != 0 {
		t.Errorf("after the last: %v", page)
	}
}

func testMembers(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	mid := uuid.New()
	name := mid.String() + ".members-5.byoda.test"
	err := r.RegisterMember(ctx, 5, mid, registry.Record{Name: name, Addr: addr("192.0.2.5")})
	want(t, "RegisterMember of an unknown service", err, registry.ErrNotFound)
	if _, found := records(t, r)[name]; found {
		t.Error("a member of an unknown service got a record")
	}
	ok(t, "CreateService", r.CreateService(ctx, 5, "ca"))
	ok(t, "RegisterMember", r.RegisterMember(ctx, 5, mid, registry.Record{Name: name, Addr: addr("192.0.2.5")}))
	first := records(t, r)[name]
	if first.Addr != addr("192.0.2.5") {
		t.Errorf("record = %+v", first)
	}
	// Registering again moves the record and raises its serial.
	ok(t, "RegisterMember again", r.RegisterMember(ctx, 5, mid, registry.Record{Name: name, Addr: addr("192.0.2.6")}))
	second := records(t, r)[name]
	if second.Addr != addr("192.0.2.6") || second.Serial <= first.Serial {
		t.Errorf("after moving: %+v (before %+v)", second, first)
	}
}

func testRecords(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	s0, err := r.Serial(ctx)
	ok(t, "Serial", err)
	s1, err := r.SetRecord(ctx, "a.byoda.test", addr("192.0.2.1"))
	ok(t, "SetRecord", err)
	if s1 <= s0 {
		t.Errorf("serial %d after %d", s1, s0)
	}
	// The same address changes nothing.
	same, err := r.SetRecord(ctx, "a.byoda.test", addr("192.0.2.1"))
	ok(t, "SetRecord same", err)
	if cur, _ := r.Serial(ctx); same != s1 || cur != s1 {
		t.Errorf("setting the same address: serial %d, zone %d; want %d", same, cur, s1)
	}
	s2, err := r.SetRecord(ctx, "b.byoda.test", addr("2001:db8::1"))
	ok(t, "SetRecord b", err)
	// An IPv4-mapped address is stored as IPv4.
	_, err = r.SetRecord(ctx, "c.byoda.test", addr("::ffff:192.0.2.3"))
	ok(t, "SetRecord mapped", err)
	s4, err := r.SetRecord(ctx, "a.byoda.test", netip.Addr{})
	ok(t, "delete", err)
	if s4 <= s2 {
		t.Errorf("delete serial %d after %d", s4, s2)
	}
	got := records(t, r)
	if len(got) != 2 || got["b.byoda.test"].Addr != addr("2001:db8::1") || got["c.byoda.test"].Addr != addr("192.0.2.3") {
		t.Errorf("records = %v", got)
	}
	// A deletion is a change that followers see.
	since, err := r.RecordsSince(ctx, s2, 100)
	ok(t, "RecordsSince", err)
	var sawDelete bool
	for _, rec := range since {
		if rec.Name == "a.byoda.test" && !rec.Addr.IsValid() && rec.Serial == s4 {
			sawDelete = true
		}
	}
	if !sawDelete {
		t.Errorf("RecordsSince(%d) = %v: no deletion of a.byoda.test", s2, since)
	}
	// Deleting a name that never was changes nothing.
	if s, err := r.SetRecord(ctx, "never.byoda.test", netip.Addr{}); err != nil || s != 0 {
		t.Errorf("delete of nothing = %d, %v", s, err)
	}
	if cur, _ := r.Serial(ctx); cur != s4 {
		t.Errorf("zone serial %d, want %d", cur, s4)
	}
}

// testRecordsFollow runs writers and a follower at once: the follower, asking
// only for what changed after the last serial it saw, must end with exactly
// the registry's records. This is what keeps the DNS view in step.
func testRecordsFollow(t *testing.T, r *registry.DB) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const writers, perWriter = 6, 40
	view := map[string]netip.Addr{}
	var after uint64
	follow := func() {
		for {
			page, err := r.RecordsSince(ctx, after, 50)
			ok(t, "RecordsSince", err)
			for _, rec := range page {
				after = rec.Serial
				if rec.Addr.IsValid() {
					view[rec.Name] = rec.Addr
				} else {
					delete(view, rec.Name)
				}
			}
			if len(page) < 50 {
				return
			}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("n%d.byoda.test", (w*perWriter+i)%97)
				a := netip.AddrFrom4([4]byte{10, byte(w), byte(i), 1})
				if i%9 == 8 {
					a = netip.Addr{}
				}
				if _, err := r.SetRecord(ctx, name, a); err != nil {
					t.Errorf("SetRecord: %v", err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	follow()
	final := records(t, r)
	if len(view) != len(final) {
		t.Errorf("follower has %d records, registry %d", len(view), len(final))
	}
	for name, rec := range final {
		if view[name] != rec.Addr {
			t.Errorf("follower has %s = %v, registry %v", name, view[name], rec.Addr)
		}
	}
	if cur, _ := r.Serial(ctx); cur != after {
		t.Errorf("follower at serial %d, zone at %d", after, cur)
	}
}

func testServiceMembers(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	mid := uuid.New()
	ok(t, "CreateServiceMember", r.CreateServiceMember(ctx, 3, mid, "tls-1"))
	want(t, "second CreateServiceMember", r.CreateServiceMember(ctx, 3, mid, "tls-2"), registry.ErrExists)
	// The same member id in another service is another member.
	ok(t, "CreateServiceMember in another service", r.CreateServiceMember(ctx, 4, mid, "tls-4"))
	m, err := r.ServiceMember(ctx, 3, mid)
	ok(t, "ServiceMember", err)
	if m.TLSChain != "tls-1" || m.DataChain != "" || m.ContractVersion != 0 || m.Addr.IsValid() {
		t.Errorf("ServiceMember = %+v", m)
	}
	ok(t, "RenewServiceMember", r.RenewServiceMember(ctx, 3, mid, "tls-3"))
	want(t, "RenewServiceMember unknown", r.RenewServiceMember(ctx, 3, uuid.New(), "x"), registry.ErrNotFound)
	ok(t, "SetMemberData", r.SetMemberData(ctx, 3, mid, "data-1", 2, addr("192.0.2.9")))
	m, _ = r.ServiceMember(ctx, 3, mid)
	if m.TLSChain != "tls-3" || m.DataChain != "data-1" || m.ContractVersion != 2 || m.Addr != addr("192.0.2.9") {
		t.Errorf("ServiceMember = %+v", m)
	}
	want(t, "SetMemberData unknown", r.SetMemberData(ctx, 3, uuid.New(), "d", 1, addr("192.0.2.1")), registry.ErrNotFound)
	_, err = r.ServiceMember(ctx, 5, mid)
	want(t, "ServiceMember of another service", err, registry.ErrNotFound)
	if n, err := r.CountServiceMembers(ctx, 3); err != nil || n != 1 {
		t.Errorf("CountServiceMembers = %d, %v", n, err)
	}
}

func testSearch(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	for _, m := range []uuid.UUID{a, b, c} {
		ok(t, "CreateServiceMember", r.CreateServiceMember(ctx, 1, m, "tls"))
	}
	entry := func(class, field, v string) registry.SearchEntry {
		return registry.SearchEntry{Class: class, Field: field, Value: []byte(v), Folded: []byte(strings.ToLower(v))}
	}
	ok(t, "SetSearchValues a", r.SetSearchValues(ctx, 1, a, []registry.SearchEntry{
		entry("person", "email", "Alice@Example.test"), entry("person", "twitter", "alice")}))
	ok(t, "SetSearchValues b", r.SetSearchValues(ctx, 1, b, []registry.SearchEntry{
		entry("person", "email", "alice@example.test"), entry("person", "email", "bob@example.test")}))
	ok(t, "SetSearchValues c", r.SetSearchValues(ctx, 1, c, []registry.SearchEntry{
		entry("person", "email", "alicia@example.test"), entry("person", "email", "alicia@example.test")}))
	err := r.SetSearchValues(ctx, 1, uuid.New(), []registry.SearchEntry{entry("person", "email", "x")})
	want(t, "SetSearchValues of an unknown member", err, registry.ErrNotFound)

	search := func(q registry.SearchQuery) []uuid.UUID {
		t.Helper()
		q.ServiceID, q.Class = 1, "person"
		if q.Field == "" {
			q.Field = "email"
		}
		if q.Limit == 0 {
			q.Limit = 10
		}
		ids, err := r.Search(ctx, q)
		ok(t, "Search", err)
		return ids
	}
	sorted := func(ids ...uuid.UUID) []uuid.UUID {
		return slices.SortedFunc(slices.Values(ids), func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
	}
	tests := []struct {
		name string
		q    registry.SearchQuery
		want []uuid.UUID
	}{
		{"exact", registry.SearchQuery{Value: []byte("alice@example.test")}, sorted(b)},
		{"exact other case", registry.SearchQuery{Value: []byte("Alice@Example.test")}, sorted(a)},
		{"folded", registry.SearchQuery{Value: []byte("alice@example.test"), Folded: true}, sorted(a, b)},
		{"prefix", registry.SearchQuery{Value: []byte("alic"), Prefix: true}, sorted(b, c)},
		{"prefix folded", registry.SearchQuery{Value: []byte("alic"), Prefix: true, Folded: true}, sorted(a, b, c)},
		{"empty prefix", registry.SearchQuery{Value: nil, Prefix: true}, nil},
		{"other field", registry.SearchQuery{Field: "twitter", Value: []byte("alice")}, sorted(a)},
		{"no value in field", registry.SearchQuery{Field: "twitter", Value: []byte("alice@example.test")}, nil},
		{"limit", registry.SearchQuery{Value: []byte("a"), Prefix: true, Folded: true, Limit: 2}, sorted(a, b, c)[:2]},
	}
	for _, tt := range tests {
		if got := search(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// Setting values replaces all of them.
	ok(t, "SetSearchValues b again", r.SetSearchValues(ctx, 1, b, []registry.SearchEntry{entry("person", "email", "robert@example.test")}))
	if got := search(registry.SearchQuery{Value: []byte("bob@example.test")}); len(got) != 0 {
		t.Errorf("a replaced value is still found: %v", got)
	}
	if got := search(registry.SearchQuery{Value: []byte("robert@example.test")}); !slices.Equal(got, []uuid.UUID{b}) {
		t.Errorf("new value: %v", got)
	}
	// Another service's search sees none of it.
	ids, err := r.Search(ctx, registry.SearchQuery{ServiceID: 2, Class: "person", Field: "email", Value: []byte("robert@example.test"), Limit: 10})
	ok(t, "Search other service", err)
	if len(ids) != 0 {
		t.Errorf("other service: %v", ids)
	}
	// Bytes compare as bytes: a prefix ending in 0xff and non-UTF-8 values.
	ok(t, "SetSearchValues c bytes", r.SetSearchValues(ctx, 1, c, []registry.SearchEntry{
		{Class: "person", Field: "email", Value: []byte{'x', 0xff, 0xff}, Folded: []byte{'x', 0xff, 0xff}},
		{Class: "person", Field: "email", Value: []byte{'x', 0xff, 0xff, 0x01}, Folded: []byte{'x'}}}))
	if got := search(registry.SearchQuery{Value: []byte{'x', 0xff}, Prefix: true}); !slices.Equal(got, []uuid.UUID{c}) {
		t.Errorf("prefix x\\xff: %v", got)
	}
	if got := search(registry.SearchQuery{Value: []byte{0xff}, Prefix: true}); len(got) != 0 {
		t.Errorf("prefix \\xff: %v", got)
	}
}

// testMetacharacters stores and finds values full of SQL and LIKE
// metacharacters: they are data, nothing else.
func testMetacharacters(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	evil := []string{
		`'; DROP TABLE accounts; --`,
		`" OR "1"="1`,
		`%`, `_`, `\`, `\%`, `a%b_c`,
		`$1`, `?`, `:name`, `@p`,
		`' OR 1=1 UNION SELECT member_id FROM search_values --`,
		"line\nbreak\ttab",
		`😀 ünïcødé`,
	}
	aid := uuid.New()
	ok(t, "CreateAccount", r.CreateAccount(ctx, aid, strings.Join(evil, "|"), nil))
	if a, _ := r.Account(ctx, aid); a.CertChain != strings.Join(evil, "|") {
		t.Errorf("chain came back as %q", a.CertChain)
	}
	ok(t, "CreateService", r.CreateService(ctx, 1, evil[0]))
	for i, s := range evil {
		sum := registry.Summary{ServiceID: 1, Version: i + 1, Name: s, Description: s, Owner: s, Website: s, SupportEmail: s}
		ok(t, "SetContract", r.SetContract(ctx, sum, []byte(s)))
		got, err := r.Service(ctx, 1)
		ok(t, "Service", err)
		if got.Summary != sum || string(got.Contract) != s {
			t.Errorf("summary %q came back as %+v %q", s, got.Summary, got.Contract)
		}
	}
	mids := make([]uuid.UUID, len(evil))
	for i, s := range evil {
		mids[i] = uuid.New()
		ok(t, "CreateServiceMember", r.CreateServiceMember(ctx, 1, mids[i], s))
		ok(t, "SetSearchValues", r.SetSearchValues(ctx, 1, mids[i], []registry.SearchEntry{
			{Class: s, Field: s, Value: []byte(s), Folded: []byte(s)}}))
	}
	for i, s := range evil {
		for _, prefix := range []bool{false, true} {
			ids, err := r.Search(ctx, registry.SearchQuery{ServiceID: 1, Class: s, Field: s, Value: []byte(s), Prefix: prefix, Limit: 100})
			ok(t, "Search", err)
			if !slices.Contains(ids, mids[i]) {
				t.Errorf("search for %q (prefix %v) did not find its member: %v", s, prefix, ids)
			}
			// Only values that really start with s match it: LIKE wildcards
			// are not wildcards.
			for _, id := range ids {
				j := slices.Index(mids, id)
				if !strings.HasPrefix(evil[j], s) || (!prefix && evil[j] != s) {
					t.Errorf("search for %q (prefix %v) found the member of %q", s, prefix, evil[j])
				}
			}
		}
	}
	// Every table is still there.
	if _, err := r.Counts(ctx); err != nil {
		t.Errorf("Counts after the metacharacters: %v", err)
	}
	for _, s := range evil {
		if _, err := r.SetRecord(ctx, s, addr("192.0.2.1")); err != nil {
			t.Errorf("SetRecord %q: %v", s, err)
		}
	}
	got := records(t, r)
	for _, s := range evil {
		if got[s].Addr != addr("192.0.2.1") {
			t.Errorf("record %q = %v", s, got[s])
		}
	}
}

func testCounts(t *testing.T, r *registry.DB) {
	ctx := t.Context()
	ok(t, "CreateAccount", r.CreateAccount(ctx, uuid.New(), "c", &registry.Record{Name: "x.byoda.test", Addr: addr("192.0.2.1")}))
	ok(t, "CreateService", r.CreateService(ctx, 1, "c"))
	ok(t, "RegisterMember", r.RegisterMember(ctx, 1, uuid.New(), registry.Record{Name: "y.byoda.test", Addr: addr("192.0.2.2")}))
	ok(t, "CreateServiceMember", r.CreateServiceMember(ctx, 1, uuid.New(), "c"))
	_, err := r.SetRecord(ctx, "y.byoda.test", netip.Addr{})
	ok(t, "delete", err)
	got, err := r.Counts(ctx)
	ok(t, "Counts", err)
	wantCounts := map[string]int64{"accounts": 1, "services": 1, "members": 1, "service_members": 1, "dns_records": 1}
	for k, v := range wantCounts {
		if got[k] != v {
			t.Errorf("Counts[%s] = %d, want %d", k, got[k], v)
		}
	}
}

// testMigrations opens one database several times at once, as directories
// starting together would, then refuses a database newer than this code.
func testMigrations(t *testing.T, url string) {
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			r, err := registry.Open(ctx, url, registry.Options{})
			if err == nil {
				r.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
	}
	r := open(t, url)
	ok(t, "CreateService after reopening", r.CreateService(ctx, 1, "c"))
	raw := rawDB(t, url)
	var n, newest int
	ok(t, "read schema_migrations", raw.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &newest))
	if n != registry.SchemaVersion() || newest != registry.SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to %d; want %d", n, newest, registry.SchemaVersion())
	}
	_, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)`, registry.SchemaVersion()+1)
	ok(t, "insert a future migration", err)
	_, err = registry.Open(ctx, url, registry.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this byoda's") {
		t.Errorf("Open of a newer database: %v", err)
	}
}

// rawDB opens the database behind a registry URL without the registry.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", url
	if path, found := strings.CutPrefix(url, "sqlite:"); found {
		driver, dsn = "sqlite", path
	}
	db, err := sql.Open(driver, dsn)
	ok(t, "open raw database", err)
	t.Cleanup(func() { db.Close() })
	return db
}
