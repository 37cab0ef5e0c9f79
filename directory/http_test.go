package directory

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAPIRegistrations checks what NewAPI sets up for both directory
// servers: the default limit on anonymous registrations per address, no
// limit for a negative rate, and the count of registrations under the
// server's namespace.
func TestAPIRegistrations(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	from := func(addr string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, PathAccount, nil)
		r.RemoteAddr = addr
		return r
	}

	limited := NewAPI(APIOptions{Namespace: "byoda_test", Now: clock})
	for i := range DefaultRegistrationBurst {
		if err := limited.Limit(from("192.0.2.1:1000")); err != nil {
			t.Fatalf("registration %d of the default burst: %v", i+1, err)
		}
	}
	err := limited.Limit(from("192.0.2.1:1001"))
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfter <= 0 {
		t.Fatalf("registration after the default burst: %v; want a 429 with Retry-After", err)
	}
	if err := limited.Limit(from("198.51.100.7:1000")); err != nil {
		t.Fatalf("another address is limited too: %v", err)
	}

	unlimited := NewAPI(APIOptions{Namespace: "byoda_test", RegistrationRate: -1, Now: clock})
	for i := range 10 * DefaultRegistrationBurst {
		if err := unlimited.Limit(from("192.0.2.1:1000")); err != nil {
			t.Fatalf("registration %d without a limit: %v", i+1, err)
		}
	}

	unlimited.Registered("member")
	unlimited.Registered("member")
	unlimited.Registered("dns")
	rec := httptest.NewRecorder()
	unlimited.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMetrics, nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`byoda_test_registrations_total{kind="member"} 2`,
		`byoda_test_registrations_total{kind="dns"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}
