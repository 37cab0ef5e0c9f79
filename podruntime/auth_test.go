package podruntime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"abc", "", false},
		{"", "", false},
	} {
		tok, err := bearerToken(tc.in)
		if (err == nil) != tc.ok || tok != tc.tok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, ok %v", tc.in, tok, err, tc.tok, tc.ok)
		}
		if err != nil && (err.status != http.StatusUnauthorized || !err.bearer) {
			t.Errorf("bearerToken(%q): %+v; want a 401 with WWW-Authenticate", tc.in, err)
		}
	}
}

func TestTokens(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = clock.Now
	// The certificates are valid from now on; the clock only drives
	// tokens here.
	p, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeStores()
	m := p.membership(demoSID)

	if !p.auth.checkPassword(tp.account.String(), testPassword) {
		t.Fatal("the right password was refused")
	}
	for _, bad := range [][2]string{
		{tp.account.String(), testPassword + "\n"},
		{tp.account.String(), strings.ToUpper(testPassword)},
		{tp.account.String(), ""},
		{tp.member.String(), testPassword},
		{"", testPassword},
	} {
		if p.auth.checkPassword(bad[0], bad[1]) {
			t.Errorf("checkPassword(%q, %q) accepted", bad[0], bad[1])
		}
	}

	tok, exp, err := p.auth.issue(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Truncate(time.Second).Add(DefaultTokenTTL); !exp.Equal(want) {
		t.Errorf("expires %s, want %s", exp, want)
	}
	if _, err := p.auth.verify(tok, m); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	other := &membership{sid: 4712, memberID: m.memberID, memberName: m.memberName}
	if _, err := p.auth.verify(tok, other); err == nil || !strings.Contains(err.msg, "service 4711, not for service 4712") {
		t.Errorf("token of another service: %v", err)
	}
	clock.Add(DefaultTokenTTL + time.Minute)
	if _, err := p.auth.verify(tok, m); err == nil || !strings.Contains(err.msg, "expired") {
		t.Errorf("expired token: %v", err)
	}

	// ownerCaller: no header is anonymous, a good token the member, a bad
	// one an error (never anonymous).
	clock.Add(-DefaultTokenTTL)
	req := httptest.NewRequest(http.MethodPost, m.path, nil)
	if c, _, err := p.ownerCaller(req, m); err != nil || c.Entity != contract.EntityAnonymous {
		t.Errorf("no credentials: %v %v", c, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if c, _, err := p.ownerCaller(req, m); err != nil || c.Entity != contract.EntityMember {
		t.Errorf("token: %v %v", c, err)
	}
	req.Header.Add("Authorization", "Bearer "+tok)
	if _, _, err := p.ownerCaller(req, m); err == nil {
		t.Error("two Authorization headers accepted")
	}
	req.Header.Set("Authorization", "Bearer "+tok[:len(tok)-2])
	if _, _, err := p.ownerCaller(req, m); err == nil {
		t.Error("truncated token accepted")
	}
}

func TestRateLimiter(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLoginLimiter(3, 10*time.Second, clock.Now)
	for i := range 3 {
		if _, ok := l.take("a"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	wait, ok := l.take("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("fourth attempt: %v %v; want refused for 10s", wait, ok)
	}
	if _, ok := l.take("b"); !ok {
		t.Fatal("another client is limited too")
	}
	clock.Add(4 * time.Second)
	if wait, ok := l.take("a"); ok || wait != 6*time.Second {
		t.Fatalf("after 4s: %v %v; want 6s", wait, ok)
	}
	clock.Add(6 * time.Second)
	if _, ok := l.take("a"); !ok {
		t.Fatal("after 10s: still refused")
	}
	// A refund gives the token back.
	l.refund("a")
	if _, ok := l.take("a"); !ok {
		t.Fatal("refunded token missing")
	}
	// Refills stop at the burst.
	clock.Add(time.Hour)
	for range 3 {
		l.take("a")
	}
	if _, ok := l.take("a"); ok {
		t.Fatal("the bucket grew beyond its burst")
	}
}

func TestRateLimiterForgetsFullBuckets(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLoginLimiter(2, time.Second, clock.Now)
	for i := range maxLoginClients {
		l.take(string(rune(i)) + "x")
	}
	if _, ok := l.take("new"); ok {
		t.Fatal("a new client was admitted with every slot limited")
	}
	clock.Add(2 * time.Second)
	if _, ok := l.take("new"); !ok {
		t.Fatal("refilled buckets were not forgotten")
	}
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets kept, want 1", len(l.buckets))
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":                "192.0.2.1",
		"[::ffff:192.0.2.1]:1234":       "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":    "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":    "2001:db8:1:2::/64",
		"not an address":                "not an address",
		"[fe80::1%eth0]:1":              "fe80::/64",
		"[2001:db8:1:3:3:4:5:6]:443":    "2001:db8:1:3::/64",
		"198.51.100.7:65535":            "198.51.100.7",
		"[::1]:8443":                    "::/64",
		"127.0.0.1:9":                   "127.0.0.1",
		"[2001:db8::]:1":                "2001:db8::/64",
		"[2001:db8:0:0:1::]:1":          "2001:db8::/64",
		"[2001:0db8:0000:0000::1]:1234": "2001:db8::/64",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
