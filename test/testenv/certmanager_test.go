package testenv

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCertManagerIssuesFromCA runs the chain a byoda Service builds: a
// selfSigned Issuer signs a CA Certificate, a CA Issuer uses its Secret, and
// that Issuer signs a leaf which verifies against the CA.
func TestCertManagerIssuesFromCA(t *testing.T) {
	t.Parallel()
	k := sharedKube(t)
	StartCertManager(t, k)
	ns := k.CreateNamespace(t, "certmanager")
	ctx := t.Context()
	const timeout = 30 * time.Second

	create := func(obj client.Object) {
		t.Helper()
		if err := k.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	ecdsa := &cmv1.CertificatePrivateKey{Algorithm: cmv1.ECDSAKeyAlgorithm, Size: 256}

	create(&cmv1.Issuer{
		ObjectMeta: metav1.ObjectMeta{Name: "selfsigned", Namespace: ns},
		Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{SelfSigned: &cmv1.SelfSignedIssuer{}}},
	})
	create(&cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns},
		Spec: cmv1.CertificateSpec{
			IsCA:       true,
			CommonName: "test-ca.byoda.test",
			SecretName: "ca",
			PrivateKey: ecdsa,
			IssuerRef:  cmmeta.IssuerReference{Kind: cmv1.IssuerKind, Name: "selfsigned"},
		},
	})
	WaitCertificateReady(t, k, ns, "ca", timeout)

	create(&cmv1.Issuer{
		ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: ns},
		Spec:       cmv1.IssuerSpec{IssuerConfig: cmv1.IssuerConfig{CA: &cmv1.CAIssuer{SecretName: "ca"}}},
	})
	WaitIssuerReady(t, k, ns, "ca", timeout)
	create(&cmv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: "leaf", Namespace: ns},
		Spec: cmv1.CertificateSpec{
			CommonName: "leaf.byoda.test",
			DNSNames:   []string{"leaf.byoda.test"},
			SecretName: "leaf",
			PrivateKey: ecdsa,
			IssuerRef:  cmmeta.IssuerReference{Kind: cmv1.IssuerKind, Name: "ca"},
		},
	})
	WaitCertificateReady(t, k, ns, "leaf", timeout)

	caCert := secretCert(t, k, ns, "ca", "tls.crt")
	if !caCert.IsCA {
		t.Errorf("CA certificate is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(secretCert(t, k, ns, "ca", "ca.crt"))
	leaf := secretCert(t, k, ns, "leaf", "tls.crt")
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "leaf.byoda.test", Roots: roots}); err != nil {
		t.Errorf("verify leaf against the CA: %v", err)
	}
	if got := secretCert(t, k, ns, "leaf", "ca.crt"); !got.Equal(caCert) {
		t.Errorf("leaf secret's ca.crt is %s, want the CA %s", got.Subject, caCert.Subject)
	}
}

// secretCert parses the first PEM certificate in key of Secret namespace/name.
func secretCert(t *testing.T, k *Kube, namespace, name, key string) *x509.Certificate {
	t.Helper()
	var s corev1.Secret
	if err := k.Client.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		t.Fatalf("get secret %s: %v", name, err)
	}
	block, _ := pem.Decode(s.Data[key])
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("secret %s: %s holds no PEM certificate", name, key)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("secret %s: parse %s: %v", name, key, err)
	}
	return c
}
