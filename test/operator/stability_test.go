package operator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	externaldnsv1alpha1 "sigs.k8s.io/external-dns/apis/v1alpha1"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// snapshot records the resource version and generation of every object in
// the namespaces.
func (e *env) snapshot(namespaces ...string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, ns := range namespaces {
		for _, list := range []client.ObjectList{
			&byodav1alpha1.DataPodList{}, &byodav1alpha1.ServiceList{}, &byodav1alpha1.MembershipList{},
			&corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}, &appsv1.DeploymentList{},
			&externaldnsv1alpha1.DNSEndpointList{}, &cmv1.CertificateList{}, &cmv1.IssuerList{}, &cmv1.CertificateRequestList{},
		} {
			if err := e.c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
				e.t.Fatal(err)
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, it := range items {
				o := it.(client.Object)
				out[fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())] =
					fmt.Sprintf("uid=%s rv=%s gen=%d", o.GetUID(), o.GetResourceVersion(), o.GetGeneration())
			}
		}
	}
	return out
}

// identitySecrets returns the data of the Secrets that must never change:
// the account key, the member key and the key-encryption key.
func (e *env) identitySecrets(w *world) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, name := range []string{specs.AccountKeySecretName(w.dp), specs.MemberKeySecretName(w.m), specs.KEKSecretName(w.dp)} {
		s := e.secret(w.podNS, name)
		out[name] = fmt.Sprintf("uid=%s rv=%s data=%v", s.UID, s.ResourceVersion, s.Data)
	}
	return out
}

// testStability: restarting the operator changes nothing; deleted children
// come back; the keys never change over any of it.
func (e *env) testStability(t *testing.T) {
	e = e.sub(t)
	w := e.newWorld("stable", "192.0.2.40")
	keys := e.identitySecrets(w)
	time.Sleep(2 * time.Second) // let cert-manager and the operator settle
	before := e.snapshot(w.svcNS, w.podNS)

	// A fresh operator: wait until it has reconciled every object of every
	// kind in the cluster at least once, then a little longer.
	counts := map[string]float64{}
	for _, c := range []string{"datapod", "service", "membership"} {
		counts[c], _ = reconcileCount(c)
	}
	objects := map[string]int{}
	for c, list := range map[string]client.ObjectList{
		"datapod": &byodav1alpha1.DataPodList{}, "service": &byodav1alpha1.ServiceList{}, "membership": &byodav1alpha1.MembershipList{},
	} {
		if err := e.c.List(t.Context(), list); err != nil {
			t.Fatal(err)
		}
		objects[c] = meta.LenList(list)
	}
	e.stopManager()
	e.startManager()
	testenv.Eventually(t, timeout, "the new operator reconciles everything", nil, func(context.Context) error {
		for c, n := range objects {
			got, _ := reconcileCount(c)
			if got-counts[c] < float64(n) {
				return fmt.Errorf("%s: %v reconciles of %d objects", c, got-counts[c], n)
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	after := e.snapshot(w.svcNS, w.podNS)
	if diff := diffMaps(before, after); diff != "" {
		t.Errorf("restarting the operator changed objects:\n%s", diff)
	}

	// Deleted children come back. The members CA Certificate goes last:
	// until cert-manager has made the re-created Certificate Ready again,
	// the Service is not CAReady and its Memberships wait (by design), so
	// a Membership's children deleted after it would come back only as
	// fast as cert-manager is, which under a loaded machine was once more
	// than the timeout.
	ctx := t.Context()
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.podNS, Name: w.dp.Name}},
		&externaldnsv1alpha1.DNSEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: w.podNS, Name: w.m.Name}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.podNS, Name: specs.MemberSecretName(w.m)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.svcNS, Name: specs.DirectoryName(w.svc)}},
		&cmv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: w.svcNS, Name: specs.CAName(w.svc, specs.MembersCA)}},
	} {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		uid := obj.GetUID()
		if err := e.c.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, timeout, fmt.Sprintf("%T %s comes back", obj, obj.GetName()), nil, func(ctx context.Context) error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
			if obj.GetUID() == uid {
				return fmt.Errorf("still the deleted one")
			}
			return nil
		})
	}
	e.waitAllTrue(w.svc)
	e.waitAllTrue(w.dp)
	e.waitAllTrue(w.m)
	if diff := diffMaps(keys, e.identitySecrets(w)); diff != "" {
		t.Errorf("key Secrets changed:\n%s", diff)
	}
}

// testReissue: a stored certificate that no longer matches its key is
// requested again as the next revision, as at renewal; once the new one is
// stored, the request of the one it replaced is deleted and its own kept.
// The keys do not change.
func (e *env) testReissue(t *testing.T) {
	e = e.sub(t)
	w := e.newWorld("reissue", "192.0.2.45")
	keys := e.identitySecrets(w)
	e.checkRequests(w, 1, 1, 1, 1)

	// Store the data chain in place of the TLS one: it is for the other key.
	for _, c := range []struct{ secret, file, tls, data string }{
		{specs.AccountSecretName(w.dp), "account", specs.KeyAccountCert, specs.KeyAccountDataCrt},
		{specs.MemberSecretName(w.m), "member", specs.KeyMemberCert, specs.KeyMemberDataCert},
	} {
		s := e.secret(w.podNS, c.secret)
		patch := client.MergeFrom(s.DeepCopy())
		s.Data[c.tls] = s.Data[c.data]
		if err := e.c.Patch(t.Context(), s, patch); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, timeout, c.secret+" holds revision 2 of "+c.file, nil, func(context.Context) error {
			if rev := e.secret(w.podNS, c.secret).Annotations[specs.AnnotationRevision+c.file]; rev != "2" {
				return fmt.Errorf("revision %q", rev)
			}
			return nil
		})
	}
	e.checkRequests(w, 2, 1, 2, 1)
	e.waitAllTrue(w.dp)
	e.waitAllTrue(w.m)

	networkRoot := e.secret(testenv.CertManagerNamespace, "byoda-root-ca").Data["ca.crt"]
	for _, c := range []struct{ keys, certs, key, cert string }{
		{specs.AccountKeySecretName(w.dp), specs.AccountSecretName(w.dp), specs.KeyAccountKey, specs.KeyAccountCert},
		{specs.MemberKeySecretName(w.m), specs.MemberSecretName(w.m), specs.KeyMemberKey, specs.KeyMemberCert},
	} {
		key, err := pki.ParseKey(e.secret(w.podNS, c.keys).Data[c.key])
		if err != nil {
			t.Fatal(err)
		}
		if id := verifyChain(t, e.secret(w.podNS, c.certs).Data[c.cert], networkRoot, key); id.Data {
			t.Errorf("%s/%s is a data certificate", c.certs, c.cert)
		}
	}
	if diff := diffMaps(keys, e.identitySecrets(w)); diff != "" {
		t.Errorf("key Secrets changed:\n%s", diff)
	}
}

// checkRequests waits until the world's only CertificateRequests are those
// of the given revisions of the account TLS and data and the member TLS and
// data certificates, all issued: the operator keeps the request of each
// certificate in use, and no other.
func (e *env) checkRequests(w *world, account, accountData, member, memberData int) {
	e.t.Helper()
	mid := uuid.MustParse(w.m.Status.MemberID)
	for _, c := range []struct {
		namespace string
		labels    client.MatchingLabels
		want      []string
	}{
		{w.podNS, client.MatchingLabels{byodav1alpha1.LabelDataPod: w.dp.Name},
			[]string{specs.AccountRequestName(w.dp, false, account), specs.AccountRequestName(w.dp, true, accountData)}},
		{w.svcNS, client.MatchingLabels{byodav1alpha1.LabelMembership: w.m.Name, byodav1alpha1.LabelMembershipNamespace: w.m.Namespace},
			[]string{specs.MemberRequestName(mid, false, member), specs.MemberRequestName(mid, true, memberData)}},
	} {
		slices.Sort(c.want)
		testenv.Eventually(e.t, timeout, fmt.Sprintf("CertificateRequests %v in %s", c.want, c.namespace), nil, func(ctx context.Context) error {
			var crs cmv1.CertificateRequestList
			if err := e.c.List(ctx, &crs, client.InNamespace(c.namespace), c.labels); err != nil {
				return err
			}
			var names []string
			for _, cr := range crs.Items {
				names = append(names, cr.Name)
				if !slices.ContainsFunc(cr.Status.Conditions, func(c cmv1.CertificateRequestCondition) bool {
					return c.Type == cmv1.CertificateRequestConditionReady && c.Status == cmmeta.ConditionTrue
				}) {
					return fmt.Errorf("%s is not Ready", cr.Name)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, c.want) {
				return fmt.Errorf("found %v", names)
			}
			return nil
		})
	}
}

func diffMaps(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if bv, ok := b[k]; !ok {
			out = append(out, "- "+k+" "+a[k])
		} else if bv != a[k] {
			out = append(out, "~ "+k+": "+a[k]+" -> "+bv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, "+ "+k+" "+b[k])
		}
	}
	return strings.Join(out, "\n")
}

// testDeleteDataPod: the key-encryption Secret has no owner reference (and
// so outlives its DataPod) unless retainPolicy is Delete; the policy can
// change either way. envtest has no garbage collector, so the test checks
// owner references, the thing the collector acts on.
func (e *env) testDeleteDataPod(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "retain")
	ctx := t.Context()
	dave := newDataPod(ns, "dave", "192.0.2.50")
	erin := newDataPod(ns, "erin", "192.0.2.51")
	erin.Spec.RetainPolicy = byodav1alpha1.RetainPolicyDelete
	e.create(dave, erin)
	e.waitCondition(dave, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "")
	e.waitCondition(erin, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "")

	owners := func(dp *byodav1alpha1.DataPod, name string) []types.UID {
		var uids []types.UID
		for _, r := range e.secret(ns, name).OwnerReferences {
			uids = append(uids, r.UID)
		}
		return uids
	}
	if got := owners(dave, specs.KEKSecretName(dave)); len(got) != 0 {
		t.Errorf("dave's key-encryption Secret is owned by %v; want no owner under retainPolicy Retain", got)
	}
	if got := owners(dave, specs.AccountKeySecretName(dave)); !slices.Equal(got, []types.UID{dave.UID}) {
		t.Errorf("dave's account key Secret is owned by %v; want the DataPod", got)
	}
	if got := owners(erin, specs.KEKSecretName(erin)); !slices.Equal(got, []types.UID{erin.UID}) {
		t.Errorf("erin's key-encryption Secret is owned by %v; want the DataPod under retainPolicy Delete", got)
	}
	kek := e.secret(ns, specs.KEKSecretName(dave))
	if kek.Immutable == nil || !*kek.Immutable {
		t.Errorf("key-encryption Secret is not immutable")
	}

	// Changing the policy moves the owner reference, and nothing else.
	setPolicy := func(dp *byodav1alpha1.DataPod, p byodav1alpha1.RetainPolicy) {
		patch := client.MergeFrom(dp.DeepCopy())
		dp.Spec.RetainPolicy = p
		if err := e.c.Patch(ctx, dp, patch); err != nil {
			t.Fatal(err)
		}
	}
	setPolicy(dave, byodav1alpha1.RetainPolicyDelete)
	testenv.Eventually(t, timeout, "dave's key-encryption Secret owned", nil, func(context.Context) error {
		if got := owners(dave, specs.KEKSecretName(dave)); !slices.Equal(got, []types.UID{dave.UID}) {
			return fmt.Errorf("owners %v", got)
		}
		return nil
	})
	setPolicy(dave, byodav1alpha1.RetainPolicyRetain)
	testenv.Eventually(t, timeout, "dave's key-encryption Secret released", nil, func(context.Context) error {
		if got := owners(dave, specs.KEKSecretName(dave)); len(got) != 0 {
			return fmt.Errorf("owners %v", got)
		}
		return nil
	})
	if got := e.secret(ns, specs.KEKSecretName(dave)); fmt.Sprint(got.Data) != fmt.Sprint(kek.Data) {
		t.Errorf("the key-encryption key changed")
	}

	// Deleting the DataPod leaves the unowned key-encryption Secret alone.
	if err := e.c.Delete(ctx, dave); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, timeout, "dave deleted", nil, func(ctx context.Context) error {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(dave), &byodav1alpha1.DataPod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	time.Sleep(time.Second)
	if got := e.secret(ns, specs.KEKSecretName(dave)); len(got.OwnerReferences) != 0 || fmt.Sprint(got.Data) != fmt.Sprint(kek.Data) {
		t.Errorf("after deleting the DataPod the key-encryption Secret has owners %v or other data", got.OwnerReferences)
	}
}

// testKeyNeverRegenerated: when an account key Secret is deleted, the
// operator says so and waits; it never makes a new key for the account.
// Restoring the Secret recovers.
func (e *env) testKeyNeverRegenerated(t *testing.T) {
	e = e.sub(t)
	ns := e.kube.CreateNamespace(t, "keyloss")
	dp := newDataPod(ns, "frank", "192.0.2.60")
	e.create(dp)
	e.waitCondition(dp, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "")
	aid := dp.Status.AccountID
	key := e.secret(ns, specs.AccountKeySecretName(dp))
	if err := e.c.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	e.waitCondition(dp, byodav1alpha1.ConditionCertificateReady, metav1.ConditionFalse, byodav1alpha1.ReasonKeyMissing)
	time.Sleep(2 * time.Second)
	var s corev1.Secret
	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(key), &s); !apierrors.IsNotFound(err) {
		t.Errorf("a new account key Secret appeared (err %v)", err)
	}
	restored := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: key.Labels,
			Annotations: key.Annotations, OwnerReferences: key.OwnerReferences},
		Immutable: key.Immutable, Type: key.Type, Data: key.Data,
	}
	e.create(restored) // the operator watches its Secrets: no need to touch the DataPod
	e.waitCondition(dp, byodav1alpha1.ConditionCertificateReady, metav1.ConditionTrue, byodav1alpha1.ReasonIssued)
	if dp.Status.AccountID != aid {
		t.Errorf("account id changed from %s to %s", aid, dp.Status.AccountID)
	}
}
