package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot returns the repository root: the directory holding go.mod above this
// package.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// BinDir is the directory hack/tools.sh builds tools into. It is also the
// KUBEBUILDER_ASSETS directory for envtest.
func BinDir() string {
	if dir := os.Getenv("BYODA_BIN_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin")
}

// Binary returns the path of a tool in BinDir, failing the test with the command
// that builds it when it is missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	skipIfShort(t, name)
	path := filepath.Join(BinDir(), name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test tool %s is missing (%v): run `make tools` (or hack/tools.sh %s)", name, err, name)
	}
	return path
}

// SystemBinary returns the path of a program installed on the machine (for
// example PowerDNS from Debian), failing the test with the command that installs
// it when it is missing.
func SystemBinary(t testing.TB, name, install string) string {
	t.Helper()
	skipIfShort(t, name)
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if p := filepath.Join(dir, name); isExecutable(p) {
				return p
			}
		}
		t.Fatalf("%s is not installed: run %s", name, install)
	}
	return path
}

// skipIfShort skips tests that need a real component under `go test -short`
// (make test-unit); `make test` runs them all.
func skipIfShort(t testing.TB, name string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not run with -short", name)
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Callers
// that start a process on it should retry on a bind failure.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a child process started for a test. Its output goes to a log file
// that is printed when the test fails.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// StartProcess runs path with args and extra environment, logging to a file in
// t.TempDir(). The process is stopped (SIGTERM, then SIGKILL after 10 s) in
// t.Cleanup, and its log is dumped if the test failed.
func StartProcess(t testing.TB, name, path string, args []string, env []string) *Process {
	t.Helper()
	return startProcess(t, name, path, args, env, nil)
}

// startProcess is StartProcess running the process as cred's user when cred
// is not nil.
func startProcess(t testing.TB, name, path string, args []string, env []string, cred *syscall.Credential) *Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- log of %s (%s):\n%s", name, logPath, p.Tail(64<<10))
		}
	})
	return p
}

// Exited reports whether the process has ended, and with what error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after 10 seconds. It is safe
// to call more than once.
func (p *Process) Stop() {
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// StopCleanly stops the process as Kubernetes stops a pod (SIGTERM, Stop)
// and fails the test unless it exited with status 0.
func (p *Process) StopCleanly(t testing.TB) {
	t.Helper()
	p.Stop()
	if exited, err := p.Exited(); !exited || err != nil {
		t.Fatalf("%s did not stop cleanly on SIGTERM: exited %v, %v\n%s", p.Name, exited, err, p.Tail(4<<10))
	}
}

// Kill ends the process group with SIGKILL and waits for it.
func (p *Process) Kill() {
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Tail returns up to the last n bytes of the process's log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Wait polls check until it returns nil, proc (optional) exits, ctx ends or
// timeout passes, and returns nil or what ended the wait with check's last
// error: waiting on a dead process only wastes the timeout. Each call of
// check gets at most 5 s.
func Wait(ctx context.Context, timeout time.Duration, proc *Process, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		last := check(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		if proc != nil {
			if exited, err := proc.Exited(); exited {
				return fmt.Errorf("%s exited (%v) while waiting; last error: %w", proc.Name, err, last)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done after %s: %w", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Eventually is Wait for a test: it fails the test with what it waited
// for when the wait ends without check passing, with the end of proc's log
// when proc exited.
func Eventually(t testing.TB, timeout time.Duration, what string, proc *Process, check func(ctx context.Context) error) {
	t.Helper()
	if err := Wait(context.Background(), timeout, proc, check); err != nil {
		if proc != nil {
			if exited, _ := proc.Exited(); exited {
				t.Fatalf("%s: %v\n%s", what, err, proc.Tail(8<<10))
			}
		}
		t.Fatalf("%s: %v", what, err)
	}
}

// HTTPOK returns nil when GET url with c answers 200 OK, such as a status
// endpoint that Wait polls.
func HTTPOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// WaitForTCP waits until something accepts connections on addr.
func WaitForTCP(t testing.TB, addr string, timeout time.Duration, proc *Process) {
	t.Helper()
	Eventually(t, timeout, "listen on "+addr, proc, func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// Addr joins 127.0.0.1 and a port.
func Addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
