package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// PowerDNSOptions tune StartPowerDNS.
type PowerDNSOptions struct {
	// Config are pdns.conf lines that override the test defaults (which
	// turn every cache off and run one receiver thread), such as
	// "cache-ttl=60" or "receiver-threads=2".
	Config []string
}

// StartPowerDNS starts PowerDNS alone (gsqlite3 backend, configured as
// StartDNS configures it, without external-dns) serving zone with an SOA,
// an NS and the A and AAAA records of records. It stops in t.Cleanup.
func StartPowerDNS(t testing.TB, zone string, records map[string]netip.Addr, o PowerDNSOptions) *DNS {
	t.Helper()
	zone = strings.TrimSuffix(zone, ".")
	d := &DNS{Zone: zone, APIKey: rand.Text()}
	d.startPDNS(t, o.Config...)
	if err := d.createZone(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.addRecords(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	return d
}

// addRecords adds records to the zone in one API call.
func (d *DNS) addRecords(ctx context.Context, records map[string]netip.Addr) error {
	type record struct {
		Content  string `json:"content"`
		Disabled bool   `json:"disabled"`
	}
	type rrset struct {
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		TTL        int      `json:"ttl"`
		ChangeType string   `json:"changetype"`
		Records    []record `json:"records"`
	}
	sets := make([]rrset, 0, len(records))
	for name, a := range records {
		typ := "A"
		if a.Is6() && !a.Is4In6() {
			typ = "AAAA"
		}
		sets = append(sets, rrset{Name: dns.Fqdn(name), Type: typ, TTL: 60, ChangeType: "REPLACE",
			Records: []record{{Content: a.Unmap().String()}}})
	}
	if len(sets) == 0 {
		return nil
	}
	err := d.api(ctx, http.MethodPatch, "/api/v1/servers/localhost/zones/"+dns.Fqdn(d.Zone), map[string]any{"rrsets": sets}, nil)
	if err != nil {
		return fmt.Errorf("add %d records: %w", len(sets), err)
	}
	return nil
}
