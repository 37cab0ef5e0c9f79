package podruntime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/contract"
)

// FuzzLoginRequest feeds login bodies to the authtoken handler: whatever
// comes in, the answer is a JSON error or a token, never a 500, and only
// the owner's password gets a token.
func FuzzLoginRequest(f *testing.F) {
	tp := newTestPKI(f)
	p, err := New(f.Context(), testConfig(f, tp))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(p.closeStores)
	// Every attempt comes from a new address, so the rate limit stays out
	// of the way.
	n := 0
	h := p.route(portOwner, "authtoken", "", p.handleAuthToken)
	f.Add([]byte(`{"username":"` + tp.account.String() + `","password":"` + testPassword + `","service_id":4711}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n++
		req := httptest.NewRequest(http.MethodPost, "/api/v1/pod/authtoken", strings.NewReader(string(body)))
		req.RemoteAddr = "10." + itoa(n>>16&255) + "." + itoa(n>>8&255) + "." + itoa(n&255) + ":1"
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch {
		case w.Code >= 500:
			t.Fatalf("%d for %q: %s", w.Code, body, w.Body)
		case w.Code == http.StatusOK && !strings.Contains(string(body), testPassword):
			t.Fatalf("a token for %q", body)
		case w.Code != http.StatusOK && !strings.HasPrefix(w.Body.String(), `{"errors":[{"message":`):
			t.Fatalf("%d without a JSON error: %s", w.Code, w.Body)
		}
	})
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// FuzzAuthorization feeds Authorization headers to the owner port's
// caller check: only a token the pod issued makes the member; anything
// else is anonymous (no header) or a 401, never a panic.
func FuzzAuthorization(f *testing.F) {
	tp := newTestPKI(f)
	p, err := New(f.Context(), testConfig(f, tp))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(p.closeStores)
	m := p.membership(demoSID)
	tok, _, err := p.auth.issue(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer " + tok)
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodPost, m.path, nil)
		req.Header["Authorization"] = []string{header}
		c, _, err := p.ownerCaller(req, m)
		if err != nil {
			if ae, ok := err.(*apiError); !ok || ae.status != http.StatusUnauthorized {
				t.Fatalf("%q: %v", header, err)
			}
			return
		}
		if c.Entity != contract.EntityMember {
			t.Fatalf("%q: caller %v", header, c)
		}
		if tk, _ := bearerToken(header); tk != tok {
			t.Fatalf("%q made the member without the pod's token", header)
		}
	})
}
