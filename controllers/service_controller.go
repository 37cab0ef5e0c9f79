package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
	byodaac "github.com/byoda-go/byoda/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/byoda-go/byoda/controllers/specs"
	"github.com/byoda-go/byoda/internal/contract"
)

// +kubebuilder:rbac:groups=byoda.net,resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=byoda.net,resources=services/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=byoda.net,resources=services/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates;issuers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=externaldns.k8s.io,resources=dnsendpoints,verbs=get;list;watch;create;update;patch;delete

// ServiceReconciler validates a Service's contract, publishes it, makes
// the service's CA hierarchy and certificates with cert-manager, and runs
// the service's directory with them.
type ServiceReconciler struct {
	Client client.Client
	// APIReader reads what the operator does not own: a contract
	// ConfigMap, the network data key Secret.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   Options
	Clock     clock.PassiveClock

	statuses statusWrites
}

// servicePass is the state of one reconcile pass of a Service.
type servicePass struct {
	svc      *byodav1alpha1.Service
	status   byodav1alpha1.ServiceStatus
	conds    *conditions
	in       specs.ServiceInputs
	contract []byte
	// blocked stops the pass: the contract is missing or invalid, and
	// nothing is made from it.
	blocked bool
	next    time.Duration
}

func (p *servicePass) after(d time.Duration) {
	if d > 0 && (p.next == 0 || d < p.next) {
		p.next = d
	}
}

// serviceConditions are the conditions whose conjunction is a Service's
// Ready.
var serviceConditions = []string{byodav1alpha1.ConditionContractValid, byodav1alpha1.ConditionCAReady,
	byodav1alpha1.ConditionCertificateReady, byodav1alpha1.ConditionDirectoryReady, byodav1alpha1.ConditionDNSReady}

// block stops the pass: the CAs, certificates and directory wait for a
// valid contract.
func (p *servicePass) block(reason, format string, args ...any) {
	p.conds.set(byodav1alpha1.ConditionContractValid, false, reason, format, args...)
	for _, typ := range serviceConditions[1:] {
		p.conds.set(typ, false, reason, "Not reconciled until the contract is valid")
	}
	p.blocked = true
}

// Reconcile brings one Service to its desired state.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var svc byodav1alpha1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			r.statuses.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !svc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // children go with their owner references
	}
	p := &servicePass{svc: &svc, status: *svc.Status.DeepCopy()}
	p.conds = newConditions(svc.Status.Conditions, svc.Generation, r.Clock.Now())
	p.in = r.inputs(&svc)
	p.status.Network = p.in.Network

	for _, step := range []func(context.Context, *servicePass) error{
		r.reconcileContract,
		r.reconcileCAs,
		r.reconcileCertificates,
		r.reconcileDirectory,
		r.reconcileDirectoryService,
	} {
		if err := step(ctx, p); err != nil || p.blocked {
			return r.finish(ctx, p, err)
		}
	}
	return r.finish(ctx, p, nil)
}

func (r *ServiceReconciler) inputs(svc *byodav1alpha1.Service) specs.ServiceInputs {
	network := svc.Spec.Network.Domain
	if network == "" {
		network = r.Options.NetworkDomain
	}
	issuer := byodav1alpha1.IssuerReference{Name: r.Options.ServicesIssuer}
	if ref := svc.Spec.Network.IssuerRef; ref != nil {
		issuer = *ref
	}
	return specs.ServiceInputs{Service: svc, Network: network, ServicesIssuer: specs.IssuerRef(issuer)}
}

func (r *ServiceReconciler) finish(ctx context.Context, p *servicePass, err error) (ctrl.Result, error) {
	if transient(err) {
		return ctrl.Result{}, err
	}
	p.conds.setReady(serviceConditions, "", "")
	p.status.Conditions = p.conds.list
	p.status.ObservedGeneration = p.svc.Generation
	if becameReady(p.svc.Status.Conditions, p.status.Conditions) {
		r.Recorder.Eventf(p.svc, nil, corev1.EventTypeNormal, "Ready", "Reconcile",
			"Service %d is ready: contract %s version %d, members CA Issuer %s, directory %s",
			p.svc.Spec.ServiceID, p.status.ContractName, p.status.ContractVersion, p.status.MembersIssuer, p.status.DirectoryURL)
	}
	ac := byodaac.Service(p.svc.Name, p.svc.Namespace)
	if werr := r.statuses.apply(ctx, r.Client, p.svc, p.svc.Status, p.status, ac, &ac.Status); werr != nil {
		return ctrl.Result{}, werr
	}
	return passResult(err, p.next)
}

// reconcileContract reads the contract, validates it and publishes it. An
// invalid contract creates nothing, and the condition names the JSON
// pointer of every problem. An inline contract that is invalid is a
// terminal error: only a new spec can change it. A contract in a ConfigMap
// (which the operator cannot watch: its cache holds only what it owns) is
// read again every RetryInterval, valid or not, so that an edit to it is
// picked up.
func (r *ServiceReconciler) reconcileContract(ctx context.Context, p *servicePass) error {
	svc := p.svc
	raw, missing, err := r.contractBytes(ctx, svc)
	if err != nil {
		return err
	}
	if missing != "" {
		p.block(byodav1alpha1.ReasonContractNotFound, "%s", missing)
		p.after(r.Options.RetryInterval)
		return nil
	}
	c, err := contract.Parse(raw)
	if err != nil {
		var errs contract.Errors
		msg := err.Error()
		if errors.As(err, &errs) {
			msg = formatContractErrors(errs)
		}
		if c := meta.FindStatusCondition(svc.Status.Conditions, byodav1alpha1.ConditionContractValid); c == nil ||
			c.Reason != byodav1alpha1.ReasonContractInvalid || c.ObservedGeneration != svc.Generation {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, byodav1alpha1.ReasonContractInvalid, "Reconcile", "%s", truncate(msg, 1000))
		}
		p.block(byodav1alpha1.ReasonContractInvalid, "The contract is invalid: %s", msg)
		return r.recheckContract(p, fmt.Errorf("the contract of service %s/%s is invalid", svc.Namespace, svc.Name))
	}
	if int64(c.ServiceID) != svc.Spec.ServiceID {
		p.block(byodav1alpha1.ReasonServiceIDMismatch,
			"/service_id: the contract is for service %d but spec.serviceID is %d", c.ServiceID, svc.Spec.ServiceID)
		return r.recheckContract(p, fmt.Errorf("the contract of service %s/%s is for service %d", svc.Namespace, svc.Name, c.ServiceID))
	}
	if err := r.recheckContract(p, nil); err != nil {
		return err
	}
	p.contract = raw
	p.status.ContractName = c.Name
	p.status.ContractVersion = c.Version
	p.status.ContractConfigMap = specs.ContractConfigMapName(svc)
	if _, err := apply(ctx, r.Client, &corev1.ConfigMap{}, specs.ContractConfigMap(svc, raw, c.Version)); err != nil {
		return err
	}
	p.conds.set(byodav1alpha1.ConditionContractValid, true, byodav1alpha1.ReasonContractValid,
		"Contract %s version %d is valid and published in ConfigMap %s", c.Name, c.Version, specs.ContractConfigMapName(svc))
	return nil
}

// recheckContract ends a pass that found the contract wrong (err), or
// schedules the next look at a contract in a ConfigMap. Only an inline
// contract that is wrong ends the pass with a terminal error.
func (r *ServiceReconciler) recheckContract(p *servicePass, err error) error {
	if p.svc.Spec.Contract.ConfigMapKeyRef == nil {
		if err != nil {
			return reconcile.TerminalError(err)
		}
		return nil
	}
	p.after(r.Options.RetryInterval)
	return nil
}

// contractBytes returns the contract document, or why it cannot be found.
func (r *ServiceReconciler) contractBytes(ctx context.Context, svc *byodav1alpha1.Service) (raw []byte, missing string, err error) {
	src := svc.Spec.Contract
	if src.Inline != nil {
		return src.Inline.Raw, "", nil
	}
	ref := src.ConfigMapKeyRef
	if ref.Name == specs.ContractConfigMapName(svc) {
		return nil, fmt.Sprintf("spec.contract.configMapKeyRef names ConfigMap %s, which the operator publishes the contract in; "+
			"keep the source under another name", ref.Name), nil
	}
	key := ref.Key
	if key == "" {
		key = specs.KeyContract
	}
	var cm corev1.ConfigMap
	err = r.APIReader.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: ref.Name}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("ConfigMap %s named by spec.contract.configMapKeyRef does not exist", ref.Name), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("get configmap %s/%s: %w", svc.Namespace, ref.Name, err)
	}
	if v, ok := cm.Data[key]; ok {
		return []byte(v), "", nil
	}
	if v, ok := cm.BinaryData[key]; ok {
		return v, "", nil
	}
	return nil, fmt.Sprintf("ConfigMap %s named by spec.contract.configMapKeyRef has no key %s", ref.Name, key), nil
}

// formatContractErrors lists the first problems of a contract, each as
// "<JSON pointer>: <message>".
func formatContractErrors(errs contract.Errors) string {
	const limit = 20
	var parts []string
	for i, e := range errs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(errs)-limit))
			break
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// reconcileCAs applies the service CA, members CA and apps CA Certificates
// and their Issuers, and reports whether all are ready.
func (r *ServiceReconciler) reconcileCAs(ctx context.Context, p *servicePass) error {
	var pending []string
	for _, ac := range specs.CAs(p.in) {
		var live cmv1.Certificate
		if _, err := apply(ctx, r.Client, &live, ac); err != nil {
			return err
		}
		if msg := certificateNotReady(&live); msg != "" {
			pending = append(pending, fmt.Sprintf("Certificate %s: %s", ptr.Deref(ac.Name, ""), msg))
		}
	}
	for _, ac := range specs.Issuers(p.in) {
		var live cmv1.Issuer
		if _, err := apply(ctx, r.Client, &live, ac); err != nil {
			return err
		}
		if msg := issuerNotReady(&live); msg != "" {
			pending = append(pending, fmt.Sprintf("Issuer %s: %s", ptr.Deref(ac.Name, ""), msg))
		}
	}
	if len(pending) > 0 {
		p.conds.set(byodav1alpha1.ConditionCAReady, false, byodav1alpha1.ReasonCAPending, "%s", strings.Join(pending, "; "))
		return nil
	}
	p.status.MembersIssuer = specs.CAName(p.svc, specs.MembersCA)
	p.conds.set(byodav1alpha1.ConditionCAReady, true, byodav1alpha1.ReasonIssued,
		"Service CA, members CA and apps CA are issued under %s %s and their Issuers are ready",
		p.in.ServicesIssuer.Kind, p.in.ServicesIssuer.Name)
	return nil
}

// reconcileCertificates applies the service's TLS and data Certificates.
func (r *ServiceReconciler) reconcileCertificates(ctx context.Context, p *servicePass) error {
	var pending []string
	for _, ac := range specs.Leaves(p.in) {
		var live cmv1.Certificate
		if _, err := apply(ctx, r.Client, &live, ac); err != nil {
			return err
		}
		if msg := certificateNotReady(&live); msg != "" {
			pending = append(pending, fmt.Sprintf("Certificate %s: %s", ptr.Deref(ac.Name, ""), msg))
		}
	}
	if len(pending) > 0 {
		p.conds.set(byodav1alpha1.ConditionCertificateReady, false, byodav1alpha1.ReasonCertificatePending, "%s", strings.Join(pending, "; "))
		return nil
	}
	p.conds.set(byodav1alpha1.ConditionCertificateReady, true, byodav1alpha1.ReasonIssued,
		"Service TLS and data certificates are issued")
	return nil
}

// certificateNotReady returns why a Certificate is not Ready for its
// current spec, or "".
func certificateNotReady(c *cmv1.Certificate) string {
	if c.UID == "" {
		return "just applied"
	}
	for _, cond := range c.Status.Conditions {
		if cond.Type != cmv1.CertificateConditionReady {
			continue
		}
		if cond.Status == cmmeta.ConditionTrue && cond.ObservedGeneration >= c.Generation {
			return ""
		}
		return cond.Reason + ": " + cond.Message
	}
	return "not issued yet"
}

// issuerNotReady returns why an Issuer is not Ready, or "".
func issuerNotReady(iss *cmv1.Issuer) string {
	if iss.UID == "" {
		return "just applied"
	}
	for _, cond := range iss.Status.Conditions {
		if cond.Type != cmv1.IssuerConditionReady {
			continue
		}
		if cond.Status == cmmeta.ConditionTrue && cond.ObservedGeneration >= iss.Generation {
			return ""
		}
		return cond.Reason + ": " + cond.Message
	}
	return "not checked by cert-manager yet"
}

// SetupWithManager registers the reconciler: Services and the children
// they own.
func (r *ServiceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&byodav1alpha1.Service{}, builderForPredicates()).
		Owns(&corev1.ConfigMap{}).
		Owns(&cmv1.Certificate{}).
		Owns(&cmv1.Issuer{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(newDNSEndpoint()).
		WithOptions(controllerOptions(r.Options)).
		Complete(r)
}
