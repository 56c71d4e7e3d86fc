#!/usr/bin/env bash
# Every test of the project: unit, privileged and end-to-end (real
# containers, runc differential checks, real clients, the cgroup v2 VM).
# Installs what the tests need first. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# moto in a venv for the ECR tests (PyPI the first time).
RBOX_MOTO_SERVER="$(bash scripts/moto-venv.sh)"
export RBOX_MOTO_SERVER
# Privileged tests fail instead of skipping when something is missing.
export RBOX_REQUIRE_PRIVILEGED=1
# The end-to-end tests run the binary this build makes.
cargo build --workspace --all-targets
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 || status=$?
# Leave no test cgroup parents behind.
for h in /sys/fs/cgroup/*/rbox-test; do
    [ -d "$h" ] && rmdir "$h" 2>/dev/null || true
done
exit "$status"
