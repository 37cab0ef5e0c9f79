package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

// The node's load balancers, as cloud-provider-kind gives kind clusters
// theirs: Services of type LoadBalancer (of the default class) get an
// address from the node's pool, written to status.loadBalancer.ingress.
// kube-proxy then routes that address to the Service's endpoints, for pods
// (whose traffic passes the node) and for the host, which routes the pool to
// the node's IP. The pool is a /28 of 100.64.0.0/10 that overlaps nothing the
// host knows, so nodes running side by side never share one.

// lbPoolBits is the size of the pool: a /28, 14 usable addresses.
const lbPoolBits = 28

// pickLBPool chooses the node's pool: a random /28 in 100.64.0.0/10 that
// overlaps no address or route of the host and not the node's link.
func pickLBPool(link linkNet) (netip.Prefix, error) {
	used, err := hostNets()
	if err != nil {
		return netip.Prefix{}, err
	}
	used = append(used, &net.IPNet{IP: link.host, Mask: net.CIDRMask(30, 32)})
	_, shared, _ := net.ParseCIDR("100.64.0.0/10")
	hostMask := uint32(1)<<(32-lbPoolBits) - 1
	for range 64 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return netip.Prefix{}, err
		}
		n := binary.BigEndian.Uint32(shared.IP.To4()) | (binary.BigEndian.Uint32(b[:]) & 0x003fffff &^ hostMask)
		base := make(net.IP, 4)
		binary.BigEndian.PutUint32(base, n)
		if overlapsAny(&net.IPNet{IP: base, Mask: net.CIDRMask(lbPoolBits, 32)}, used) {
			continue
		}
		addr, _ := netip.AddrFromSlice(base)
		return netip.PrefixFrom(addr, lbPoolBits), nil
	}
	return netip.Prefix{}, errors.New("no free /28 in 100.64.0.0/10 for the node's load balancers")
}

// loadBalancer assigns pool addresses to the Services of type LoadBalancer.
type loadBalancer struct {
	cs   kubernetes.Interface
	pool netip.Prefix
	log  *slog.Logger
}

// run assigns addresses until ctx ends: on every change to a Service, and
// every few seconds in case a status write lost a race.
func (lb *loadBalancer) run(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(lb.cs, 0)
	services := factory.Core().V1().Services()
	syncOnChange(ctx, factory, lb.log, "Load balancer", func(ctx context.Context) { lb.assign(ctx, services.Lister()) },
		services.Informer())
}

// assign gives every LoadBalancer Service without an address the lowest free
// one of the pool, and takes it back from Services that are no longer of
// that type.
func (lb *loadBalancer) assign(ctx context.Context, lister corev1listers.ServiceLister) {
	all, err := lister.List(labels.Everything())
	if err != nil {
		return
	}
	slices.SortFunc(all, func(a, b *corev1.Service) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	used := map[netip.Addr]bool{}
	var want []*corev1.Service
	for _, svc := range all {
		ours := lb.addresses(svc)
		switch {
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil:
			if len(ours) == 0 {
				want = append(want, svc)
			}
			for _, a := range ours {
				used[a] = true
			}
		case len(ours) > 0:
			lb.setIngress(ctx, svc, nil)
		}
	}
	next := lb.pool.Addr().Next() // the network address is not handed out
	for _, svc := range want {
		for used[next] {
			next = next.Next()
		}
		if !lb.pool.Contains(next.Next()) { // the last address is the broadcast address
			lb.log.Info("Load balancer pool exhausted", "pool", lb.pool, "service", svc.Namespace+"/"+svc.Name)
			return
		}
		used[next] = true
		lb.setIngress(ctx, svc, []corev1.LoadBalancerIngress{{IP: next.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}})
	}
}

// addresses returns the pool addresses in a Service's load balancer status.
func (lb *loadBalancer) addresses(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil && lb.pool.Contains(a) {
			out = append(out, a)
		}
	}
	return out
}

func (lb *loadBalancer) setIngress(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) {
	svc = svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = ingress
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := lb.cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		lb.log.Debug("Load balancer status not written", "service", svc.Namespace+"/"+svc.Name, "err", err)
		return
	}
	lb.log.Debug("Load balancer status written", "service", svc.Namespace+"/"+svc.Name, "ingress", fmt.Sprint(ingress))
}
