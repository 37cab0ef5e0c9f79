package controllers

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/pki"
)

// slot is one certificate an identity needs: a byoda name, the key it
// certifies, and where and from whom to request it.
type slot struct {
	// File is the certificate's file name without extension in the PKI
	// directory ("account", "member-data", ...).
	File string
	// Name is the certificate's byoda name.
	Name string
	Key  crypto.Signer
	Data bool
	// Namespace, Labels and Owner of the CertificateRequests.
	Namespace string
	Labels    map[string]string
	Owner     *metav1.OwnerReference
	Issuer    cmmeta.IssuerReference
	// RequestName names revision rev of the request.
	RequestName func(rev int) string
}

// held is a certificate as stored beside its key: the chain (PEM, leaf
// first, root excluded), the revision of the request it came from, and the
// network root.
type held struct {
	Chain    []byte
	Revision int
	RootCA   []byte
}

// issue is what a pass learned about one slot.
type issue struct {
	// Held is what to store: the current certificate while it is valid
	// (even during renewal), else the newly issued one, else nothing.
	Held held
	// Ready says Held is a valid certificate for the slot.
	Ready bool
	// Waiting, when not empty, says which request is outstanding and why.
	Waiting string
	// Failed says the outstanding request failed; it is retried.
	Failed bool
	// Said says the issuer has said something about the outstanding
	// request (Waiting holds it): a failure, or why it is still pending.
	Said bool
	// Next is when to look again: the renewal time, or a retry.
	Next time.Duration
	// Reason, when not empty, is the condition reason of a failure, in
	// place of RequestFailed.
	Reason string
	// Fresh says Held was signed in this pass and exists nowhere else:
	// it must be stored before the pass ends.
	Fresh bool
}

// requester obtains certificates by CertificateRequest: it sends a CSR for
// the slot's key, never the key, and keeps the certificate until two thirds
// of its lifetime have passed, when it requests the next revision.
type requester struct {
	client client.Client
	// reader reads an issued request from the API server: the cache keeps
	// its conditions but not its chain (see slim).
	reader client.Reader
	now    func() time.Time
	retry  time.Duration
}

// issue checks the certificate held for s and, when it is missing, not for
// this key and name, or due for renewal, drives the request of the next
// revision: created once, then read from the cache until the issuer
// answers, and once more from the API server for its chain.
func (r requester) issue(ctx context.Context, s slot, cur held) (issue, error) {
	now := r.now()
	var out issue
	if leaf, ok := validFor(cur.Chain, s); ok && now.Before(leaf.NotAfter) {
		out = issue{Held: cur, Ready: true}
		renewAt := specs.RenewAt(leaf.NotBefore, leaf.NotAfter)
		if now.Before(renewAt) {
			out.Next = renewAt.Sub(now)
			return out, r.forget(ctx, s, cur.Revision)
		}
	}
	rev := cur.Revision + 1
	name := s.RequestName(rev)
	key := types.NamespacedName{Namespace: s.Namespace, Name: name}
	var cr cmv1.CertificateRequest
	err := r.client.Get(ctx, key, &cr)
	if err == nil && issued(&cr) && len(cr.Status.Certificate) == 0 {
		// The cache keeps no chain of an issued request: read this one.
		cr = cmv1.CertificateRequest{}
		err = r.reader.Get(ctx, key, &cr)
	}
	if apierrors.IsNotFound(err) {
		return r.request(ctx, s, name, out)
	}
	if err != nil {
		return out, fmt.Errorf("get certificate request %s/%s: %w", s.Namespace, name, err)
	}

	ready, failed, reason := requestState(&cr)
	switch {
	case ready:
		if len(cr.Status.Certificate) == 0 {
			return r.retryFailed(ctx, s, &cr, out, "the issuer returned no certificate (status.certificate)")
		}
		chain, err := pki.ParseCertificates(cr.Status.Certificate)
		if err != nil || !matches(chain[0], s) {
			return r.retryFailed(ctx, s, &cr, out, fmt.Sprintf("it returned a certificate that is not for %s and this key", s.Name))
		}
		if len(cr.Status.CA) == 0 {
			return r.retryFailed(ctx, s, &cr, out, "the issuer returned no CA certificate (status.ca)")
		}
		leaf := chain[0]
		renewAt := specs.RenewAt(leaf.NotBefore, leaf.NotAfter)
		return issue{
			Held:  held{Chain: cr.Status.Certificate, Revision: rev, RootCA: cr.Status.CA},
			Ready: true,
			Next:  max(renewAt.Sub(now), time.Second),
		}, nil
	case failed:
		return r.retryFailed(ctx, s, &cr, out, reason)
	}
	out.Waiting = waitingFor(s, name, reason)
	out.Said = reason != ""
	out.Next = r.retry
	return out, nil
}

// request creates the CertificateRequest name for s.
func (r requester) request(ctx context.Context, s slot, name string, out issue) (issue, error) {
	csr, err := pki.CreateCSR(s.Key, s.Name)
	if err != nil {
		return out, err
	}
	cr := specs.CertificateRequest(specs.Request{
		Name: name, Namespace: s.Namespace, Labels: s.Labels, Owner: s.Owner,
		Issuer: s.Issuer, CSR: pki.EncodeCSR(csr), Data: s.Data,
	})
	if err := r.client.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
		return out, fmt.Errorf("create certificate request %s/%s: %w", s.Namespace, name, err)
	}
	out.Waiting = waitingFor(s, name, "")
	out.Next = r.retry
	return out, nil
}

// waitingFor says which request is outstanding and, once the issuer has
// said something, what. The message stays the same while nothing happens,
// so that waiting does not rewrite the status.
func waitingFor(s slot, request, reason string) string {
	msg := fmt.Sprintf("Waiting for %s %s to sign %s (CertificateRequest %s/%s)",
		s.Issuer.Kind, s.Issuer.Name, s.Name, s.Namespace, request)
	if reason != "" {
		msg += ": " + reason
	}
	return msg
}

// retryFailed reports a failed request and deletes it once it has failed for
// the retry interval, so that the next pass asks again with a fresh CSR.
func (r requester) retryFailed(ctx context.Context, s slot, cr *cmv1.CertificateRequest, out issue, reason string) (issue, error) {
	out.Failed, out.Said = true, true
	out.Waiting = fmt.Sprintf("CertificateRequest %s/%s for %s failed: %s", cr.Namespace, cr.Name, s.Name, reason)
	since := cr.CreationTimestamp.Time
	if c := requestCondition(cr, cmv1.CertificateRequestConditionReady); c != nil && c.LastTransitionTime != nil {
		since = c.LastTransitionTime.Time
	}
	wait := r.retry - r.now().Sub(since)
	if wait > 0 {
		out.Next = wait
		return out, nil
	}
	if err := r.client.Delete(ctx, cr, client.Preconditions{UID: &cr.UID}); err != nil && !apierrors.IsNotFound(err) {
		return out, fmt.Errorf("delete failed certificate request %s/%s: %w", cr.Namespace, cr.Name, err)
	}
	out.Next = time.Second
	return out, nil
}

// forget deletes the requests of the revisions before rev once the
// certificate of rev is stored beside its key, and keeps rev's, as
// cert-manager keeps one request per Certificate (revisionHistoryLimit 1).
// At renewal the previous request goes as soon as the new certificate is
// stored. Keeping the request in use is cheap: the cache holds only its
// metadata and conditions (slim drops its spec and, once it is issued, its
// chain), a pass that finds the certificate stored never reads it, and not
// deleting it saves a write per certificate issued. It still costs
// cert-manager's self-signed request controller, which walks every request
// of a namespace on every Secret event there; a large installation runs
// cert-manager without that controller (docs/operator.md).
//
// Revisions below rev-1 remain only when renewals followed each other with
// no settled pass between, or a pass was interrupted: they are found by name
// in the cache down to the first one that is gone, and deleted oldest first,
// so that an interruption leaves no request behind a gap.
func (r requester) forget(ctx context.Context, s slot, rev int) error {
	var old []cmv1.CertificateRequest
	for rev := rev - 1; rev >= 1; rev-- {
		name := s.RequestName(rev)
		var cr cmv1.CertificateRequest
		err := r.client.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: name}, &cr)
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("get certificate request %s/%s: %w", s.Namespace, name, err)
		}
		old = append(old, cr)
	}
	for i := len(old) - 1; i >= 0; i-- {
		cr := &old[i]
		if err := r.client.Delete(ctx, cr, client.Preconditions{UID: &cr.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete replaced certificate request %s/%s: %w", cr.Namespace, cr.Name, err)
		}
	}
	return nil
}

// validFor returns the leaf of chain when it is a certificate for s's name
// and key.
func validFor(chain []byte, s slot) (*x509.Certificate, bool) {
	if len(chain) == 0 {
		return nil, false
	}
	certs, err := pki.ParseCertificates(chain)
	if err != nil || !matches(certs[0], s) {
		return nil, false
	}
	return certs[0], true
}

// matches reports whether leaf names s and certifies its key.
func matches(leaf *x509.Certificate, s slot) bool {
	if leaf.Subject.CommonName != s.Name {
		return false
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(leaf.PublicKey)
}

// requestState reads a CertificateRequest's conditions: issued, failed for
// good (denied, invalid or failed), or pending with the issuer's reason.
func requestState(cr *cmv1.CertificateRequest) (ready, failed bool, reason string) {
	if c := requestCondition(cr, cmv1.CertificateRequestConditionDenied); c != nil && c.Status == cmmeta.ConditionTrue {
		return false, true, "denied: " + c.Message
	}
	if c := requestCondition(cr, cmv1.CertificateRequestConditionInvalidRequest); c != nil && c.Status == cmmeta.ConditionTrue {
		return false, true, "invalid: " + c.Message
	}
	c := requestCondition(cr, cmv1.CertificateRequestConditionReady)
	switch {
	case c == nil:
		return false, false, ""
	case c.Status == cmmeta.ConditionTrue:
		return true, false, ""
	case c.Reason == cmv1.CertificateRequestReasonFailed:
		return false, true, c.Message
	}
	return false, false, c.Reason + ": " + c.Message
}

// issued reports whether the issuer has answered cr (Ready=True). The
// cache strips the chain of such a request (slim).
func issued(cr *cmv1.CertificateRequest) bool {
	c := requestCondition(cr, cmv1.CertificateRequestConditionReady)
	return c != nil && c.Status == cmmeta.ConditionTrue
}

func requestCondition(cr *cmv1.CertificateRequest, typ cmv1.CertificateRequestConditionType) *cmv1.CertificateRequestCondition {
	for i := range cr.Status.Conditions {
		if cr.Status.Conditions[i].Type == typ {
			return &cr.Status.Conditions[i]
		}
	}
	return nil
}

// pending describes certificates that are not all issued yet: the reason
// and a message that stays the same while the issuer has nothing to say,
// so that waiting does not rewrite the status.
func pending(slots []slot, results []issue) (reason, message string) {
	reason = byodav1alpha1.ReasonRequestPending
	var said, names []string
	for i, r := range results {
		names = append(names, slots[i].Name)
		if r.Failed && reason == byodav1alpha1.ReasonRequestPending {
			reason = r.Reason
			if reason == "" {
				reason = byodav1alpha1.ReasonRequestFailed
			}
		}
		if !r.Ready && r.Said {
			said = append(said, r.Waiting)
		}
	}
	if len(said) > 0 {
		return reason, strings.Join(said, "; ")
	}
	iss := slots[0].Issuer
	return reason, fmt.Sprintf("Waiting for %s %s to sign %s", iss.Kind, iss.Name, strings.Join(names, " and "))
}

// heldFrom reads the certificate stored under file+".crt" in data, with its
// revision from the Secret's annotations.
func heldFrom(data map[string][]byte, annotations map[string]string, file string, rootCA []byte) held {
	rev, _ := strconv.Atoi(annotations[specs.AnnotationRevision+file])
	return held{Chain: data[file+".crt"], Revision: rev, RootCA: rootCA}
}
