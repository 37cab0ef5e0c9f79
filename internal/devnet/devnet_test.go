package devnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// running is a devnet run in process.
type running struct {
	st     *State
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *State, 1)
	opts.Ready = func(st *State) { ready <- st }
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, opts) }()
	select {
	case r.st = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("devnet ended before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("devnet was not ready within 2 minutes")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("devnet ended with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("devnet did not stop")
	}
}

// TestRunThroughDirectories: devnet runs the network directory and the
// demo service's directory; the pods register their accounts, join the
// demo service and publish their names through them, and the family
// query finds Mike's address through the directory's DNS. A second run
// reuses accounts, memberships and data.
func TestRunThroughDirectories(t *testing.T) {
	opts := Options{
		Dir:          filepath.Join(t.TempDir(), "devnet"),
		FirstAddress: netip.MustParseAddr("127.0.43.2"),
		OwnerPort:    freePort(t),
		PeerPort:     freePort(t),
		DNSListen:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	r := start(t, opts)
	st := r.st
	if !strings.HasPrefix(st.ServiceURL, "https://service.service-4711.byoda.test:") || st.DirectoryURL == "" {
		t.Fatalf("devnet.json: directory %q, service %q", st.DirectoryURL, st.ServiceURL)
	}
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, st.DNSServer)
	}}
	for _, p := range st.Pods {
		mid := p.MemberID(st.ServiceID)
		if mid == uuid.Nil {
			t.Fatalf("pod %s has no member id in devnet.json", p.Name)
		}
		for _, name := range []string{pki.AccountName(p.AccountID, st.Network), pki.MemberName(st.ServiceID, mid, st.Network)} {
			addrs, err := res.LookupHost(t.Context(), name)
			if err != nil || len(addrs) != 1 || addrs[0] != p.Address.String() {
				t.Errorf("DNS %s = %v %v; want %s", name, addrs, err, p.Address)
			}
		}
	}
	family := func(st *State) {
		t.Helper()
		o, err := Login(t.Context(), st, &st.Pods[0], st.ServiceID)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := o.GraphQL(t.Context(), FamilyQuery, nil)
		if err != nil || len(resp.Errors) > 0 {
			t.Fatalf("family query: %v %v", err, resp)
		}
		got := string(resp.Data)
		mike := st.Pods[1].MemberID(st.ServiceID).String()
		if !strings.Contains(got, "Brussels") || !strings.Contains(got, mike) {
			t.Fatalf("family query without Mike's address from Mike's pod %s: %s", mike, got)
		}
	}
	family(st)
	r.stop(t)

	again := start(t, opts).st
	for i, p := range again.Pods {
		if p.AccountID != st.Pods[i].AccountID || p.MemberID(st.ServiceID) != st.Pods[i].MemberID(st.ServiceID) {
			t.Errorf("pod %s is %s/%s on the second run; it was %s/%s", p.Name, p.AccountID, p.MemberID(st.ServiceID),
				st.Pods[i].AccountID, st.Pods[i].MemberID(st.ServiceID))
		}
	}
	family(again)
}
