#!/usr/bin/env bash
# Creates (once) a Python venv holding moto's server, the fake AWS the ECR
# tests talk to on loopback, and prints the path of its `moto_server`.
# The venv lives in RBOX_MOTO_VENV (default /var/cache/rbox-test/moto-venv);
# PyPI must be reachable the first time. Idempotent.
set -euo pipefail

venv="${RBOX_MOTO_VENV:-/var/cache/rbox-test/moto-venv}"
server="$venv/bin/moto_server"
if [ -x "$server" ] && "$venv/bin/python" -c 'import moto.server' 2>/dev/null; then
    echo "$server"
    exit 0
fi
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]' >&2
echo "$server"
