package controllers

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	byodaac "github.com/byoda-go/byoda/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

// +kubebuilder:rbac:groups=byoda.net,resources=memberships,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=byoda.net,resources=memberships/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=byoda.net,resources=memberships/finalizers,verbs=update

// membershipFinalizer lets the operator delete a Membership's
// CertificateRequests, which live in the Service's namespace where no owner
// reference can reach them.
const membershipFinalizer = "byoda.net/certificate-requests"

// MembershipReconciler makes a DataPod join a service: a member id and key
// in the DataPod's namespace, member certificates from the service's members
// CA, the service's contract beside them, and a DNS name. The service is a
// Service of this cluster, whose members CA signs by CertificateRequest, or
// a remote service, whose directory is reached over REST: its contract is
// read there and verified, the member's CSRs are signed there, and the
// member-data certificate is published there.
type MembershipReconciler struct {
	Client client.Client
	// APIReader confirms that a key Secret is really gone before the
	// reconciler says so, and reads the chain of a newly issued
	// CertificateRequest, which the cache does not hold.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   Options
	Clock     clock.PassiveClock

	statuses statusWrites
}

// memberPass is the state of one reconcile pass of a Membership.
type memberPass struct {
	m      *byodav1alpha1.Membership
	status byodav1alpha1.MembershipStatus
	conds  *conditions
	dp     *byodav1alpha1.DataPod
	// sid and network are the joined service's, and so the member's.
	sid     uint32
	network string
	// svc is the joined Service of this cluster, remote a service run
	// elsewhere: one of the two is set.
	svc    *byodav1alpha1.Service
	remote *remoteService
	// contract and contractVersion are a remote service's contract, with
	// its signatures verified.
	contract        []byte
	contractVersion int
	id              specs.MemberIdentity
	// keySecret holds the member's keys.
	keySecret *corev1.Secret
	// certsStored says the member certificates and contract are in the
	// member Secret.
	certsStored bool
	// contractMissing, when not empty, says why the contract is not there.
	contractMissing string
	// blocked stops the pass: something it needs is missing.
	blocked bool
	next    time.Duration
}

func (p *memberPass) after(d time.Duration) {
	if d > 0 && (p.next == 0 || d < p.next) {
		p.next = d
	}
}

// block stops the pass with every condition False for the same reason.
func (p *memberPass) block(reason, format string, args ...any) {
	for _, typ := range []string{byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady, byodav1alpha1.ConditionJoined} {
		p.conds.set(typ, false, reason, format, args...)
	}
	p.blocked = true
}

// Reconcile brings one Membership to its desired state.
func (r *MembershipReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var m byodav1alpha1.Membership
	if err := r.Client.Get(ctx, req.NamespacedName, &m); err != nil {
		if apierrors.IsNotFound(err) {
			r.statuses.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, &m)
	}
	p := &memberPass{m: &m, status: *m.Status.DeepCopy()}
	p.conds = newConditions(m.Status.Conditions, m.Generation, r.Clock.Now())
	for _, step := range []func(context.Context, *memberPass) error{
		r.reconcileReferences,
		r.ensureFinalizer,
		r.reconcileRemoteContract,
		r.reconcileMemberKey,
		r.reconcileCertificates,
		r.reconcileDNS,
		r.reconcileJoined,
	} {
		if err := step(ctx, p); err != nil || p.blocked {
			return r.finish(ctx, p, err)
		}
	}
	return r.finish(ctx, p, nil)
}

func (r *MembershipReconciler) finish(ctx context.Context, p *memberPass, err error) (ctrl.Result, error) {
	if transient(err) {
		return ctrl.Result{}, err
	}
	p.conds.setReady([]string{byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDNSReady,
		byodav1alpha1.ConditionJoined}, "", "")
	p.status.Conditions = p.conds.list
	p.status.ObservedGeneration = p.m.Generation
	ac := byodaac.Membership(p.m.Name, p.m.Namespace)
	if werr := r.statuses.apply(ctx, r.Client, p.m, p.m.Status, p.status, ac, &ac.Status); werr != nil {
		return ctrl.Result{}, werr
	}
	return passResult(err, p.next)
}

// reconcileReferences finds the DataPod and the service, and waits while
// either is missing or not ready; watches on both bring the pass back.
func (r *MembershipReconciler) reconcileReferences(ctx context.Context, p *memberPass) error {
	m := p.m
	var dp byodav1alpha1.DataPod
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.DataPodRef.Name}, &dp)
	if apierrors.IsNotFound(err) {
		p.block(byodav1alpha1.ReasonDataPodNotFound, "DataPod %s/%s does not exist", m.Namespace, m.Spec.DataPodRef.Name)
		p.after(r.Options.RetryInterval)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get datapod: %w", err)
	}
	p.dp = &dp
	if m.Spec.Service.ServiceID != nil {
		return r.remoteReferences(ctx, p)
	}
	key := membershipServiceKey(m)
	ns, name, _ := strings.Cut(key, "/")
	var svc byodav1alpha1.Service
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &svc)
	if apierrors.IsNotFound(err) {
		p.block(byodav1alpha1.ReasonServiceNotFound, "Service %s does not exist", key)
		p.after(r.Options.RetryInterval)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service: %w", err)
	}
	p.svc = &svc
	if svc.Status.MembersIssuer == "" || svc.Status.ContractConfigMap == "" ||
		!meta.IsStatusConditionTrue(svc.Status.Conditions, byodav1alpha1.ConditionContractValid) ||
		!meta.IsStatusConditionTrue(svc.Status.Conditions, byodav1alpha1.ConditionCAReady) {
		msg := "not reconciled yet"
		if c := meta.FindStatusCondition(svc.Status.Conditions, byodav1alpha1.ConditionReady); c != nil {
			msg = c.Message
		}
		p.block(byodav1alpha1.ReasonServiceNotReady, "Service %s is not ready: %s", key, msg)
		p.after(r.Options.RetryInterval)
		return nil
	}
	if network := r.dataPodNetwork(&dp); network != svc.Status.Network {
		p.block(byodav1alpha1.ReasonNetworkMismatch, "DataPod %s is in network %s but Service %s is in network %s",
			dp.Name, network, key, svc.Status.Network)
		return reconcile.TerminalError(errors.New("network mismatch"))
	}
	p.sid, p.network = uint32(svc.Spec.ServiceID), svc.Status.Network
	return nil
}

// remoteReferences prepares the joining of a remote service: in the
// DataPod's network, through the directory at spec.service.directoryURL
// (by default the service's DNS name), checked against the network root
// that came with the DataPod's account certificates.
func (r *MembershipReconciler) remoteReferences(ctx context.Context, p *memberPass) error {
	m, dp := p.m, p.dp
	sid := uint32(*m.Spec.Service.ServiceID)
	network := r.dataPodNetwork(dp)
	var acct corev1.Secret
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: dp.Namespace, Name: specs.AccountSecretName(dp)}, &acct)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret: %w", err)
	}
	roots, perr := pki.ParseCertificates(acct.Data[specs.KeyRootCA])
	if err != nil || perr != nil || roots[0].Subject.CommonName != pki.RootCAName(network) {
		p.block(byodav1alpha1.ReasonDataPodNotReady,
			"DataPod %s has no account certificates yet: the network root that the directory of service %d is checked against comes with them",
			dp.Name, sid)
		p.after(r.Options.RetryInterval)
		return nil
	}
	url := m.Spec.Service.DirectoryURL
	if url == "" {
		url = specs.DirectoryURL(sid, network)
	}
	p.sid, p.network = sid, network
	p.remote = &remoteService{sid: sid, network: network, url: url, root: roots[0]}
	return nil
}

// reconcileRemoteContract reads a remote service's contract from its
// directory and checks the service's and the network's signatures on it,
// as the pod will. With autoUpgrade off, the contract the pod already has
// stays. A directory that does not answer while the pod has a contract
// leaves it in place; the pass looks again after the retry interval.
func (r *MembershipReconciler) reconcileRemoteContract(ctx context.Context, p *memberPass) error {
	rs := p.remote
	if rs == nil {
		return nil
	}
	var stored corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: p.m.Namespace, Name: specs.MemberSecretName(p.m)}, &stored); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret: %w", err)
	}
	have := stored.Data[specs.KeyContract]
	if len(have) > 0 && !ptr.Deref(p.m.Spec.AutoUpgrade, true) {
		p.contract = have
		p.contractVersion, _ = strconv.Atoi(stored.Annotations[specs.AnnotationContractVersion])
		return nil
	}
	raw, err := r.fetchContract(ctx, rs)
	if err != nil {
		if len(have) > 0 {
			ctrl.LoggerFrom(ctx).Info("Reading the contract from the service directory failed; the pod keeps its contract", "url", rs.url, "err", err.Error())
			p.contract = have
			p.contractVersion, _ = strconv.Atoi(stored.Annotations[specs.AnnotationContractVersion])
			p.after(r.Options.RetryInterval)
			return nil
		}
		p.block(directoryProblem(err), "Reading the contract of service %d from its directory at %s failed: %v", rs.sid, rs.url, err)
		p.after(r.Options.RetryInterval)
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(rs.root)
	c, err := contract.Verify(raw, roots, rs.network, r.Clock.Now())
	if err == nil && c.ServiceID != rs.sid {
		err = fmt.Errorf("it is the contract of service %d", c.ServiceID)
	}
	if err != nil {
		p.block(byodav1alpha1.ReasonContractUnverified,
			"The contract the directory at %s publishes is not the contract of service %d signed by the service and countersigned by network %s: %v",
			rs.url, rs.sid, rs.network, err)
		p.after(r.Options.RetryInterval)
		return nil
	}
	p.contract, p.contractVersion = raw, c.Version
	if ptr.Deref(p.m.Spec.AutoUpgrade, true) {
		p.after(remoteContractInterval)
	}
	return nil
}

// remoteContractInterval is how often a Membership of a remote service
// with autoUpgrade reads the service's contract again, for new versions.
const remoteContractInterval = 10 * time.Minute

func (r *MembershipReconciler) fetchContract(ctx context.Context, rs *remoteService) ([]byte, error) {
	c, err := rs.client(nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ServiceContract(ctx)
}

// dataPodNetwork is the network of a DataPod's account: as its status says,
// or before it has one, as the DataPod reconciler will choose it.
func (r *MembershipReconciler) dataPodNetwork(dp *byodav1alpha1.DataPod) string {
	switch {
	case dp.Status.Network != "":
		return dp.Status.Network
	case dp.Spec.Network.Domain != "":
		return dp.Spec.Network.Domain
	}
	return r.Options.NetworkDomain
}

// ensureFinalizer adds the finalizer that deletes the Membership's
// CertificateRequests from the Service's namespace. A member of a remote
// service has nothing outside its own namespace to clean up.
func (r *MembershipReconciler) ensureFinalizer(ctx context.Context, p *memberPass) error {
	if p.remote != nil || controllerutil.ContainsFinalizer(p.m, membershipFinalizer) {
		return nil
	}
	patch := client.MergeFrom(p.m.DeepCopy())
	controllerutil.AddFinalizer(p.m, membershipFinalizer)
	if err := r.Client.Patch(ctx, p.m, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	return nil
}

// reconcileMemberKey finds the member's keys or, the first time only, makes
// them with a new member id, in the DataPod's namespace.
func (r *MembershipReconciler) reconcileMemberKey(ctx context.Context, p *memberPass) error {
	m := p.m
	key := types.NamespacedName{Namespace: m.Namespace, Name: specs.MemberKeySecretName(m)}
	sec, err := r.secrets().cached(ctx, key)
	if err == nil && sec == nil && m.Status.MemberID != "" {
		sec, err = r.secrets().confirmed(ctx, key)
	}
	if err != nil {
		return err
	}
	if sec == nil {
		if m.Status.MemberID != "" {
			p.block(byodav1alpha1.ReasonKeyMissing,
				"Secret %s holding the keys of member %s was deleted. The operator never makes new keys for an existing member: restore the Secret from a backup, or delete the Membership and create it again as a new member",
				specs.MemberKeySecretName(m), m.Status.MemberID)
			r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, byodav1alpha1.ReasonKeyMissing, "Reconcile", "Member key Secret %s is missing", specs.MemberKeySecretName(m))
			return reconcile.TerminalError(errors.New("member key secret missing"))
		}
		id := specs.MemberIdentity{ID: uuid.New(), ServiceID: p.sid, Network: p.network}
		tlsKey, dataKey, err := newKeyPEMs()
		if err != nil {
			return err
		}
		var created bool
		if sec, created, err = r.secrets().create(ctx, specs.MemberKeySecret(m, id, tlsKey, dataKey)); err != nil {
			return err
		}
		if created {
			r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "MemberCreated", "Reconcile",
				"Created member %s of service %d, keys in Secret %s", id.ID, id.ServiceID, sec.Name)
		}
	}
	p.keySecret = sec
	mid, err := uuid.Parse(sec.Labels[byodav1alpha1.LabelMemberID])
	if err != nil {
		return fmt.Errorf("secret %s/%s: label %s: %w", sec.Namespace, sec.Name, byodav1alpha1.LabelMemberID, err)
	}
	sid, err := pki.ParseServiceID(sec.Labels[byodav1alpha1.LabelServiceID])
	if err != nil {
		return fmt.Errorf("secret %s/%s: label %s: %w", sec.Namespace, sec.Name, byodav1alpha1.LabelServiceID, err)
	}
	p.id = specs.MemberIdentity{ID: mid, ServiceID: sid, Network: sec.Annotations[specs.AnnotationNetwork]}
	p.status.MemberID = mid.String()
	p.status.ServiceID = ptr.To(int64(sid))
	p.status.FQDN = p.id.FQDN()
	if sid != p.sid || p.id.Network != p.network {
		p.block(byodav1alpha1.ReasonNetworkMismatch, "Member %s belongs to service %d in network %s, not to service %d in network %s",
			mid, sid, p.id.Network, p.sid, p.network)
		return reconcile.TerminalError(errors.New("member identity mismatch"))
	}
	return nil
}

// reconcileCertificates obtains the member's TLS and data certificates from
// the service's members CA, through the signer of the membership, and
// stores them with the service's contract in the member Secret in the
// DataPod's namespace. A member of a remote service then publishes its
// member-data certificate in the service's directory.
func (r *MembershipReconciler) reconcileCertificates(ctx context.Context, p *memberPass) error {
	m := p.m
	tlsKey, dataKey, err := parseKeys(p.keySecret, specs.KeyMemberKey, specs.KeyMemberDataKey)
	if err != nil {
		return reconcile.TerminalError(err)
	}
	var stored corev1.Secret
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: specs.MemberSecretName(m)}, &stored); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret: %w", err)
	}
	mid := p.id.ID
	slots := []slot{
		{File: "member", Name: pki.MemberName(p.id.ServiceID, mid, p.id.Network), Key: tlsKey},
		{File: "member-data", Name: pki.MemberDataName(p.id.ServiceID, mid, p.id.Network), Key: dataKey, Data: true},
	}
	if p.svc != nil {
		issuer := cmmeta.IssuerReference{Name: p.svc.Status.MembersIssuer, Kind: cmv1.IssuerKind, Group: "cert-manager.io"}
		for i := range slots {
			s := &slots[i]
			s.Namespace, s.Labels, s.Issuer = p.svc.Namespace, specs.MemberRequestLabels(m, mid, p.id.ServiceID), issuer
			data := s.Data
			s.RequestName = func(rev int) string { return specs.MemberRequestName(mid, data, rev) }
		}
	}
	sg := r.signer(p)
	var results [2]issue
	for i := range slots {
		results[i], err = sg.issue(ctx, slots[i], heldFrom(stored.Data, stored.Annotations, slots[i].File, nil))
		if err != nil {
			return err
		}
		p.after(results[i].Next)
	}
	tls, data := results[0], results[1]
	certs := specs.MemberCerts{
		TLS: tls.Held.Chain, Data: data.Held.Chain,
		TLSRevision: tls.Held.Revision, DataRevision: data.Held.Revision,
		Contract: p.contract, ContractVersion: p.contractVersion,
		Published: stored.Annotations[specs.AnnotationPublished],
	}
	if tls.Fresh || data.Fresh {
		// Signed only in the directory's answer: keep it before anything
		// else, or the member could not prove who it is to have it signed
		// again.
		err := retry.OnError(retry.DefaultBackoff, func(error) bool { return true }, func() error {
			_, err := apply(ctx, r.Client, &corev1.Secret{}, specs.MemberSecret(m, p.id, certs))
			return err
		})
		if err != nil {
			return err
		}
	}
	if !tls.Ready || !data.Ready {
		reason, msg := pending(slots, results[:])
		p.conds.set(byodav1alpha1.ConditionCertificateReady, false, reason, "%s", msg)
		return nil
	}
	var signedBy string
	if p.remote != nil {
		signedBy = "the directory at " + p.remote.url
	} else {
		signedBy = "Issuer " + p.svc.Namespace + "/" + p.svc.Status.MembersIssuer
	}
	p.conds.set(byodav1alpha1.ConditionCertificateReady, true, byodav1alpha1.ReasonIssued,
		"Member certificates for %s issued by %s%s", p.id.FQDN(), signedBy, renewalNote(tls.Waiting, data.Waiting))

	if p.svc != nil {
		doc, version, err := r.contract(ctx, p, &stored)
		if err != nil || doc == nil {
			return err
		}
		certs.Contract, certs.ContractVersion = doc, version
	} else {
		certs.Published = r.publishMemberData(ctx, p, tls.Held.Chain, tlsKey, data.Held.Chain, certs.Published)
	}
	p.status.ContractVersion = certs.ContractVersion
	if _, err := apply(ctx, r.Client, &corev1.Secret{}, specs.MemberSecret(m, p.id, certs)); err != nil {
		return err
	}
	p.certsStored = true
	return nil
}

// signer is the one place that picks how a membership's certificates are
// signed: by the members CA Issuer of a Service in this cluster, or by the
// directory of a remote service.
func (r *MembershipReconciler) signer(p *memberPass) signer {
	if p.remote != nil {
		return &directorySigner{svc: p.remote, now: r.Clock.Now, retry: r.Options.RetryInterval}
	}
	return r.requester()
}

// publishMemberData publishes the member-data certificate of a member of a
// remote service in the service's directory (PUT
// /api/v1/service/member/version/<v>, as the member), with the DataPod's
// address, so that others can check what the member signs. It returns
// what is now published, published when nothing changed or the
// publication failed; a failure sets CertificateReady False and is tried
// again after the retry interval.
func (r *MembershipReconciler) publishMemberData(ctx context.Context, p *memberPass, tlsChain []byte, tlsKey crypto.Signer, dataChain []byte, published string) string {
	rs := p.remote
	addr, err := r.publicAddress(ctx, p.dp)
	if err != nil {
		c := meta.FindStatusCondition(p.conds.list, byodav1alpha1.ConditionCertificateReady)
		p.conds.set(byodav1alpha1.ConditionCertificateReady, true, byodav1alpha1.ReasonIssued,
			"%s; the member-data certificate is published in the directory once DataPod %s has an address: %v", c.Message, p.dp.Name, err)
		return published
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\n%s\n%s", p.contractVersion, addr, dataChain))
	want := hex.EncodeToString(sum[:12])
	if want == published {
		return published
	}
	fail := func(err error) string {
		p.conds.set(byodav1alpha1.ConditionCertificateReady, false, directoryProblem(err),
			"Publishing the member-data certificate of %s in the directory at %s failed: %v", p.id.FQDN(), rs.url, err)
		p.after(r.Options.RetryInterval)
		return published
	}
	tlsCerts, err := pki.ParseCertificates(tlsChain)
	if err != nil {
		return fail(err)
	}
	dataCerts, err := pki.ParseCertificates(dataChain)
	if err != nil {
		return fail(err)
	}
	kp, err := pki.NewKeyPair(tlsKey, tlsCerts)
	if err != nil {
		return fail(err)
	}
	cert := kp.TLSCertificate()
	c, err := rs.client(&cert)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if _, err := c.PublishMemberData(ctx, p.contractVersion, dataCerts, addr.String()); err != nil {
		return fail(err)
	}
	return want
}

// publicAddress returns the IP address of a DataPod: spec.dns.target or
// its load balancer's address, a host name resolved.
func (r *MembershipReconciler) publicAddress(ctx context.Context, dp *byodav1alpha1.DataPod) (netip.Addr, error) {
	addr := dp.Spec.DNS.Target
	if addr == "" {
		addr = dp.Status.Address
	}
	if addr == "" {
		return netip.Addr{}, errors.New("no spec.dns.target and no load-balancer address yet")
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", strings.TrimSuffix(addr, "."))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", addr, err)
	}
	return ips[0].Unmap(), nil
}

// contract returns the contract the pod is to serve: the Service's current
// one, or with autoUpgrade off the one it already has.
func (r *MembershipReconciler) contract(ctx context.Context, p *memberPass, stored *corev1.Secret) ([]byte, int, error) {
	if !ptr.Deref(p.m.Spec.AutoUpgrade, true) && len(stored.Data[specs.KeyContract]) > 0 {
		v, _ := strconv.Atoi(stored.Annotations[specs.AnnotationContractVersion])
		return stored.Data[specs.KeyContract], v, nil
	}
	var cm corev1.ConfigMap
	key := types.NamespacedName{Namespace: p.svc.Namespace, Name: p.svc.Status.ContractConfigMap}
	err := r.Client.Get(ctx, key, &cm)
	if apierrors.IsNotFound(err) {
		p.contractMissing = fmt.Sprintf("The contract of Service %s/%s is not published in ConfigMap %s yet",
			p.svc.Namespace, p.svc.Name, key.Name)
		p.after(r.Options.RetryInterval)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get configmap %s: %w", key, err)
	}
	v, _ := strconv.Atoi(cm.Annotations[specs.AnnotationContractVersion])
	return []byte(cm.Data[specs.KeyContract]), v, nil
}

// reconcileDNS publishes <member id>.members-<service id>.<network> at the
// DataPod's address.
func (r *MembershipReconciler) reconcileDNS(ctx context.Context, p *memberPass) error {
	// spec.dns.target is the address as soon as the DataPod exists; the
	// status has the load balancer's once the DataPod has seen it.
	addr := p.dp.Spec.DNS.Target
	if addr == "" {
		addr = p.dp.Status.Address
	}
	if addr == "" {
		p.conds.set(byodav1alpha1.ConditionDNSReady, false, byodav1alpha1.ReasonAddressPending,
			"DataPod %s has no address to publish %s at yet", p.dp.Name, p.id.FQDN())
		return nil
	}
	if _, err := apply(ctx, r.Client, newDNSEndpoint(), specs.MemberDNSEndpoint(p.m, p.id, addr, p.dp.Spec.DNS.TTL)); err != nil {
		return err
	}
	p.conds.set(byodav1alpha1.ConditionDNSReady, true, byodav1alpha1.ReasonPublished,
		"DNSEndpoint %s publishes %s at %s", p.m.Name, p.id.FQDN(), addr)
	return nil
}

// reconcileJoined reports whether the DataPod's Deployment serves the
// membership, as the DataPod's status says.
func (r *MembershipReconciler) reconcileJoined(_ context.Context, p *memberPass) error {
	if p.contractMissing != "" {
		p.conds.set(byodav1alpha1.ConditionJoined, false, byodav1alpha1.ReasonServiceNotReady, "%s", p.contractMissing)
		return nil
	}
	for _, jm := range p.dp.Status.Memberships {
		switch {
		case jm.Name == p.m.Name && jm.MemberID == p.id.ID.String():
			p.conds.set(byodav1alpha1.ConditionJoined, true, byodav1alpha1.ReasonJoined,
				"DataPod %s serves service %d as member %s", p.dp.Name, p.id.ServiceID, p.id.ID)
			return nil
		case jm.ServiceID == int64(p.id.ServiceID) && jm.Name != p.m.Name:
			p.conds.set(byodav1alpha1.ConditionJoined, false, byodav1alpha1.ReasonDuplicateService,
				"DataPod %s is already a member of service %d through Membership %s", p.dp.Name, p.id.ServiceID, jm.Name)
			return nil
		}
	}
	if !p.certsStored {
		p.conds.set(byodav1alpha1.ConditionJoined, false, byodav1alpha1.ReasonRolloutPending,
			"Waiting for the member certificates")
		return nil
	}
	p.conds.set(byodav1alpha1.ConditionJoined, false, byodav1alpha1.ReasonRolloutPending,
		"Member certificates and contract are in Secret %s; waiting for DataPod %s to serve them", specs.MemberSecretName(p.m), p.dp.Name)
	return nil
}

// finalize deletes the Membership's CertificateRequests from the Service's
// namespace and releases the Membership. Its Secrets and DNSEndpoint go
// with their owner references.
func (r *MembershipReconciler) finalize(ctx context.Context, m *byodav1alpha1.Membership) error {
	if !controllerutil.ContainsFinalizer(m, membershipFinalizer) {
		return nil
	}
	var list cmv1.CertificateRequestList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{
		byodav1alpha1.LabelMembership:          m.Name,
		byodav1alpha1.LabelMembershipNamespace: m.Namespace,
	}); err != nil {
		return fmt.Errorf("list certificate requests: %w", err)
	}
	for i := range list.Items {
		if err := r.Client.Delete(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete certificate request %s/%s: %w", list.Items[i].Namespace, list.Items[i].Name, err)
		}
	}
	patch := client.MergeFrom(m.DeepCopy())
	controllerutil.RemoveFinalizer(m, membershipFinalizer)
	if err := r.Client.Patch(ctx, m, patch); err != nil {
		return fmt.Errorf("remove finalizer: %w", client.IgnoreNotFound(err))
	}
	return nil
}

func (r *MembershipReconciler) secrets() secrets {
	return secrets{client: r.Client, reader: r.APIReader}
}

func (r *MembershipReconciler) requester() requester {
	return requester{client: r.Client, reader: r.APIReader, now: r.Clock.Now, retry: r.Options.RetryInterval}
}

// SetupWithManager registers the reconciler: Memberships, the children they
// own, their CertificateRequests in Services' namespaces (by label), and the
// DataPods and Services they refer to.
func (r *MembershipReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("membership").
		For(&byodav1alpha1.Membership{}, builderForPredicates()).
		Owns(&corev1.Secret{}).
		Owns(newDNSEndpoint()).
		Watches(&cmv1.CertificateRequest{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				l := o.GetLabels()
				if l[byodav1alpha1.LabelMembership] == "" || l[byodav1alpha1.LabelMembershipNamespace] == "" {
					return nil
				}
				return []reconcile.Request{{NamespacedName: types.NamespacedName{
					Namespace: l[byodav1alpha1.LabelMembershipNamespace], Name: l[byodav1alpha1.LabelMembership]}}}
			})).
		Watches(&byodav1alpha1.DataPod{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return r.memberships(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexDataPod: o.GetName()})
			})).
		Watches(&byodav1alpha1.Service{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return r.memberships(ctx, client.MatchingFields{indexService: o.GetNamespace() + "/" + o.GetName()})
			})).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}

// memberships lists Memberships from the cache as requests.
func (r *MembershipReconciler) memberships(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list byodav1alpha1.MembershipList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "List memberships failed")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return out
}
