#!/usr/bin/env bash
# Builds the pinned test and build tools into bin/ from source, through the Go
# module proxy only.
#
#   hack/tools.sh            build every tool that is missing or out of date
#   hack/tools.sh etcd helm  build just those
#   hack/tools.sh --list     print name, version and cache key of each tool
#
# Each binary is written to bin/.cache/<name>-<key> and linked as bin/<name>. The
# key is the pinned version plus a hash of the wrapper module (or ldflags), so a
# warm run rebuilds nothing and a changed pin rebuilds exactly that tool. bin/ is
# also the KUBEBUILDER_ASSETS directory for envtest (kube-apiserver, etcd, kubectl),
# and bin/crds/<tool>/ holds the CRDs of cert-manager and external-dns.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="${root}/bin"
cache="${bin}/.cache"
# Static binaries, as the Makefile builds everything: the end-to-end images
# (hack/images) then reuse the compiled packages of the tools they share.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

k8s_version=v1.36.3
k8s_ldflags() {
	local flags="-s -w" pkg
	for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
		flags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1"
		flags+=" -X ${pkg}.gitMinor=36 -X ${pkg}.gitTreeState=clean"
	done
	echo "${flags}"
}

helm_version=v3.22.0
helm_ldflags() {
	local flags="-s -w -X helm.sh/helm/v3/internal/version.version=${helm_version}"
	local pkg
	for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
		flags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=36"
	done
	echo "${flags}"
}

# name | version | source | ldflags
# source is either "wrapper" (hack/tools/<name>, its own go.mod) or a package@version
# for `go install`.
tools() {
	cat <<EOF
kube-apiserver|${k8s_version}|wrapper|$(k8s_ldflags)
etcd|v3.6.16|wrapper|-s -w
kubectl|${k8s_version}|wrapper|$(k8s_ldflags)
cert-manager|v1.21.2|wrapper|-s -w
external-dns|v0.22.0|wrapper|-s -w -X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version=v0.22.0
versitygw|v1.8.0|github.com/versity/versitygw/cmd/versitygw@v1.8.0|-s -w
controller-gen|v0.23.0|sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0|-s -w
helm|${helm_version}|helm.sh/helm/v3/cmd/helm@${helm_version}|$(helm_ldflags)
staticcheck|v0.8.2|honnef.co/go/tools/cmd/staticcheck@v0.8.2|-s -w
kubelet|${k8s_version}|wrapper|$(k8s_ldflags)
kube-controller-manager|${k8s_version}|wrapper|$(k8s_ldflags)
kube-scheduler|${k8s_version}|wrapper|$(k8s_ldflags)
kube-proxy|${k8s_version}|wrapper|$(k8s_ldflags)
EOF
}

# key prints the cache key of a tool: its version and a hash of everything that
# decides the binary (wrapper sources or the install path, and ldflags).
key() {
	local name=$1 version=$2 source=$3 ldflags=$4 sum
	if [[ ${source} == wrapper ]]; then
		sum=$( (cd "${root}/hack/tools/${name}" && cat go.mod go.sum ./*.go; echo "${ldflags} cgo=${CGO_ENABLED}") | sha256sum)
	else
		sum=$(echo "${source} ${ldflags} cgo=${CGO_ENABLED}" | sha256sum)
	fi
	echo "${version}-${sum:0:12}"
}

build() {
	local name=$1 version=$2 source=$3 ldflags=$4
	local out="${cache}/${name}-$(key "$@")"
	if [[ ! -x ${out} ]]; then
		echo "building ${name} ${version}" >&2
		local start=${SECONDS} tmp
		tmp=$(mktemp -d)
		if [[ ${source} == wrapper ]]; then
			(cd "${root}/hack/tools/${name}" && go build -trimpath -ldflags "${ldflags}" -o "${tmp}/${name}" .)
		else
			GOBIN="${tmp}" go install -trimpath -ldflags "${ldflags}" "${source}"
			mv "${tmp}/$(basename "${source%@*}")" "${tmp}/${name}.new"
			mv "${tmp}/${name}.new" "${tmp}/${name}"
		fi
		mv "${tmp}/${name}" "${out}"
		rmdir "${tmp}"
		echo "built ${name} ${version} in $((SECONDS - start))s" >&2
	fi
	ln -sfn ".cache/$(basename "${out}")" "${bin}/${name}"
	copy_crds "${name}"
}

# copy_crds puts the CRDs that go with a tool into bin/crds/<name>/, taken from the
# very module version the tool was built from, for testenv to install.
copy_crds() {
	local name=$1 module dir
	case ${name} in
	cert-manager) module=github.com/cert-manager/cert-manager dir=deploy/crds ;;
	external-dns) module=sigs.k8s.io/external-dns dir=config/crd/standard ;;
	*) return 0 ;;
	esac
	local src
	src=$(cd "${root}/hack/tools/${name}" && go list -m -f '{{.Dir}}' "${module}")
	rm -rf "${bin}/crds/${name}"
	mkdir -p "${bin}/crds/${name}"
	cp "${src}/${dir}"/*.yaml "${bin}/crds/${name}/"
	chmod u+w "${bin}/crds/${name}"/*.yaml
}

main() {
	mkdir -p "${cache}"
	if [[ ${1:-} == --list ]]; then
		tools | while IFS='|' read -r name version source ldflags; do
			echo "${name} ${version} $(key "${name}" "${version}" "${source}" "${ldflags}")"
		done
		return
	fi
	local want=" $* " found=0
	while IFS='|' read -r name version source ldflags; do
		if [[ $# -gt 0 && ${want} != *" ${name} "* ]]; then
			continue
		fi
		found=$((found + 1))
		build "${name}" "${version}" "${source}" "${ldflags}"
	done < <(tools)
	if [[ $# -gt 0 && ${found} -ne $# ]]; then
		echo "unknown tool in: $* (known: $(tools | cut -d'|' -f1 | xargs))" >&2
		return 1
	fi
}

main "$@"
