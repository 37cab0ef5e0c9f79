package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	byodaac "github.com/byoda-go/byoda/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/pki"
)

// +kubebuilder:rbac:groups=byoda.net,resources=datapods,verbs=get;list;watch
// +kubebuilder:rbac:groups=byoda.net,resources=datapods/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=byoda.net,resources=datapods/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificaterequests,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=externaldns.k8s.io,resources=dnsendpoints,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// DataPodReconciler makes a DataPod's account (keys, certificates), its
// key-encryption key and owner password, its Deployment and Service, and its
// DNS name.
type DataPodReconciler struct {
	Client client.Client
	// APIReader reads what the cache does not hold: Secrets and claims the
	// operator does not own, key Secrets the cache may not have yet, and
	// the chain of a newly issued CertificateRequest.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   Options
	Clock     clock.PassiveClock

	statuses statusWrites
}

// podPass is the state of one reconcile pass of a DataPod.
type podPass struct {
	dp      *byodav1alpha1.DataPod
	status  byodav1alpha1.DataPodStatus
	conds   *conditions
	account specs.Account
	// keySecret holds the account's keys.
	keySecret *corev1.Secret
	certs     specs.AccountCerts
	// certsReady says the account certificates are issued and stored.
	certsReady bool
	// available says the Deployment has an available pod of the current spec.
	available bool
	// next is when to look again (0: only on a watch event).
	next time.Duration
}

func (p *podPass) after(d time.Duration) {
	if d > 0 && (p.next == 0 || d < p.next) {
		p.next = d
	}
}

// Reconcile brings one DataPod to its desired state.
func (r *DataPodReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dp byodav1alpha1.DataPod
	if err := r.Client.Get(ctx, req.NamespacedName, &dp); err != nil {
		if apierrors.IsNotFound(err) {
			r.statuses.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !dp.DeletionTimestamp.IsZero() {
		// Children go with their owner references; the key-encryption
		// Secret has one only under retainPolicy: Delete.
		return ctrl.Result{}, nil
	}
	p := &podPass{dp: &dp, status: *dp.Status.DeepCopy()}
	p.conds = newConditions(dp.Status.Conditions, dp.Generation, r.Clock.Now())

	for _, step := range []func(context.Context, *podPass) error{
		r.reconcileAccount,
		r.reconcileSecrets,
		r.reconcileCertificates,
		r.reconcileStorage,
		r.reconcileService,
		r.reconcileDeployment,
		r.reconcileDNS,
	} {
		if err := step(ctx, p); err != nil {
			return r.finish(ctx, p, err)
		}
	}
	return r.finish(ctx, p, nil)
}

// finish writes the status once, if it changed, and turns the pass's
// outcome into a result: a terminal error stops retries until the DataPod
// changes, a waiting pass looks again later.
func (r *DataPodReconciler) finish(ctx context.Context, p *podPass, err error) (ctrl.Result, error) {
	if transient(err) {
		return ctrl.Result{}, err
	}
	extraReason, extra := "", ""
	switch {
	case err != nil:
	case p.certsReady && len(p.status.Memberships) == 0:
		extraReason, extra = byodav1alpha1.ReasonNoMemberships,
			"The DataPod has joined no service, so Deployment "+p.dp.Name+" runs no pod: create a Membership"
	case !p.available:
		extraReason, extra = byodav1alpha1.ReasonDeploymentUnavailable,
			"Deployment "+p.dp.Name+" has no available pod of its current spec yet"
	}
	p.conds.setReady([]string{byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionStorageReady,
		byodav1alpha1.ConditionDNSReady}, extraReason, extra)
	p.status.Conditions = p.conds.list
	p.status.ObservedGeneration = p.dp.Generation
	if werr := r.writeStatus(ctx, p); werr != nil {
		return ctrl.Result{}, werr
	}
	return passResult(err, p.next)
}

func (r *DataPodReconciler) writeStatus(ctx context.Context, p *podPass) error {
	ac := byodaac.DataPod(p.dp.Name, p.dp.Namespace)
	return r.statuses.apply(ctx, r.Client, p.dp, p.dp.Status, p.status, ac, &ac.Status)
}

// reconcileAccount finds the account's keys or, the first time only, makes
// them with a new account id. A key Secret that disappears after the
// account exists is never replaced: that would be a new identity.
func (r *DataPodReconciler) reconcileAccount(ctx context.Context, p *podPass) error {
	dp := p.dp
	key := types.NamespacedName{Namespace: dp.Namespace, Name: specs.AccountKeySecretName(dp)}
	sec, err := r.secrets().cached(ctx, key)
	if err == nil && sec == nil && dp.Status.AccountID != "" {
		sec, err = r.secrets().confirmed(ctx, key)
	}
	if err != nil {
		return err
	}
	if sec == nil {
		if dp.Status.AccountID != "" {
			p.conds.set(byodav1alpha1.ConditionCertificateReady, false, byodav1alpha1.ReasonKeyMissing,
				"Secret %s holding the keys of account %s was deleted. The operator never makes new keys for an existing account: restore the Secret from a backup, or delete the DataPod and create it again as a new account",
				specs.AccountKeySecretName(dp), dp.Status.AccountID)
			r.Recorder.Eventf(dp, nil, corev1.EventTypeWarning, byodav1alpha1.ReasonKeyMissing, "Reconcile", "Account key Secret %s is missing", specs.AccountKeySecretName(dp))
			return reconcile.TerminalError(errors.New("account key secret missing"))
		}
		network := dp.Spec.Network.Domain
		if network == "" {
			network = r.Options.NetworkDomain
		}
		acct := specs.Account{ID: uuid.New(), Network: network}
		tlsKey, dataKey, err := newKeyPEMs()
		if err != nil {
			return err
		}
		var created bool
		sec, created, err = r.secrets().create(ctx, specs.AccountKeySecret(dp, acct, tlsKey, dataKey))
		if err != nil {
			return err
		}
		if created {
			r.Recorder.Eventf(dp, nil, corev1.EventTypeNormal, "AccountCreated", "Reconcile",
				"Created account %s in network %s, keys in Secret %s", acct.ID, network, sec.Name)
		}
	}
	p.keySecret = sec
	aid, err := uuid.Parse(sec.Labels[byodav1alpha1.LabelAccountID])
	if err != nil {
		return fmt.Errorf("secret %s/%s: label %s: %w", sec.Namespace, sec.Name, byodav1alpha1.LabelAccountID, err)
	}
	p.account = specs.Account{ID: aid, Network: sec.Annotations[specs.AnnotationNetwork]}
	p.status.AccountID = aid.String()
	p.status.Network = p.account.Network
	p.status.FQDN = p.account.FQDN()
	if d := dp.Spec.Network.Domain; d != "" && d != p.account.Network {
		p.conds.set(byodav1alpha1.ConditionCertificateReady, false, byodav1alpha1.ReasonNetworkMismatch,
			"spec.network.domain is %s but account %s belongs to network %s", d, aid, p.account.Network)
		return reconcile.TerminalError(errors.New("network mismatch"))
	}
	return nil
}

// reconcileSecrets makes the key-encryption key and, unless the spec names
// one, the owner's password: random, once, immutable. The key-encryption
// Secret is owned by the DataPod only under retainPolicy: Delete.
func (r *DataPodReconciler) reconcileSecrets(ctx context.Context, p *podPass) error {
	dp := p.dp
	kek, err := r.secrets().cached(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: specs.KEKSecretName(dp)})
	if err != nil {
		return err
	}
	if kek == nil {
		key, err := randomToken(32)
		if err != nil {
			return err
		}
		if kek, _, err = r.secrets().create(ctx, specs.KEKSecret(dp, key)); err != nil {
			return err
		}
	}
	if err := r.reconcileKEKOwner(ctx, dp, kek); err != nil {
		return err
	}
	if dp.Spec.Owner.PasswordSecretRef != nil {
		return nil
	}
	key := types.NamespacedName{Namespace: dp.Namespace, Name: specs.OwnerPasswordSecretName(dp)}
	pw, err := r.secrets().cached(ctx, key)
	if err != nil || pw != nil {
		return err
	}
	password, err := randomToken(18)
	if err != nil {
		return err
	}
	_, _, err = r.secrets().create(ctx, specs.OwnerPasswordSecret(dp, password))
	return err
}

// reconcileKEKOwner adds or removes the DataPod's owner reference on the
// key-encryption Secret when the retain policy says otherwise. Only the
// metadata changes: the Secret's data is immutable.
func (r *DataPodReconciler) reconcileKEKOwner(ctx context.Context, dp *byodav1alpha1.DataPod, kek *corev1.Secret) error {
	var refs []metav1.OwnerReference
	for _, ref := range kek.OwnerReferences {
		if ref.UID != dp.UID {
			refs = append(refs, ref)
		}
	}
	refs = append(refs, specs.KEKOwnerReferences(dp)...)
	if equality.Semantic.DeepEqual(refs, kek.OwnerReferences) || (len(refs) == 0 && len(kek.OwnerReferences) == 0) {
		return nil
	}
	patch := client.MergeFrom(kek.DeepCopy())
	kek.OwnerReferences = refs
	if err := r.Client.Patch(ctx, kek, patch); err != nil {
		return fmt.Errorf("patch owner of secret %s/%s: %w", kek.Namespace, kek.Name, err)
	}
	return nil
}

// reconcileCertificates obtains the account's TLS and data certificates from
// the accounts CA by CertificateRequest and stores them, with the network
// root, in the account Secret.
func (r *DataPodReconciler) reconcileCertificates(ctx context.Context, p *podPass) error {
	dp := p.dp
	tlsKey, dataKey, err := parseKeys(p.keySecret, specs.KeyAccountKey, specs.KeyAccountDataKey)
	if err != nil {
		return reconcile.TerminalError(err)
	}
	var stored corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: specs.AccountSecretName(dp)}, &stored); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret: %w", err)
	}
	issuerRef := byodav1alpha1.IssuerReference{Name: r.Options.AccountsIssuer}
	if ref := dp.Spec.Network.IssuerRef; ref != nil {
		issuerRef = *ref
	}
	issuer := specs.IssuerRef(issuerRef)
	rootCA := stored.Data[specs.KeyRootCA]
	slots := []slot{
		{File: "account", Name: pki.AccountName(p.account.ID, p.account.Network), Key: tlsKey},
		{File: "account-data", Name: pki.AccountDataName(p.account.ID, p.account.Network), Key: dataKey, Data: true},
	}
	var results [2]issue
	for i := range slots {
		s := &slots[i]
		s.Namespace, s.Labels, s.Owner, s.Issuer = dp.Namespace, specs.DataPodLabels(dp), specs.OwnerOf(dp, specs.KindDataPod), issuer
		data := s.Data
		s.RequestName = func(rev int) string { return specs.AccountRequestName(dp, data, rev) }
		results[i], err = r.requester().issue(ctx, *s, heldFrom(stored.Data, stored.Annotations, s.File, rootCA))
		if err != nil {
			return err
		}
		p.after(results[i].Next)
	}
	tls, data := results[0], results[1]
	if !tls.Ready || !data.Ready {
		reason, msg := pending(slots, results[:])
		p.conds.set(byodav1alpha1.ConditionCertificateReady, false, reason, "%s", msg)
		return nil
	}
	root := tls.Held.RootCA
	if len(root) == 0 {
		root = data.Held.RootCA
	}
	p.certs = specs.AccountCerts{
		TLS: tls.Held.Chain, Data: data.Held.Chain,
		TLSRevision: tls.Held.Revision, DataRevision: data.Held.Revision,
		RootCA: root,
	}
	if _, err := apply(ctx, r.Client, &corev1.Secret{}, specs.AccountSecret(dp, p.account, p.certs)); err != nil {
		return err
	}
	p.certsReady = true
	p.conds.set(byodav1alpha1.ConditionCertificateReady, true, byodav1alpha1.ReasonIssued,
		"Account certificates for %s issued by %s %s%s", p.account.FQDN(), issuer.Kind, issuer.Name,
		renewalNote(tls.Waiting, data.Waiting))
	return nil
}

// reconcileStorage checks that the storage's credentials Secret or claim
// exists. The operator does not own them, so it reads them from the API
// server and looks again after RetryInterval while they are missing.
func (r *DataPodReconciler) reconcileStorage(ctx context.Context, p *podPass) error {
	dp := p.dp
	st := dp.Spec.Storage
	switch {
	case st.S3 != nil:
		name := st.S3.CredentialsSecretRef.Name
		var sec corev1.Secret
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: name}, &sec)
		if apierrors.IsNotFound(err) {
			p.conds.set(byodav1alpha1.ConditionStorageReady, false, byodav1alpha1.ReasonCredentialsNotFound,
				"Secret %s named by spec.storage.s3.credentialsSecretRef does not exist", name)
			p.after(r.Options.RetryInterval)
			return nil
		}
		if err != nil {
			return fmt.Errorf("get secret %s/%s: %w", dp.Namespace, name, err)
		}
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if len(sec.Data[k]) == 0 {
				p.conds.set(byodav1alpha1.ConditionStorageReady, false, byodav1alpha1.ReasonCredentialsNotFound,
					"Secret %s named by spec.storage.s3.credentialsSecretRef has no key %s", name, k)
				p.after(r.Options.RetryInterval)
				return nil
			}
		}
		p.conds.set(byodav1alpha1.ConditionStorageReady, true, byodav1alpha1.ReasonStorageConfigured,
			"S3 bucket %s with credentials from Secret %s", st.S3.Bucket, name)
	case st.Local != nil && st.Local.ClaimName != "":
		var pvc corev1.PersistentVolumeClaim
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: st.Local.ClaimName}, &pvc)
		if apierrors.IsNotFound(err) {
			p.conds.set(byodav1alpha1.ConditionStorageReady, false, byodav1alpha1.ReasonClaimNotFound,
				"PersistentVolumeClaim %s named by spec.storage.local.claimName does not exist", st.Local.ClaimName)
			p.after(r.Options.RetryInterval)
			return nil
		}
		if err != nil {
			return fmt.Errorf("get persistentvolumeclaim %s/%s: %w", dp.Namespace, st.Local.ClaimName, err)
		}
		p.conds.set(byodav1alpha1.ConditionStorageReady, true, byodav1alpha1.ReasonStorageConfigured,
			"Local volume on PersistentVolumeClaim %s", st.Local.ClaimName)
	default:
		p.conds.set(byodav1alpha1.ConditionStorageReady, true, byodav1alpha1.ReasonStorageConfigured,
			"Local emptyDir volume: the data is lost with the pod")
	}
	return nil
}

// reconcileService applies the pod's Service and learns the address its
// DNS names point at.
func (r *DataPodReconciler) reconcileService(ctx context.Context, p *podPass) error {
	var live corev1.Service
	if _, err := apply(ctx, r.Client, &live, specs.PodService(p.dp)); err != nil {
		return err
	}
	p.status.Address = loadBalancerAddress(p.dp.Spec.DNS.Target, &live)
	return nil
}

// reconcileDeployment applies the pod's Deployment once its certificates
// are issued, with every membership whose certificate and contract are in
// place.
func (r *DataPodReconciler) reconcileDeployment(ctx context.Context, p *podPass) error {
	if !p.certsReady {
		return nil
	}
	members, hash, err := r.members(ctx, p)
	if err != nil {
		return err
	}
	in := specs.PodInputs{DataPod: p.dp, Account: p.account, DefaultImage: r.Options.Image, Members: members, ConfigHash: hash}
	var live appsv1.Deployment
	if len(members) == 0 {
		// Nothing to run: make no Deployment just to scale it to zero,
		// but scale down one that runs.
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: p.dp.Namespace, Name: p.dp.Name}, &live)
		if apierrors.IsNotFound(err) {
			p.status.Memberships = nil
			return nil
		}
		if err != nil {
			return fmt.Errorf("get deployment: %w", err)
		}
	}
	applied, err := apply(ctx, r.Client, &live, specs.Deployment(in))
	if err != nil {
		return err
	}
	p.status.Memberships = nil
	for _, m := range members {
		p.status.Memberships = append(p.status.Memberships, byodav1alpha1.JoinedMembership{
			Name: m.Membership, ServiceID: int64(m.ServiceID), MemberID: m.MemberID.String()})
	}
	p.available = !applied && live.Status.ObservedGeneration >= live.Generation &&
		live.Status.UpdatedReplicas >= 1 && live.Status.AvailableReplicas >= 1
	return nil
}

// members returns the memberships of the DataPod that are ready to serve
// (member key, certificates and contract in place, same network), one per
// service, oldest first; and a hash of everything the pod loads at start.
func (r *DataPodReconciler) members(ctx context.Context, p *podPass) ([]specs.Member, string, error) {
	dp := p.dp
	var list byodav1alpha1.MembershipList
	if err := r.Client.List(ctx, &list, client.InNamespace(dp.Namespace), client.MatchingFields{indexDataPod: dp.Name}); err != nil {
		return nil, "", fmt.Errorf("list memberships: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b byodav1alpha1.Membership) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", p.certs.TLS, p.certs.Data, p.certs.RootCA)
	var out []specs.Member
	seen := map[uint32]bool{}
	for i := range list.Items {
		m := &list.Items[i]
		if !m.DeletionTimestamp.IsZero() {
			continue
		}
		var certs, keys corev1.Secret
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: specs.MemberSecretName(m)}, &certs); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, "", fmt.Errorf("get secret: %w", err)
		}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: specs.MemberKeySecretName(m)}, &keys); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, "", fmt.Errorf("get secret: %w", err)
		}
		mid, err := uuid.Parse(certs.Labels[byodav1alpha1.LabelMemberID])
		if err != nil || keys.Labels[byodav1alpha1.LabelMemberID] != mid.String() {
			continue
		}
		sid, err := pki.ParseServiceID(certs.Labels[byodav1alpha1.LabelServiceID])
		if err != nil || seen[sid] || keys.Annotations[specs.AnnotationNetwork] != p.account.Network {
			continue
		}
		// A member of a remote service stores its TLS certificate as soon
		// as the directory signs it, before the data certificate.
		if len(certs.Data[specs.KeyMemberCert]) == 0 || len(certs.Data[specs.KeyMemberDataCert]) == 0 || len(certs.Data[specs.KeyContract]) == 0 {
			continue
		}
		seen[sid] = true
		out = append(out, specs.Member{Membership: m.Name, ServiceID: sid, MemberID: mid,
			KeySecret: keys.Name, CertSecret: certs.Name})
		fmt.Fprintf(h, "%d %s\n%s\n%s\n%s\n", sid, mid, certs.Data[specs.KeyMemberCert], certs.Data[specs.KeyMemberDataCert], certs.Data[specs.KeyContract])
	}
	slices.SortFunc(out, func(a, b specs.Member) int { return int(int64(a.ServiceID) - int64(b.ServiceID)) })
	return out, hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// reconcileDNS publishes <account id>.accounts.<network> at the pod's
// address, once there is one.
func (r *DataPodReconciler) reconcileDNS(ctx context.Context, p *podPass) error {
	if p.status.Address == "" {
		p.conds.set(byodav1alpha1.ConditionDNSReady, false, byodav1alpha1.ReasonAddressPending,
			"No address to publish %s at: set spec.dns.target, or wait for the load balancer of Service %s", p.status.FQDN, p.dp.Name)
		return nil
	}
	if _, err := apply(ctx, r.Client, newDNSEndpoint(), specs.DataPodDNSEndpoint(p.dp, p.account, p.status.Address)); err != nil {
		return err
	}
	p.conds.set(byodav1alpha1.ConditionDNSReady, true, byodav1alpha1.ReasonPublished,
		"DNSEndpoint %s publishes %s at %s", p.dp.Name, p.status.FQDN, p.status.Address)
	return nil
}

func (r *DataPodReconciler) secrets() secrets {
	return secrets{client: r.Client, reader: r.APIReader}
}

func (r *DataPodReconciler) requester() requester {
	return requester{client: r.Client, reader: r.APIReader, now: r.Clock.Now, retry: r.Options.RetryInterval}
}

// SetupWithManager registers the reconciler: DataPods, the children they
// own, and the Memberships and Secrets (by label) that change their
// Deployment.
func (r *DataPodReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("datapod").
		For(&byodav1alpha1.DataPod{}, builderForPredicates()).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&cmv1.CertificateRequest{}).
		Owns(newDNSEndpoint()).
		Watches(&corev1.Secret{}, enqueueByLabel(byodav1alpha1.LabelDataPod)).
		Watches(&byodav1alpha1.Membership{}, enqueueMembershipDataPod()).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

// renewalNote mentions renewals in progress in a True condition's message.
func renewalNote(waiting ...string) string {
	if s := joinNonEmpty(waiting...); s != "" {
		return "; renewing: " + s
	}
	return ""
}
