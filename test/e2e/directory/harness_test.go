package directory_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	mdns "github.com/miekg/dns"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// store is a registry a directory runs on: SQLite in its data directory, or
// a database of a PostgreSQL server.
type store struct {
	name string
	// url returns the --database of a new registry ("" for the default
	// SQLite file).
	url func(t *testing.T) string
}

// stores runs f once per registry kind. PostgreSQL is one real server for
// the whole test, a new database for each directory.
func stores(t *testing.T, f func(t *testing.T, st store)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, store{name: "sqlite", url: func(*testing.T) string { return "" }})
	})
	t.Run("postgres", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		f(t, store{name: "postgres", url: func(t *testing.T) string { return pg.NewDatabase(t) }})
	})
}

// dirOptions say how to run a network directory.
type dirOptions struct {
	database string
	dataDir  string
	// registrationRate is --registration-rate; no limit when zero.
	registrationRate string
	extra            []string
}

// dirProc is a running byoda directory.
type dirProc struct {
	opts    dirOptions
	https   string // 127.0.0.1:port
	dns     string // 127.0.0.1:port
	proc    *testenv.Process
	tlsCA   *x509.CertPool // trusts the directory's self-signed certificate
	roots   *x509.CertPool // the network's root
	dataDir string
}

func startDirectory(t testing.TB, o dirOptions) *dirProc {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.registrationRate == "" {
		o.registrationRate = "-1"
	}
	for attempt := 1; ; attempt++ {
		httpsPort, dnsPort := testenv.FreePort(t), testenv.FreeDNSPort(t)
		d := &dirProc{opts: o, https: testenv.Addr(httpsPort), dns: testenv.Addr(dnsPort), dataDir: o.dataDir}
		args := []string{"directory",
			"--pki-dir", pkiDir,
			"--data-dir", o.dataDir,
			"--listen", d.https,
			"--dns-listen", d.dns,
			"--address", "127.0.0.1",
			"--registration-rate", o.registrationRate,
			"--dns-rate", "-1",
			"--log-level", "debug",
		}
		if o.database != "" {
			args = append(args, "--database", o.database)
		}
		args = append(args, o.extra...)
		d.proc = testenv.StartProcess(t, "directory", byodaBin, args, nil)
		noRaces(t, d.proc)
		err := testenv.Wait(t.Context(), time.Minute, d.proc, func(ctx context.Context) error {
			if d.tlsCA == nil {
				data, err := os.ReadFile(filepath.Join(o.dataDir, directory.GeneratedCertFile))
				if err != nil {
					return err
				}
				d.tlsCA = x509.NewCertPool()
				d.tlsCA.AppendCertsFromPEM(data)
			}
			_, err := d.client(t, nil).Status(ctx)
			return err
		})
		if err == nil {
			dir := openPKI(t)
			if d.roots, err = dir.Roots(); err != nil {
				t.Fatal(err)
			}
			return d
		}
		if strings.Contains(d.proc.Tail(8<<10), "address already in use") && attempt < 3 {
			d.proc.Stop()
			continue
		}
		t.Fatalf("directory not ready: %v\n%s", err, d.proc.Tail(16<<10))
	}
}

// client returns a client of the directory, authenticated with kp when not
// nil.
func (d *dirProc) client(t testing.TB, kp *pki.KeyPair) *client.Client {
	t.Helper()
	o := client.Options{Roots: d.tlsCA, ServerName: "dir." + network}
	if kp != nil {
		c := kp.TLSCertificate()
		o.Certificate = &c
	}
	c, err := client.New("https://"+d.https, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawClient returns an HTTP client of the directory with cert (may be nil)
// for requests the client package would not send.
func (d *dirProc) rawClient(cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: d.tlsCA, ServerName: "dir." + network}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
}

func (d *dirProc) url(path string) string { return "https://" + d.https + path }

// lookup asks the directory's DNS server for name and qtype over net
// ("udp" or "tcp").
func lookup(t testing.TB, server, net, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: net, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("DNS %s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return r
}

// addrsOf returns the A and AAAA addresses of an answer, sorted.
func addrsOf(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// wantAddrs checks, over UDP and TCP, that name resolves to exactly want.
func wantAddrs(t testing.TB, server, name string, want ...string) {
	t.Helper()
	slices.Sort(want)
	for _, net := range []string{"udp", "tcp"} {
		qtype := mdns.TypeA
		if len(want) == 1 && strings.Contains(want[0], ":") {
			qtype = mdns.TypeAAAA
		}
		r := lookup(t, server, net, name, qtype)
		if r.Rcode != mdns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("DNS %s over %s: %s (authoritative %v), want NOERROR", name, net, mdns.RcodeToString[r.Rcode], r.Authoritative)
		}
		if got := addrsOf(r); !slices.Equal(got, want) {
			t.Fatalf("DNS %s over %s = %v, want %v", name, net, got, want)
		}
	}
}

// identity is a key and the name a CSR asks for.
type identity struct {
	key  crypto.Signer
	name string
}

func newIdentity(t testing.TB, name string) *identity {
	t.Helper()
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &identity{key: key, name: name}
}

func (id *identity) csr(t testing.TB) *x509.CertificateRequest {
	t.Helper()
	csr, err := pki.CreateCSR(id.key, id.name)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func (id *identity) keyPair(t testing.TB, s *client.Signed) *pki.KeyPair {
	t.Helper()
	kp, err := pki.NewKeyPair(id.key, s.Chain)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func accountName(aid uuid.UUID) string { return pki.AccountName(aid, network) }

// wantStatus checks that err is a directory error with status and a message
// containing want.
func wantStatus(t testing.TB, what string, err error, status int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded; want %d containing %q", what, status, want)
	}
	if got := client.StatusOf(err); got != status || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v; want %d containing %q", what, err, status, want)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func splitHostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// runDig runs dig and returns its output.
func runDig(t testing.TB, dig string, args ...string) string {
	t.Helper()
	out, err := exec.Command(dig, append([]string{"+time=5", "+tries=1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type tlsCert = tls.Certificate

// httpClient returns an HTTP client that trusts roots for serverName and
// authenticates with cert (may be nil).
func httpClient(roots *x509.CertPool, serverName string, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: roots, ServerName: serverName}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
}

// noRaces fails the test if p's log holds a race detector report (the
// binary is built with -race when BYODA_E2E_RACE is set).
func noRaces(t testing.TB, p *testenv.Process) {
	t.Cleanup(func() {
		if strings.Contains(p.Tail(1<<20), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", p.Name, p.Tail(64<<10))
		}
	})
}
