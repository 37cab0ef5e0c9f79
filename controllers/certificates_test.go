package controllers

import (
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/internal/pki"
)

func TestRequestState(t *testing.T) {
	cond := func(typ cmv1.CertificateRequestConditionType, status cmmeta.ConditionStatus, reason, msg string) cmv1.CertificateRequestCondition {
		return cmv1.CertificateRequestCondition{Type: typ, Status: status, Reason: reason, Message: msg}
	}
	for _, tc := range []struct {
		name          string
		conds         []cmv1.CertificateRequestCondition
		cert          []byte
		ready, failed bool
		reason        string
	}{
		{name: "new"},
		{name: "approved", conds: []cmv1.CertificateRequestCondition{cond(cmv1.CertificateRequestConditionApproved, cmmeta.ConditionTrue, "cert-manager.io", "")}},
		{name: "issued", cert: []byte("x"), ready: true, conds: []cmv1.CertificateRequestCondition{
			cond(cmv1.CertificateRequestConditionReady, cmmeta.ConditionTrue, cmv1.CertificateRequestReasonIssued, "")}},
		// As cached: the chain of an issued request is not kept.
		{name: "issued, chain not cached", ready: true, conds: []cmv1.CertificateRequestCondition{
			cond(cmv1.CertificateRequestConditionReady, cmmeta.ConditionTrue, cmv1.CertificateRequestReasonIssued, "")}},
		{name: "pending", reason: "Pending: Referenced issuer not found", conds: []cmv1.CertificateRequestCondition{
			cond(cmv1.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmv1.CertificateRequestReasonPending, "Referenced issuer not found")}},
		{name: "failed", failed: true, reason: "bad CSR", conds: []cmv1.CertificateRequestCondition{
			cond(cmv1.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmv1.CertificateRequestReasonFailed, "bad CSR")}},
		{name: "denied", failed: true, reason: "denied: no", conds: []cmv1.CertificateRequestCondition{
			cond(cmv1.CertificateRequestConditionDenied, cmmeta.ConditionTrue, "Denied", "no")}},
	} {
		cr := &cmv1.CertificateRequest{Status: cmv1.CertificateRequestStatus{Conditions: tc.conds, Certificate: tc.cert}}
		ready, failed, reason := requestState(cr)
		if ready != tc.ready || failed != tc.failed || reason != tc.reason {
			t.Errorf("%s: got %v %v %q, want %v %v %q", tc.name, ready, failed, reason, tc.ready, tc.failed, tc.reason)
		}
	}
}

func TestValidFor(t *testing.T) {
	now := time.Now()
	root, err := pki.NewRootCA("byoda.test", now)
	if err != nil {
		t.Fatal(err)
	}
	accountsKP, err := root.Issue(pki.AccountsCAName("byoda.test"), now)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := pki.NewCA(accountsKP)
	if err != nil {
		t.Fatal(err)
	}
	aid := uuid.New()
	name := pki.AccountName(aid, "byoda.test")
	kp, err := accounts.Issue(name, now)
	if err != nil {
		t.Fatal(err)
	}
	chain := pki.EncodeCertificates(kp.Chain...)
	other, _ := pki.GenerateKey()
	if _, ok := validFor(chain, slot{Name: name, Key: kp.Key}); !ok {
		t.Error("a chain for the slot's name and key is not valid for it")
	}
	if _, ok := validFor(chain, slot{Name: name, Key: other}); ok {
		t.Error("a chain for another key is valid")
	}
	if _, ok := validFor(chain, slot{Name: pki.AccountName(uuid.New(), "byoda.test"), Key: kp.Key}); ok {
		t.Error("a chain for another name is valid")
	}
	if _, ok := validFor(nil, slot{Name: name, Key: kp.Key}); ok {
		t.Error("no chain is valid")
	}
}

func TestPendingMessageIsStable(t *testing.T) {
	slots := []slot{
		{Name: "a.accounts.byoda.test", Issuer: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "accounts"}},
		{Name: "a.account-data.byoda.test", Issuer: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "accounts"}},
	}
	// Whichever request is answered first, the message stays the same while
	// the issuer says nothing: waiting must not rewrite the status.
	_, both := pending(slots, []issue{{Waiting: "x"}, {Waiting: "y"}})
	_, one := pending(slots, []issue{{Ready: true}, {Waiting: "y"}})
	if both != one {
		t.Errorf("message changes while waiting: %q then %q", both, one)
	}
	reason, msg := pending(slots, []issue{{Ready: true}, {Waiting: "request failed: bad", Failed: true, Said: true}})
	if reason != byodav1alpha1.ReasonRequestFailed || !strings.Contains(msg, "bad") {
		t.Errorf("failure: %s %q", reason, msg)
	}
}

func TestConditionsKeepTransitionTime(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	current := []metav1.Condition{{Type: byodav1alpha1.ConditionDNSReady, Status: metav1.ConditionTrue, Reason: "Published", LastTransitionTime: then}}
	c := newConditions(current, 2, time.Now())
	c.set(byodav1alpha1.ConditionDNSReady, true, "Published", "again")
	c.set(byodav1alpha1.ConditionStorageReady, false, "CredentialsNotFound", "missing")
	c.setReady([]string{byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionStorageReady}, "", "")
	for _, cond := range c.list {
		switch cond.Type {
		case byodav1alpha1.ConditionDNSReady:
			if !cond.LastTransitionTime.Equal(&then) || cond.ObservedGeneration != 2 {
				t.Errorf("DNSReady: %+v", cond)
			}
		case byodav1alpha1.ConditionReady:
			if cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "StorageReady: missing") {
				t.Errorf("Ready: %+v", cond)
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{NetworkDomain: "byoda.test", AccountsIssuer: "a", ServicesIssuer: "s", Image: "i", MaxConcurrentReconciles: 1}
	if err := o.Validate(); err != nil || o.RetryInterval != 30*time.Second {
		t.Errorf("valid options: %v, retry %s", err, o.RetryInterval)
	}
	bad := Options{NetworkDomain: "Not A Domain"}
	err := bad.Validate()
	for _, want := range []string{"network domain", "accounts issuer", "services issuer", "image", "max concurrent reconciles"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invalid options: error %v does not mention %s", err, want)
		}
	}
}
