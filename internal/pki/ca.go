package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrNotAllowed is returned (wrapped) when a CA is asked to sign a name outside
// its namespace.
var ErrNotAllowed = errors.New("name not allowed")

// Validity periods. Leaves are renewed yearly; CAs live long enough that
// renewing them is rare; nothing outlives its issuer (Sign clamps NotAfter).
const (
	RootValidity         = 10 * 365 * 24 * time.Hour
	IntermediateValidity = 5 * 365 * 24 * time.Hour
	LeafValidity         = 365 * 24 * time.Hour

	// ClockSkew is how far before the signing time NotBefore is set, so that a
	// peer whose clock is slightly behind accepts a fresh certificate.
	ClockSkew = 5 * time.Minute
)

// OIDDocumentSigning is the extended key usage of data certificates (RFC 9336),
// so that a data key cannot pass for a TLS identity and vice versa.
var OIDDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// maxPathLen is the number of CAs that may follow a CA of each kind in a chain:
// root -> services CA -> service CA -> members/apps CA -> leaf is the longest.
// Members, apps and accounts CAs cannot mint CAs at all.
var maxPathLen = map[Kind]int{
	KindRootCA:     3,
	KindServicesCA: 2,
	KindServiceCA:  1,
	KindAccountsCA: 0,
	KindMembersCA:  0,
	KindAppsCA:     0,
}

// permittedDomains returns the DNS name constraints of a CA: the namespaces of
// everything beneath it. They repeat, for TLS stacks that only run standard
// path validation, what CA.Sign and Verify enforce by name. The services CA
// cannot express "any service id" as a suffix, so it and the root are limited
// to the network.
func permittedDomains(s Subject) []string {
	sid := fmt.Sprint(s.ServiceID)
	n := s.Network
	switch s.Kind {
	case KindRootCA, KindServicesCA:
		return []string{n}
	case KindAccountsCA:
		return []string{".accounts." + n, ".account-data." + n}
	case KindServiceCA:
		return []string{
			".service-ca-" + sid + "." + n,
			".members-ca-" + sid + "." + n, ".apps-ca-" + sid + "." + n,
			".service-" + sid + "." + n, ".service-data-" + sid + "." + n,
			".members-" + sid + "." + n, ".member-data-" + sid + "." + n,
			".apps-" + sid + "." + n, ".app-data-" + sid + "." + n,
		}
	case KindMembersCA:
		return []string{".members-" + sid + "." + n, ".member-data-" + sid + "." + n}
	case KindAppsCA:
		return []string{".apps-" + sid + "." + n, ".app-data-" + sid + "." + n}
	}
	return nil
}

// template returns the certificate the CA issues for s: the CA, not the
// request, decides every extension.
func template(s Subject, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	serial.SetBit(serial, 127, 1) // always 16 bytes, never zero
	name := s.Name()
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-ClockSkew),
		BasicConstraintsValid: true,
	}
	switch {
	case s.Kind.IsCA():
		validity := IntermediateValidity
		if s.Kind == KindRootCA {
			validity = RootValidity
		}
		t.NotAfter = now.Add(validity)
		t.IsCA = true
		t.MaxPathLen = maxPathLen[s.Kind]
		t.MaxPathLenZero = t.MaxPathLen == 0
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		t.PermittedDNSDomains = permittedDomains(s)
		t.PermittedDNSDomainsCritical = true
	case s.Kind.IsData():
		t.NotAfter = now.Add(LeafValidity)
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.UnknownExtKeyUsage = []asn1.ObjectIdentifier{OIDDocumentSigning}
	default:
		t.NotAfter = now.Add(LeafValidity)
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return t, nil
}

// CA is a certificate authority of a byoda network. It signs only the names
// its place in the hierarchy allows (see the package documentation): the root signs
// the accounts CA, the services CA and the network data certificate; the
// services CA signs service CAs; a service CA signs its own members CA, apps
// CA, service TLS and service data certificates; the accounts, members and
// apps CAs sign their accounts, members and apps of their own service.
type CA struct {
	subject Subject
	cert    *x509.Certificate
	key     crypto.Signer
	chain   []*x509.Certificate // CA certificate first, root excluded
}

// NewCA returns the CA held by kp, after checking that its certificate is a CA
// certificate with a CA name and that the key belongs to it.
func NewCA(kp *KeyPair) (*CA, error) {
	s, err := ParseName(kp.Cert.Subject.CommonName)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !s.Kind.IsCA() || !kp.Cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", s.Name())
	}
	if _, err := NewKeyPair(kp.Key, kp.Chain); err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	chain := kp.Chain
	if s.Kind == KindRootCA {
		chain = nil // the root is never part of a chain
	}
	return &CA{subject: s, cert: kp.Cert, key: kp.Key, chain: chain}, nil
}

// NewRootCA creates the self-signed root CA of network.
func NewRootCA(network string, now time.Time) (*CA, error) {
	if err := ValidateNetwork(network); err != nil {
		return nil, err
	}
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	s := Subject{Kind: KindRootCA, Network: network}
	t, err := template(s, now)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse root CA: %w", err)
	}
	return &CA{subject: s, cert: cert, key: key}, nil
}

// Subject returns the CA's own name, parsed.
func (ca *CA) Subject() Subject { return ca.subject }

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// KeyPair returns the CA's key and certificate chain (the root CA's chain is
// its own certificate).
func (ca *CA) KeyPair() *KeyPair {
	chain := ca.chain
	if len(chain) == 0 {
		chain = []*x509.Certificate{ca.cert}
	}
	return &KeyPair{Key: ca.key, Cert: ca.cert, Chain: chain}
}

// Chain returns the chain to send with a certificate this CA signed: the
// signed certificate first, then the CA's chain, excluding the root.
func (ca *CA) Chain(signed *x509.Certificate) []*x509.Certificate {
	return append([]*x509.Certificate{signed}, ca.chain...)
}

// Sign checks csr and issues a certificate for it, valid from now (less
// ClockSkew). It refuses a request whose signature does not verify, whose key is
// not ECDSA P-256, whose name is not in this CA's namespace or which carries
// any name other than its common name. The CA, not the request, decides
// whether the certificate is a CA, its path length, key usages and SANs.
func (ca *CA) Sign(csr *x509.CertificateRequest, now time.Time) (*x509.Certificate, error) {
	name := csr.Subject.CommonName
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign %q: CSR signature: %w", name, err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("sign %q: %w", name, err)
	}
	s, err := ParseName(name)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if issuerOf(s) != ca.subject || s.Kind == KindRootCA {
		return nil, fmt.Errorf("%w: %s %s may not sign %q (%s); it signs only %s",
			ErrNotAllowed, ca.subject.Kind, ca.subject.Name(), name, s.Kind, mayIssue(ca.subject))
	}
	for _, dns := range csr.DNSNames {
		if dns != name {
			return nil, fmt.Errorf("%w: %s %s may not sign DNS name %q in the CSR for %q; a certificate carries only its common name",
				ErrNotAllowed, ca.subject.Kind, ca.subject.Name(), dns, name)
		}
	}
	if len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		return nil, fmt.Errorf("%w: CSR for %q asks for IP, email or URI names; byoda certificates carry only DNS names",
			ErrNotAllowed, name)
	}
	if now.Before(ca.cert.NotBefore) || now.After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("sign %q: CA %s is valid only from %s to %s",
			name, ca.subject.Name(), ca.cert.NotBefore.Format(time.RFC3339), ca.cert.NotAfter.Format(time.RFC3339))
	}
	t, err := template(s, now)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", name, err)
	}
	if t.NotAfter.After(ca.cert.NotAfter) {
		t.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, t, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sign %q: parse certificate: %w", name, err)
	}
	return cert, nil
}

// Issue creates a key and a certificate for name in one step. It is for tools
// that act as both owner and CA (byoda pki, devnet, tests); elsewhere the
// owner keeps its key and sends only a CSR.
func (ca *CA) Issue(name string, now time.Time) (*KeyPair, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	csr, err := CreateCSR(key, name)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Sign(csr, now)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Key: key, Cert: cert, Chain: ca.Chain(cert)}, nil
}
