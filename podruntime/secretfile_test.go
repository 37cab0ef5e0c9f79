package podruntime

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretModeRule(t *testing.T) {
	const pod, root = 65532, 0
	for _, tc := range []struct {
		mode  fs.FileMode
		owner int
		want  string // "" for accepted
	}{
		{0o600, pod, ""},
		{0o400, pod, ""},
		{0o640, pod, "by its group"},
		{0o440, pod, "by its group"},
		{0o604, pod, "by every user"},
		{0o644, pod, "by every user"},
		{0o666, pod, "by every user"},
		// A Secret volume with fsGroup: root's file, the pod's group.
		{0o440, root, ""},
		{0o640, root, ""},
		{0o400, root, ""},
		{0o460, root, "changed by its group"},
		{0o444, root, "by every user"},
		{0o644, root, "by every user"},
	} {
		err := secretModeProblem("--kek-file", "/k", tc.mode, tc.owner, pod)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("mode %04o owned by %d: %v; want %q", tc.mode, tc.owner, err, tc.want)
		}
	}
}

func TestNewRefusesExposedSecrets(t *testing.T) {
	tp := newTestPKI(t)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, c *Config)
		want   []string
	}{
		{"world-readable password", func(t *testing.T, c *Config) { os.Chmod(c.OwnerPasswordFile, 0o644) },
			[]string{"--owner-password-file", "by every user (mode 0644)", "chmod 600 "}},
		{"group-readable password", func(t *testing.T, c *Config) { os.Chmod(c.OwnerPasswordFile, 0o640) },
			[]string{"--owner-password-file", "by its group (mode 0640)", "chmod 600 "}},
		{"world-readable KEK", func(t *testing.T, c *Config) { os.Chmod(filepath.Join(c.DataDir, "kek"), 0o604) },
			[]string{"--kek-file", "(mode 0604)", "chmod 600 "}},
		{"world-readable KEK behind a link", func(t *testing.T, c *Config) {
			// The kubelet's layout: the file is a link into ..data.
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "..data"), 0o755)
			os.WriteFile(filepath.Join(dir, "..data", "kek"), mustRead(t, filepath.Join(c.DataDir, "kek")), 0o644)
			os.Symlink("..data/kek", filepath.Join(dir, "kek"))
			c.KEKFile = filepath.Join(dir, "kek")
		}, []string{"--kek-file", "(mode 0644)"}},
		{"short password", func(t *testing.T, c *Config) { os.WriteFile(c.OwnerPasswordFile, []byte("elevenchars\n"), 0o600) },
			[]string{"has 11 characters; want at least 12", "head -c 18 /dev/urandom"}},
		{"short password in runes", func(t *testing.T, c *Config) {
			os.WriteFile(c.OwnerPasswordFile, []byte("ääääääääää\n"), 0o600)
		},
			[]string{"has 10 characters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tp)
			tc.change(t, &cfg)
			_, err := New(t.Context(), cfg)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("New: %v; want an error mentioning %q", err, want)
				}
			}
			// Nothing is created: no sessions file, no store.
			if _, err := os.Stat(filepath.Join(cfg.DataDir, SessionsFileName)); err == nil {
				t.Error("New wrote the sessions file before refusing")
			}
		})
	}

	t.Run("Secret volume files", func(t *testing.T) {
		// The kubelet mounts a Secret for a pod with fsGroup as root's
		// files with the pod's group, 0440, behind links into ..data.
		// Here the test (root) plays the pod's user, and user 65532 the
		// kubelet's root.
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the files to another user")
		}
		cfg := testConfig(t, tp)
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "..data"), 0o755)
		for _, f := range []*string{&cfg.OwnerPasswordFile, &cfg.KEKFile} {
			src := *f
			if src == "" {
				src = filepath.Join(cfg.DataDir, "kek")
			}
			name := filepath.Base(src)
			target := filepath.Join(dir, "..data", name)
			if err := os.WriteFile(target, mustRead(t, src), 0o440); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(target, 65532, 0); err != nil {
				t.Fatal(err)
			}
			os.Symlink("..data/"+name, filepath.Join(dir, name))
			*f = filepath.Join(dir, name)
		}
		p, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("New with Secret volume files: %v", err)
		}
		p.closeStores()
	})
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
