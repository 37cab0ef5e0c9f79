package directory

import (
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

// ParseCSR parses the PEM certificate signing request a caller sent and
// checks what can be checked before a CA sees it: one CERTIFICATE REQUEST
// block, a valid self-signature, and a common name that is a byoda name of
// network. Every failure is a 400 Error that says what was wrong.
func ParseCSR(data, network string) (*x509.CertificateRequest, pki.Subject, error) {
	if strings.TrimSpace(data) == "" {
		return nil, pki.Subject{}, BadRequest("csr: empty; want a PEM CERTIFICATE REQUEST for your byoda name")
	}
	csr, err := pki.ParseCSR([]byte(data))
	if err != nil {
		return nil, pki.Subject{}, BadRequest("csr: %v; want a PEM CERTIFICATE REQUEST for your byoda name", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, pki.Subject{}, BadRequest("csr: signature: %v; sign the request with the key it carries", err)
	}
	s, err := pki.ParseName(csr.Subject.CommonName)
	if err != nil {
		return nil, pki.Subject{}, BadRequest("csr: common name: %v", err)
	}
	if s.Network != network {
		return nil, pki.Subject{}, BadRequest("csr: %s is a name of network %q; this directory serves network %q", s.Name(), s.Network, network)
	}
	return csr, s, nil
}

// DecodeCSR reads a CSRRequest body and parses its certificate signing
// request (ParseCSR): the first steps of every endpoint that signs.
func DecodeCSR(w http.ResponseWriter, r *http.Request, network string) (*CSRRequest, *x509.CertificateRequest, pki.Subject, error) {
	var req CSRRequest
	if err := DecodeJSON(w, r, MaxCSRBody, &req, false); err != nil {
		return nil, nil, pki.Subject{}, err
	}
	csr, subj, err := ParseCSR(req.CSR, network)
	if err != nil {
		return nil, nil, pki.Subject{}, err
	}
	return &req, csr, subj, nil
}

// SignCSR has ca sign csr at now, turning the CA's refusals into Errors:
// a name its policy does not allow is a 403, anything else about the
// request a 400.
func SignCSR(ca *pki.CA, csr *x509.CertificateRequest, now time.Time) (*x509.Certificate, error) {
	cert, err := ca.Sign(csr, now)
	if errors.Is(err, pki.ErrNotAllowed) {
		return nil, Forbidden("%v", err)
	}
	if errors.Is(err, pki.ErrKeyType) {
		return nil, BadRequest("csr: %v; use an ECDSA P-256 key", err)
	}
	if err != nil {
		return nil, BadRequest("csr: %v", err)
	}
	return cert, nil
}

// PEMChain returns the certificate a CA signed and its issuers (excluding
// the root) as the two PEM strings of a SignedCert.
func PEMChain(chain []*x509.Certificate) (cert, issuers string) {
	if len(chain) == 0 {
		return "", ""
	}
	return string(pki.EncodeCertificates(chain[0])), string(pki.EncodeCertificates(chain[1:]...))
}

// ParseChain parses a PEM certificate chain a caller sent and verifies it
// with v. Every failure is a 400 Error.
func ParseChain(data string, v *pki.Verifier) ([]*x509.Certificate, *pki.Identity, error) {
	chain, err := pki.ParseCertificates([]byte(data))
	if err != nil {
		return nil, nil, BadRequest("certchain: %v; want the PEM certificate followed by its issuers", err)
	}
	if len(chain) > 8 {
		return nil, nil, BadRequest("certchain: %d certificates; a byoda chain has at most 4", len(chain))
	}
	id, err := v.Verify(chain)
	if err != nil {
		return nil, nil, BadRequest("certchain: %v", err)
	}
	return chain, id, nil
}
