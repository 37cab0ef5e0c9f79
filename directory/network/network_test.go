package network

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/internal/requestid"
)

const testNetwork = "byoda.test"

func openStore(t *testing.T) *registry.DB {
	t.Helper()
	db, err := registry.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "r.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestZoneSyncAfterWrite writes records from many goroutines, each calling
// sync after its write: the view must hold every write when its sync
// returns, however the polls are shared.
func TestZoneSyncAfterWrite(t *testing.T) {
	db := openStore(t)
	zone, err := dns.NewServer(testNetwork, dns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	z := newZoneSync(db, zone, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("n%d-%d.%s", w, i, testNetwork)
				addr := netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i)})
				if _, err := db.SetRecord(ctx, name, addr); err != nil {
					t.Error(err)
					return
				}
				if err := z.sync(ctx); err != nil {
					t.Error(err)
					return
				}
				if got := zone.Lookup(name); len(got) != 1 || got[0] != addr {
					t.Errorf("after sync, %s = %v; want %v", name, got, addr)
				}
			}
		})
	}
	wg.Wait()
	serial, _ := db.Serial(ctx)
	if zone.Serial() != uint32(serial) || zone.Len() != 200 {
		t.Errorf("zone at serial %d with %d names; registry at %d with 200", zone.Serial(), zone.Len(), serial)
	}
}

// failingStore fails every call after fail is set: the registry's database
// going away.
type failingStore struct {
	*registry.DB
	mu   sync.Mutex
	fail bool
}

var errDown = errors.New("connection refused: the database is down")

func (f *failingStore) down() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *failingStore) CreateAccount(ctx context.Context, id uuid.UUID, chain string, rec *registry.Record) error {
	if f.down() {
		return errDown
	}
	return f.DB.CreateAccount(ctx, id, chain, rec)
}

func (f *failingStore) Counts(ctx context.Context) (map[string]int64, error) {
	if f.down() {
		return nil, errDown
	}
	return f.DB.Counts(ctx)
}

func (f *failingStore) RecordsSince(ctx context.Context, serial uint64, limit int) ([]registry.Record, error) {
	if f.down() {
		return nil, errDown
	}
	return f.DB.RecordsSince(ctx, serial, limit)
}

// TestRegistryDown answers requests while the registry fails: a 500 that
// names the request id and hides the cause, a 503 status, nothing signed
// and handed out, and answers again once the registry is back.
func TestRegistryDown(t *testing.T) {
	d, err := pki.InitNetwork(t.TempDir(), testNetwork, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cas, err := LoadCAs(d)
	if err != nil {
		t.Fatal(err)
	}
	store := &failingStore{DB: openStore(t)}
	zone, err := dns.NewServer(testNetwork, dns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(requestid.LogHandler(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil)))
	s, err := New(Config{Network: testNetwork, CAs: cas, Store: store, Zone: zone, Log: log, RegistrationRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	c := srv.Client()

	register := func() (*http.Response, string) {
		t.Helper()
		key, _ := pki.GenerateKey()
		csr, _ := pki.CreateCSR(key, pki.AccountName(uuid.New(), testNetwork))
		body, _ := json.Marshal(directory.CSRRequest{CSR: string(pki.EncodeCSR(csr)), Address: "192.0.2.1"})
		resp, err := c.Post(srv.URL+directory.PathAccount, "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, string(data)
	}
	if resp, body := register(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %s %s", resp.Status, body)
	}
	store.mu.Lock()
	store.fail = true
	store.mu.Unlock()
	resp, body := register()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusInternalServerError || id == "" || !strings.Contains(body, id) ||
		strings.Contains(body, "connection refused") || strings.Contains(body, "CERTIFICATE") {
		t.Errorf("registration while down: %s %s (request id %q)", resp.Status, body, id)
	}
	logMu.Lock()
	logged := logs.String()
	logMu.Unlock()
	if !strings.Contains(logged, "connection refused") || !strings.Contains(logged, id) {
		t.Errorf("the log does not explain request %s:\n%s", id, logged)
	}
	st, err := c.Get(srv.URL + directory.PathStatus)
	if err != nil {
		t.Fatal(err)
	}
	st.Body.Close()
	if st.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status while down: %s", st.Status)
	}
	store.mu.Lock()
	store.fail = false
	store.mu.Unlock()
	if resp, body := register(); resp.StatusCode != http.StatusCreated {
		t.Errorf("registration after recovery: %s %s", resp.Status, body)
	}
	if zone.Len() != 2 {
		t.Errorf("zone has %d names, want the 2 registered accounts", zone.Len())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
