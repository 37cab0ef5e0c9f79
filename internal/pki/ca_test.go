package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// candidates returns one name of every kind: for services 7 and 8, and for
// another network.
func candidates() []string {
	var names []string
	for _, net := range []string{testNet, "other.test"} {
		names = append(names,
			pki.RootCAName(net), pki.AccountsCAName(net), pki.ServicesCAName(net), pki.NetworkDataName(net),
			pki.AccountName(testID, net), pki.AccountDataName(testID, net))
		for _, sid := range []uint32{7, 8} {
			names = append(names,
				pki.ServiceCAName(sid, net), pki.MembersCAName(sid, net), pki.AppsCAName(sid, net),
				pki.ServiceName(sid, net), pki.ServiceDataName(sid, net),
				pki.MemberName(sid, testID, net), pki.MemberDataName(sid, testID, net),
				pki.AppName(sid, testID, net), pki.AppDataName(sid, testID, net))
		}
	}
	return names
}

// TestSignNamePolicy asks every CA to sign every kind of name and checks the
// answer against the hierarchy of the package documentation, written out by hand.
func TestSignNamePolicy(t *testing.T) {
	n := newNetwork(t, testNet)
	allowed := map[string][]string{
		pki.RootCAName(testNet): {
			pki.AccountsCAName(testNet), pki.ServicesCAName(testNet), pki.NetworkDataName(testNet),
		},
		pki.AccountsCAName(testNet): {
			pki.AccountName(testID, testNet), pki.AccountDataName(testID, testNet),
		},
		pki.ServicesCAName(testNet): {
			pki.ServiceCAName(7, testNet), pki.ServiceCAName(8, testNet),
		},
		pki.ServiceCAName(7, testNet): {
			pki.MembersCAName(7, testNet), pki.AppsCAName(7, testNet),
			pki.ServiceName(7, testNet), pki.ServiceDataName(7, testNet),
		},
		pki.MembersCAName(7, testNet): {
			pki.MemberName(7, testID, testNet), pki.MemberDataName(7, testID, testNet),
		},
		pki.AppsCAName(7, testNet): {
			pki.AppName(7, testID, testNet), pki.AppDataName(7, testID, testNet),
		},
	}
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for caName, may := range allowed {
		ca := n.byCAName[caName]
		for _, name := range candidates() {
			want := slices.Contains(may, name)
			t.Run(caName+"/"+name, func(t *testing.T) {
				csr, err := pki.CreateCSR(key, name)
				if err != nil {
					t.Fatal(err)
				}
				cert, err := ca.Sign(csr, t0)
				if !want {
					if !errors.Is(err, pki.ErrNotAllowed) {
						t.Fatalf("Sign = %v, want ErrNotAllowed", err)
					}
					// The refusal names the request and what the CA may sign.
					if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, "signs only") {
						t.Fatalf("unhelpful refusal: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				s, _ := pki.ParseName(name)
				checkProfile(t, cert, s, ca)
			})
		}
	}
}

// checkProfile checks what the CA decided: names, CA-ness, path length, usages
// and validity.
func checkProfile(t *testing.T, cert *x509.Certificate, s pki.Subject, ca *pki.CA) {
	t.Helper()
	if cert.Subject.CommonName != s.Name() || !slices.Equal(cert.DNSNames, []string{s.Name()}) {
		t.Errorf("names = %q %q", cert.Subject.CommonName, cert.DNSNames)
	}
	if cert.Issuer.CommonName != ca.Subject().Name() {
		t.Errorf("issuer = %q", cert.Issuer.CommonName)
	}
	if cert.IsCA != s.Kind.IsCA() {
		t.Errorf("IsCA = %v", cert.IsCA)
	}
	if cert.SerialNumber.BitLen() != 128 {
		t.Errorf("serial has %d bits", cert.SerialNumber.BitLen())
	}
	if !cert.NotBefore.Equal(t0.Add(-pki.ClockSkew)) {
		t.Errorf("NotBefore = %s", cert.NotBefore)
	}
	if cert.NotAfter.After(ca.Certificate().NotAfter) {
		t.Errorf("NotAfter %s outlives the CA", cert.NotAfter)
	}
	switch {
	case s.Kind.IsCA():
		if cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(cert.ExtKeyUsage) != 0 {
			t.Errorf("CA usages = %v %v", cert.KeyUsage, cert.ExtKeyUsage)
		}
		if len(cert.PermittedDNSDomains) == 0 {
			t.Errorf("CA without name constraints")
		}
	case s.Kind.IsData():
		if cert.KeyUsage != x509.KeyUsageDigitalSignature || len(cert.ExtKeyUsage) != 0 ||
			len(cert.UnknownExtKeyUsage) != 1 || !cert.UnknownExtKeyUsage[0].Equal(pki.OIDDocumentSigning) {
			t.Errorf("data usages = %v %v %v", cert.KeyUsage, cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
		}
		if !cert.NotAfter.Equal(t0.Add(pki.LeafValidity)) {
			t.Errorf("NotAfter = %s", cert.NotAfter)
		}
	default:
		if cert.KeyUsage != x509.KeyUsageDigitalSignature ||
			!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("TLS usages = %v %v", cert.KeyUsage, cert.ExtKeyUsage)
		}
	}
}

func TestPathLengths(t *testing.T) {
	n := newNetwork(t, testNet)
	for _, tc := range []struct {
		ca   *pki.CA
		want int
	}{
		{n.root, 3}, {n.services, 2}, {n.service[7], 1},
		{n.accounts, 0}, {n.members[7], 0}, {n.apps[7], 0},
	} {
		c := tc.ca.Certificate()
		if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != tc.want || c.MaxPathLenZero != (tc.want == 0) {
			t.Errorf("%s: IsCA=%v MaxPathLen=%d MaxPathLenZero=%v, want %d",
				c.Subject.CommonName, c.IsCA, c.MaxPathLen, c.MaxPathLenZero, tc.want)
		}
	}
	if c := n.root.Certificate(); !c.NotAfter.Equal(t0.Add(pki.RootValidity)) {
		t.Errorf("root NotAfter = %s", c.NotAfter)
	}
	if c := n.members[7].Certificate(); !c.NotAfter.Equal(t0.Add(pki.IntermediateValidity)) {
		t.Errorf("members CA NotAfter = %s", c.NotAfter)
	}
}

// TestMembersCACannotMintCA asks a members CA for CA certificates in every way
// a request can: a CA name, and a member name whose CSR asks for CA basic
// constraints and cert-sign usage.
func TestMembersCACannotMintCA(t *testing.T) {
	n := newNetwork(t, testNet)
	ca := n.members[7]
	key, _ := pki.GenerateKey()
	for _, name := range []string{
		pki.MembersCAName(7, testNet), pki.ServiceCAName(7, testNet), pki.RootCAName(testNet),
	} {
		csr, err := pki.CreateCSR(key, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ca.Sign(csr, t0); !errors.Is(err, pki.ErrNotAllowed) {
			t.Errorf("members CA signed %s: %v", name, err)
		}
	}

	name := pki.MemberName(7, testID, testNet)
	bc, _ := asn1.Marshal(struct {
		IsCA       bool
		MaxPathLen int
	}{true, 5})
	ku, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x06}, BitLength: 7}) // keyCertSign, cRLSign
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: name},
		DNSNames: []string{name},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: ku},
		},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	cert, err := ca.Sign(csr, t0)
	if err != nil {
		t.Fatal(err)
	}
	if cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Fatalf("CSR extensions were copied: IsCA=%v KeyUsage=%v", cert.IsCA, cert.KeyUsage)
	}
}

func csrWith(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestSignRefusesKeys(t *testing.T) {
	n := newNetwork(t, testNet)
	name := pki.MemberName(7, testID, testNet)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, key := range []crypto.Signer{p384, ed, rsaKey} {
		csr := csrWith(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}})
		if _, err := n.members[7].Sign(csr, t0); !errors.Is(err, pki.ErrKeyType) {
			t.Errorf("%T: Sign = %v, want ErrKeyType", key, err)
		}
		if _, err := pki.CreateCSR(key, name); !errors.Is(err, pki.ErrKeyType) {
			t.Errorf("%T: CreateCSR = %v, want ErrKeyType", key, err)
		}
	}
}

func TestSignRefusesBadSignature(t *testing.T) {
	n := newNetwork(t, testNet)
	key, _ := pki.GenerateKey()
	csr, err := pki.CreateCSR(key, pki.MemberName(7, testID, testNet))
	if err != nil {
		t.Fatal(err)
	}
	csr.Signature = slices.Clone(csr.Signature)
	csr.Signature[len(csr.Signature)-1] ^= 0xff
	if _, err := n.members[7].Sign(csr, t0); err == nil || !strings.Contains(err.Error(), "CSR signature") {
		t.Fatalf("Sign = %v, want a CSR signature error", err)
	}

	// A request signed by another key than the one it carries.
	other, _ := pki.GenerateKey()
	csr2, _ := pki.CreateCSR(other, pki.MemberName(7, testID, testNet))
	csr2.PublicKey = key.Public()
	if _, err := n.members[7].Sign(csr2, t0); err == nil {
		t.Fatal("signed a CSR whose key did not sign it")
	}
}

func TestSignRefusesOtherNames(t *testing.T) {
	n := newNetwork(t, testNet)
	key, _ := pki.GenerateKey()
	name := pki.MemberName(7, testID, testNet)
	otherMember := pki.MemberName(7, uuid.New(), testNet)
	for label, tmpl := range map[string]*x509.CertificateRequest{
		"second SAN in namespace": {DNSNames: []string{name, otherMember}},
		"SAN of service 8":        {DNSNames: []string{pki.MemberName(8, testID, testNet)}},
		"SAN outside network":     {DNSNames: []string{"example.com"}},
		"IP SAN":                  {DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		"email SAN":               {EmailAddresses: []string{"a@example.com"}},
	} {
		tmpl.Subject = pkix.Name{CommonName: name}
		if _, err := n.members[7].Sign(csrWith(t, key, tmpl), t0); !errors.Is(err, pki.ErrNotAllowed) {
			t.Errorf("%s: Sign = %v, want ErrNotAllowed", label, err)
		}
	}
	// No SAN at all is fine: the CA adds the name.
	cert, err := n.members[7].Sign(csrWith(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}), t0)
	if err != nil || !slices.Equal(cert.DNSNames, []string{name}) {
		t.Fatalf("Sign without SAN = %v, %v", cert, err)
	}
	// Not a byoda name.
	if _, err := n.members[7].Sign(csrWith(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "example.com"}}), t0); !errors.Is(err, pki.ErrInvalidName) {
		t.Errorf("Sign(example.com) = %v", err)
	}
}

func TestSignOutsideCAValidity(t *testing.T) {
	n := newNetwork(t, testNet)
	key, _ := pki.GenerateKey()
	csr, _ := pki.CreateCSR(key, pki.MemberName(7, testID, testNet))
	for _, now := range []time.Time{t0.Add(-time.Hour), t0.Add(pki.IntermediateValidity + time.Hour)} {
		if _, err := n.members[7].Sign(csr, now); err == nil {
			t.Errorf("signed at %s", now)
		}
	}
	// Near the end of the CA's life, the leaf is cut short, not longer-lived.
	late := t0.Add(pki.IntermediateValidity - 24*time.Hour)
	cert, err := n.members[7].Sign(csr, late)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(n.members[7].Certificate().NotAfter) {
		t.Fatalf("NotAfter = %s, CA ends %s", cert.NotAfter, n.members[7].Certificate().NotAfter)
	}
}

func TestNewCARefusesLeaf(t *testing.T) {
	n := newNetwork(t, testNet)
	if _, err := pki.NewCA(n.svcTLS[7]); err == nil {
		t.Fatal("NewCA accepted a TLS leaf")
	}
	kp := n.members[7].KeyPair()
	other, _ := pki.GenerateKey()
	if _, err := pki.NewCA(&pki.KeyPair{Key: other, Cert: kp.Cert, Chain: kp.Chain}); err == nil {
		t.Fatal("NewCA accepted a key that is not the certificate's")
	}
}

func TestPEMRoundTrip(t *testing.T) {
	n := newNetwork(t, testNet)
	kp := issue(t, n.members[7], pki.MemberName(7, testID, testNet))
	certs, err := pki.ParseCertificates(pki.EncodeCertificates(kp.Chain...))
	if err != nil || len(certs) != 4 || !certs[0].Equal(kp.Cert) {
		t.Fatalf("ParseCertificates = %d certs, %v", len(certs), err)
	}
	keyPEM, err := pki.EncodeKey(kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.NewKeyPair(key, certs); err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.CreateCSR(key, pki.MemberDataName(7, testID, testNet))
	back, err := pki.ParseCSR(pki.EncodeCSR(csr))
	if err != nil || back.Subject.CommonName != csr.Subject.CommonName {
		t.Fatalf("ParseCSR = %v", err)
	}
	if _, err := pki.ParseCertificates(keyPEM); err == nil {
		t.Fatal("ParseCertificates accepted a key")
	}
	if _, err := pki.ParseKey(pki.EncodeCertificates(kp.Cert)); err == nil {
		t.Fatal("ParseKey accepted a certificate")
	}
}

func BenchmarkSign(b *testing.B) {
	n := newNetwork(b, testNet)
	key, _ := pki.GenerateKey()
	csr, err := pki.CreateCSR(key, pki.MemberName(7, testID, testNet))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.members[7].Sign(csr, t0); err != nil {
			b.Fatal(err)
		}
	}
}
