package pod_test

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoda-go/byoda/test/testenv"
)

// wantRevoked fails unless the pod refuses token as revoked.
func (p *testPod) wantRevoked(t *testing.T, token string) {
	t.Helper()
	r := p.ownerGQL(t, demoSID, token, personQuery, nil)
	if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "token revoked: log in again") {
		t.Fatalf("a revoked token: %d %s", r.Status, r.Raw)
	}
}

// TestSessionsSurviveRestarts: a log-out-everywhere and a password change
// revoke the owner's tokens, and a restart does not bring them back.
func TestSessionsSurviveRestarts(t *testing.T) {
	p := newPod(t, podOptions{})
	old := p.login(t, demoSID)
	status, body := do(t, p.owner, http.MethodPost, "https://"+p.ownerAddr+"/api/v1/pod/logout-everywhere", nil,
		map[string]string{"Authorization": "Bearer " + old})
	if status != http.StatusOK {
		t.Fatalf("log out everywhere: %d %s", status, body)
	}
	p.wantRevoked(t, old)
	fresh := p.login(t, demoSID)
	p.ownerGQL(t, demoSID, fresh, personQuery, nil).ok(t)

	p.restart(t)
	p.wantRevoked(t, old)
	p.ownerGQL(t, demoSID, fresh, personQuery, nil).ok(t)

	// A new password: every token of the old one is revoked.
	p.proc.Stop()
	p.password = rand.Text()
	writeFile(t, filepath.Join(p.dataDir, testenv.OwnerPasswordFile), p.password+"\n")
	p.start(t)
	p.wantRevoked(t, fresh)
	p.ownerGQL(t, demoSID, p.login(t, demoSID), personQuery, nil).ok(t)
}

// TestExposedSecretsRefused: the pod does not start with a password file
// others can read, or with a short password, and says how to fix it.
func TestExposedSecretsRefused(t *testing.T) {
	p := newPod(t, podOptions{})
	p.proc.Stop()
	pw := filepath.Join(p.dataDir, testenv.OwnerPasswordFile)
	for _, tc := range []struct {
		name    string
		prepare func()
		want    string
	}{
		{"world-readable password file", func() { os.Chmod(pw, 0o644) }, "run 'chmod 600 " + pw + "'"},
		{"short password", func() { writeFile(t, pw, "short\n") }, "want at least 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(pw)
			writeFile(t, pw, p.password+"\n")
			tc.prepare()
			proc := testenv.StartProcess(t, "pod-refused", byodaBin, p.args(testenv.FreePort(t), testenv.FreePort(t)), nil)
			deadline := time.Now().Add(30 * time.Second)
			for {
				if exited, _ := proc.Exited(); exited {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the pod did not stop")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tail := proc.Tail(4 << 10); !strings.Contains(tail, tc.want) {
				t.Fatalf("the pod's output does not say %q:\n%s", tc.want, tail)
			}
		})
	}
}
