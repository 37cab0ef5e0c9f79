package cluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/byoda-go/byoda/test/cluster/image"
	"github.com/byoda-go/byoda/test/testenv"
)

// installCertManager installs what the charts need before them, as a
// cluster's administrator would: cert-manager's CRDs and its controller,
// and external-dns's DNSEndpoint CRD (the operator publishes DNS through
// it).
func (e *env) installCertManager() {
	e.t.Helper()
	e.run("apply", "--server-side", "-f", testenv.CRDDir("cert-manager"), "-f", testenv.CRDDir("external-dns"))
	e.run("wait", "--for=condition=Established", "--timeout=2m",
		"crd/certificates.cert-manager.io", "crd/certificaterequests.cert-manager.io",
		"crd/issuers.cert-manager.io", "crd/clusterissuers.cert-manager.io", "crd/dnsendpoints.externaldns.k8s.io")
	manifest, err := os.ReadFile("testdata/cert-manager.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	manifest = []byte(strings.ReplaceAll(string(manifest), "IMAGE", image.CertManager.Ref))
	e.run("apply", "-f", e.writeTemp("cert-manager.yaml", manifest))
	e.waitFor(3*time.Minute, "cert-manager available", func(ctx context.Context) error {
		return deploymentAvailable(ctx, e.client, "cert-manager", "cert-manager")
	}, "cert-manager")
}

// deploymentAvailable reports nil once the Deployment has rolled out its
// current template and has every replica available.
func deploymentAvailable(ctx context.Context, c client.Client, namespace, name string) error {
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		return err
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want ||
		d.Status.AvailableReplicas < want || d.Status.Replicas != want {
		return fmt.Errorf("deployment %s/%s: %d of %d replicas updated, %d available, %d in all",
			namespace, name, d.Status.UpdatedReplicas, want, d.Status.AvailableReplicas, d.Status.Replicas)
	}
	return nil
}

// startZoneDNS runs what publishes the operator's DNSEndpoints: PowerDNS
// serving the network's zone and external-dns writing into it (on this
// machine, as testenv runs them, with PowerDNS listening where pods reach
// it too), and makes the cluster's DNS forward the zone to PowerDNS.
func (e *env) startZoneDNS(zone string) *testenv.DNS {
	e.t.Helper()
	if e.c.HostIP == nil {
		e.t.Fatal("the cluster names no address of this machine that its pods reach: set BYODA_E2E_HOST_IP (hack/e2e-kind.sh does)")
	}
	d := testenv.StartDNSFor(e.t, e.c.Kubeconfig, zone, testenv.PowerDNSOptions{
		Config: []string{"local-address=127.0.0.1, " + e.c.HostIP.String()},
	})
	_, port, err := net.SplitHostPort(d.Addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.forwardZone(zone, net.JoinHostPort(e.c.HostIP.String(), port))
	return d
}

// corednsZoneBegin and corednsZoneEnd bracket the server block the suite
// adds to the cluster's Corefile, so that it can take it out again.
const (
	corednsZoneBegin = "# byoda e2e: begin"
	corednsZoneEnd   = "# byoda e2e: end"
)

// forwardZone adds a server block for zone to the cluster's CoreDNS
// configuration (ConfigMap kube-system/coredns, as kubeadm and kind name
// it) that forwards the zone to server, restarts CoreDNS, and takes the
// block out again when the test ends. No cache: a name must resolve as soon
// as it is published.
func (e *env) forwardZone(zone, server string) {
	e.t.Helper()
	ctx := e.t.Context()
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: "coredns"}
	if err := e.client.Get(ctx, key, &cm); err != nil {
		e.t.Fatalf("the cluster's DNS configuration: %v", err)
	}
	original := cm.Data["Corefile"]
	block := fmt.Sprintf("%s\n%s:53 {\n    errors\n    forward . %s\n}\n%s\n", corednsZoneBegin, zone, server, corednsZoneEnd)
	cm.Data["Corefile"] = withoutZoneBlock(original) + "\n" + block
	if err := e.client.Update(ctx, &cm); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var cm corev1.ConfigMap
		if err := e.client.Get(ctx, key, &cm); err == nil {
			cm.Data["Corefile"] = withoutZoneBlock(cm.Data["Corefile"])
			_ = e.client.Update(ctx, &cm)
		}
	})
	e.run("-n", metav1.NamespaceSystem, "rollout", "restart", "deployment/coredns")
	e.run("-n", metav1.NamespaceSystem, "rollout", "status", "deployment/coredns", "--timeout=3m")
}

func withoutZoneBlock(corefile string) string {
	begin := strings.Index(corefile, corednsZoneBegin)
	end := strings.Index(corefile, corednsZoneEnd)
	if begin < 0 || end < begin {
		return corefile
	}
	return strings.TrimRight(corefile[:begin]+corefile[end+len(corednsZoneEnd):], "\n") + "\n"
}

// probeResolve runs the probe image in a pod of namespace ns that resolves
// name with the cluster's DNS, as the data pods do, and returns the
// addresses it found.
func (e *env) probeResolve(ns, name string) []string {
	e.t.Helper()
	pod := "resolve-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	e.run("-n", ns, "run", pod, "--image="+image.Probe.Ref, "--image-pull-policy=IfNotPresent", "--restart=Never",
		"--", "check", "-timeout", "2m", "-resolve", name)
	var logs string
	e.waitFor(3*time.Minute, "pod "+pod+" resolves "+name, func(ctx context.Context) error {
		var p corev1.Pod
		if err := e.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, &p); err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			logs = e.run("-n", ns, "logs", "pod/"+pod)
			return nil
		case corev1.PodFailed:
			e.t.Fatalf("pod %s failed:\n%s", pod, e.run("-n", ns, "logs", "pod/"+pod))
		}
		return fmt.Errorf("pod %s is %s", pod, p.Status.Phase)
	}, ns)
	e.run("-n", ns, "delete", "pod", pod, "--wait=false")
	for line := range strings.Lines(logs) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "resolve "+name+": "); ok {
			return strings.Split(v, ",")
		}
	}
	e.t.Fatalf("pod %s printed no addresses for %s:\n%s", pod, name, logs)
	return nil
}
