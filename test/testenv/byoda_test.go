package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/pki"
)

func TestNewPodAccount(t *testing.T) {
	dir, err := InitPKI(filepath.Join(t.TempDir(), "pki"), "byoda.test", 4711)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.ServiceKey(4711); err != nil {
		t.Fatalf("InitPKI made no service 4711: %v", err)
	}
	a := NewPodAccount(t, dir)
	if _, err := dir.AccountKey(a.ID); err != nil {
		t.Fatalf("the account is not in the PKI directory: %v", err)
	}

	// The pod reads the key-encryption key from <data-dir>/kek by default:
	// one base64url Fernet key of 32 bytes.
	kek := readSecret(t, filepath.Join(a.DataDir, "kek"))
	if key, err := base64.URLEncoding.DecodeString(strings.TrimSpace(kek)); err != nil || len(key) != 32 {
		t.Errorf("kek %q: %d bytes, %v; want 32 bytes of base64url", kek, len(key), err)
	}
	if pw := readSecret(t, filepath.Join(a.DataDir, OwnerPasswordFile)); pw != a.Password+"\n" || len(a.Password) < 12 {
		t.Errorf("owner password file %q, password %q", pw, a.Password)
	}

	tc := a.Owner.Transport.(*http.Transport).TLSClientConfig
	if want := pki.AccountName(a.ID, "byoda.test"); tc.ServerName != want || tc.RootCAs == nil {
		t.Errorf("owner client expects %q (roots %v); want %q with the network's roots", tc.ServerName, tc.RootCAs != nil, want)
	}

	other := NewPodAccount(t, dir)
	if other.ID == a.ID || other.DataDir == a.DataDir || other.Password == a.Password {
		t.Error("two accounts share an id, a data directory or a password")
	}
}

// readSecret reads a file that only its owner may read.
func readSecret(t *testing.T, file string) string {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v; want 0600", file, fi.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestServeDNS(t *testing.T) {
	served := make(chan [2]string, 1)
	addr, stop, err := ServeDNS(func(ctx context.Context, pc net.PacketConn, l net.Listener) error {
		served <- [2]string{pc.LocalAddr().String(), l.Addr().String()}
		<-ctx.Done()
		pc.Close()
		return l.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	got := <-served
	if got[0] != addr || got[1] != addr {
		t.Fatalf("serving UDP on %s and TCP on %s; ServeDNS says %s", got[0], got[1], addr)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("serving on %s; want loopback", addr)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial the TCP listener: %v", err)
	}
	conn.Close()
	stop()
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the TCP listener still accepts after stop")
	}
}

func TestContractVersion(t *testing.T) {
	base := []byte(`{"version": 1, "name": "demo", "jsonschema": {"person": {"name": "string", "birthday": "date"}}}`)
	out := ContractVersion(t, base, 3, map[string]any{
		"/jsonschema/person/birthday": nil,
		"/jsonschema/person/floor":    "string",
		"/description":                "v3",
	})
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version":     float64(3),
		"name":        "demo",
		"description": "v3",
		"jsonschema":  map[string]any{"person": map[string]any{"name": "string", "floor": "string"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ContractVersion = %s\nwant %v", out, want)
	}
}
