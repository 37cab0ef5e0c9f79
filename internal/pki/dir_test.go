package pki_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/pki"
)

// checkModes walks dir: directories 0700, keys 0600, no temporary files left.
func checkModes(t *testing.T, dir string) (keys, certs int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		switch {
		case e.IsDir():
			if path != dir && mode != 0o700 {
				t.Errorf("%s: mode %o, want 700", path, mode)
			}
		case strings.HasSuffix(path, ".key"):
			keys++
			if mode != 0o600 {
				t.Errorf("%s: mode %o, want 600", path, mode)
			}
		case strings.HasSuffix(path, ".crt"):
			certs++
		case strings.Contains(filepath.Base(path), ".tmp-"):
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, certs
}

func TestDirLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := pki.OpenDir(dir); err == nil || !strings.Contains(err.Error(), "byoda pki init") {
		t.Fatalf("OpenDir before init = %v", err)
	}
	if _, err := pki.InitNetwork(dir, "Not A Domain", t0); err == nil {
		t.Fatal("InitNetwork accepted a bad network")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused init left %s behind: %v", dir, err)
	}
	if _, err := pki.InitNetwork(dir, testNet, t0); err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := os.ReadFile(filepath.Join(dir, "network", "root-ca.crt"))

	// Init twice: a clear error, nothing regenerated.
	if _, err := pki.InitNetwork(dir, testNet, t0); !errors.Is(err, pki.ErrExists) {
		t.Fatalf("second init = %v, want ErrExists", err)
	}
	// Even with network.json gone, existing CA files are not replaced.
	if err := os.Rename(filepath.Join(dir, "network.json"), filepath.Join(dir, "saved.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.InitNetwork(dir, testNet, t0); !errors.Is(err, pki.ErrExists) {
		t.Fatalf("init over CA files = %v, want ErrExists", err)
	}
	if err := os.Rename(filepath.Join(dir, "saved.json"), filepath.Join(dir, "network.json")); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "network", "root-ca.crt")); !bytes.Equal(again, rootPEM) {
		t.Fatal("root CA changed")
	}

	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Network() != testNet {
		t.Fatalf("Network() = %q", d.Network())
	}
	roots, err := d.Roots()
	if err != nil {
		t.Fatal(err)
	}
	ndk, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.Verify(ndk.Chain, roots, t0); err != nil || id.Role != pki.RoleNetwork || !id.Data ||
		id.Name != pki.NetworkDataName(testNet) {
		t.Fatalf("network data key: %+v, %v", id, err)
	}

	if _, err := d.CreateMember(7, t0); err == nil || !strings.Contains(err.Error(), "byoda pki service") {
		t.Fatalf("member of a missing service = %v", err)
	}
	if err := d.CreateService(7, t0); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(7, t0); !errors.Is(err, pki.ErrExists) {
		t.Fatalf("second CreateService = %v, want ErrExists", err)
	}
	sdk, err := d.ServiceDataKey(7)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.Verify(sdk.Chain, roots, t0); err != nil || id.Role != pki.RoleService || id.ServiceID != 7 || !id.Data {
		t.Fatalf("service data key: %+v, %v", id, err)
	}
	if _, err := d.ServiceDataKey(8); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ServiceDataKey(8) = %v, want fs.ErrNotExist", err)
	}
	if ca, err := d.CA(pki.Subject{Kind: pki.KindMembersCA, ServiceID: 7, Network: testNet}); err != nil ||
		ca.Subject().ServiceID != 7 {
		t.Fatalf("members CA: %v", err)
	}

	mid, err := d.CreateMember(7, t0)
	if err != nil {
		t.Fatal(err)
	}
	aid, err := d.CreateAccount(t0)
	if err != nil {
		t.Fatal(err)
	}
	appID, err := d.CreateApp(7, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		load func() (*pki.KeyPair, error)
		want pki.Identity
		file string
	}{
		{func() (*pki.KeyPair, error) { return d.MemberKey(7, mid) },
			pki.Identity{Role: pki.RoleMember, ID: mid.String(), ServiceID: 7},
			"service-7/member-" + mid.String() + "/member.crt"},
		{func() (*pki.KeyPair, error) { return d.MemberDataKey(7, mid) },
			pki.Identity{Role: pki.RoleMember, ID: mid.String(), ServiceID: 7, Data: true},
			"service-7/member-" + mid.String() + "/member-data.crt"},
		{func() (*pki.KeyPair, error) { return d.AccountKey(aid) },
			pki.Identity{Role: pki.RoleAccount, ID: aid.String()},
			"account-" + aid.String() + "/account.crt"},
		{func() (*pki.KeyPair, error) { return d.AccountDataKey(aid) },
			pki.Identity{Role: pki.RoleAccount, ID: aid.String(), Data: true},
			"account-" + aid.String() + "/account-data.crt"},
		{func() (*pki.KeyPair, error) { return d.AppKey(7, appID) },
			pki.Identity{Role: pki.RoleApp, ID: appID.String(), ServiceID: 7},
			"service-7/app-" + appID.String() + "/app.crt"},
		{func() (*pki.KeyPair, error) { return d.AppDataKey(7, appID) },
			pki.Identity{Role: pki.RoleApp, ID: appID.String(), ServiceID: 7, Data: true},
			"service-7/app-" + appID.String() + "/app-data.crt"},
		{func() (*pki.KeyPair, error) { return d.ServiceKey(7) },
			pki.Identity{Role: pki.RoleService, ServiceID: 7},
			"service-7/service.crt"},
	} {
		kp, err := tc.load()
		if err != nil {
			t.Fatal(err)
		}
		id, err := pki.Verify(kp.Chain, roots, t0)
		if err != nil {
			t.Fatal(err)
		}
		tc.want.Network, tc.want.Name = testNet, kp.Cert.Subject.CommonName
		if *id != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.file, *id, tc.want)
		}
		s, _ := id.Subject()
		if certFile, _ := d.Paths(s); certFile != filepath.Join(dir, filepath.FromSlash(tc.file)) {
			t.Errorf("Paths = %s, want %s", certFile, tc.file)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(tc.file))); err != nil {
			t.Error(err)
		}
	}

	// A member's chain file: leaf, members CA, service CA, services CA.
	certFile, _ := d.Paths(pki.Subject{Kind: pki.KindMember, ID: mid.String(), ServiceID: 7, Network: testNet})
	data, _ := os.ReadFile(certFile)
	chain, err := pki.ParseCertificates(data)
	if err != nil || len(chain) != 4 || chain[3].Subject.CommonName != pki.ServicesCAName(testNet) {
		t.Fatalf("member chain file: %d certificates, %v", len(chain), err)
	}

	keys, certs := checkModes(t, dir)
	// 4 network + 5 service + 2 member + 2 account + 2 app.
	if keys != 15 || certs != 15 {
		t.Errorf("%d keys and %d certificates, want 15 each", keys, certs)
	}
}

func TestDirKeyPairRefusesMismatch(t *testing.T) {
	dir := t.TempDir()
	d, err := pki.InitNetwork(dir, testNet, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the accounts CA key for the services CA key.
	accountsKey := filepath.Join(dir, "network", "accounts-ca.key")
	servicesKey, _ := os.ReadFile(filepath.Join(dir, "network", "services-ca.key"))
	if err := os.WriteFile(accountsKey, servicesKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CA(pki.Subject{Kind: pki.KindAccountsCA, Network: testNet}); err == nil {
		t.Fatal("loaded a CA whose key is not its certificate's")
	}
	if _, err := d.KeyPair(pki.Subject{Kind: pki.KindAccountsCA, Network: "other.test"}); err == nil {
		t.Fatal("loaded a subject of another network")
	}
}
