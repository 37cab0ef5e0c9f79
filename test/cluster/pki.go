package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The identities of the node's components: the user each client certificate
// names, and the groups it is in. RBAC's default bindings grant these names the
// rights each component needs.
type identity struct {
	file   string
	user   string
	groups []string
}

var (
	adminID      = identity{file: "admin", user: "byoda-cluster-admin", groups: []string{"system:masters"}}
	kcmID        = identity{file: "kube-controller-manager", user: "system:kube-controller-manager"}
	schedulerID  = identity{file: "kube-scheduler", user: "system:kube-scheduler"}
	proxyID      = identity{file: "kube-proxy", user: "system:kube-proxy"}
	apiKubeletID = identity{file: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}}
)

func kubeletID(node string) identity {
	return identity{file: "kubelet", user: "system:node:" + node, groups: []string{"system:nodes"}}
}

// pki is the node's certificate authority and the files it issued, all under
// dir: <name>.crt and <name>.key in PEM.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	now    time.Time
}

func newPKI(dir string, now time.Time) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "byoda test cluster CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p := &pki{dir: dir, caKey: key, now: now}
	der, err := p.sign(tmpl, key.Public(), nil)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("parse ca: %w", err)
	}
	if err := p.write("ca", der, key); err != nil {
		return nil, err
	}
	return p, nil
}

// sign issues tmpl for pub, self-signed when the CA does not exist yet.
func (p *pki) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, p.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// issue writes <name>.crt and <name>.key: a leaf certificate for a client,
// a server, or both, valid for the given names.
func (p *pki) issue(name, cn string, orgs []string, usages []x509.ExtKeyUsage, ips []net.IP, dnsNames []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:   p.now.Add(-time.Hour),
		NotAfter:    p.now.Add(30 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usages,
		IPAddresses: ips,
		DNSNames:    dnsNames,
	}
	der, err := p.sign(tmpl, key.Public(), p.caCert)
	if err != nil {
		return err
	}
	return p.write(name, der, key)
}

func (p *pki) client(id identity) error {
	return p.issue(id.file, id.user, id.groups, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
}

func (p *pki) server(name string, ips []net.IP, dnsNames []string) error {
	return p.issue(name, name, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ips, dnsNames)
}

// serviceAccountKey writes sa.key and sa.pub, the key pair the API server signs
// and verifies service account tokens with.
func (p *pki) serviceAccountKey() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	if err := p.writeKey("sa", key); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encode service account public key: %w", err)
	}
	return writePEM(p.path("sa.pub"), "PUBLIC KEY", pub)
}

func (p *pki) write(name string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writePEM(p.path(name+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return p.writeKey(name, key)
}

func (p *pki) writeKey(name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", name, err)
	}
	return writePEM(p.path(name+".key"), "EC PRIVATE KEY", der)
}

func (p *pki) path(file string) string { return filepath.Join(p.dir, file) }

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// kubeconfig writes <dir>/<id.file>.kubeconfig for id's client certificate,
// embedding the certificates so the file stands alone.
func (p *pki) kubeconfig(dir, server string, id identity) (string, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(p.path(name)) }
	ca, err := read("ca.crt")
	if err != nil {
		return "", err
	}
	cert, err := read(id.file + ".crt")
	if err != nil {
		return "", err
	}
	key, err := read(id.file + ".key")
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["byoda"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[id.user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["byoda"] = &clientcmdapi.Context{Cluster: "byoda", AuthInfo: id.user}
	cfg.CurrentContext = "byoda"
	path := filepath.Join(dir, id.file+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("write kubeconfig %s: %w", id.file, err)
	}
	return path, nil
}
