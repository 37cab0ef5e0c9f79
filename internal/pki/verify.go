package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrUntrusted is returned (wrapped) by Verify for every chain it refuses.
var ErrUntrusted = errors.New("untrusted certificate")

// Identity is who a verified certificate chain says its holder is.
type Identity struct {
	Role      Role
	ID        string // account, member or app UUID; "" for services and the network
	ServiceID uint32 // for members, apps and services; else 0
	Network   string
	Data      bool   // a data-signing certificate rather than a TLS one
	Name      string // the certificate's name, as ParseName accepts it
}

// Subject returns the identity as a parsed name.
func (id *Identity) Subject() (Subject, error) { return ParseName(id.Name) }

// Verify checks chain (leaf first, as sent by a TLS peer or stored beside a
// signature) against roots at time now and returns who the leaf belongs to.
// Besides the checks of crypto/x509 it requires that the leaf is a byoda leaf
// name, that every certificate above it is exactly the CA the hierarchy puts
// there (a member of service 8 must be signed by members-ca.members-ca-8.<net>,
// under service-ca.service-ca-8.<net>, under the services CA, under the root of
// the same network), that keys are ECDSA P-256 and that key usages fit the
// kind. Identity is derived from this chain only.
func Verify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) (*Identity, error) {
	id, err := verify(chain, roots, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return id, nil
}

func verify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) (*Identity, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	if roots == nil {
		// crypto/x509 would fall back to the system roots.
		return nil, errors.New("no root pool")
	}
	leaf := chain[0]
	s, err := ParseName(leaf.Subject.CommonName)
	if err != nil {
		return nil, err
	}
	if s.Kind.IsCA() || leaf.IsCA {
		return nil, fmt.Errorf("%s is a CA certificate, not an identity", s.Name())
	}
	if !slices.Equal(leaf.DNSNames, []string{s.Name()}) {
		return nil, fmt.Errorf("%s: DNS names %q differ from the common name", s.Name(), leaf.DNSNames)
	}
	if err := checkLeafUsage(leaf, s); err != nil {
		return nil, err
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	paths, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, // checked by kind above
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	// crypto/x509 may find several paths; one that follows the hierarchy is
	// enough, since every path it returns is cryptographically sound.
	var pathErr error
	for _, p := range paths {
		if pathErr = checkPath(s, p); pathErr == nil {
			return &Identity{
				Role:      s.Kind.Role(),
				ID:        s.ID,
				ServiceID: s.ServiceID,
				Network:   s.Network,
				Data:      s.Kind.IsData(),
				Name:      s.Name(),
			}, nil
		}
	}
	return nil, pathErr
}

// checkLeafUsage refuses a TLS certificate used as a data certificate and the
// other way round, and keys other than P-256.
func checkLeafUsage(leaf *x509.Certificate, s Subject) error {
	if err := checkKey(leaf.PublicKey); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%s: key usage lacks digital signature", s.Name())
	}
	tlsUsage := slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) ||
		slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny)
	if s.Kind.IsData() {
		if tlsUsage {
			return fmt.Errorf("%s: a data certificate must not allow TLS authentication", s.Name())
		}
		return nil
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return fmt.Errorf("%s: a TLS certificate needs both server and client authentication usages", s.Name())
	}
	return nil
}

// checkPath checks that the verified path (leaf first, root last) climbs the
// hierarchy of issuerOf exactly, whatever the CAs that signed it allowed.
func checkPath(leaf Subject, path []*x509.Certificate) error {
	cur := leaf
	for i, c := range path[1:] {
		want := issuerOf(cur)
		if c.Subject.CommonName != want.Name() {
			return fmt.Errorf("%s must be signed by %s, not by %q", cur.Name(), want.Name(), c.Subject.CommonName)
		}
		if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("%s is not a CA certificate", want.Name())
		}
		if err := checkKey(c.PublicKey); err != nil {
			return fmt.Errorf("%s: %w", want.Name(), err)
		}
		if want.Kind == KindRootCA {
			if i != len(path)-2 {
				return fmt.Errorf("%s has certificates above the root", leaf.Name())
			}
			return nil
		}
		cur = want
	}
	return fmt.Errorf("%s: chain ends at %s, below the root", leaf.Name(), cur.Name())
}

// Verifier verifies peers of one network. Servers use it from
// tls.Config.VerifyConnection and to learn who a request comes from.
type Verifier struct {
	// Roots holds the network's root CA.
	Roots *x509.CertPool
	// Network is the only network accepted; "" accepts any network whose
	// root is in Roots.
	Network string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verify is the package Verify plus the network check.
func (v *Verifier) Verify(chain []*x509.Certificate) (*Identity, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	id, err := Verify(chain, v.Roots, now())
	if err != nil {
		return nil, err
	}
	if v.Network != "" && id.Network != v.Network {
		return nil, fmt.Errorf("%w: %s belongs to network %q, not %q", ErrUntrusted, id.Name, id.Network, v.Network)
	}
	return id, nil
}

// PeerIdentity returns who the TLS peer of cs is; a handler passes r.TLS. It
// refuses a connection without TLS or without a peer certificate, and data
// certificates, which are not for TLS.
func (v *Verifier) PeerIdentity(cs *tls.ConnectionState) (*Identity, error) {
	if cs == nil {
		return nil, fmt.Errorf("%w: not a TLS connection", ErrUntrusted)
	}
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%w: the peer sent no certificate", ErrUntrusted)
	}
	id, err := v.Verify(cs.PeerCertificates)
	if err != nil {
		return nil, err
	}
	if id.Data {
		return nil, fmt.Errorf("%w: %s is a data certificate, not for TLS", ErrUntrusted, id.Name)
	}
	return id, nil
}

// VerifyConnection has the signature of tls.Config.VerifyConnection: it fails
// the handshake unless the peer is a byoda TLS identity of the network.
func (v *Verifier) VerifyConnection(cs tls.ConnectionState) error {
	_, err := v.PeerIdentity(&cs)
	return err
}
