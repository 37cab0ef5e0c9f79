package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
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

	"github.com/fernet/fernet-go"

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

// BenchmarkEncryption compares the Fernet path (fernet-go, as the store
// seals every object) with the same construction done directly: AES-128-CBC
// with a random IV and PKCS #7 padding, then HMAC-SHA256 over version,
// timestamp, IV and ciphertext, without Fernet's base64 encoding. Each
// iteration encrypts and then verifies and decrypts one payload.
func BenchmarkEncryption(b *testing.B) {
	var key fernet.Key
	if err := key.Generate(); err != nil {
		b.Fatal(err)
	}
	keys := []*fernet.Key{&key}
	for _, size := range []int{300, 64 << 10, 4 << 20} {
		payload := make([]byte, size)
		rand.Read(payload)
		tok, err := fernet.EncryptAndSign(payload, &key)
		if err != nil {
			b.Fatal(err)
		}
		raw := rawSeal(payload, key[16:], key[:16])
		for _, bc := range []struct {
			name string
			op   func() error
		}{
			{"fernet/roundtrip", func() error {
				tok, err := fernet.EncryptAndSign(payload, &key)
				if err == nil && fernet.VerifyAndDecrypt(tok, 0, keys) == nil {
					err = errors.New("verify failed")
				}
				return err
			}},
			{"raw/roundtrip", func() error { _, err := rawOpen(rawSeal(payload, key[16:], key[:16]), key[16:], key[:16]); return err }},
			{"fernet/seal", func() error { _, err := fernet.EncryptAndSign(payload, &key); return err }},
			{"raw/seal", func() error { rawSeal(payload, key[16:], key[:16]); return nil }},
			{"fernet/open", func() error {
				if fernet.VerifyAndDecrypt(tok, 0, keys) == nil {
					return errors.New("verify failed")
				}
				return nil
			}},
			{"raw/open", func() error { _, err := rawOpen(raw, key[16:], key[:16]); return err }},
			{"base64/encode", func() error { base64.URLEncoding.EncodeToString(raw); return nil }},
			{"base64/decode", func() error { _, err := base64.URLEncoding.DecodeString(string(tok)); return err }},
		} {
			b.Run(fmt.Sprintf("%s/%d", bc.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := bc.op(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// rawSeal is Fernet's construction without the base64 encoding.
func rawSeal(msg, encKey, macKey []byte) []byte {
	const hdr = 1 + 8 + aes.BlockSize
	n := len(msg)/aes.BlockSize*aes.BlockSize + aes.BlockSize
	out := make([]byte, hdr+n+sha256.Size)
	out[0] = 0x80
	rand.Read(out[9:hdr])
	copy(out[hdr:], msg)
	for i := len(msg); i < n; i++ {
		out[hdr+i] = byte(n - len(msg))
	}
	block, _ := aes.NewCipher(encKey)
	cipher.NewCBCEncrypter(block, out[9:hdr]).CryptBlocks(out[hdr:hdr+n], out[hdr:hdr+n])
	mac := hmac.New(sha256.New, macKey)
	mac.Write(out[:hdr+n])
	mac.Sum(out[:hdr+n])
	return out
}

func rawOpen(tok, encKey, macKey []byte) ([]byte, error) {
	const hdr = 1 + 8 + aes.BlockSize
	if len(tok) < hdr+aes.BlockSize+sha256.Size {
		return nil, errors.New("short token")
	}
	body := tok[:len(tok)-sha256.Size]
	mac := hmac.New(sha256.New, macKey)
	mac.Write(body)
	if subtle.ConstantTimeCompare(mac.Sum(nil), tok[len(body):]) != 1 {
		return nil, errors.New("bad mac")
	}
	ct := body[hdr:]
	out := make([]byte, len(ct))
	block, _ := aes.NewCipher(encKey)
	cipher.NewCBCDecrypter(block, body[9:hdr]).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("bad padding")
	}
	return out[:len(out)-pad], nil
}
