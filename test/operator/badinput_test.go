package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/test/testenv"
)

// testInvalidContract: an invalid contract gives ContractValid=False with
// the JSON pointer of the problem, and the operator creates nothing for the
// Service; a contract for another service id likewise. Fixing the contract
// recovers.
func (e *env) testInvalidContract(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "badcontract")

	var doc map[string]any
	if err := json.Unmarshal(demoContract(t), &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = "one"
	bad, _ := json.Marshal(doc)
	svc := newService(ns, "broken", demoServiceID, bad)
	other := newService(ns, "other-id", 4712, demoContract(t))
	e.create(svc, other)

	e.waitCondition(svc, byodav1alpha1.ConditionContractValid, metav1.ConditionFalse, byodav1alpha1.ReasonContractInvalid)
	c := meta.FindStatusCondition(svc.Status.Conditions, byodav1alpha1.ConditionContractValid)
	if !strings.Contains(c.Message, "/version") {
		t.Errorf("ContractValid message %q does not name the pointer /version", c.Message)
	}
	e.waitCondition(svc, byodav1alpha1.ConditionReady, metav1.ConditionFalse, "")
	e.waitCondition(other, byodav1alpha1.ConditionContractValid, metav1.ConditionFalse, byodav1alpha1.ReasonServiceIDMismatch)
	if c := meta.FindStatusCondition(other.Status.Conditions, byodav1alpha1.ConditionContractValid); !strings.Contains(c.Message, "/service_id") {
		t.Errorf("ContractValid message %q does not name /service_id", c.Message)
	}

	// Nothing was created: the terminal error also stops retries, so give
	// the operator time to do wrong.
	time.Sleep(2 * time.Second)
	for _, list := range []client.ObjectList{&corev1.ConfigMapList{}, &cmv1.CertificateList{}, &cmv1.IssuerList{}, &corev1.SecretList{},
		&appsv1.DeploymentList{}, &corev1.ServiceList{}, &externaldnsv1alpha1.DNSEndpointList{}} {
		if err := e.c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n != 0 {
			t.Errorf("%d %T in the namespace of Services with invalid contracts, want none", n, list)
		}
	}

	// Fixing the contract recovers.
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Spec.Contract.Inline = &apiextensionsv1.JSON{Raw: demoContract(t)}
	if err := e.c.Patch(t.Context(), svc, patch); err != nil {
		t.Fatal(err)
	}
	e.waitAllTrue(svc, serviceConditions...)
}

// testCRDValidation: the API server refuses invalid specs with a message
// that says what is wrong.
func (e *env) testCRDValidation(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "validation")
	ctx := t.Context()
	dp := func(mut func(*byodav1alpha1.DataPod)) client.Object {
		d := newDataPod(ns, "valid", "")
		mut(d)
		return d
	}
	for _, tc := range []struct {
		name string
		obj  client.Object
		want string
	}{
		{"storage both", dp(func(d *byodav1alpha1.DataPod) {
			d.Spec.Storage.S3 = &byodav1alpha1.S3Storage{Bucket: "bucket", CredentialsSecretRef: byodav1alpha1.LocalObjectReference{Name: "s3"}}
		}), "set exactly one of storage.s3 and storage.local"},
		{"storage none", dp(func(d *byodav1alpha1.DataPod) { d.Spec.Storage = byodav1alpha1.StorageSpec{} }),
			"set exactly one of storage.s3 and storage.local"},
		{"name", dp(func(d *byodav1alpha1.DataPod) { d.Name = "1st-pod" }), "must be a DNS label"},
		{"dns target", dp(func(d *byodav1alpha1.DataPod) { d.Spec.DNS.Target = "not a host!" }),
			"dns.target must be an IP address or a lower-case DNS name"},
		{"retain policy", dp(func(d *byodav1alpha1.DataPod) { d.Spec.RetainPolicy = "Keep" }), `supported values: "Retain", "Delete"`},
		{"s3 endpoint", dp(func(d *byodav1alpha1.DataPod) {
			d.Spec.Storage = byodav1alpha1.StorageSpec{S3: &byodav1alpha1.S3Storage{Bucket: "bucket", Endpoint: "s3.example.com",
				CredentialsSecretRef: byodav1alpha1.LocalObjectReference{Name: "s3"}}}
		}), "endpoint must be an http or https URL"},
		{"network domain", dp(func(d *byodav1alpha1.DataPod) { d.Spec.Network.Domain = "Byoda.Test" }), "spec.network.domain"},
		{"ttl", dp(func(d *byodav1alpha1.DataPod) { d.Spec.DNS.TTL = 5 }), "spec.dns.ttl"},
		{"contract both", func() client.Object {
			s := newService(ns, "svc", 1, []byte(`{}`))
			s.Spec.Contract.ConfigMapKeyRef = &byodav1alpha1.ConfigMapKeyReference{Name: "c"}
			return s
		}(), "set exactly one of contract.inline and contract.configMapKeyRef"},
		{"service both", func() client.Object {
			m := newMembership(ns, "m", "valid", "", "svc")
			m.Spec.Service.ServiceID = ptr.To[int64](7)
			return m
		}(), "set exactly one of service.name"},
		{"service none", newMembership(ns, "m", "valid", "", ""), "set exactly one of service.name"},
		{"directory url scheme", newRemoteMembership(ns, "m", "valid", 4711, "http://service.service-4711.byoda.test"),
			"service.directoryURL must be an https URL"},
		{"directory url query", newRemoteMembership(ns, "m", "valid", 4711, "https://dir.example.com/?x=1"),
			"service.directoryURL must be an https URL"},
		{"directory url local", func() client.Object {
			m := newMembership(ns, "m", "valid", "", "svc")
			m.Spec.Service.DirectoryURL = "https://dir.example.com"
			return m
		}(), "service.directoryURL goes with service.serviceID"},
		{"directory storage both", func() client.Object {
			s := newService(ns, "svc", 1, []byte(`{}`))
			s.Spec.Directory.Storage = byodav1alpha1.DirectoryStorage{ClaimName: "registry",
				DatabaseSecretRef: &byodav1alpha1.SecretKeyReference{Name: "db"}}
			return s
		}(), "set at most one of directory.storage.claimName and directory.storage.databaseSecretRef"},
	} {
		err := e.c.Create(ctx, tc.obj)
		if err == nil {
			t.Errorf("%s: created, want refused with %q", tc.name, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}

	// Immutable fields.
	svc := newService(ns, "immutable", demoServiceID, demoContract(t))
	pod := newDataPod(ns, "immutable", "")
	pod.Spec.Network.Domain = network
	m := newMembership(ns, "immutable", "immutable", "", "immutable")
	e.create(svc, pod, m)
	for _, tc := range []struct {
		name   string
		obj    client.Object
		mutate func()
		want   string
	}{
		{"service id", svc, func() { svc.Spec.ServiceID = 4712 }, "serviceID cannot be changed"},
		{"network domain", pod, func() { pod.Spec.Network.Domain = "other.test" }, "network.domain cannot be changed"},
		{"datapod ref", m, func() { m.Spec.DataPodRef.Name = "other" }, "dataPodRef cannot be changed"},
		{"service ref", m, func() { m.Spec.Service.Name = "other" }, "service cannot be changed"},
	} {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(tc.obj), tc.obj); err != nil {
			t.Fatal(err)
		}
		tc.mutate()
		err := e.c.Update(ctx, tc.obj)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: update error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// testMissingReferences: a Membership naming a DataPod or a Service that
// does not exist waits with a reason, and joins once they appear.
func (e *env) testMissingReferences(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "missing")
	m := newMembership(ns, "carol-addressbook", "carol", "", "addressbook")
	e.create(m)
	e.waitCondition(m, byodav1alpha1.ConditionReady, metav1.ConditionFalse, byodav1alpha1.ReasonNotReady)
	e.waitCondition(m, byodav1alpha1.ConditionJoined, metav1.ConditionFalse, byodav1alpha1.ReasonDataPodNotFound)

	e.create(newDataPod(ns, "carol", "192.0.2.30"))
	e.waitCondition(m, byodav1alpha1.ConditionJoined, metav1.ConditionFalse, byodav1alpha1.ReasonServiceNotFound)
	if c := meta.FindStatusCondition(m.Status.Conditions, byodav1alpha1.ConditionJoined); !strings.Contains(c.Message, ns+"/addressbook") {
		t.Errorf("message %q does not name the missing Service", c.Message)
	}
	// The membership has made nothing while it waited.
	var secrets corev1.SecretList
	if err := e.c.List(context.Background(), &secrets, client.InNamespace(ns), client.MatchingLabels{byodav1alpha1.LabelMembership: m.Name}); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("the waiting Membership made %d Secrets", len(secrets.Items))
	}

	e.create(newService(ns, "addressbook", demoServiceID, demoContract(t)))
	e.waitAllTrue(m, byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined)
}

// testContractConfigMap: a Service whose contract is in a ConfigMap of its
// own picks up an edit to it (a new version is published; a broken one
// says where; a fixed one recovers) without any change to the Service.
func (e *env) testContractConfigMap(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "cmcontract")
	withVersion := func(v any) string {
		var doc map[string]any
		if err := json.Unmarshal(demoContract(t), &doc); err != nil {
			t.Fatal(err)
		}
		doc["version"] = v
		out, _ := json.Marshal(doc)
		return string(out)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "addressbook-source", Namespace: ns},
		Data:       map[string]string{specs.KeyContract: withVersion(1)},
	}
	svc := newService(ns, "addressbook", demoServiceID, nil)
	svc.Spec.Contract = byodav1alpha1.ContractSource{ConfigMapKeyRef: &byodav1alpha1.ConfigMapKeyReference{Name: cm.Name}}
	e.create(cm, svc)
	e.waitAllTrue(svc)
	// cert-manager keeps updating the Service's new Certificates for a
	// moment, and each update brings a pass of its own: let it finish, so
	// that only the operator's own recheck can see the edits below.
	time.Sleep(5 * time.Second)

	edit := func(doc string) {
		t.Helper()
		patch := client.MergeFrom(cm.DeepCopy())
		cm.Data[specs.KeyContract] = doc
		if err := e.c.Patch(t.Context(), cm, patch); err != nil {
			t.Fatal(err)
		}
	}
	edit(withVersion(2))
	testenv.Eventually(t, timeout, "version 2 published", e.cm, func(ctx context.Context) error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if svc.Status.ContractVersion != 2 {
			return fmt.Errorf("status.contractVersion %d", svc.Status.ContractVersion)
		}
		published := &corev1.ConfigMap{}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: svc.Status.ContractConfigMap}, published); err != nil {
			return err
		}
		if v := published.Annotations[specs.AnnotationContractVersion]; v != "2" {
			return fmt.Errorf("published version %q", v)
		}
		return nil
	})

	edit(withVersion("two"))
	e.waitCondition(svc, byodav1alpha1.ConditionContractValid, metav1.ConditionFalse, byodav1alpha1.ReasonContractInvalid)
	if c := meta.FindStatusCondition(svc.Status.Conditions, byodav1alpha1.ConditionContractValid); !strings.Contains(c.Message, "/version") {
		t.Errorf("ContractValid message %q does not name /version", c.Message)
	}
	edit(withVersion(3))
	e.waitAllTrue(svc)
	if svc.Status.ContractVersion != 3 {
		t.Errorf("status.contractVersion %d after the fix, want 3", svc.Status.ContractVersion)
	}

	// The ConfigMap the operator publishes the contract in cannot be the
	// source too: it would overwrite the user's.
	own := newService(ns, "self", demoServiceID, nil)
	own.Spec.Contract = byodav1alpha1.ContractSource{ConfigMapKeyRef: &byodav1alpha1.ConfigMapKeyReference{Name: specs.ContractConfigMapName(own)}}
	e.create(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: specs.ContractConfigMapName(own), Namespace: ns},
		Data:       map[string]string{specs.KeyContract: withVersion(1)},
	}, own)
	e.waitCondition(own, byodav1alpha1.ConditionContractValid, metav1.ConditionFalse, byodav1alpha1.ReasonContractNotFound)
	if c := meta.FindStatusCondition(own.Status.Conditions, byodav1alpha1.ConditionContractValid); !strings.Contains(c.Message, "publishes") {
		t.Errorf("ContractValid message %q does not say why", c.Message)
	}
}
