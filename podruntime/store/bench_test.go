package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/test/testenv"
)

// benchRecord is an item of about 300 bytes of JSON, with ten distinct
// values of "kind" (indexed) and of "note" (not indexed).
func benchRecord(i int) map[string]any {
	return map[string]any{
		"item_id": uid(i),
		"name":    fmt.Sprintf("item number %d", i),
		"kind":    fmt.Sprintf("kind-%d", i%10),
		"size":    i,
		"weight":  float64(i) / 7,
		"flag":    i%2 == 0,
		"created": opBase.Add(time.Duration(i) * time.Second).Format(time.RFC3339),
		"owner":   uid(i % 1000),
		"email":   fmt.Sprintf("user%d@example.com", i%1000),
		"labels":  []any{"alpha", "beta"},
		"note":    fmt.Sprintf("note %d: ", i%10) + strings.Repeat("lorem ipsum ", 8),
	}
}

func fillStore(b testing.TB, s *Store, n int) {
	b.Helper()
	const batch = 1000
	for start := 0; start < n; start += batch {
		recs := make([]any, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			recs = append(recs, benchRecord(i))
		}
		mustAppend(b, s, "items", recs...)
	}
}

// reportMedian runs op b.N times, timing each call, and reports the median
// besides the mean that ns/op shows.
func reportMedian(b *testing.B, op func()) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		op()
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns")
}

// BenchmarkQuery is a filtered query for the first 20 of 10,000 records:
// 1,000 match, so the page is full and total_count needs every match.
func BenchmarkQuery(b *testing.B) {
	opts := testOptions(b, localObjects(b), kitchenContract(b))
	opts.CompactSegments = -1
	s := openStore(b, opts)
	fillStore(b, s, 10_000)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		filter Filter
	}{
		{"indexed", Filter{{Field: "kind", Op: OpEq, Value: "kind-3"}}},
		{"unindexed", Filter{{Field: "note", Op: OpEq, Value: "note 3: " + strings.Repeat("lorem ipsum ", 8)}}},
		{"unindexed-range", Filter{{Field: "size", Op: OpGt, Value: 8999}}},
		{"unindexed-regex", Filter{{Field: "name", Op: OpRegex, Value: "number 9"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			reportMedian(b, func() {
				p, err := s.Query(ctx, "items", Query{Filter: bc.filter, First: 20})
				if err != nil || len(p.Edges) != 20 {
					b.Fatalf("Query: %d edges, %v", len(p.Edges), err)
				}
			})
		})
	}
}

// BenchmarkAppendDurable appends single records from 32 goroutines; each
// Append returns once its segment is in the object store.
func BenchmarkAppendDurable(b *testing.B) {
	run := func(b *testing.B, objects objstore.Store) {
		s := openStore(b, testOptions(b, objects, kitchenContract(b)))
		var next atomic.Int64
		b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append(context.Background(), "items", benchRecord(int(next.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		elapsed := time.Since(start)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
		st := s.Stats()
		b.ReportMetric(float64(b.N)/float64(max(1, st.Seq)), "records/segment")
	}
	b.Run("local", func(b *testing.B) { run(b, localObjects(b)) })
	b.Run("s3", func(b *testing.B) {
		srv := testenv.StartS3(b)
		run(b, s3Objects(b, srv))
	})
}

// BenchmarkRestore opens a store of 100,000 records of about 300 bytes
// from its object store: from a snapshot, and from the log alone.
func BenchmarkRestore(b *testing.B) {
	for _, bc := range []struct {
		name    string
		s3      bool
		compact bool
	}{
		{"local/snapshot", false, true},
		{"local/log", false, false},
		{"s3/snapshot", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var objects objstore.Store
			if bc.s3 {
				objects = s3Objects(b, testenv.StartS3(b))
			} else {
				objects = localObjects(b)
			}
			opts := testOptions(b, objects, kitchenContract(b))
			opts.CompactSegments = -1
			s, err := Open(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			fillStore(b, s, 100_000)
			if bc.compact {
				if err := s.Compact(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			s.Close()
			b.ResetTimer()
			for b.Loop() {
				s, err := Open(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if n := s.Stats().Records; n != 100_000 {
					b.Fatalf("restored %d records", n)
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/restore")
		})
	}
}

// BenchmarkMemory reports the heap a store of 100,000 records of about 300
// bytes holds after a restore (and a GC), and the process's resident set.
func BenchmarkMemory(b *testing.B) {
	objects := localObjects(b)
	opts := testOptions(b, objects, kitchenContract(b))
	opts.CompactSegments = -1
	s, err := Open(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	fillStore(b, s, 100_000)
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	s.Close()
	s = nil
	var heap, perRecord, rss float64
	for b.Loop() {
		base := heapInUse()
		s, err := Open(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		inUse := heapInUse() - base
		heap = float64(inUse) / (1 << 20)
		perRecord = float64(inUse) / 100_000
		rss, _ = residentMiB()
		runtime.KeepAlive(s)
		s.Close()
	}
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(perRecord, "heap-B/record")
	b.ReportMetric(rss, "rss-MiB")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// residentMiB returns the process's resident set after returning free
// memory to the OS.
func residentMiB() (float64, bool) {
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
