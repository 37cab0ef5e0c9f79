package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/pki"
)

// signer is the port through which the operator has the certificate of a
// key signed: it sends a CSR for the slot's key, never the key, and keeps
// the certificate until two thirds of its lifetime have passed. It has two
// adapters: requester, a cert-manager CertificateRequest against an issuer
// in this cluster (an account's accounts CA, a Service's members CA), and
// directorySigner, the REST API of a remote service's directory.
// MembershipReconciler.signer picks one for a membership.
type signer interface {
	// issue returns what is known of the certificate of s, cur being the
	// one stored beside its key, and has it signed when it is missing,
	// not for s's name and key, or due for renewal.
	issue(ctx context.Context, s slot, cur held) (issue, error)
}

var (
	_ signer = requester{}
	_ signer = (*directorySigner)(nil)
)

// directoryTimeout bounds each request to a remote service's directory, so
// that one that does not answer holds a reconcile worker no longer.
const directoryTimeout = 10 * time.Second

// remoteService is a service run elsewhere, reached through its directory
// over HTTPS. The directory is trusted only once it proves, with its TLS
// certificate, that it is the service: service.service-<sid>.<network>,
// issued under the network's root, whatever host the URL names.
type remoteService struct {
	sid     uint32
	network string
	url     string
	root    *x509.Certificate
}

// client returns a client of the directory, authenticated with cert when
// it is not nil.
func (rs *remoteService) client(cert *tls.Certificate) (*client.Client, error) {
	roots := x509.NewCertPool()
	roots.AddCert(rs.root)
	return client.New(rs.url, client.Options{
		Roots:       roots,
		ServerName:  pki.ServiceName(rs.sid, rs.network),
		Certificate: cert,
		Timeout:     directoryTimeout,
	})
}

// directoryProblem returns the condition reason for an error of a call to
// a remote service's directory: it refused (an answer in the 4xx range),
// or it did not answer as the service.
func directoryProblem(err error) string {
	if s := client.StatusOf(err); s >= 400 && s < 500 {
		return byodav1alpha1.ReasonDirectoryRefused
	}
	return byodav1alpha1.ReasonDirectoryUnreachable
}

// directorySigner is the REST adapter of signer: it sends a membership's
// CSRs to the directory of a remote service (POST /api/v1/service/member).
// A new member registers anonymously (first come); renewals and the
// member-data certificate are asked for with the member's own TLS
// certificate, which the signer learns from the TLS slot. So a pass issues
// the TLS slot before the data slot, and uses a signer of its own.
//
// What the directory returns is checked before it is used: the certificate
// must be for the slot's name and key and verify under the network root.
// Unlike a CertificateRequest, which keeps what it was issued, a signed
// certificate exists only in the answer: issue marks it Fresh, and the
// reconciler stores it at once.
type directorySigner struct {
	svc   *remoteService
	now   func() time.Time
	retry time.Duration
	// member is the member's TLS certificate and key, once known.
	member *tls.Certificate
}

func (d *directorySigner) issue(ctx context.Context, s slot, cur held) (issue, error) {
	now := d.now()
	var out issue
	if leaf, ok := validFor(cur.Chain, s); ok && now.Before(leaf.NotAfter) {
		out = issue{Held: cur, Ready: true}
		d.learn(s, cur.Chain)
		if renewAt := specs.RenewAt(leaf.NotBefore, leaf.NotAfter); now.Before(renewAt) {
			out.Next = renewAt.Sub(now)
			return out, nil
		}
	}
	var auth *tls.Certificate
	if s.Data || out.Ready {
		if d.member == nil {
			out.Waiting = fmt.Sprintf("Waiting for the member's TLS certificate, with which the directory at %s is asked to sign %s",
				d.svc.url, s.Name)
			out.Said, out.Next = true, d.retry
			return out, nil
		}
		auth = d.member
	}
	csr, err := pki.CreateCSR(s.Key, s.Name)
	if err != nil {
		return out, err
	}
	c, err := d.svc.client(auth)
	if err != nil {
		return out, fmt.Errorf("service %d: %w", d.svc.sid, err)
	}
	defer c.Close()
	signed, err := c.MemberCSR(ctx, csr)
	if err != nil {
		msg := err.Error()
		if client.StatusOf(err) == http.StatusConflict && auth == nil {
			msg += "; the directory registered this member before, but no certificate of it was stored: " +
				"delete the Membership and its key Secret to join as a new member"
		}
		return d.failed(out, s, directoryProblem(err), msg), nil
	}
	chain, err := d.check(s, signed, now)
	if err != nil {
		return d.failed(out, s, byodav1alpha1.ReasonDirectoryRefused, err.Error()), nil
	}
	d.learn(s, chain)
	leaf := signed.Chain[0]
	return issue{
		Held:  held{Chain: chain, Revision: cur.Revision + 1, RootCA: pki.EncodeCertificates(d.svc.root)},
		Ready: true,
		Fresh: true,
		Next:  max(specs.RenewAt(leaf.NotBefore, leaf.NotAfter).Sub(now), time.Second),
	}, nil
}

// check verifies what the directory signed: a certificate of s's name and
// key that chains to the network root, and returns the chain as PEM.
func (d *directorySigner) check(s slot, signed *client.Signed, now time.Time) ([]byte, error) {
	if len(signed.Chain) == 0 || !matches(signed.Chain[0], s) {
		return nil, fmt.Errorf("the directory at %s returned a certificate that is not for %s and this key", d.svc.url, s.Name)
	}
	if signed.Root == nil || !signed.Root.Equal(d.svc.root) {
		return nil, fmt.Errorf("the directory at %s names a network root other than the DataPod's", d.svc.url)
	}
	roots := x509.NewCertPool()
	roots.AddCert(d.svc.root)
	id, err := pki.Verify(signed.Chain, roots, now)
	if err != nil {
		return nil, fmt.Errorf("the certificate the directory at %s returned for %s does not verify: %w", d.svc.url, s.Name, err)
	}
	if id.Name != s.Name || id.Data != s.Data {
		return nil, fmt.Errorf("the directory at %s returned a certificate of %s, not of %s", d.svc.url, id.Name, s.Name)
	}
	return pki.EncodeCertificates(signed.Chain...), nil
}

// failed reports a refused or failed signing; the slot is asked again
// after the retry interval, and a certificate that is still valid is kept.
func (d *directorySigner) failed(out issue, s slot, reason, msg string) issue {
	out.Failed, out.Said, out.Reason = true, true, reason
	out.Waiting = fmt.Sprintf("The directory at %s did not sign %s: %s", d.svc.url, s.Name, msg)
	out.Next = d.retry
	return out
}

// learn keeps the member's TLS certificate, which authenticates the
// member to the directory.
func (d *directorySigner) learn(s slot, chainPEM []byte) {
	if s.Data {
		return
	}
	chain, err := pki.ParseCertificates(chainPEM)
	if err != nil {
		return
	}
	cert := &tls.Certificate{PrivateKey: s.Key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	d.member = cert
}
