package directory_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	mdns "github.com/miekg/dns"

	"github.com/byoda-go/byoda/directory"
	netdir "github.com/byoda-go/byoda/directory/network"
	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// BenchmarkRegistrations measures new account registrations per second
// through byoda directory as a process: POST /api/v1/network/account with a
// CSR, over HTTPS with keep-alive, from 16 clients at once. Each one is
// signed by the accounts CA, stored with its DNS record in one transaction
// and in the DNS view before it is answered. The CSRs are made before the
// clock starts.
func BenchmarkRegistrations(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchRegistrations(b, startDirectory(b, dirOptions{}))
	})
	b.Run("postgres", func(b *testing.B) {
		pg := testenv.StartPostgres(b)
		benchRegistrations(b, startDirectory(b, dirOptions{database: pg.NewDatabase(b)}))
	})
}

func benchRegistrations(b *testing.B, d *dirProc) {
	bodies := make(chan []byte, b.N)
	for range b.N {
		id := newIdentity(b, accountName(uuid.New()))
		body, _ := json.Marshal(directory.CSRRequest{CSR: string(pki.EncodeCSR(id.csr(b)))})
		bodies <- body
	}
	close(bodies)
	c := d.client(b, nil).HTTPClient()
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post(d.url(directory.PathAccount), "application/json", bytes.NewReader(<-bodies))
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "registrations/s")
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d registrations failed\n%s", f, b.N, d.proc.Tail(4<<10))
	}
}

// BenchmarkMemory measures the resident memory of byoda directory holding
// 100,000 registered accounts (each with its certificate chain and DNS
// record) on SQLite, after it has loaded them into its DNS view and
// answered queries, next to an empty directory. The loop asks for random
// registered names.
func BenchmarkMemory(b *testing.B) {
	const n = 100_000
	empty := startDirectory(b, dirOptions{})
	emptyRSS := rssKiB(b, empty.proc.Pid())
	empty.proc.Stop()

	dataDir := b.TempDir()
	db, err := registry.Open(b.Context(), "sqlite:"+filepath.Join(dataDir, netdir.DatabaseFile), registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// A chain the size of a real one: an account certificate and the
	// accounts CA.
	dir := openPKI(b)
	aid, err := dir.CreateAccount(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	kp, err := dir.AccountKey(aid)
	if err != nil {
		b.Fatal(err)
	}
	chain := string(pki.EncodeCertificates(kp.Chain...))
	names := make([]string, n)
	for i := range n {
		id := uuid.New()
		names[i] = accountName(id)
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := db.CreateAccount(b.Context(), id, chain, &registry.Record{Name: names[i], Addr: a}); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	d := startDirectory(b, dirOptions{dataDir: dataDir})
	st, err := d.client(b, nil).Status(b.Context())
	if err != nil || st.DNSRecords != n+1 {
		b.Fatalf("status %+v, %v; want %d DNS records", st, err, n+1)
	}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	i := 0
	for b.Loop() {
		m := new(mdns.Msg)
		m.SetQuestion(names[i%n]+".", mdns.TypeA)
		i += 7919
		if r, _, err := c.Exchange(m, d.dns); err != nil || len(r.Answer) != 1 {
			b.Fatalf("query: %v %v", r, err)
		}
	}
	b.ReportMetric(float64(rssKiB(b, d.proc.Pid()))/1024, "MiB-rss-100k")
	b.ReportMetric(float64(emptyRSS)/1024, "MiB-rss-empty")
}

// rssKiB reads the resident set size of process pid.
func rssKiB(b *testing.B, pid int) int {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
