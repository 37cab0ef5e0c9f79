package testenv

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestDNSPublishesDNSEndpoint checks the path a DataPod's DNS name takes: a
// DNSEndpoint in the cluster, external-dns, PowerDNS, a DNS answer.
func TestDNSPublishesDNSEndpoint(t *testing.T) {
	t.Parallel()
	k := sharedKube(t)
	d := StartDNS(t, k, "byoda.test")
	ns := k.CreateNamespace(t, "dns")
	ctx := t.Context()
	const name, timeout = "pod1.byoda.test", 30 * time.Second

	rrs, err := d.Lookup(ctx, "byoda.test", dns.TypeSOA)
	if err != nil || len(rrs) != 1 {
		t.Fatalf("SOA of the zone: %v %v", rrs, err)
	}

	ep := &unstructured.Unstructured{}
	ep.SetGroupVersionKind(DNSEndpointGVK)
	ep.SetNamespace(ns)
	ep.SetName("pod1")
	setEndpoint := func(target string) {
		t.Helper()
		err := unstructured.SetNestedSlice(ep.Object, []any{map[string]any{
			"dnsName":    name,
			"recordType": "A",
			"recordTTL":  int64(60),
			"targets":    []any{target},
		}}, "spec", "endpoints")
		if err != nil {
			t.Fatal(err)
		}
	}

	setEndpoint("10.1.2.3")
	if err := k.Client.Create(ctx, ep); err != nil {
		t.Fatalf("create DNSEndpoint: %v", err)
	}
	d.WaitRecords(t, name, dns.TypeA, timeout, "10.1.2.3")

	// external-dns writes the status, so patch rather than update the spec.
	before := ep.DeepCopy()
	setEndpoint("10.1.2.4")
	if err := k.Client.Patch(ctx, ep, client.MergeFrom(before)); err != nil {
		t.Fatalf("update DNSEndpoint: %v", err)
	}
	d.WaitRecords(t, name, dns.TypeA, timeout, "10.1.2.4")

	if err := k.Client.Delete(ctx, ep); err != nil {
		t.Fatalf("delete DNSEndpoint: %v", err)
	}
	d.WaitRecords(t, name, dns.TypeA, timeout)
}
