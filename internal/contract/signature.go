package contract

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

// ErrSignature is returned (wrapped) by Verify for every contract whose
// signatures do not hold.
var ErrSignature = errors.New("contract signature invalid")

// HashAlgorithm is the only hash_algorithm of a signature record.
const HashAlgorithm = "SHA256"

// Signer is a private key that signs contracts and the certificate chain that
// proves whose it is: the signer's certificate first, then its issuers up to
// but excluding the network root.
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Canonical returns the canonical bytes of the contract, signatures included.
// See the package documentation for the form.
func (c *Contract) Canonical() []byte { return appendCanonical(nil, c.doc) }

// SignAsService signs a valid, unsigned contract as its service, with the key
// of the certificate data.service-data-<sid>.<net>, and returns the contract
// with "signatures": {"service": ...}. The signature covers the canonical
// bytes of the contract with "signatures" empty.
func SignAsService(raw []byte, s Signer, now time.Time) ([]byte, error) {
	c, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if c.Signatures.Network != nil || c.Signatures.Service != nil {
		return nil, errors.New("sign contract as service: it is signed already; want a contract with empty \"signatures\"")
	}
	rec, err := sign(signedBytes(c.doc, &value{kind: jsonObject}), s, now)
	if err != nil {
		return nil, fmt.Errorf("sign contract as service: %w", err)
	}
	sigs := &value{kind: jsonObject, members: []member{{key: "service", value: rec}}}
	return appendIndented(nil, withMember(c.doc, "signatures", sigs), 0), nil
}

// SignAsNetwork countersigns a contract that its service has signed, with the
// key of network.network-data.<net>, and returns it with both signatures. The
// signature covers the canonical bytes of the contract with only the service
// signature in "signatures". It does not check the service signature: the
// directory verifies what it countersigns.
func SignAsNetwork(raw []byte, s Signer, now time.Time) ([]byte, error) {
	c, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if c.Signatures.Service == nil {
		return nil, errors.New("sign contract as network: it has no service signature; want the service to sign first")
	}
	if c.Signatures.Network != nil {
		return nil, errors.New("sign contract as network: it has a network signature already")
	}
	svc := c.doc.get("signatures").get("service")
	onlyService := &value{kind: jsonObject, members: []member{{key: "service", value: svc}}}
	rec, err := sign(signedBytes(c.doc, onlyService), s, now)
	if err != nil {
		return nil, fmt.Errorf("sign contract as network: %w", err)
	}
	sigs := &value{kind: jsonObject, members: []member{{key: "service", value: svc}, {key: "network", value: rec}}}
	return appendIndented(nil, withMember(c.doc, "signatures", sigs), 0), nil
}

// Verify parses a contract and checks both of its signatures: the service's
// by data.service-data-<sid>.<network> and the network's by
// network.network-data.<network>, each with the certificate chain it carries,
// verified against roots at time now. It returns the contract only if both
// hold.
func Verify(raw []byte, roots *x509.CertPool, network string, now time.Time) (*Contract, error) {
	c, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	sigs := c.doc.get("signatures")
	svc, net := sigs.get("service"), sigs.get("network")
	if svc == nil {
		return nil, fmt.Errorf("%w: no service signature", ErrSignature)
	}
	if net == nil {
		return nil, fmt.Errorf("%w: no network signature", ErrSignature)
	}
	err = verifyRecord(c.Signatures.Service, signedBytes(c.doc, &value{kind: jsonObject}),
		pki.ServiceDataName(c.ServiceID, network), roots, now)
	if err != nil {
		return nil, fmt.Errorf("%w: service signature: %w", ErrSignature, err)
	}
	onlyService := &value{kind: jsonObject, members: []member{{key: "service", value: svc}}}
	err = verifyRecord(c.Signatures.Network, signedBytes(c.doc, onlyService),
		pki.NetworkDataName(network), roots, now)
	if err != nil {
		return nil, fmt.Errorf("%w: network signature: %w", ErrSignature, err)
	}
	return c, nil
}

// VerifyService parses a contract and checks its service signature only:
// made by data.service-data-<sid>.<network> with the certificate chain it
// carries, verified against roots at time now, over the contract with
// "signatures" empty. A network directory calls it before it countersigns;
// whether a network signature is present is left to the caller.
func VerifyService(raw []byte, roots *x509.CertPool, network string, now time.Time) (*Contract, error) {
	c, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if c.Signatures.Service == nil {
		return nil, fmt.Errorf("%w: no service signature; sign the contract with the key of %s first",
			ErrSignature, pki.ServiceDataName(c.ServiceID, network))
	}
	err = verifyRecord(c.Signatures.Service, signedBytes(c.doc, &value{kind: jsonObject}),
		pki.ServiceDataName(c.ServiceID, network), roots, now)
	if err != nil {
		return nil, fmt.Errorf("%w: service signature: %w", ErrSignature, err)
	}
	return c, nil
}

// signedBytes returns the canonical bytes of doc with its "signatures"
// replaced by sigs.
func signedBytes(doc, sigs *value) []byte {
	return appendCanonical(nil, withMember(doc, "signatures", sigs))
}

// withMember returns a shallow copy of the object obj with member key set to v,
// appended if obj has no such member.
func withMember(obj *value, key string, v *value) *value {
	out := &value{kind: jsonObject, members: make([]member, 0, len(obj.members)+1)}
	found := false
	for _, m := range obj.members {
		if m.key == key {
			m.value, found = v, true
		}
		out.members = append(out.members, m)
	}
	if !found {
		out.members = append(out.members, member{key: key, value: v})
	}
	return out
}

// sign returns the signature record of data as a JSON value.
func sign(data []byte, s Signer, now time.Time) (*value, error) {
	if s.Key == nil || len(s.Chain) == 0 {
		return nil, errors.New("want a key and its certificate chain")
	}
	leaf := s.Chain[0]
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("the key is not the key of %s", leaf.Subject.CommonName)
	}
	digest := sha256.Sum256(data)
	sig, err := s.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", leaf.Subject.CommonName, err)
	}
	str := func(s string) *value { return &value{kind: jsonString, text: s} }
	chain := &value{kind: jsonArray}
	for _, cert := range s.Chain {
		chain.items = append(chain.items, str(base64.StdEncoding.EncodeToString(cert.Raw)))
	}
	return &value{kind: jsonObject, members: []member{
		{key: "signature", value: str(base64.StdEncoding.EncodeToString(sig))},
		{key: "hash_algorithm", value: str(HashAlgorithm)},
		{key: "timestamp", value: str(now.UTC().Format(time.RFC3339))},
		{key: "certificate", value: str(leaf.Subject.CommonName)},
		{key: "certificate_chain", value: chain},
	}}, nil
}

// verifyRecord checks that rec is a signature of data by the certificate
// wantName, chained to roots.
func verifyRecord(rec *SignatureRecord, data []byte, wantName string, roots *x509.CertPool, now time.Time) error {
	if rec.HashAlgorithm != HashAlgorithm {
		return fmt.Errorf("hash algorithm %q; want %q", rec.HashAlgorithm, HashAlgorithm)
	}
	if len(rec.CertificateChain) == 0 {
		return fmt.Errorf("no certificate_chain; want the chain of %s", wantName)
	}
	chain := make([]*x509.Certificate, 0, len(rec.CertificateChain))
	for i, enc := range rec.CertificateChain {
		der, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return fmt.Errorf("certificate_chain/%d: want base64 DER: %w", i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate_chain/%d: %w", i, err)
		}
		chain = append(chain, cert)
	}
	id, err := pki.Verify(chain, roots, now)
	if err != nil {
		return err
	}
	if id.Name != wantName || !id.Data {
		return fmt.Errorf("signed by %s; want %s", id.Name, wantName)
	}
	if rec.Certificate != id.Name {
		return fmt.Errorf("the record names certificate %q but its chain is %s", rec.Certificate, id.Name)
	}
	leaf := chain[0]
	ts, err := time.Parse(time.RFC3339, rec.Timestamp)
	if err != nil {
		return fmt.Errorf("timestamp %q: want RFC 3339", rec.Timestamp)
	}
	if ts.Before(leaf.NotBefore) || ts.After(leaf.NotAfter) || ts.After(now.Add(MaxClockSkew)) {
		return fmt.Errorf("timestamp %s is outside the validity of %s (%s to %s) or in the future",
			rec.Timestamp, id.Name, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	sig, err := base64.StdEncoding.DecodeString(rec.Signature)
	if err != nil {
		return fmt.Errorf("signature: want base64: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%s: want an ECDSA key, got %T", id.Name, leaf.PublicKey)
	}
	digest := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return errors.New("the signature does not match the contract")
	}
	return nil
}
