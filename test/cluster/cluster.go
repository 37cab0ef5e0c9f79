package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/byoda-go/byoda/test/cluster/image"
)

// Environment variables that hand ForTest an existing cluster instead of
// starting a node.
const (
	// EnvKubeconfig names the kubeconfig of an existing cluster (with
	// cluster-admin rights) to run against.
	EnvKubeconfig = "BYODA_E2E_KUBECONFIG"
	// EnvKindCluster names the kind cluster behind EnvKubeconfig; images are
	// loaded into it with `kind load image-archive`. Unset, the images must
	// already be on the cluster's nodes.
	EnvKindCluster = "BYODA_E2E_KIND_CLUSTER"
	// EnvHostIP is, for a cluster handed over, an address of this machine
	// that its pods reach (for kind: the gateway of the kind Docker
	// network). Tests that run servers for pods listen on it.
	EnvHostIP = "BYODA_E2E_HOST_IP"
)

// ImageLoader makes the images in docker-archive tarballs available to a
// cluster's container runtime.
type ImageLoader func(ctx context.Context, archives ...string) error

// Cluster is a Kubernetes cluster that end-to-end tests run against: a Node
// this package started, or one it was handed (a kind cluster on a machine with
// Docker). Tests use only this, so the same test runs on both.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights, for
	// kubectl and for processes the test starts.
	Kubeconfig string
	// Config is Kubeconfig's REST config.
	Config *rest.Config
	// Clientset is a client for Config.
	Clientset kubernetes.Interface
	// HostIP is the address at which pods reach servers that the test
	// process runs on this machine (listening on it): the host's end of a
	// Node's link, or EnvHostIP for a cluster handed over. Nil when unknown.
	HostIP net.IP

	load ImageLoader
}

// LoadImages makes the images in these docker-archive tarballs (see package
// image) available to the cluster, for pods that name them with
// imagePullPolicy IfNotPresent or Never.
func (c *Cluster) LoadImages(ctx context.Context, archives ...string) error {
	if c.load == nil {
		return nil
	}
	return c.load(ctx, archives...)
}

// External returns the cluster behind kubeconfig, loading images with load
// (nil when the images are on its nodes already).
func External(kubeconfig string, load ImageLoader) (*Cluster, error) {
	return newCluster(kubeconfig, load)
}

// KindLoader loads images into the kind cluster name with `kind load
// image-archive`.
func KindLoader(name string) ImageLoader {
	return func(ctx context.Context, archives ...string) error {
		for _, a := range archives {
			cmd := exec.CommandContext(ctx, "kind", "load", "image-archive", a, "--name", name)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("kind load image-archive %s: %w: %s", filepath.Base(a), err, bytes.TrimSpace(out.Bytes()))
			}
		}
		return nil
	}
}

// ForTest returns the cluster for an end-to-end test. With EnvKubeconfig set it
// is that cluster (images loaded with kind into EnvKindCluster when set);
// otherwise ForTest starts a Node, dumps its logs if the test failed, and stops
// it in t.Cleanup, failing the test if anything is left behind. It skips the
// test when the machine cannot run a node (ErrUnsupported).
func ForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if kubeconfig := os.Getenv(EnvKubeconfig); kubeconfig != "" {
		var load ImageLoader
		if name := os.Getenv(EnvKindCluster); name != "" {
			load = KindLoader(name)
		}
		c, err := External(kubeconfig, load)
		if err != nil {
			t.Fatal(err)
		}
		if v := os.Getenv(EnvHostIP); v != "" {
			if c.HostIP = net.ParseIP(v); c.HostIP == nil {
				t.Fatalf("%s=%q: want an IP address", EnvHostIP, v)
			}
		}
		return c
	}
	n := StartForTest(t, opts)
	return n.Cluster
}

// StartForTest starts a Node for t and stops it in t.Cleanup, dumping the
// components' logs first if the test failed and failing the test if Stop left
// anything behind. It skips the test when the machine cannot run a node.
func StartForTest(t testing.TB, opts Options) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n, err := Start(ctx, opts)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no one-node cluster: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			n.DumpLogs(&b, 16<<10)
			t.Log(b.String())
		}
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return n
}

// Archives returns the archive paths of specs in dir (BinDir/images by
// default), for LoadImages.
func Archives(dir string, specs ...image.Spec) []string {
	if dir == "" {
		dir = filepath.Join(defaultBinDir(), "images")
	}
	var paths []string
	for _, s := range specs {
		paths = append(paths, s.Archive(dir))
	}
	return paths
}

// defaultBinDir is $BYODA_BIN_DIR, else bin/ at the repository root.
func defaultBinDir() string {
	if dir := os.Getenv("BYODA_BIN_DIR"); dir != "" {
		return dir
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "bin"
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "bin")
}
