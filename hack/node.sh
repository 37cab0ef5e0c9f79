#!/usr/bin/env bash
# Installs what the one-node test cluster of test/cluster needs from Debian:
# containerd (with ctr), runc, the CNI plugins (/usr/lib/cni), iproute2 and
# iptables (for kube-proxy). Does nothing when they are already installed.
#
# The harness runs its own containerd with a private config, root, state and
# socket, so the package's system service must not run (hack/lib/apt.sh keeps
# it from starting and disables it).
set -euo pipefail

# shellcheck source=hack/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

mapfile -t missing < <(apt_missing containerd runc containernetworking-plugins iproute2 iptables)
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
apt_install_quiet hack/node.sh containerd "${missing[@]}"
