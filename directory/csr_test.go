package directory

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/pki"
)

func TestParseCSR(t *testing.T) {
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, err := pki.CreateCSR(key, "3f1c2a44-8a5e-4cb1-9d4e-0f4c1d2b3a45.accounts.byoda.test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.CreateCSR(key, "3f1c2a44-8a5e-4cb1-9d4e-0f4c1d2b3a45.accounts.example.test")
	if err != nil {
		t.Fatal(err)
	}
	// A request for a name that is not a byoda name, and one whose
	// signature was made by another key.
	raw, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "www.example.com"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	notByoda := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: raw})
	forged := append([]byte(nil), good.Raw...)
	forged[len(forged)-5] ^= 0xff

	csr, s, err := ParseCSR(string(pki.EncodeCSR(good)), "byoda.test")
	if err != nil || s.Kind != pki.KindAccount || csr.Subject.CommonName != s.Name() {
		t.Fatalf("ParseCSR(good) = %v, %v", s, err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"empty", " ", "csr: empty"},
		{"not PEM", "hello", "no CERTIFICATE REQUEST PEM block"},
		{"certificate block", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no CERTIFICATE REQUEST PEM block"},
		{"bad DER", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "parse CSR"},
		{"forged signature", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: forged})), "csr:"},
		{"not a byoda name", string(notByoda), "common name: invalid byoda name"},
		{"other network", string(pki.EncodeCSR(other)), `network "example.test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseCSR(tt.data, "byoda.test")
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("ParseCSR = %v, want a 400 containing %q", err, tt.want)
			}
		})
	}
}

// FuzzParseCSR feeds ParseCSR arbitrary text: it must never panic, and what
// it accepts must be a self-signed request for a name of the network.
func FuzzParseCSR(f *testing.F) {
	key, err := pki.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{
		"3f1c2a44-8a5e-4cb1-9d4e-0f4c1d2b3a45.accounts.byoda.test",
		"service-ca.service-ca-4711.byoda.test",
		"3f1c2a44-8a5e-4cb1-9d4e-0f4c1d2b3a45.members-4711.byoda.test",
	} {
		csr, err := pki.CreateCSR(key, name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(pki.EncodeCSR(csr)))
	}
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n")
	f.Fuzz(func(t *testing.T, data string) {
		csr, s, err := ParseCSR(data, "byoda.test")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			return
		}
		if csr.CheckSignature() != nil || s.Network != "byoda.test" || s.Name() != csr.Subject.CommonName {
			t.Fatalf("accepted %q as %v", data, s)
		}
	})
}
