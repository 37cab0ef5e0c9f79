package directory

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

// Files of a generated server certificate in a data directory.
const (
	GeneratedCertFile = "tls.crt"
	GeneratedKeyFile  = "tls.key"
)

// LoadServerCert returns the server certificate of a directory: the PEM
// files certFile and keyFile when given; else the certificate generated in
// dataDir by an earlier start; else a new self-signed certificate for name,
// written to dataDir (the key with mode 0600). A self-signed certificate is
// for networks without a public certificate for dir.<net>: clients then
// trust exactly that certificate (its file is their CA).
func LoadServerCert(certFile, keyFile, dataDir, name string, now time.Time) (tls.Certificate, error) {
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, errors.New("give both a TLS certificate file and its key file, or neither")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load TLS certificate: %w", err)
		}
		return c, nil
	}
	certFile, keyFile = filepath.Join(dataDir, GeneratedCertFile), filepath.Join(dataDir, GeneratedKeyFile)
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		if c.Leaf != nil && c.Leaf.Subject.CommonName != name {
			return tls.Certificate{}, fmt.Errorf("load TLS certificate: %s is for %s, not %s; remove it to have a new one made", certFile, c.Leaf.Subject.CommonName, name)
		}
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("load TLS certificate: %w", err)
	}
	key, err := pki.GenerateKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-pki.ClockSkew),
		NotAfter:              now.Add(pki.IntermediateValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create TLS certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write TLS key: %w", err)
	}
	if err := os.WriteFile(certFile, pki.EncodeCertificates(cert), 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, nil
}
