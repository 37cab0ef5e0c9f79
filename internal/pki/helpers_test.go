package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

const testNet = "byoda.test"

// t0 is the injected clock of every test.
var t0 = time.Date(2030, time.March, 1, 12, 0, 0, 0, time.UTC)

// network is an in-memory hierarchy: the network CAs, and services 7 and 8
// with their CAs.
type network struct {
	name     string
	root     *pki.CA
	accounts *pki.CA
	services *pki.CA
	service  map[uint32]*pki.CA
	members  map[uint32]*pki.CA
	apps     map[uint32]*pki.CA
	roots    *x509.CertPool
	netData  *pki.KeyPair
	svcData  map[uint32]*pki.KeyPair
	svcTLS   map[uint32]*pki.KeyPair
	allCAs   []*pki.CA
	byCAName map[string]*pki.CA
}

func newNetwork(tb testing.TB, name string) *network {
	tb.Helper()
	n := &network{
		name:     name,
		service:  map[uint32]*pki.CA{},
		members:  map[uint32]*pki.CA{},
		apps:     map[uint32]*pki.CA{},
		svcData:  map[uint32]*pki.KeyPair{},
		svcTLS:   map[uint32]*pki.KeyPair{},
		byCAName: map[string]*pki.CA{},
	}
	var err error
	if n.root, err = pki.NewRootCA(name, t0); err != nil {
		tb.Fatal(err)
	}
	n.roots = x509.NewCertPool()
	n.roots.AddCert(n.root.Certificate())
	n.accounts = subCA(tb, n.root, pki.AccountsCAName(name))
	n.services = subCA(tb, n.root, pki.ServicesCAName(name))
	n.netData = issue(tb, n.root, pki.NetworkDataName(name))
	n.allCAs = []*pki.CA{n.root, n.accounts, n.services}
	for _, sid := range []uint32{7, 8} {
		n.service[sid] = subCA(tb, n.services, pki.ServiceCAName(sid, name))
		n.members[sid] = subCA(tb, n.service[sid], pki.MembersCAName(sid, name))
		n.apps[sid] = subCA(tb, n.service[sid], pki.AppsCAName(sid, name))
		n.svcData[sid] = issue(tb, n.service[sid], pki.ServiceDataName(sid, name))
		n.svcTLS[sid] = issue(tb, n.service[sid], pki.ServiceName(sid, name))
		n.allCAs = append(n.allCAs, n.service[sid], n.members[sid], n.apps[sid])
	}
	for _, ca := range n.allCAs {
		n.byCAName[ca.Subject().Name()] = ca
	}
	return n
}

func issue(tb testing.TB, ca *pki.CA, name string) *pki.KeyPair {
	tb.Helper()
	kp, err := ca.Issue(name, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return kp
}

func subCA(tb testing.TB, parent *pki.CA, name string) *pki.CA {
	tb.Helper()
	ca, err := pki.NewCA(issue(tb, parent, name))
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// rawCert signs t with parentKey using crypto/x509 directly, bypassing every
// byoda policy, the way an attacker holding a CA key (or a buggy signer)
// could. A nil parent self-signs.
func rawCert(tb testing.TB, t *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := pki.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = t, key
	}
	t.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, t, parent, key.Public(), parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

// rawCA is a CA template with no path length or name constraint.
func rawCA(name string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            -1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
}

// rawLeaf is a TLS leaf template as the byoda CAs issue it.
func rawLeaf(name string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             t0.Add(-time.Hour),
		NotAfter:              t0.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}

// x509Accepts reports whether crypto/x509 alone accepts chain, which shows
// that a refusal by pki.Verify comes from its own checks.
func x509Accepts(chain []*x509.Certificate, roots *x509.CertPool) bool {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err == nil
}

// rogueNetwork is a hierarchy for testNet built with crypto/x509 alone: the
// right names, but no path length and no name constraint anywhere, as if
// every byoda signer had been bypassed.
type rogueNetwork struct {
	roots   *x509.CertPool
	mca7    *x509.Certificate
	mca7Key *ecdsa.PrivateKey
	chain   []*x509.Certificate // members CA of 7 up to the services CA
}

func newRogueNetwork(tb testing.TB) *rogueNetwork {
	tb.Helper()
	root, rootKey := rawCert(tb, rawCA(pki.RootCAName(testNet)), nil, nil)
	services, servicesKey := rawCert(tb, rawCA(pki.ServicesCAName(testNet)), root, rootKey)
	sca, scaKey := rawCert(tb, rawCA(pki.ServiceCAName(7, testNet)), services, servicesKey)
	mca, mcaKey := rawCert(tb, rawCA(pki.MembersCAName(7, testNet)), sca, scaKey)
	r := &rogueNetwork{roots: x509.NewCertPool(), mca7: mca, mca7Key: mcaKey,
		chain: []*x509.Certificate{mca, sca, services}}
	r.roots.AddCert(root)
	return r
}
