// Package devnet_test runs `byoda devnet` as `make run` does, and runs the
// commands it prints as a person would paste them.
package devnet_test

import (
	"bufio"
	"context"
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

	"github.com/byoda-go/byoda/internal/devnet"
	"github.com/byoda-go/byoda/test/testenv"
)

var byodaBin string

func TestMain(m *testing.M) {
	os.Exit(testenv.RunSuite(m, "devnet", func(s *testenv.Suite) error {
		byodaBin = s.Byoda
		return nil
	}))
}

// running is a byoda devnet process and what it printed.
type running struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	ready  chan struct{}
	exited chan error
}

// start runs byoda devnet with state in dir, on the loopback addresses from
// first, and waits until it prints that it is up.
func start(t *testing.T, dir string, args ...string) *running {
	t.Helper()
	cmd := exec.Command(byodaBin, append([]string{"devnet", "--dir", dir}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &running{cmd: cmd, ready: make(chan struct{}), exited: make(chan error, 1)}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if strings.Contains(sc.Text(), "Ctrl-C stops it") {
				once.Do(func() { close(r.ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		r.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case <-r.ready:
		t.Logf("byoda devnet up after %s", time.Since(began).Round(time.Millisecond))
	case err := <-r.exited:
		t.Fatalf("byoda devnet exited: %v\nstdout:\n%s\nstderr:\n%s", err, r.output(), stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("byoda devnet did not come up\nstdout:\n%s\nstderr:\n%s", r.output(), stderr.String())
	}
	return r
}

func (r *running) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// stop interrupts devnet as Ctrl-C does and checks that it ends cleanly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		if err != nil {
			t.Fatalf("byoda devnet ended with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("byoda devnet did not stop after Ctrl-C")
	}
}

// commandsAfter returns the indented command lines that follow the line
// holding heading in devnet's output, as a person would copy them.
func commandsAfter(t *testing.T, out, heading string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.Contains(l, heading) {
			continue
		}
		var cmds []string
		for _, c := range lines[i+1:] {
			c = strings.TrimSpace(c)
			if c == "" && len(cmds) > 0 {
				break
			}
			if c != "" {
				cmds = append(cmds, c)
			}
		}
		return cmds
	}
	t.Fatalf("devnet printed no %q:\n%s", heading, out)
	return nil
}

// paste runs command lines in one shell, as pasted into a terminal.
func paste(t *testing.T, lines ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(lines, "\n")).Output()
	if err != nil {
		t.Fatalf("the printed commands failed: %v\n%s", err, strings.Join(lines, "\n"))
	}
	return out
}

type familyAnswer struct {
	Data struct {
		Addresses struct {
			Edges []struct {
				Origin string `json:"origin"`
				Node   struct {
					City string `json:"city"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"addresses_connection"`
	} `json:"data"`
	Errors     []json.RawMessage `json:"errors"`
	Extensions struct {
		Unanswered []struct {
			MemberID string `json:"member_id"`
			Reason   string `json:"reason"`
			Error    string `json:"error"`
		} `json:"unanswered_peers"`
	} `json:"extensions"`
}

// TestDevnetFamilyQuery is must-show 1 of the local network: devnet comes
// up, the family query it prints returns Mike's addresses with Mike's
// member id as origin and neither Alice's (a friend) nor Jane's (family of
// Mike, beyond the distance addresses allow); a second run reuses the data.
func TestDevnetFamilyQuery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "devnet")
	// Addresses and ports of its own, so that a devnet a developer runs
	// on the defaults is left alone.
	args := []string{
		"--first-address", "127.0.42.2",
		"--owner-port", fmt.Sprint(testenv.FreePort(t)),
		"--peer-port", fmt.Sprint(testenv.FreePort(t)),
		"--dns-listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
	}
	r := start(t, dir, args...)
	st, err := devnet.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, p := range st.Pods {
		ids[p.Name] = p.MemberID(st.ServiceID).String()
	}

	check := func(out []byte) {
		t.Helper()
		var ans familyAnswer
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatalf("the family query's answer is not JSON: %v\n%s", err, out)
		}
		if len(ans.Errors) > 0 {
			t.Fatalf("the family query failed: %s", out)
		}
		cities := map[string][]string{}
		for _, e := range ans.Data.Addresses.Edges {
			cities[e.Origin] = append(cities[e.Origin], e.Node.City)
		}
		if got := cities[ids["mike"]]; len(got) != 1 || got[0] != "Brussels" {
			t.Errorf("Mike's addresses with Mike's origin = %v; want [Brussels]\n%s", got, out)
		}
		for _, who := range []string{"alice", "jane"} {
			if got := cities[ids[who]]; len(got) > 0 {
				t.Errorf("the answer holds %s's addresses %v\n%s", who, got, out)
			}
		}
		for origin := range cities {
			if origin != ids["suzie"] && origin != ids["mike"] {
				t.Errorf("an address from %s, who is neither Suzie nor her family", origin)
			}
		}
		// Jane was asked (through Mike) and refused: the answer says so.
		refused := false
		for _, u := range ans.Extensions.Unanswered {
			refused = refused || (u.MemberID == ids["jane"] && u.Reason == "refused")
		}
		if !refused {
			t.Errorf("Jane's refusal is not among the unanswered peers: %s", out)
		}
	}
	check(paste(t, commandsAfter(t, r.output(), "Where does Suzie's family live?")...))
	r.stop(t)

	// A second run reuses the state: same accounts, same data.
	r = start(t, dir, args...)
	again, err := devnet.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range again.Pods {
		if p.AccountID != st.Pods[i].AccountID {
			t.Errorf("pod %s has account %s on the second run; it had %s", p.Name, p.AccountID, st.Pods[i].AccountID)
		}
	}
	check(paste(t, commandsAfter(t, r.output(), "Where does Suzie's family live?")...))
	r.stop(t)
}
