#!/usr/bin/env bash
# Installs PowerDNS with its SQLite backend from Debian packages, for the DNS tests
# in test/testenv, and the command-line clients tests run as a user would: dig and
# curl (the local network's printed commands). Does nothing when the packages are
# already installed.
#
# The tests run their own pdns_server on loopback ports with a private config
# directory, so the package's system service must not run: while installing, a
# policy-rc.d that forbids starting services is put in place (unless one exists),
# and the pdns service is disabled afterwards where the init system allows it.
set -euo pipefail

packages=(pdns-server pdns-backend-sqlite3 sqlite3 dnsutils curl)

missing=()
for pkg in "${packages[@]}"; do
	if ! dpkg -s "${pkg}" >/dev/null 2>&1; then
		missing+=("${pkg}")
	fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "hack/pdns.sh: need root to install ${missing[*]}; run as root:" >&2
		echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e ${policy} ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "${policy}" >/dev/null
	"${sudo[@]}" chmod 0755 "${policy}"
	own_policy=1
fi
cleanup() {
	if [[ ${own_policy} -eq 1 ]]; then
		"${sudo[@]}" rm -f "${policy}"
	fi
}
trap cleanup EXIT

echo "hack/pdns.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Keep the system service from starting at boot on machines with an init system
# (the package enables it); the tests never use it. systemctl disable works
# without a running systemd too.
if command -v systemctl >/dev/null 2>&1; then
	"${sudo[@]}" systemctl disable pdns.service >/dev/null 2>&1 || true
	if [[ -d /run/systemd/system ]]; then
		"${sudo[@]}" systemctl stop pdns.service >/dev/null 2>&1 || true
	fi
fi
if [[ -e /etc/init.d/pdns ]] && command -v update-rc.d >/dev/null 2>&1; then
	"${sudo[@]}" update-rc.d pdns disable >/dev/null 2>&1 || true
fi
