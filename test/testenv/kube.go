package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// DNSEndpointGVK is external-dns's DNSEndpoint kind, which testenv installs as a
// CRD but does not register in the scheme: use it with unstructured objects.
var DNSEndpointGVK = schema.GroupVersionKind{Group: "externaldns.k8s.io", Version: "v1alpha1", Kind: "DNSEndpoint"}

// Kube is a Kubernetes API server and etcd run by envtest, with cert-manager's,
// external-dns's and (once they exist) byoda's CRDs installed. It has no
// controller-manager: nothing garbage-collects and namespaces never finish
// deleting, so tests use their own namespaces and assert on objects.
type Kube struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Client is a controller-runtime client for Config with Scheme.
	Client client.Client
	// Scheme holds client-go's types, apiextensions v1, cert-manager v1 and
	// whatever WithScheme added.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for child processes, with an
	// admin user of its own (system:masters).
	Kubeconfig string
	// Env is the underlying envtest environment.
	Env *envtest.Environment

	dir      string
	stopOnce sync.Once
	stopErr  error
}

// KubeOption changes how StartKube and NewKube set up the API server.
type KubeOption func(*kubeOptions)

type kubeOptions struct {
	crdPaths []string
	adders   []func(*runtime.Scheme) error
}

// WithCRDPaths installs the CRDs in these files or directories as well. A path
// that does not exist is an error.
func WithCRDPaths(paths ...string) KubeOption {
	return func(o *kubeOptions) { o.crdPaths = append(o.crdPaths, paths...) }
}

// WithScheme registers more types (for example byoda's API) in the Kube's
// scheme, so that Client can read and write them.
func WithScheme(add ...func(*runtime.Scheme) error) KubeOption {
	return func(o *kubeOptions) { o.adders = append(o.adders, add...) }
}

// CRDDir returns the directory under BinDir where hack/tools.sh puts the CRDs of
// a tool ("cert-manager" or "external-dns").
func CRDDir(tool string) string {
	return filepath.Join(BinDir(), "crds", tool)
}

// StartKube starts an API server and etcd for one test and stops them in
// t.Cleanup. Tests in one binary that can share a cluster should share one Kube
// from NewKube in TestMain instead: start-up takes a few seconds.
func StartKube(t testing.TB, opts ...KubeOption) *Kube {
	t.Helper()
	skipIfShort(t, "kube-apiserver")
	k, err := NewKube(opts...)
	if err != nil {
		t.Fatalf("start kube: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Errorf("stop kube: %v", err)
		}
	})
	return k
}

// NewKube starts an API server and etcd that the caller stops with Stop; it is
// StartKube for TestMain, where there is no testing.TB. A missing binary or
// CRD directory is an error that names the command that builds it.
func NewKube(opts ...KubeOption) (*Kube, error) {
	var o kubeOptions
	for _, opt := range opts {
		opt(&o)
	}

	apiServer, etcd := filepath.Join(BinDir(), "kube-apiserver"), filepath.Join(BinDir(), "etcd")
	crdPaths := []string{CRDDir("cert-manager"), CRDDir("external-dns")}
	for _, need := range []struct{ path, tool string }{
		{apiServer, "kube-apiserver"}, {etcd, "etcd"},
		{crdPaths[0], "cert-manager"}, {crdPaths[1], "external-dns"},
	} {
		if _, err := os.Stat(need.path); err != nil {
			return nil, fmt.Errorf("%w: run `make tools` (or hack/tools.sh %s)", err, need.tool)
		}
	}
	// byoda's own CRDs are optional until the API types exist.
	if own := filepath.Join(RepoRoot(), "config", "crd", "bases"); isDir(own) {
		crdPaths = append(crdPaths, own)
	}
	crdPaths = append(crdPaths, o.crdPaths...)

	sch := runtime.NewScheme()
	for _, add := range append([]func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, cmv1.AddToScheme,
	}, o.adders...) {
		if err := add(sch); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "testenv-kube-")
	if err != nil {
		return nil, fmt.Errorf("create kube dir: %w", err)
	}
	env := &envtest.Environment{
		Scheme:                sch,
		BinaryAssetsDirectory: BinDir(),
		CRDDirectoryPaths:     crdPaths,
		ErrorIfCRDPathMissing: true,
	}
	// Explicit paths, so that a KUBEBUILDER_ASSETS left over from another
	// project cannot swap in binaries of another Kubernetes version.
	env.ControlPlane.GetAPIServer().Path = apiServer
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	env.ControlPlane.KubectlPath = filepath.Join(BinDir(), "kubectl")

	k := &Kube{Scheme: sch, Env: env, dir: dir}
	if err := k.start(); err != nil {
		return nil, errors.Join(err, k.Stop())
	}
	return k, nil
}

func (k *Kube) start() error {
	cfg, err := k.Env.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	k.Config = cfg
	k.Client, err = client.New(cfg, client.Options{Scheme: k.Scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	k.Kubeconfig, err = k.WriteKubeconfig(envtest.User{Name: "testenv-admin", Groups: []string{"system:masters"}})
	return err
}

// WriteKubeconfig provisions a user in the API server and writes a kubeconfig
// file for it, returning the file's path. The file is removed by Stop.
func (k *Kube) WriteKubeconfig(user envtest.User) (string, error) {
	u, err := k.Env.AddUser(user, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", user.Name, err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("kubeconfig of %s: %w", user.Name, err)
	}
	f, err := os.CreateTemp(k.dir, user.Name+"-*.kubeconfig")
	if err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return f.Name(), nil
}

// Stop stops the API server and etcd and removes their files. It is safe to
// call more than once.
func (k *Kube) Stop() error {
	k.stopOnce.Do(func() {
		k.stopErr = errors.Join(k.Env.Stop(), os.RemoveAll(k.dir))
	})
	return k.stopErr
}

// EnsureNamespace creates namespace name unless it exists.
func (k *Kube) EnsureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// CreateNamespace creates a namespace with a generated name starting with
// prefix, for one test's objects, and returns its name. envtest never finishes
// deleting namespaces, so it is left in place.
func (k *Kube) CreateNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k.Client.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
