// Package charts holds byoda's Helm charts, one directory each:
//
//   - byoda-operator: the operator (byoda manager) with its CRDs, RBAC,
//     Deployment and metrics Service;
//   - byoda-directory: a network, as the CA hierarchy cert-manager issues
//     and the network directory (byoda directory) with its DNS server, on
//     SQLite on a PersistentVolumeClaim or on an external PostgreSQL.
//
// The Go code here is what the tests share to find the charts and run
// helm on them: the chart tests of this package (lint, schema, a
// server-side dry run against a real API server, the network's CAs issued
// by a real cert-manager) and the end-to-end suite of test/e2e/cluster,
// which installs both charts on a real cluster. docs/kubernetes.md is the
// install guide.
//
// The operator chart's crds/ and files/role.yaml are copied from
// config/crd/bases and config/rbac/role.yaml by `make manifests` and never
// edited by hand; `make verify` fails when they drift.
package charts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// The charts, by name (their directories in this package's directory).
const (
	Operator  = "byoda-operator"
	Directory = "byoda-directory"
)

// Path returns the directory of chart name.
func Path(name string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("charts: cannot locate source file")
	}
	return filepath.Join(filepath.Dir(file), name)
}

// Helm runs a helm binary against one cluster, with its caches and
// configuration in a directory of its own, so that nothing of the user's
// helm setup (repositories, plugins, registry logins) takes part.
type Helm struct {
	// Bin is the helm binary (bin/helm, built by hack/tools.sh).
	Bin string
	// Kubeconfig is the cluster's kubeconfig; empty for commands that
	// need no cluster (lint, template).
	Kubeconfig string
	// Home holds helm's cache, configuration and data.
	Home string
}

// Run runs helm with args and returns its standard output; the error
// carries standard error, which is where helm explains a refusal.
func (h Helm) Run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, h.Bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(h.Home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(h.Home, "config"),
		"HELM_DATA_HOME="+filepath.Join(h.Home, "data"),
		"KUBECONFIG="+h.Kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
