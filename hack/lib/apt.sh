# shellcheck shell=bash
# Shared by the hack/*.sh scripts that install test dependencies from Debian
# packages (hack/node.sh, hack/pdns.sh, hack/postgres.sh). Source it; it
# defines functions only.
#
# The tests run their own copies of the servers these packages bring (on
# loopback ports, with private config and state), so a package's system
# service must never run: apt_install_quiet installs with a policy-rc.d that
# forbids starting services and disables the service afterwards.

# apt_missing prints, one a line, the packages among its arguments that dpkg
# does not list as installed.
apt_missing() {
	local pkg
	for pkg in "$@"; do
		if ! dpkg -s "${pkg}" >/dev/null 2>&1; then
			printf '%s\n' "${pkg}"
		fi
	done
}

# apt_install_quiet PROG SERVICE PACKAGE... installs the packages with
# apt-get (after apt-get update), non-interactively and without recommends,
# keeping the existing config files. While it runs a policy-rc.d that forbids
# starting services is in place (unless one exists already; it is removed when
# the calling script exits), and afterwards SERVICE is disabled where the init
# system allows it, so that it does not start at boot. PROG names the calling
# script in messages. Without root it uses sudo, or fails telling what to run.
apt_install_quiet() {
	local prog=$1 service=$2
	shift 2

	apt_sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "${prog}: need root to install $*; run as root:" >&2
			echo "  apt-get update && apt-get install -y --no-install-recommends $*" >&2
			exit 1
		fi
		apt_sudo=(sudo)
	fi

	apt_policy=/usr/sbin/policy-rc.d
	apt_own_policy=0
	if [[ ! -e ${apt_policy} ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${apt_sudo[@]}" tee "${apt_policy}" >/dev/null
		"${apt_sudo[@]}" chmod 0755 "${apt_policy}"
		apt_own_policy=1
	fi
	trap apt_cleanup EXIT

	echo "${prog}: installing $*" >&2
	"${apt_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${apt_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"

	# The package enables its service; systemctl disable works without a
	# running systemd too.
	if command -v systemctl >/dev/null 2>&1; then
		"${apt_sudo[@]}" systemctl disable "${service}.service" >/dev/null 2>&1 || true
		if [[ -d /run/systemd/system ]]; then
			"${apt_sudo[@]}" systemctl stop "${service}.service" >/dev/null 2>&1 || true
		fi
	fi
	if [[ -e /etc/init.d/${service} ]] && command -v update-rc.d >/dev/null 2>&1; then
		"${apt_sudo[@]}" update-rc.d "${service}" disable >/dev/null 2>&1 || true
	fi
}

# apt_cleanup removes the policy-rc.d that apt_install_quiet put in place.
apt_cleanup() {
	if [[ ${apt_own_policy:-0} -eq 1 ]]; then
		"${apt_sudo[@]}" rm -f "${apt_policy}"
	fi
}
