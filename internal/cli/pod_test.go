package cli_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/cli"
)

func TestPodFlags(t *testing.T) {
	base := []string{"pod", "--network", "byoda.test", "--pki-dir", t.TempDir(), "--data-dir", t.TempDir(),
		"--owner-password-file", "pw", "--contract", "c.json"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pod"}, `required flag(s) "account", "data-dir", "network", "owner-password-file", "pki-dir" not set`},
		{append(base, "--account", "nope"), `invalid argument "nope" for "--account" flag: want a UUID`},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--member", "4711"), "want SID=MID"},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--member", "x=3f2504e0-4f89-41d3-9a0c-0305e82c3301"), "want SID=MID"},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--member", "4711=nope"), "member id"},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--log-level", "loud"), "--log-level"},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--max-conns", "many"), `invalid argument "many" for "--max-conns"`},
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--max-conns", "4", "--max-conns-per-address", "8"),
			"--max-conns-per-address 8 is more than --max-conns 4"},
		// Valid flags get as far as the PKI directory.
		{append(base, "--account", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"), "byoda pki init"},
	} {
		_, err := runByoda(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byoda %s: %v; want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestPodCommand runs byoda pod in process on a PKI made by byoda pki, and
// stops it by cancelling its context.
func TestPodCommand(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	mustRun(t, "pki", "init", "--network", "byoda.test", "--dir", pkiDir)
	mustRun(t, "pki", "service", "--dir", pkiDir, "--service-id", "4711")
	account := strings.TrimSpace(mustRun(t, "pki", "account", "--dir", pkiDir))
	mustRun(t, "pki", "member", "--dir", pkiDir, "--service-id", "4711")
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "kek"), []byte("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("correct horse battery\n"), 0o600)
	port := freePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := cli.NewRootCommand()
	cmd.SetArgs([]string{"pod", "--network", "byoda.test", "--pki-dir", pkiDir, "--account", account, "--data-dir", data,
		"--owner-password-file", filepath.Join(dir, "pw"), "--listen", "127.0.0.1:" + strconv.Itoa(port),
		"--peer-listen", "127.0.0.1:0", "--log-level", "error",
		"--contract", filepath.Join("..", "..", "config", "samples", "contracts", "addressbook-demo.json")})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	rootPEM, err := os.ReadFile(filepath.Join(pkiDir, "network", "root-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: account + ".accounts.byoda.test"},
	}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/api/v1/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("byoda pod ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("byoda pod not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("byoda pod: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("byoda pod did not stop")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
