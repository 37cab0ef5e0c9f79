package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrKeyType is returned (wrapped) for any key that is not ECDSA P-256.
var ErrKeyType = errors.New("key is not ECDSA P-256")

// KeyPair is a private key with its certificate and the chain that proves it.
type KeyPair struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // leaf first, up to but excluding the root
}

// TLSCertificate returns the key pair as a certificate for crypto/tls, sending
// the whole chain so that peers need only the network root.
func (kp *KeyPair) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: kp.Key, Leaf: kp.Cert}
	for _, cert := range kp.Chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}

// GenerateKey returns a new ECDSA P-256 private key, the only key type of a
// byoda network.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// checkKey refuses public keys other than ECDSA P-256.
func checkKey(pub any) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: got %T", ErrKeyType, pub)
	}
	if k.Curve != elliptic.P256() {
		return fmt.Errorf("%w: got curve %s", ErrKeyType, k.Curve.Params().Name)
	}
	return nil
}

// CreateCSR returns a certificate signing request for name, signed by key. The
// name must be a byoda name (see ParseName); it becomes the common name and the
// only DNS name. What the certificate may do is decided by the signing CA, so
// the request carries nothing else.
func CreateCSR(key crypto.Signer, name string) (*x509.CertificateRequest, error) {
	if _, err := ParseName(name); err != nil {
		return nil, err
	}
	if err := checkKey(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: name},
		DNSNames: []string{name},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for %s: %w", name, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse CSR for %s: %w", name, err)
	}
	return csr, nil
}

// PEM block types used in files and on the wire.
const (
	pemCertificate = "CERTIFICATE"
	pemCSR         = "CERTIFICATE REQUEST"
	pemKey         = "PRIVATE KEY" // PKCS #8
)

// EncodeCertificates returns certs as concatenated PEM blocks.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: c.Raw})...)
	}
	return out
}

// ParseCertificates parses every CERTIFICATE block of data, in order. It
// refuses data without certificates and blocks of any other type.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != pemCertificate {
			return nil, fmt.Errorf("parse certificates: unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificates: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("parse certificates: no CERTIFICATE PEM block")
	}
	return certs, nil
}

// EncodeCSR returns csr as a PEM block.
func EncodeCSR(csr *x509.CertificateRequest) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: csr.Raw})
}

// ParseCSR parses one CERTIFICATE REQUEST PEM block. It does not check the
// request's signature; CA.Sign does.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != pemCSR {
		return nil, errors.New("parse CSR: no CERTIFICATE REQUEST PEM block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	return csr, nil
}

// EncodeKey returns key as a PKCS #8 PEM block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: der}), nil
}

// ParseKey parses a PKCS #8 PEM private key and refuses keys other than ECDSA
// P-256.
func ParseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != pemKey {
		return nil, errors.New("parse key: no PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse key: %w: got %T", ErrKeyType, k)
	}
	if err := checkKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	return signer, nil
}

// NewKeyPair assembles a key pair from a key and a chain (leaf first, root
// excluded) and checks that the key belongs to the leaf.
func NewKeyPair(key crypto.Signer, chain []*x509.Certificate) (*KeyPair, error) {
	if len(chain) == 0 {
		return nil, errors.New("key pair: empty certificate chain")
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("key pair: key does not match certificate %s", chain[0].Subject.CommonName)
	}
	return &KeyPair{Key: key, Cert: chain[0], Chain: chain}, nil
}
