package pki_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

func TestVerifyIdentities(t *testing.T) {
	n := newNetwork(t, testNet)
	tests := []struct {
		kp   *pki.KeyPair
		want pki.Identity
	}{
		{issue(t, n.members[7], pki.MemberName(7, testID, testNet)),
			pki.Identity{Role: pki.RoleMember, ID: tid, ServiceID: 7}},
		{issue(t, n.members[8], pki.MemberDataName(8, testID, testNet)),
			pki.Identity{Role: pki.RoleMember, ID: tid, ServiceID: 8, Data: true}},
		{issue(t, n.apps[7], pki.AppName(7, testID, testNet)),
			pki.Identity{Role: pki.RoleApp, ID: tid, ServiceID: 7}},
		{issue(t, n.apps[7], pki.AppDataName(7, testID, testNet)),
			pki.Identity{Role: pki.RoleApp, ID: tid, ServiceID: 7, Data: true}},
		{issue(t, n.accounts, pki.AccountName(testID, testNet)),
			pki.Identity{Role: pki.RoleAccount, ID: tid}},
		{issue(t, n.accounts, pki.AccountDataName(testID, testNet)),
			pki.Identity{Role: pki.RoleAccount, ID: tid, Data: true}},
		{n.svcTLS[7], pki.Identity{Role: pki.RoleService, ServiceID: 7}},
		{n.svcData[8], pki.Identity{Role: pki.RoleService, ServiceID: 8, Data: true}},
		{n.netData, pki.Identity{Role: pki.RoleNetwork, Data: true}},
	}
	for _, tc := range tests {
		t.Run(tc.kp.Cert.Subject.CommonName, func(t *testing.T) {
			id, err := pki.Verify(tc.kp.Chain, n.roots, t0)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Network = testNet
			tc.want.Name = tc.kp.Cert.Subject.CommonName
			if *id != tc.want {
				t.Fatalf("Verify = %+v, want %+v", *id, tc.want)
			}
		})
	}
}

func TestVerifyRefusesCAsAndEmpty(t *testing.T) {
	n := newNetwork(t, testNet)
	if _, err := pki.Verify(nil, n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("empty chain: %v", err)
	}
	kp := issue(t, n.members[7], pki.MemberName(7, testID, testNet))
	if _, err := pki.Verify(kp.Chain, nil, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("nil roots: %v", err)
	}
	for _, ca := range n.allCAs[1:] {
		if _, err := pki.Verify(ca.KeyPair().Chain, n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
			t.Errorf("CA %s accepted as an identity: %v", ca.Subject().Name(), err)
		}
	}
	// A leaf without its intermediates cannot be placed.
	if _, err := pki.Verify(kp.Chain[:1], n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("leaf alone: %v", err)
	}
}

// TestMemberOfServiceAIsNotMemberOfB shows that a member of service 7 cannot be
// taken for a member of service 8: the members CA of 7 will not sign it, and
// a certificate built by hand with the members CA key of 7 fails Verify even
// though crypto/x509 alone accepts its chain.
func TestMemberOfServiceAIsNotMemberOfB(t *testing.T) {
	n := newNetwork(t, testNet)
	claim := pki.MemberName(8, testID, testNet)

	// 1. The signer refuses.
	key, _ := pki.GenerateKey()
	csr, _ := pki.CreateCSR(key, claim)
	if _, err := n.members[7].Sign(csr, t0); !errors.Is(err, pki.ErrNotAllowed) {
		t.Fatalf("members CA 7 signed a member of 8: %v", err)
	}

	// 2. Hand-built with the real members CA key of 7: the CA's name
	// constraints already stop crypto/x509, and Verify refuses too.
	mca := n.members[7].KeyPair()
	leaf, _ := rawCert(t, rawLeaf(claim), mca.Cert, mca.Key)
	chain := append([]*x509.Certificate{leaf}, mca.Chain...)
	if x509Accepts(chain, n.roots) {
		t.Error("crypto/x509 accepted a member of 8 under the name-constrained members CA of 7")
	}
	if _, err := pki.Verify(chain, n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("Verify = %v, want ErrUntrusted", err)
	}

	// 3. Hand-built from the services CA down, without any constraint, so that
	// crypto/x509 accepts the chain: only the name check of Verify is left.
	scaKP := n.services.KeyPair()
	sca, scaKey := rawCert(t, rawCA(pki.ServiceCAName(7, testNet)), scaKP.Cert, scaKP.Key)
	mca7, mca7Key := rawCert(t, rawCA(pki.MembersCAName(7, testNet)), sca, scaKey)
	leaf, _ = rawCert(t, rawLeaf(claim), mca7, mca7Key)
	chain = []*x509.Certificate{leaf, mca7, sca, scaKP.Cert}
	if !x509Accepts(chain, n.roots) {
		t.Fatal("test setup: crypto/x509 should accept this chain")
	}
	_, err := pki.Verify(chain, n.roots, t0)
	if !errors.Is(err, pki.ErrUntrusted) || !strings.Contains(err.Error(), "must be signed by "+pki.MembersCAName(8, testNet)) {
		t.Fatalf("Verify = %v, want a refusal naming the members CA of 8", err)
	}

	// The same hand-built hierarchy issuing a member of 7 is accepted, so the
	// refusal above is about the service id and nothing else.
	good, _ := rawCert(t, rawLeaf(pki.MemberName(7, testID, testNet)), mca7, mca7Key)
	id, err := pki.Verify([]*x509.Certificate{good, mca7, sca, scaKP.Cert}, n.roots, t0)
	if err != nil || id.ServiceID != 7 || id.Role != pki.RoleMember {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}

// TestVerifyRefusesSubCAUnderMembersCA hand-builds a CA below a members CA and
// a member below it. The path lengths of the real hierarchy stop crypto/x509;
// a hierarchy built without any shows that Verify refuses the chain by itself.
func TestVerifyRefusesSubCAUnderMembersCA(t *testing.T) {
	n := newNetwork(t, testNet)
	name := pki.MemberName(7, testID, testNet)

	mca := n.members[7].KeyPair()
	sub, subKey := rawCert(t, rawCA(pki.MembersCAName(7, testNet)), mca.Cert, mca.Key)
	leaf, _ := rawCert(t, rawLeaf(name), sub, subKey)
	chain := append([]*x509.Certificate{leaf, sub}, mca.Chain...)
	if x509Accepts(chain, n.roots) {
		t.Error("crypto/x509 accepted a CA under a path-length-0 members CA")
	}
	if _, err := pki.Verify(chain, n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("Verify = %v", err)
	}

	// A whole hierarchy built by hand without path lengths or name
	// constraints, so that crypto/x509 accepts a CA under the members CA.
	r := newRogueNetwork(t)
	sub, subKey = rawCert(t, rawCA("sub-ca.members-7."+testNet), r.mca7, r.mca7Key)
	leaf, _ = rawCert(t, rawLeaf(name), sub, subKey)
	chain = append([]*x509.Certificate{leaf, sub}, r.chain...)
	if !x509Accepts(chain, r.roots) {
		t.Fatal("test setup: crypto/x509 should accept this chain")
	}
	if _, err := pki.Verify(chain, r.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("Verify = %v, want ErrUntrusted", err)
	}

	// A sub-CA named exactly like the members CA does not help either.
	twin, twinKey := rawCert(t, rawCA(pki.MembersCAName(7, testNet)), r.mca7, r.mca7Key)
	leaf, _ = rawCert(t, rawLeaf(name), twin, twinKey)
	chain = append([]*x509.Certificate{leaf, twin}, r.chain...)
	if !x509Accepts(chain, r.roots) {
		t.Fatal("test setup: crypto/x509 should accept this chain")
	}
	if _, err := pki.Verify(chain, r.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("Verify = %v, want ErrUntrusted", err)
	}
}

func TestVerifyRefusesWrongUsage(t *testing.T) {
	n := newNetwork(t, testNet)
	mca := n.members[7].KeyPair()
	// A data name with TLS usages, and a TLS name without client auth.
	dataAsTLS, _ := rawCert(t, rawLeaf(pki.MemberDataName(7, testID, testNet)), mca.Cert, mca.Key)
	serverOnly := rawLeaf(pki.MemberName(7, testID, testNet))
	serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	serverOnlyCert, _ := rawCert(t, serverOnly, mca.Cert, mca.Key)
	caLeaf := rawCA(pki.MemberName(7, testID, testNet))
	caLeafCert, _ := rawCert(t, caLeaf, mca.Cert, mca.Key)
	for _, c := range []*x509.Certificate{dataAsTLS, serverOnlyCert, caLeafCert} {
		if _, err := pki.Verify(append([]*x509.Certificate{c}, mca.Chain...), n.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
			t.Errorf("%s (usages %v, CA %v) accepted: %v", c.Subject.CommonName, c.ExtKeyUsage, c.IsCA, err)
		}
	}
}

func TestVerifyTime(t *testing.T) {
	n := newNetwork(t, testNet)
	kp := issue(t, n.members[7], pki.MemberName(7, testID, testNet))
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{t0, true},
		{t0.Add(-pki.ClockSkew + time.Second), true}, // a peer whose clock is behind
		{t0.Add(pki.LeafValidity - time.Second), true},
		{t0.Add(-pki.ClockSkew - time.Second), false},
		{t0.Add(pki.LeafValidity + time.Second), false}, // expired
		{t0.Add(pki.RootValidity + time.Hour), false},
	} {
		_, err := pki.Verify(kp.Chain, n.roots, tc.at)
		if (err == nil) != tc.ok {
			t.Errorf("at %s: %v, want ok=%v", tc.at, err, tc.ok)
		}
	}
}

func TestVerifyWrongNetwork(t *testing.T) {
	a := newNetwork(t, testNet)
	b := newNetwork(t, "other.test")
	kp := issue(t, a.members[7], pki.MemberName(7, testID, testNet))

	// Against the roots of another network.
	if _, err := pki.Verify(kp.Chain, b.roots, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("verified against another network's root: %v", err)
	}
	// With both roots trusted, the expected network still decides.
	both := x509.NewCertPool()
	both.AddCert(a.root.Certificate())
	both.AddCert(b.root.Certificate())
	v := &pki.Verifier{Roots: both, Network: "other.test", Now: func() time.Time { return t0 }}
	if _, err := v.Verify(kp.Chain); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("Verifier for other.test accepted %s: %v", kp.Cert.Subject.CommonName, err)
	}
	v.Network = testNet
	if _, err := v.Verify(kp.Chain); err != nil {
		t.Errorf("Verifier for %s: %v", testNet, err)
	}

	// Network B's services CA signing a service CA named for network A.
	skp := b.services.KeyPair()
	sca, scaKey := rawCert(t, rawCA(pki.ServiceCAName(7, testNet)), skp.Cert, skp.Key)
	mca, mcaKey := rawCert(t, rawCA(pki.MembersCAName(7, testNet)), sca, scaKey)
	leaf, _ := rawCert(t, rawLeaf(pki.MemberName(7, testID, testNet)), mca, mcaKey)
	chain := []*x509.Certificate{leaf, mca, sca, skp.Cert}
	if _, err := pki.Verify(chain, both, t0); !errors.Is(err, pki.ErrUntrusted) {
		t.Errorf("cross-network chain accepted: %v", err)
	}
}

// TestVerifyConnection runs real TLS 1.3 handshakes with Verifier wired into
// tls.Config.VerifyConnection on both sides.
func TestVerifyConnection(t *testing.T) {
	n := newNetwork(t, testNet)
	server := n.svcTLS[7]
	now := func() time.Time { return t0 }
	v := &pki.Verifier{Roots: n.roots, Network: testNet, Now: now}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshake := func(client *pki.KeyPair) (*pki.Identity, error) {
		type result struct {
			id  *pki.Identity
			err error
		}
		srvDone := make(chan result, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				srvDone <- result{err: err}
				return
			}
			defer conn.Close() // the client's read below ends here
			srv := tls.Server(conn, &tls.Config{
				MinVersion:       tls.VersionTLS13,
				Certificates:     []tls.Certificate{server.TLSCertificate()},
				ClientAuth:       tls.RequireAnyClientCert, // VerifyConnection verifies
				VerifyConnection: v.VerifyConnection,
				Time:             now,
			})
			if err := srv.HandshakeContext(context.Background()); err != nil {
				srvDone <- result{err: err}
				return
			}
			cs := srv.ConnectionState()
			id, err := v.PeerIdentity(&cs)
			srvDone <- result{id, err}
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var certs []tls.Certificate
		if client != nil {
			certs = []tls.Certificate{client.TLSCertificate()}
		}
		cli := tls.Client(conn, &tls.Config{
			MinVersion:   tls.VersionTLS13,
			RootCAs:      n.roots,
			ServerName:   pki.ServiceName(7, testNet),
			Certificates: certs,
			Time:         now,
			VerifyConnection: func(cs tls.ConnectionState) error {
				id, err := v.PeerIdentity(&cs)
				if err == nil && (id.Role != pki.RoleService || id.ServiceID != 7) {
					err = errors.New("not service 7")
				}
				return err
			},
		})
		if err := cli.HandshakeContext(context.Background()); err != nil {
			t.Fatalf("client handshake: %v", err) // the server is always trusted here
		}
		// TLS 1.3: the server checks the client after the client is done, so
		// read until the server closes or sends its alert.
		_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = cli.Read(make([]byte, 1))
		r := <-srvDone
		return r.id, r.err
	}

	mid := uuid.New()
	id, err := handshake(issue(t, n.members[7], pki.MemberName(7, mid, testNet)))
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != pki.RoleMember || id.ID != mid.String() || id.ServiceID != 7 || id.Data {
		t.Fatalf("identity = %+v", id)
	}
	if _, err := handshake(issue(t, n.members[7], pki.MemberDataName(7, mid, testNet))); err == nil {
		t.Fatal("a data certificate authenticated a TLS client")
	}
	if _, err := v.PeerIdentity(nil); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("PeerIdentity(nil) = %v", err)
	}
	if _, err := handshake(nil); err == nil {
		t.Fatal("a client without certificate got through")
	}
	other := newNetwork(t, "other.test")
	if _, err := handshake(issue(t, other.members[7], pki.MemberName(7, mid, "other.test"))); err == nil {
		t.Fatal("a member of another network got through")
	}
}

func BenchmarkVerifyMember(b *testing.B) {
	n := newNetwork(b, testNet)
	kp := issue(b, n.members[7], pki.MemberName(7, testID, testNet))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pki.Verify(kp.Chain, n.roots, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccount(b *testing.B) {
	n := newNetwork(b, testNet)
	kp := issue(b, n.accounts, pki.AccountName(testID, testNet))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pki.Verify(kp.Chain, n.roots, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseName(b *testing.B) {
	name := pki.MemberDataName(7, testID, testNet)
	for b.Loop() {
		if _, err := pki.ParseName(name); err != nil {
			b.Fatal(err)
		}
	}
}
