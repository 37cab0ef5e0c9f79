package testenv

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestPowerDNS(t *testing.T) {
	d := StartPowerDNS(t, "byoda.test", map[string]netip.Addr{
		"a.accounts.byoda.test": netip.MustParseAddr("192.0.2.1"),
		"b.accounts.byoda.test": netip.MustParseAddr("2001:db8::2"),
	}, PowerDNSOptions{})
	d.WaitRecords(t, "a.accounts.byoda.test", dns.TypeA, 10*time.Second, "192.0.2.1")
	d.WaitRecords(t, "b.accounts.byoda.test", dns.TypeAAAA, 10*time.Second, "2001:db8::2")
	d.WaitRecords(t, "c.accounts.byoda.test", dns.TypeA, 10*time.Second)
}
