package podruntime

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
)

const (
	// testPassword is the owner password of testConfig.
	testPassword = "correct horse battery"
	testNetwork  = "byoda.test"
	demoSID      = 4711
	demoFile     = "../config/samples/contracts/addressbook-demo.json"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testPKI is a network with the demo service, one account and one member,
// in a temporary directory.
type testPKI struct {
	dir     *pki.Dir
	account uuid.UUID
	member  uuid.UUID
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	now := time.Now()
	d, err := pki.InitNetwork(filepath.Join(t.TempDir(), "pki"), testNetwork, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(demoSID, now); err != nil {
		t.Fatal(err)
	}
	aid, err := d.CreateAccount(now)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := d.CreateMember(demoSID, now)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{dir: d, account: aid, member: mid}
}

// testConfig returns a config for a pod of tp with a fresh data directory,
// key-encryption key and owner password testPassword.
func testConfig(t testing.TB, tp *testPKI) Config {
	t.Helper()
	data := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(data, "kek"), []byte(base64.URLEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(data, "password")
	if err := os.WriteFile(pw, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{Pod: launch.Pod{
		Network:           testNetwork,
		PKIDir:            tp.dir.Path(),
		AccountID:         tp.account,
		DataDir:           data,
		Listen:            "127.0.0.1:0",
		PeerListen:        "127.0.0.1:0",
		OwnerPasswordFile: pw,
		ContractFiles:     []string{demoFile},
	}}
}

// servedPod is a pod serving on loopback in this process.
type servedPod struct {
	pod   *Pod
	owner string // https://127.0.0.1:port
	peer  string
	http  *http.Client // trusts the network root, for the owner port
	stop  func() error // ends Serve and returns its error
}

func servePod(t testing.TB, tp *testPKI, cfg Config) *servedPod {
	t.Helper()
	p, err := New(context.Background(), cfg)
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ol, pl) }()
	roots, err := tp.dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	sp := &servedPod{
		pod:   p,
		owner: "https://" + ol.Addr().String(),
		peer:  "https://" + pl.Addr().String(),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: p.accountName},
		}},
	}
	var once sync.Once
	var stopErr error
	sp.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { sp.stop() })
	return sp
}
