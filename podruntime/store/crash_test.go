package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/objstore"
)

// crashEnv carries a crashChild's configuration from the parent test.
const crashEnv = "BYODA_STORE_CRASH_CHILD"

type crashConfig struct {
	LocalDir string             `json:"local_dir,omitempty"`
	S3       *objstore.S3Config `json:"s3,omitempty"`
	KEK      string             `json:"kek"`
	MarkFile string             `json:"mark_file"`
	Round    int                `json:"round"`
}

const (
	crashWriters    = 24
	crashAcksBefore = 1500 // acknowledgements a child reports before it is killed
	crashRounds     = 3    // children killed one after the other on the same store
)

// crashRecord is the record a child writes for id. Every field is derived
// from id, so a torn or mixed-up record is evident.
func crashRecord(id string) map[string]any {
	sum := sha256.Sum256([]byte(id))
	return map[string]any{
		"item_id": uuid.UUID(sum[:16]).String(),
		"name":    id,
		"kind":    strings.SplitN(id, "-", 3)[1],
		"note":    strings.Repeat(hex.EncodeToString(sum[:]), 4),
		"size":    len(id),
	}
}

// TestCrashChild is the child process of TestCrash: it appends from many
// goroutines and prints "ack <id>" as each Append returns, until it is
// killed. It does nothing when run as a normal test.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("the child process of TestCrash")
	}
	var cfg crashConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var objects objstore.Store
	var err error
	if cfg.S3 != nil {
		objects, err = objstore.NewS3(ctx, *cfg.S3)
	} else {
		objects, err = objstore.NewLocal(cfg.LocalDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	kek, err := NewFernetKEK(cfg.KEK)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Objects: objects, Prefix: "pods/crash", MemberID: testMember, Contract: kitchenContract(t), KEK: kek,
		MarkFile:        cfg.MarkFile,
		CompactSegments: 25} // compact often, so that kills land in compactions too
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%d-w%02d-%06d", cfg.Round, w, i)
				if _, err := s.Append(ctx, "items", crashRecord(id)); err != nil {
					fmt.Fprintf(os.Stderr, "append %s: %v\n", id, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				out.Lock()
				os.Stdout.WriteString("ack " + id + "\n")
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrash runs a child process that appends under concurrency and
// reports each acknowledged record, SIGKILLs it mid-stream, does that again
// on the same store, and then checks with a fresh store (which has nothing
// but the object store) that every acknowledged record is there exactly
// once and that no record is torn.
func TestCrash(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		// Every child and the final store share a high-water mark, which
		// the kills leave as the background writer had it: a restart
		// after a crash must never be taken for a rollback.
		cfg := crashConfig{KEK: mustKey(), MarkFile: filepath.Join(t.TempDir(), "crash.hwm")}
		var objects objstore.Store
		if b.s3 != nil {
			objects = b.new(t)
			bucket := strings.TrimSuffix(strings.TrimPrefix(objects.(*objstore.S3).String(), "s3://"), "/")
			c := s3Config(b.s3, bucket)
			cfg.S3 = &c
		} else {
			cfg.LocalDir = t.TempDir()
			l, err := objstore.NewLocal(cfg.LocalDir)
			if err != nil {
				t.Fatal(err)
			}
			objects = l
		}

		acked := map[string]bool{}
		for round := range crashRounds {
			cfg.Round = round
			for _, id := range runCrashChild(t, cfg) {
				acked[id] = true
			}
		}

		kek, err := NewFernetKEK(cfg.KEK)
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Objects: objects, Prefix: "pods/crash", MemberID: testMember, Contract: kitchenContract(t), KEK: kek, MarkFile: cfg.MarkFile}
		mark := readMarkFile(t, cfg.MarkFile, "pods/crash/")
		s := openStore(t, opts)
		if st := s.Stats(); mark == 0 || mark >= st.Seq {
			t.Fatalf("high-water mark %d after the crashes; want it above 0 and below the store's position %d (the claim of this open comes after it)", mark, st.Seq)
		}
		seen := map[string]int{}
		q := Query{First: MaxFirst}
		for {
			p := mustQuery(t, s, "items", q)
			for _, e := range p.Edges {
				rec := e.Node.(map[string]any)
				id, _ := rec["name"].(string)
				want := crashRecord(id)
				want["size"] = int64(len(id))
				if fmt.Sprint(rec) != fmt.Sprint(want) {
					t.Fatalf("torn record %s:\n got %v\nwant %v", e.Cursor, rec, want)
				}
				seen[id]++
			}
			if !p.PageInfo.HasNextPage {
				break
			}
			q.After = p.PageInfo.EndCursor
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("record %s is there %d times", id, n)
			}
		}
		missing := 0
		for id := range acked {
			if seen[id] == 0 {
				missing++
				if missing < 10 {
					t.Errorf("acknowledged record %s is missing", id)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("%d of %d acknowledged records are missing", missing, len(acked))
		}
		st := s.Stats()
		t.Logf("%d acknowledged, %d stored (the rest were in flight), log at segment %d, snapshot at %d", len(acked), len(seen), st.Seq, st.SnapshotSeq)
		if len(acked) < crashRounds*crashAcksBefore {
			t.Fatalf("only %d acknowledgements", len(acked))
		}
	})
}

// runCrashChild starts the test binary as a crash child, reads its
// acknowledgements, kills it with SIGKILL after crashAcksBefore of them,
// and returns every acknowledgement it completed.
func runCrashChild(t *testing.T, cfg crashConfig) []string {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(raw))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	timer := time.AfterFunc(3*time.Minute, kill)
	defer timer.Stop()

	var ids []string
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		// Only a complete line is an acknowledgement: the child may die
		// in the middle of writing one.
		if id, ok := strings.CutPrefix(line, "ack "); ok && strings.HasSuffix(id, "\n") {
			ids = append(ids, strings.TrimSuffix(id, "\n"))
			if len(ids) == crashAcksBefore {
				kill()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	waitErr := cmd.Wait()
	if len(ids) < crashAcksBefore {
		log, _ := os.ReadFile(stderr.Name())
		t.Fatalf("child ended after %d acknowledgements (%v):\n%s", len(ids), waitErr, tail(log))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", waitErr)
	}
	t.Logf("round %d: child killed after %d acknowledgements (%d read in all)", cfg.Round, crashAcksBefore, len(ids))
	return ids
}

func tail(b []byte) string {
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}
