package charts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/byoda-go/byoda/charts"
	"github.com/byoda-go/byoda/directory/network"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/test/testenv"
)

// The network of config/samples/network.yaml, which the directory chart
// must render exactly.
const sampleNetwork = "byoda.test"

func helm(t *testing.T, kubeconfig string) charts.Helm {
	t.Helper()
	return charts.Helm{Bin: testenv.Binary(t, "helm"), Kubeconfig: kubeconfig, Home: t.TempDir()}
}

// render runs helm template on a chart and returns the manifests.
func render(t *testing.T, h charts.Helm, chart, namespace string, args ...string) []byte {
	t.Helper()
	out, err := h.Run(t.Context(), append([]string{"template", "test", charts.Path(chart), "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLint: helm lint --strict finds nothing to warn about in either chart.
func TestLint(t *testing.T) {
	h := helm(t, "")
	for _, c := range []struct{ chart, namespace string }{
		{charts.Operator, "byoda-system"},
		// The directory refuses any namespace but cert-manager's.
		{charts.Directory, "cert-manager"},
	} {
		out, err := h.Run(t.Context(), "lint", "--strict", "--namespace", c.namespace, charts.Path(c.chart))
		if err != nil {
			t.Errorf("%v\n%s", err, out)
			continue
		}
		for _, bad := range []string{"[WARNING]", "[ERROR]", "Fail:"} {
			if bytes.Contains(out, []byte(bad)) {
				t.Errorf("helm lint %s says %s:\n%s", c.chart, bad, out)
			}
		}
		if !bytes.Contains(out, []byte("1 chart(s) linted, 0 chart(s) failed")) {
			t.Errorf("helm lint %s:\n%s", c.chart, out)
		}
	}
}

// TestGeneratedInStep: the operator chart's CRDs and role rules are the
// generated ones (make manifests copies them; make verify catches drift).
func TestGeneratedInStep(t *testing.T) {
	root := testenv.RepoRoot()
	op := charts.Path(charts.Operator)
	pairs := map[string]string{
		filepath.Join(root, "config", "rbac", "role.yaml"): filepath.Join(op, "files", "role.yaml"),
	}
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	for _, b := range bases {
		pairs[b] = filepath.Join(op, "crds", filepath.Base(b))
	}
	copies, _ := filepath.Glob(filepath.Join(op, "crds", "*.yaml"))
	if len(copies) != len(bases) {
		t.Errorf("%s/crds holds %d files, config/crd/bases %d: run make manifests", op, len(copies), len(bases))
	}
	for src, dst := range pairs {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not a copy of %s (%v): run make manifests", dst, src, err)
		}
	}
}

// TestValuesRefused: bad values fail helm template with a message that
// names the value and what is wrong with it.
func TestValuesRefused(t *testing.T) {
	h := helm(t, "")
	for _, c := range []struct {
		chart, namespace string
		set              []string
		want             string
	}{
		{charts.Operator, "byoda-system", []string{"image.pullPolicy=Sometimes"}, "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{charts.Operator, "byoda-system", []string{"network.domain=Byoda.NET"}, "at '/network/domain': 'Byoda.NET' does not match pattern"},
		{charts.Operator, "byoda-system", []string{"network.domain=net"}, "at '/network/domain': 'net' does not match pattern"},
		{charts.Operator, "byoda-system", []string{"manager.logLevel=verbose"}, "at '/manager/logLevel': value must be one of 'debug', 'info', 'warn', 'error'"},
		{charts.Operator, "byoda-system", []string{"metrics.port=70000"}, "at '/metrics/port': maximum: got 70,000, want 65,535"},
		{charts.Operator, "byoda-system", []string{"manager.kubeAPIQPS=0"}, "at '/manager/kubeAPIQPS': minimum: got 0, want 0.001"},
		{charts.Operator, "byoda-system", []string{"netwrok.domain=byoda.net"}, "at '': additional properties 'netwrok' not allowed"},
		{charts.Operator, "byoda-system", []string{"replicaCount=2", "manager.leaderElection=false"}, "replicaCount is 2 but manager.leaderElection is false"},
		{charts.Operator, "byoda-system", []string{"metrics.port=8081"}, "metrics.port and healthProbe.port are both 8081"},
		{charts.Directory, "cert-manager", []string{"storage.type=mysql"}, "at '/storage/type': value must be one of 'sqlite', 'postgres'"},
		{charts.Directory, "cert-manager", []string{"directory.address=1.2.3"}, "'1.2.3' is not valid ipv4"},
		{charts.Directory, "cert-manager", []string{"ca.rootDuration=10y"}, "at '/ca/rootDuration': '10y' does not match pattern"},
		{charts.Directory, "cert-manager", []string{"dns.service.type=External"}, "at '/dns/service/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'"},
		{charts.Directory, "cert-manager", []string{"storage.sqlite.size=lots"}, "at '/storage/sqlite/size': 'lots' does not match pattern"},
		{charts.Directory, "cert-manager", []string{"replicaCount=2"}, "replicaCount is 2 but storage.type is sqlite"},
		{charts.Directory, "cert-manager", []string{"storage.type=postgres"}, "storage.type is postgres but storage.postgres.urlSecret.name is empty"},
		{charts.Directory, "cert-manager", []string{"storage.type=postgres", "storage.postgres.urlSecret.name=pg"}, "storage.type is postgres but tls.secretName is empty"},
		{charts.Directory, "byoda-system", nil, `the release namespace is "byoda-system", but the network's CA keys live in cert-manager's cluster resource namespace "cert-manager"`},
	} {
		args := []string{"template", "test", charts.Path(c.chart), "--namespace", c.namespace}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		out, err := h.Run(t.Context(), args...)
		if err == nil {
			t.Errorf("%s --set %v: rendered, want refused with %q", c.chart, c.set, c.want)
			continue
		}
		if len(out) > 0 {
			t.Errorf("%s --set %v: refused but wrote %d bytes", c.chart, c.set, len(out))
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s --set %v:\n got %v\nwant it to say %q", c.chart, c.set, err, c.want)
		}
	}
}

// TestNetworkSampleInStep: the directory chart makes the network's CAs
// exactly as config/samples/network.yaml does, but for its labels.
func TestNetworkSampleInStep(t *testing.T) {
	h := helm(t, "")
	out := render(t, h, charts.Directory, "cert-manager", "--set", "network.domain="+sampleNetwork, "--show-only", "templates/issuers.yaml")
	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "network.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, want := byKindName(t, out), byKindName(t, sample)
	for k, obj := range got {
		meta := obj["metadata"].(map[string]any)
		if meta["labels"] == nil {
			t.Errorf("%s has no labels", k)
		}
		delete(meta, "labels")
	}
	if len(got) != len(want) {
		t.Errorf("the chart makes %d CA objects, network.yaml %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("the chart does not make %s", k)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			gb, _ := json.MarshalIndent(g, "", "  ")
			wb, _ := json.MarshalIndent(w, "", "  ")
			t.Errorf("%s differs from network.yaml's:\nchart: %s\nnetwork.yaml: %s", k, gb, wb)
		}
	}
}

// TestServerSideDryRun: what helm template renders, with the CRDs, is
// accepted by a real API server (with the byoda, cert-manager and
// external-dns CRDs installed) in a server-side dry run, for the defaults
// and for values that turn on every branch.
func TestServerSideDryRun(t *testing.T) {
	k := testenv.StartKube(t)
	h := helm(t, k.Kubeconfig)
	for _, ns := range []string{"byoda-system", "cert-manager"} {
		if err := k.EnsureNamespace(t.Context(), ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, chart, namespace string
		args                   []string
	}{
		{"operator defaults", charts.Operator, "byoda-system", nil},
		{"operator tuned", charts.Operator, "byoda-system", []string{
			"--set", "network.domain=example.org", "--set", "replicaCount=2", "--set", "metrics.enabled=false",
			"--set", "image.digest=sha256:" + strings.Repeat("a", 64), "--set", "dataPodImage=registry.example.org/byoda:v1",
			"--set", "manager.extraArgs={--leader-election-namespace=byoda-system}", "--set", "serviceAccount.name=byoda",
			"--set", "manager.kubeAPIBurst=1000000", "--set", "imagePullSecrets[0].name=pull",
		}},
		{"directory defaults", charts.Directory, "cert-manager", []string{"--set", "network.domain=" + sampleNetwork}},
		{"directory postgres", charts.Directory, "cert-manager", []string{
			"--set", "network.domain=example.org", "--set", "storage.type=postgres", "--set", "replicaCount=2",
			"--set", "storage.postgres.urlSecret.name=directory-db", "--set", "tls.secretName=directory-tls",
			"--set", "dns.service.type=LoadBalancer", "--set", "dns.service.externalTrafficPolicy=Local",
			"--set", "directory.address=203.0.113.10", "--set", "ca.namePrefix=example", "--set", "directory.dnsRate=-1",
		}},
		{"directory existing claim", charts.Directory, "cert-manager", []string{
			"--set", "storage.sqlite.existingClaim=directory-data", "--set", "service.type=LoadBalancer",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, h, c.chart, c.namespace, append([]string{"--include-crds"}, c.args...)...)
			kinds := kindsOf(t, out)
			if len(kinds) == 0 {
				t.Fatal("helm template rendered nothing")
			}
			file := filepath.Join(t.TempDir(), "manifests.yaml")
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
			got := kubectl(t, k.Kubeconfig, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=chart-test", "-f", file)
			// Every object is named in kubectl's answer: nothing was skipped.
			for _, obj := range kinds {
				if !strings.Contains(got, obj) {
					t.Errorf("kubectl apply did not apply %s:\n%s", obj, got)
				}
			}
			t.Logf("%d objects accepted: %s", len(kinds), strings.Join(kinds, ", "))
		})
	}
}

// TestDirectoryPKI: a real cert-manager issues the network's CAs from the
// directory chart's objects, and the PKI directory the chart's Deployment
// assembles from their Secrets (its projected volume, followed to the
// letter) is one the directory loads its CAs from.
func TestDirectoryPKI(t *testing.T) {
	k := testenv.StartKube(t)
	testenv.StartCertManager(t, k)
	h := helm(t, k.Kubeconfig)
	const ns = testenv.CertManagerNamespace
	out := render(t, h, charts.Directory, ns, "--set", "network.domain="+sampleNetwork)
	issuers := render(t, h, charts.Directory, ns, "--set", "network.domain="+sampleNetwork, "--show-only", "templates/issuers.yaml")
	file := filepath.Join(t.TempDir(), "issuers.yaml")
	if err := os.WriteFile(file, issuers, 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, k.Kubeconfig, "apply", "--server-side", "-f", file)
	for _, name := range []string{"byoda-root-ca", "byoda-accounts-ca", "byoda-services-ca", "byoda-network-data"} {
		testenv.WaitCertificateReady(t, k, ns, name, time.Minute)
	}

	var deploy *appsv1.Deployment
	configMaps := map[string]*corev1.ConfigMap{}
	for _, raw := range documents(t, out) {
		var head struct{ Kind string }
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "Deployment":
			deploy = new(appsv1.Deployment)
			if err := json.Unmarshal(raw, deploy); err != nil {
				t.Fatal(err)
			}
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := json.Unmarshal(raw, &cm); err != nil {
				t.Fatal(err)
			}
			configMaps[cm.Name] = &cm
		}
	}
	if deploy == nil {
		t.Fatal("the directory chart renders no Deployment")
	}
	dir := t.TempDir()
	var mount string
	for _, m := range deploy.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.Name == "pki" {
			mount = m.MountPath
		}
	}
	if !slices.Contains(deploy.Spec.Template.Spec.Containers[0].Args, "--pki-dir="+mount) {
		t.Fatalf("the directory does not read its PKI from the pki volume (%s): %v", mount, deploy.Spec.Template.Spec.Containers[0].Args)
	}
	for _, v := range deploy.Spec.Template.Spec.Volumes {
		if v.Name != "pki" {
			continue
		}
		for _, src := range v.Projected.Sources {
			var data map[string][]byte
			var items []corev1.KeyToPath
			switch {
			case src.ConfigMap != nil:
				cm := configMaps[src.ConfigMap.Name]
				if cm == nil {
					t.Fatalf("the pki volume names ConfigMap %s, which the chart does not make", src.ConfigMap.Name)
				}
				data, items = map[string][]byte{}, src.ConfigMap.Items
				for key, val := range cm.Data {
					data[key] = []byte(val)
				}
			case src.Secret != nil:
				var s corev1.Secret
				if err := k.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: src.Secret.Name}, &s); err != nil {
					t.Fatalf("the pki volume names Secret %s: %v", src.Secret.Name, err)
				}
				data, items = s.Data, src.Secret.Items
			}
			for _, it := range items {
				if len(data[it.Key]) == 0 {
					t.Fatalf("the pki volume takes key %s, which is empty", it.Key)
				}
				p := filepath.Join(dir, filepath.FromSlash(it.Path))
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data[it.Key], 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	d, err := pki.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Network() != sampleNetwork {
		t.Errorf("PKI directory of network %q, want %q", d.Network(), sampleNetwork)
	}
	cas, err := network.LoadCAs(d)
	if err != nil {
		t.Fatalf("the directory cannot load the CAs cert-manager issued: %v", err)
	}
	if want := pki.RootCAName(sampleNetwork); cas.Root.Subject.CommonName != want {
		t.Errorf("root CA %q, want %q", cas.Root.Subject.CommonName, want)
	}
}

// kubectl runs bin/kubectl against kubeconfig and returns its output.
func kubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "kubectl"), append([]string{"--kubeconfig", kubeconfig, "--cache-dir", t.TempDir()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// documents splits a multi-document YAML stream into JSON documents,
// skipping empty ones.
func documents(t *testing.T, b []byte) []json.RawMessage {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode manifests: %v", err)
		}
		if len(bytes.TrimSpace(raw)) > 0 && string(raw) != "null" {
			out = append(out, raw)
		}
	}
}

// byKindName decodes manifests keyed by "Kind namespace/name".
func byKindName(t *testing.T, b []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, raw := range documents(t, b) {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		out[fmt.Sprintf("%s %v/%v", obj["kind"], meta["namespace"], meta["name"])] = obj
	}
	return out
}

// kindsOf lists the objects of manifests as kubectl names them in its
// answers ("deployment.apps/name").
func kindsOf(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, raw := range documents(t, b) {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		group := ""
		if i := strings.Index(obj.APIVersion, "/"); i >= 0 {
			group = "." + obj.APIVersion[:i]
		}
		out = append(out, strings.ToLower(obj.Kind)+group+"/"+obj.Metadata.Name)
	}
	return out
}
