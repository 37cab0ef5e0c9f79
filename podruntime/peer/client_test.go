package peer_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/test/testenv"
)

const (
	network = "byoda.test"
	sid     = 4711
)

// world is a network with members, a real DNS server for the network's
// zone, and a TLS server per member on its own loopback address.
type world struct {
	dir      *pki.Dir
	verifier *pki.Verifier
	dns      *dns.Server
	dnsAddr  string
	port     int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir, err := testenv.InitPKI(t.TempDir(), network, sid)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dns.NewServer(network, dns.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr, stop, err := testenv.ServeDNS(srv.Serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	// A free port, the same on every loopback address.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	return &world{dir: dir, verifier: &pki.Verifier{Roots: roots, Network: network}, dns: srv, dnsAddr: dnsAddr, port: port}
}

func (w *world) member(t *testing.T) (uuid.UUID, tls.Certificate) {
	t.Helper()
	mid, err := w.dir.CreateMember(sid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := w.dir.MemberKey(sid, mid)
	if err != nil {
		t.Fatal(err)
	}
	return mid, kp.TLSCertificate()
}

// serve runs h on ip with TLS as member mid (presenting cert) and
// registers mid's name at ip in DNS.
func (w *world) serve(t *testing.T, ip string, mid uuid.UUID, cert tls.Certificate, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(w.port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    w.verifier.Roots,
	}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { srv.Close() })
	if err := w.dns.Set(pki.MemberName(sid, mid, network), netip.MustParseAddr(ip)); err != nil {
		t.Fatal(err)
	}
}

func (w *world) client(t *testing.T, cert tls.Certificate, opts peer.Options) *peer.Client {
	t.Helper()
	opts.Network, opts.ServiceID, opts.Port, opts.Certificate, opts.Verifier, opts.DNSServer = network, sid, w.port, cert, w.verifier, w.dnsAddr
	c, err := peer.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClient(t *testing.T) {
	w := newWorld(t)
	caller, callerCert := w.member(t)
	good, goodCert := w.member(t)
	impostor, _ := w.member(t)
	_, otherCert := w.member(t)
	slow, slowCert := w.member(t)
	huge, hugeCert := w.member(t)
	garbage, garbageCert := w.member(t)
	gone, _ := w.member(t)

	var conns, most atomic.Int32
	w.serve(t, "127.0.0.2", good, goodCert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := conns.Add(1)
		defer conns.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		id, err := w.verifier.PeerIdentity(r.TLS)
		if err != nil || r.URL.Path != peer.DataPath(sid) {
			http.Error(rw, "bad caller or path", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(rw, `{"data":{"caller":%q,"echo":%s}}`, id.ID, body)
	}))
	// The impostor's name points at a server presenting another member's
	// certificate.
	w.serve(t, "127.0.0.3", impostor, otherCert, http.NotFoundHandler())
	w.serve(t, "127.0.0.4", slow, slowCert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	w.serve(t, "127.0.0.5", huge, hugeCert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte(`{"data":"`))
		for range 2048 {
			rw.Write([]byte(strings.Repeat("x", 1024)))
		}
	}))
	w.serve(t, "127.0.0.6", garbage, garbageCert, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte("<html>not GraphQL</html>"))
	}))
	// gone has a name but nothing listens.
	if err := w.dns.Set(pki.MemberName(sid, gone, network), netip.MustParseAddr("127.0.0.7")); err != nil {
		t.Fatal(err)
	}

	c := w.client(t, callerCert, peer.Options{MaxConnsPerPeer: 2, MaxResponseBytes: 1 << 20})
	ctx := t.Context()

	// Parallel calls to one pod share at most two connections and each
	// gets its answer.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			resp, err := c.GraphQL(ctx, good, &peer.Request{Query: fmt.Sprint(i)})
			if err == nil && !strings.Contains(string(resp.Data), caller.String()) {
				err = fmt.Errorf("answer %s does not name the caller %s", resp.Data, caller)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d requests at once at one pod; the bound is 2 connections", m)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		mid  uuid.UUID
		kind peer.Kind
	}{
		{"impostor", ctx, impostor, peer.KindUntrusted},
		{"slow", short, slow, peer.KindTimeout},
		{"huge", ctx, huge, peer.KindTooLarge},
		{"garbage", ctx, garbage, peer.KindInvalid},
		{"no such name", ctx, uuid.New(), peer.KindNotFound},
		{"nothing listens", ctx, gone, peer.KindUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GraphQL(tc.ctx, tc.mid, &peer.Request{Query: "{}"})
			var pe *peer.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Member != tc.mid {
				t.Errorf("GraphQL = %v; want a %s error of member %s", err, tc.kind, tc.mid)
			}
		})
	}
}
