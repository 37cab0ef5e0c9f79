package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const pdnsInstall = "hack/pdns.sh (Debian packages pdns-server pdns-backend-sqlite3 sqlite3)"

// DNS is a PowerDNS authoritative server for one zone, with external-dns
// publishing the cluster's DNSEndpoint objects (externaldns.k8s.io/v1alpha1)
// into it through its HTTP API, as a cluster with external-dns would.
type DNS struct {
	// Addr is the host:port on 127.0.0.1 where PowerDNS answers over UDP and TCP.
	Addr string
	// APIURL is the base URL of the PowerDNS HTTP API (http://127.0.0.1:port).
	APIURL string
	// APIKey authenticates to the API (X-API-Key header).
	APIKey string
	// Zone is the zone PowerDNS serves and external-dns manages, without the
	// trailing dot (for example "byoda.test").
	Zone string
	// PDNS is the pdns_server process.
	PDNS *Process
	// ExternalDNS is the external-dns process.
	ExternalDNS *Process
}

// StartDNS starts PowerDNS (gsqlite3 backend, in a temporary directory, on free
// loopback ports) serving zone, and external-dns publishing k's DNSEndpoints
// for names in zone with a TXT registry (owner id "byoda-test") and a 1 s sync
// interval. Both stop in t.Cleanup.
func StartDNS(t testing.TB, k *Kube, zone string) *DNS {
	t.Helper()
	return StartDNSFor(t, k.Kubeconfig, zone, PowerDNSOptions{})
}

// StartDNSFor is StartDNS for any cluster, named by the path of an admin
// kubeconfig, with PowerDNS configured by o: a real cluster's pods reach
// PowerDNS when o.Config adds an address of this machine they reach
// ("local-address=127.0.0.1, 100.64.0.1"); Addr stays on 127.0.0.1.
func StartDNSFor(t testing.TB, kubeconfig, zone string, o PowerDNSOptions) *DNS {
	t.Helper()
	zone = strings.TrimSuffix(zone, ".")
	d := &DNS{Zone: zone, APIKey: rand.Text()}
	d.startPDNS(t, o.Config...)
	if err := d.createZone(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.startExternalDNS(t, kubeconfig)
	return d
}

// startPDNS starts pdns_server; extra are pdns.conf lines that override
// the defaults below.
func (d *DNS) startPDNS(t testing.TB, extra ...string) {
	t.Helper()
	server := SystemBinary(t, "pdns_server", pdnsInstall)
	sqlite := SystemBinary(t, "sqlite3", pdnsInstall)
	const schema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
	dir := t.TempDir()
	db := filepath.Join(dir, "pdns.sqlite3")
	schemaFile, err := os.Open(schema)
	if err != nil {
		t.Fatalf("PowerDNS sqlite schema is missing (%v): run %s", err, pdnsInstall)
	}
	defer schemaFile.Close()
	create := exec.CommandContext(t.Context(), sqlite, db)
	create.Stdin = schemaFile
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("create PowerDNS database: %v\n%s", err, out)
	}

	// Ports picked here can be taken before pdns_server binds them; a bind
	// failure is retried with new ports.
	for attempt := 1; ; attempt++ {
		dnsPort, apiPort := FreeDNSPort(t), FreePort(t)
		conf := strings.Join(append([]string{
			"launch=gsqlite3",
			"gsqlite3-database=" + db,
			"gsqlite3-pragma-synchronous=0",
			"local-address=127.0.0.1",
			fmt.Sprintf("local-port=%d", dnsPort),
			"api=yes",
			"api-key=" + d.APIKey,
			"webserver=yes",
			"webserver-address=127.0.0.1",
			fmt.Sprintf("webserver-port=%d", apiPort),
			"webserver-allow-from=127.0.0.0/8",
			"socket-dir=" + dir,
			"daemon=no",
			"guardian=no",
			"disable-syslog=yes",
			"security-poll-suffix=",
			// Answers must follow API writes at once: no caches.
			"cache-ttl=0",
			"query-cache-ttl=0",
			"negquery-cache-ttl=0",
			"zone-cache-refresh-interval=0",
			"receiver-threads=1",
			"distributor-threads=1",
			"loglevel=5",
		}, extra...), "\n") + "\n"
		// --config-dir makes pdns_server read only this pdns.conf: nothing under
		// /etc/powerdns, and the control socket goes to socket-dir.
		if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), []byte(conf), 0o600); err != nil {
			t.Fatalf("write pdns.conf: %v", err)
		}
		p := StartProcess(t, "pdns", server, []string{"--config-dir=" + dir}, nil)
		d.Addr, d.APIURL, d.PDNS = Addr(dnsPort), "http://"+Addr(apiPort), p

		err := waitPDNS(t.Context(), p, func(ctx context.Context) error {
			return d.api(ctx, http.MethodGet, "/api/v1/servers/localhost", nil, nil)
		})
		if err == nil {
			return
		}
		if errors.Is(err, errPortTaken) && attempt < 3 {
			t.Logf("pdns: %v; retrying on other ports", err)
			p.Kill()
			continue
		}
		t.Fatalf("start PowerDNS: %v\n%s", err, p.Tail(8<<10))
	}
}

// errPortTaken means pdns_server found a port taken. It exits when the DNS port
// is, but runs on without its API when the webserver port is.
var errPortTaken = errors.New("port already in use")

// waitPDNS waits until check (an API call) passes, pdns_server exits, or its
// log says a port was taken.
func waitPDNS(ctx context.Context, p *Process, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := check(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		if strings.Contains(p.Tail(16<<10), "already in use") {
			return errPortTaken
		}
		if exited, perr := p.Exited(); exited {
			return fmt.Errorf("pdns_server exited (%v); last error: %w", perr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("API not up: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createZone creates the Native zone with an SOA and one NS, so that answers
// are authoritative and external-dns finds the zone to write into.
func (d *DNS) createZone(ctx context.Context) error {
	apex := dns.Fqdn(d.Zone)
	type record struct {
		Content  string `json:"content"`
		Disabled bool   `json:"disabled"`
	}
	type rrset struct {
		Name    string   `json:"name"`
		Type    string   `json:"type"`
		TTL     int      `json:"ttl"`
		Records []record `json:"records"`
	}
	body := map[string]any{
		"name":        apex,
		"kind":        "Native",
		"nameservers": []string{},
		"rrsets": []rrset{
			{Name: apex, Type: "SOA", TTL: 60, Records: []record{{Content: fmt.Sprintf("ns1.%s hostmaster.%s 1 10800 3600 604800 60", apex, apex)}}},
			{Name: apex, Type: "NS", TTL: 60, Records: []record{{Content: "ns1." + apex}}},
			{Name: "ns1." + apex, Type: "A", TTL: 60, Records: []record{{Content: "127.0.0.1"}}},
		},
	}
	if err := d.api(ctx, http.MethodPost, "/api/v1/servers/localhost/zones", body, nil); err != nil {
		return fmt.Errorf("create zone %s: %w", d.Zone, err)
	}
	return nil
}

func (d *DNS) startExternalDNS(t testing.TB, kubeconfig string) {
	t.Helper()
	bin := Binary(t, "external-dns")
	metrics := Addr(FreePort(t))
	p := StartProcess(t, "external-dns", bin, []string{
		"--source=crd",
		"--crd-source-apiversion=" + DNSEndpointGVK.GroupVersion().String(),
		"--crd-source-kind=" + DNSEndpointGVK.Kind,
		"--provider=pdns",
		"--pdns-server=" + d.APIURL,
		"--pdns-api-key=" + d.APIKey,
		"--domain-filter=" + d.Zone,
		"--registry=txt",
		"--txt-owner-id=byoda-test",
		"--policy=sync",
		// The loop ticks once a second, so 1s is the shortest useful interval;
		// --events would not be faster (event-driven runs wait at least 5s).
		"--interval=1s",
		"--metrics-address=" + metrics,
		"--kubeconfig=" + kubeconfig,
	}, nil)
	d.ExternalDNS = p
	Eventually(t, 60*time.Second, "external-dns healthz", p, func(ctx context.Context) error {
		return HTTPOK(ctx, http.DefaultClient, "http://"+metrics+"/healthz")
	})
}

// Lookup sends one query for name (made fully qualified) and qtype to the
// PowerDNS server and returns the answer section. NOERROR and NXDOMAIN are
// answers (an empty one for a missing name); other response codes are errors.
// A truncated UDP answer is retried over TCP.
func (d *DNS) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, d.Addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, d.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("query %s %s: %s", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode])
	}
	return r.Answer, nil
}

// WaitRecords waits until the answer for name and qtype holds exactly the
// records want, given as RDATA text ("10.0.0.1" for A, "host.example." for
// CNAME), in any order. Pass no want to wait for the name to disappear.
func (d *DNS) WaitRecords(t testing.TB, name string, qtype uint16, timeout time.Duration, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	what := fmt.Sprintf("DNS %s %s = %v", name, dns.TypeToString[qtype], want)
	Eventually(t, timeout, what, d.ExternalDNS, func(ctx context.Context) error {
		rrs, err := d.Lookup(ctx, name, qtype)
		if err != nil {
			return err
		}
		var got []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype {
				got = append(got, RData(rr))
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
}

// RData returns the RDATA of rr in presentation format: the record without its
// name, TTL, class and type.
func RData(rr dns.RR) string {
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

// api calls the PowerDNS HTTP API with body (JSON, optional) and decodes the
// response into out (optional).
func (d *DNS) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.APIURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", d.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// FreeDNSPort returns a port on 127.0.0.1 that was free for both TCP and UDP a
// moment ago, for a DNS server started as a process. Callers should retry
// on a bind failure.
func FreeDNSPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		port := FreePort(t)
		pc, err := net.ListenPacket("udp", Addr(port))
		if err != nil {
			continue
		}
		pc.Close()
		return port
	}
	t.Fatal("find free port for DNS: no port free for both TCP and UDP")
	return 0
}

// ServeDNS runs serve, the serving loop of a DNS server in the test process
// (such as the network's directory/dns server), on one free loopback port
// with UDP and TCP. It returns that host:port and a function that stops
// serve, by cancelling its context, and waits for it to return. An error
// serve returns before then is printed to stderr.
func ServeDNS(serve func(ctx context.Context, pc net.PacketConn, l net.Listener) error) (addr string, stop func(), err error) {
	pc, l, err := ListenDNS()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(ctx, pc, l); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "DNS server:", err)
		}
	}()
	return l.Addr().String(), func() { cancel(); <-done }, nil
}

// ListenDNS listens on one free loopback port with UDP and TCP, for a DNS
// server in the test process; the UDP port of a free TCP port may be
// taken, so it tries a few.
func ListenDNS() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("listen for DNS: %w", err)
		}
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			return pc, l, nil
		}
		l.Close()
	}
	return nil, nil, fmt.Errorf("listen for DNS: no port free for both TCP and UDP: %w", err)
}
