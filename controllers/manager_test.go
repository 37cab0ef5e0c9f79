package controllers

import (
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSlimCertificateRequests: the cache keeps of a request its metadata
// and conditions, and the chain only until it is issued.
func TestSlimCertificateRequests(t *testing.T) {
	request := func(ready cmmeta.ConditionStatus, reason string) *cmv1.CertificateRequest {
		return &cmv1.CertificateRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-account-1", Namespace: "people", Labels: map[string]string{"app": "x"}},
			Spec: cmv1.CertificateRequestSpec{Request: []byte("CSR"), Usages: []cmv1.KeyUsage{cmv1.UsageDigitalSignature},
				IssuerRef: cmmeta.IssuerReference{Name: "accounts"}, Groups: []string{"system:masters"}},
			Status: cmv1.CertificateRequestStatus{
				Conditions:  []cmv1.CertificateRequestCondition{{Type: cmv1.CertificateRequestConditionReady, Status: ready, Reason: reason}},
				Certificate: []byte("CHAIN"), CA: []byte("ROOT"),
			},
		}
	}
	slimmed := func(cr *cmv1.CertificateRequest) *cmv1.CertificateRequest {
		out, err := slim(func(o any) (any, error) { return o, nil })(cr)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*cmv1.CertificateRequest)
	}

	got := slimmed(request(cmmeta.ConditionTrue, cmv1.CertificateRequestReasonIssued))
	if got.Status.Certificate != nil || got.Status.CA != nil {
		t.Errorf("an issued request keeps its chain in the cache: %q %q", got.Status.Certificate, got.Status.CA)
	}
	if !issued(got) || got.Name != "alice-account-1" || got.Labels["app"] != "x" {
		t.Errorf("an issued request loses its metadata or conditions: %+v", got)
	}
	if got.Spec.Request != nil || got.Spec.Usages != nil || got.Spec.Groups != nil {
		t.Errorf("a cached request keeps its spec: %+v", got.Spec)
	}

	// Only an issued request is known to have its chain elsewhere.
	pending := slimmed(request(cmmeta.ConditionFalse, cmv1.CertificateRequestReasonPending))
	if string(pending.Status.Certificate) != "CHAIN" || string(pending.Status.CA) != "ROOT" {
		t.Errorf("a request that is not issued lost status.certificate or status.ca")
	}
}
