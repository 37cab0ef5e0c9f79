#!/usr/bin/env bash
# Installs PostgreSQL from Debian packages, for the directory's registry tests
# (test/testenv.StartPostgres). Does nothing when it is already installed.
#
# The tests make their own temporary clusters with initdb on loopback ports,
# so the package's system service must not run (hack/lib/apt.sh keeps it from
# starting and disables it).
set -euo pipefail

# shellcheck source=hack/lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
	exit 0
fi
apt_install_quiet hack/postgres.sh postgresql postgresql
