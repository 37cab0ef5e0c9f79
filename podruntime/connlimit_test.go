package podruntime

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/requestid"
)

// metricValue returns the value of the metric name with labels (given as
// name, value pairs) in p's registry.
func metricValue(t *testing.T, p *Pod, name string, labels ...string) float64 {
	t.Helper()
	families, err := p.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func TestDefaultConnLimits(t *testing.T) {
	for _, tc := range []struct {
		nofile          uint64
		perPort, perAdr int
	}{
		{64, minMaxConns, 4},
		{256, 64, 16},
		{1024, 384, 64},
		{4096, 1536, 64},
		{1 << 20, DefaultMaxConns, DefaultMaxConnsPerAddress},
		{^uint64(0), DefaultMaxConns, DefaultMaxConnsPerAddress},
	} {
		perPort := defaultMaxConns(tc.nofile)
		if perAddr := defaultMaxConnsPerAddress(perPort); perPort != tc.perPort || perAddr != tc.perAdr {
			t.Errorf("nofile %d: %d per port, %d per address; want %d, %d", tc.nofile, perPort, perAddr, tc.perPort, tc.perAdr)
		}
		// Both ports and the headroom fit in the file limit.
		if tc.nofile >= 256 && uint64(2*perPort+fileHeadroom) > tc.nofile {
			t.Errorf("nofile %d: two ports of %d leave no headroom", tc.nofile, perPort)
		}
	}
	var c Config
	c.MaxConns, c.MaxConnsPerAddress = 4, 5
	if err := c.normalizeLimits(); err == nil || !strings.Contains(err.Error(), "--max-conns-per-address 5 is more than --max-conns 4") {
		t.Errorf("per-address cap above the port's: %v", err)
	}
}

// dialFrom opens a TCP connection to addr from the loopback address src
// (all of 127.0.0.0/8 is loopback on Linux).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// holdConn opens a connection from src to the owner port, makes a request
// on it and leaves it open, idle and kept alive.
func (sp *servedPod) holdConn(t *testing.T, src string) net.Conn {
	t.Helper()
	raw, err := dialFrom(src, strings.TrimPrefix(sp.owner, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, sp.http.Transport.(*http.Transport).TLSClientConfig.Clone())
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /api/v1/status HTTP/1.1\r\nHost: pod\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("connection from %s: %v", src, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("connection from %s: %s", src, resp.Status)
	}
	c.SetDeadline(time.Time{})
	return c
}

// handshake opens a connection from src to the owner port and completes
// the TLS handshake: it fails when the pod refuses the connection.
func (sp *servedPod) handshake(src string) error {
	raw, err := dialFrom(src, strings.TrimPrefix(sp.owner, "https://"))
	if err != nil {
		return err
	}
	c := tls.Client(raw, sp.http.Transport.(*http.Transport).TLSClientConfig.Clone())
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.Handshake()
}

func TestConnectionLimitPerAddress(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	cfg.MaxConns, cfg.MaxConnsPerAddress = 8, 3
	sp := servePod(t, tp, cfg)

	// One address takes its share of the owner port...
	for range 3 {
		sp.holdConn(t, "127.0.0.2")
	}
	// ...and no more: the next connection is closed at once.
	if err := sp.handshake("127.0.0.2"); err == nil {
		t.Fatal("a fourth connection from 127.0.0.2 was accepted")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a fourth connection from 127.0.0.2 hung instead of being closed: %v", err)
	}
	if n := metricValue(t, sp.pod, "byoda_pod_connections_refused_total", "port", portOwner, "reason", refusedAddressFull); n != 1 {
		t.Errorf("refused for address_full: %v, want 1", n)
	}

	// The owner logs in from another address.
	tr := sp.http.Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext
	owner := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	defer tr.CloseIdleConnections()
	resp, err := owner.Post(sp.owner+"/api/v1/pod/authtoken", "application/json",
		strings.NewReader(`{"username":"`+tp.account.String()+`","password":"`+testPassword+`","service_id":4711}`))
	if err != nil {
		t.Fatal(err)
	}
	var login loginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || login.AuthToken == "" {
		t.Fatalf("login from 127.0.0.3: %d", resp.StatusCode)
	}

	// The peer port counts on its own: 127.0.0.2 reaches it.
	roots, _ := tp.dir.Roots()
	kp, err := tp.dir.MemberKey(demoSID, tp.member)
	if err != nil {
		t.Fatal(err)
	}
	peerTr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: sp.pod.membership(demoSID).memberName, Certificates: []tls.Certificate{kp.TLSCertificate()}},
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
	}
	defer peerTr.CloseIdleConnections()
	resp, err = (&http.Client{Timeout: 10 * time.Second, Transport: peerTr}).Post(sp.peer+"/api/v1/data/service-4711", "application/json",
		strings.NewReader(`{"query":"{ person { given_name } }"}`))
	if err != nil {
		t.Fatalf("peer port from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(requestid.Header) == "" {
		t.Fatalf("peer port from 127.0.0.2: %s %v", resp.Status, resp.Header)
	}
}

func TestConnectionLimitPerPort(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	cfg.MaxConns, cfg.MaxConnsPerAddress = 4, 2
	sp := servePod(t, tp, cfg)
	held := []net.Conn{sp.holdConn(t, "127.0.0.2"), sp.holdConn(t, "127.0.0.2"), sp.holdConn(t, "127.0.0.3"), sp.holdConn(t, "127.0.0.3")}
	if err := sp.handshake("127.0.0.4"); err == nil {
		t.Fatal("a fifth connection was accepted on a port of four")
	}
	if n := metricValue(t, sp.pod, "byoda_pod_connections_refused_total", "port", portOwner, "reason", refusedPortFull); n != 1 {
		t.Errorf("refused for port_full: %v, want 1", n)
	}
	if n := metricValue(t, sp.pod, "byoda_pod_connections_open", "port", portOwner); n != 4 {
		t.Errorf("open connections: %v, want 4", n)
	}
	// A connection that closes makes room: the pod sees the close when
	// it reads, so poll.
	held[0].Close()
	deadline := time.Now().Add(20 * time.Second)
	for sp.handshake("127.0.0.4") != nil {
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not make room")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultyListener fails its first n accepts with EMFILE, as a process out
// of file descriptors does.
type faultyListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *faultyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.n > 0
	l.n--
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// syncBuffer is a bytes.Buffer for a logger that several goroutines use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b.b.Bytes()))
	for {
		var r map[string]any
		if err := dec.Decode(&r); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestAcceptErrorsAreWarnedAndCounted(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	// A clock that stands still: every error falls in one warning's
	// interval.
	clock := &fakeClock{now: time.Now()}
	cfg.Now = clock.Now
	p, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, &faultyListener{Listener: ol, n: 3}, pl) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The server backs off and goes on: the owner port answers.
	roots, _ := tp.dir.Roots()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: p.accountName}}}
	resp, err := c.Get("https://" + ol.Addr().String() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := metricValue(t, p, "byoda_pod_accept_errors_total", "port", portOwner); n != 3 {
		t.Errorf("accept errors: %v, want 3", n)
	}
	var warned int
	for _, r := range logs.records(t) {
		if r["msg"] == "Accepting a connection failed; new clients wait until connections close" {
			warned++
			if r["level"] != "WARN" || r["port"] != portOwner || !strings.Contains(r["err"].(string), "too many open files") {
				t.Errorf("warning: %v", r)
			}
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings for 3 accept errors in one interval, want 1", warned)
	}
}
