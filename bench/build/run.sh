#!/usr/bin/env bash
# Builds: rbox build vs buildah bud on the same Dockerfiles, cold (fresh
# store and cache) and fully cached, interleaved. See bench/README.md.
#
#   bench/build/run.sh [N]          N rounds (default 5)
#
# Environment: RBOX=/path/to/rbox (built with cargo --release if unset),
# RBOX_FIXTURE=/path/to/rbox-fixture, WARMUP (1), JSON=/path for raw samples.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-${N:-5}}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (build containers, overlay mounts)" >&2; exit 1; }
command -v buildah >/dev/null || {
    echo "run.sh: installing buildah" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends buildah >/dev/null
}
rbox=${RBOX:-}
fixture=${RBOX_FIXTURE:-}
if [ -z "$rbox" ] || [ -z "$fixture" ]; then
    (cd "$repo" && cargo build -q --release -p rbox -p rbox-fixtures)
    target=${CARGO_TARGET_DIR:-$repo/target}/release
    rbox=${rbox:-$target/rbox}
    fixture=${fixture:-$target/rbox-fixture}
fi

work=$(mktemp -d "${WORK:-/var/tmp}/rbox-bench-build.XXXXXX")
cleanup() {
    for h in /sys/fs/cgroup/*/; do
        [ -d "${h}rbox-bench" ] && find "${h}rbox-bench" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    # buildah's overlay storage leaves mounts under its root until shut down.
    { grep -o " $work[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

"$fixture" busybox-archive "$work/busybox.tar" >/dev/null
# Not exec: the EXIT trap must run to unmount and remove the work dir.
python3 "$here/bench.py" --rbox "$rbox" --work "$work" --busybox "$work/busybox.tar" \
    --runs "$runs" --warmup "${WARMUP:-1}" ${JSON:+--json "$JSON"}
