#!/usr/bin/env bash
# Runs byoda's end-to-end suite (test/e2e/cluster, the one `make e2e` runs on
# a one-node cluster of this machine) against a new kind cluster.
#
#   hack/e2e-kind.sh              create a kind cluster, run the suite, delete the cluster
#   KEEP=1 hack/e2e-kind.sh       keep the cluster afterwards (kind delete cluster --name byoda-e2e)
#
# Needs, besides what `make test` needs (Go, make; Debian for PowerDNS):
#   - Docker (a running daemon), and kind on the PATH (https://kind.sigs.k8s.io);
#   - cloud-provider-kind on the PATH (go install sigs.k8s.io/cloud-provider-kind@latest),
#     which gives LoadBalancer Services an address on the kind network: the data
#     pods' Services are LoadBalancers, and the suite reaches them from this machine;
#   - Linux: the suite talks to those addresses, and pods talk to PowerDNS on this
#     machine, across the kind Docker network.
#
# Environment: KIND_CLUSTER (default byoda-e2e), KIND_NODE_IMAGE (default: kind's own
# default node image; use a Kubernetes 1.36 one to match the rest of the project),
# GO_TEST_FLAGS (default -count=1 -v -timeout 40m).
#
# What it does: builds the tools the suite runs (helm, kubectl, the cert-manager and
# external-dns CRDs) and the images (make images); installs PowerDNS (make pdns);
# creates the cluster and starts cloud-provider-kind; then runs the suite with
# BYODA_E2E_KUBECONFIG (the cluster), BYODA_E2E_KIND_CLUSTER (images are loaded with
# `kind load image-archive`) and BYODA_E2E_HOST_IP (the kind network's gateway, this
# machine's address there: PowerDNS listens on it, and the cluster's CoreDNS forwards
# the network's zone to it). The suite itself installs cert-manager and both charts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${root}"
cluster=${KIND_CLUSTER:-byoda-e2e}

missing=()
for cmd in docker kind cloud-provider-kind go make; do
	command -v "${cmd}" >/dev/null 2>&1 || missing+=("${cmd}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "e2e-kind: missing ${missing[*]}: see the top of hack/e2e-kind.sh" >&2
	exit 1
fi
if ! docker info >/dev/null 2>&1; then
	echo "e2e-kind: the Docker daemon does not answer (docker info failed)" >&2
	exit 1
fi

make --no-print-directory tools TOOLS="helm kubectl cert-manager external-dns"
make --no-print-directory images pdns

work=$(mktemp -d)
provider_pid=
cleanup() {
	if [[ -n ${provider_pid} ]]; then
		kill "${provider_pid}" 2>/dev/null || true
		wait "${provider_pid}" 2>/dev/null || true
	fi
	if [[ ${KEEP:-} != 1 ]]; then
		kind delete cluster --name "${cluster}" || true
	else
		echo "e2e-kind: kept cluster ${cluster} (kubeconfig: kind get kubeconfig --name ${cluster})"
	fi
	rm -rf "${work}"
}
trap cleanup EXIT

create=(kind create cluster --name "${cluster}" --wait 5m)
if [[ -n ${KIND_NODE_IMAGE:-} ]]; then
	create+=(--image "${KIND_NODE_IMAGE}")
fi
if kind get clusters 2>/dev/null | grep -qx "${cluster}"; then
	# The suite installs into fixed namespaces and releases: it needs a new cluster.
	echo "e2e-kind: kind cluster ${cluster} exists: delete it (kind delete cluster --name ${cluster}) or set KIND_CLUSTER" >&2
	trap - EXIT
	rm -rf "${work}"
	exit 1
fi
"${create[@]}"
kind get kubeconfig --name "${cluster}" >"${work}/kubeconfig"

# LoadBalancer addresses for the cluster, for as long as the suite runs.
cloud-provider-kind >"${work}/cloud-provider-kind.log" 2>&1 &
provider_pid=$!

# This machine's address on the kind network (its IPv4 gateway).
host_ip=$(docker network inspect kind \
	-f '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}' |
	tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | head -n1)
if [[ -z ${host_ip} ]]; then
	echo "e2e-kind: the kind Docker network has no IPv4 gateway" >&2
	exit 1
fi
echo "e2e-kind: cluster ${cluster}, this machine at ${host_ip} on the kind network"

# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
BYODA_E2E_KUBECONFIG="${work}/kubeconfig" \
	BYODA_E2E_KIND_CLUSTER="${cluster}" \
	BYODA_E2E_HOST_IP="${host_ip}" \
	GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
	go test ${GO_TEST_FLAGS:--count=1 -v -timeout 40m} -run '^TestCluster$' ./test/e2e/cluster/
