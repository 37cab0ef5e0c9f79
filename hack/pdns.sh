#!/usr/bin/env bash
# Installs PowerDNS with its SQLite backend from Debian packages, for the DNS tests
# in test/testenv, and the command-line clients tests run as a user would: dig and
# curl (the local network's printed commands). Does nothing when the packages are
# already installed.
#
# The tests run their own pdns_server on loopback ports with a private config
# directory, so the package's system service must not run (hack/lib/apt.sh
# keeps it from starting and disables it).
set -euo pipefail

# shellcheck source=hack/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

mapfile -t missing < <(apt_missing pdns-server pdns-backend-sqlite3 sqlite3 dnsutils curl)
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
apt_install_quiet hack/pdns.sh pdns "${missing[@]}"
