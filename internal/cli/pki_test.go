package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/cli"
	"github.com/byoda-go/byoda/internal/pki"
)

// runByoda runs the byoda command in-process and returns its standard output.
func runByoda(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := cli.NewRootCommand()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return stdout.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runByoda(t, args...)
	if err != nil {
		t.Fatalf("byoda %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestPKICommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	mustRun(t, "pki", "init", "--network", "byoda.test", "--dir", dir)
	if _, err := runByoda(t, "pki", "init", "--network", "byoda.test", "--dir", dir); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v, want an 'already exists' error", err)
	}
	for _, f := range []string{"root-ca", "accounts-ca", "services-ca", "network-data"} {
		if m := fileMode(t, filepath.Join(dir, "network", f+".key")); m != 0o600 {
			t.Errorf("%s.key: mode %o", f, m)
		}
	}
	if m := fileMode(t, filepath.Join(dir, "network")); m != 0o700 {
		t.Errorf("network dir: mode %o", m)
	}

	mustRun(t, "pki", "service", "--dir", dir, "--service-id", "4294929430")
	for _, f := range []string{"service-ca", "members-ca", "apps-ca", "service", "service-data"} {
		if m := fileMode(t, filepath.Join(dir, "service-4294929430", f+".key")); m != 0o600 {
			t.Errorf("%s.key: mode %o", f, m)
		}
		if _, err := os.Stat(filepath.Join(dir, "service-4294929430", f+".crt")); err != nil {
			t.Error(err)
		}
	}

	aid, err := uuid.Parse(strings.TrimSpace(mustRun(t, "pki", "account", "--dir", dir)))
	if err != nil {
		t.Fatalf("account id: %v", err)
	}
	mid, err := uuid.Parse(strings.TrimSpace(mustRun(t, "pki", "member", "--dir", dir, "--service-id", "4294929430")))
	if err != nil {
		t.Fatalf("member id: %v", err)
	}
	for _, f := range []string{
		"account-" + aid.String() + "/account.key",
		"account-" + aid.String() + "/account-data.key",
		"service-4294929430/member-" + mid.String() + "/member.key",
		"service-4294929430/member-" + mid.String() + "/member-data.key",
	} {
		if m := fileMode(t, filepath.Join(dir, filepath.FromSlash(f))); m != 0o600 {
			t.Errorf("%s: mode %o", f, m)
		}
	}

	// What the commands wrote verifies, with the identity the ids say.
	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := d.Roots()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := d.MemberKey(4294929430, mid)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.Verify(kp.Chain, roots, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != pki.RoleMember || id.ID != mid.String() || id.ServiceID != 4294929430 || id.Network != "byoda.test" {
		t.Fatalf("member identity = %+v", id)
	}
	kp, err = d.AccountKey(aid)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.Verify(kp.Chain, roots, time.Now()); err != nil || id.Role != pki.RoleAccount || id.ID != aid.String() {
		t.Fatalf("account identity = %+v, %v", id, err)
	}
}

func TestPKICommandErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pki", "init", "--dir", dir}, `"network" not set`},
		{[]string{"pki", "init", "--network", "byoda.test"}, `"dir" not set`},
		{[]string{"pki", "init", "--network", "localhost", "--dir", dir}, "at least two labels"},
		{[]string{"pki", "service", "--dir", dir, "--service-id", "7"}, "byoda pki init"},
		{[]string{"pki", "account", "--dir", dir}, "byoda pki init"},
		{[]string{"pki", "member", "--dir", dir}, `"service-id" not set`},
		{[]string{"pki", "member", "--dir", dir, "--service-id", "-1"}, "invalid argument"},
		{[]string{"pki", "member", "--dir", dir, "--service-id", "4294967296"}, "invalid argument"},
	} {
		if _, err := runByoda(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byoda %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	mustRun(t, "pki", "init", "--network", "byoda.test", "--dir", dir)
	if _, err := runByoda(t, "pki", "member", "--dir", dir, "--service-id", "8"); err == nil ||
		!strings.Contains(err.Error(), "service 8 does not exist") {
		t.Errorf("member of a missing service: %v", err)
	}
	mustRun(t, "pki", "service", "--dir", dir, "--service-id", "8")
	if _, err := runByoda(t, "pki", "service", "--dir", dir, "--service-id", "8"); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Errorf("second service 8: %v", err)
	}
}
