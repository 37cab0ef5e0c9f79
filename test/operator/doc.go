// Package operator holds the envtest suites of the byoda operator: a real
// kube-apiserver and etcd, the real cert-manager controller from the test
// harness (test/testenv), and the operator's manager run in-process, so
// that a test can stop it and start a fresh one. There is no
// kube-controller-manager: the suites play the Deployment controller
// (marking Deployments available) and never rely on garbage collection.
//
// TestScale (BYODA_SCALE=1) is the scale benchmark of docs/benchmarks.md.
package operator
