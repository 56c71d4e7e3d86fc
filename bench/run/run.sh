#!/usr/bin/env bash
# Containers from an image: `rbox run --rm` vs `podman run --rm` vs the
# bare runtime lifecycle, interleaved; then 50 parallel `rbox run -d`
# and `rbox rm -f`, checking nothing is left. See bench/README.md.
#
#   bench/run/run.sh [N]          N rounds (default 30)
#
# Environment: RBOX=/path/to/rbox and RBOX_FIXTURE=/path/to/rbox-fixture
# (built with cargo --release when unset), WARMUP (3), PARALLEL (50),
# JSON=/path for raw samples.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-${N:-30}}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (containers, overlay mounts, cgroups)" >&2; exit 1; }
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
rbox=${RBOX:-}
fixture=${RBOX_FIXTURE:-}
if [ -z "$rbox" ] || [ -z "$fixture" ]; then
    (cd "$repo" && cargo build -q --release -p rbox -p rbox-fixtures)
    target=${CARGO_TARGET_DIR:-$repo/target}/release
    rbox=${rbox:-$target/rbox}
    fixture=${fixture:-$target/rbox-fixture}
fi
rbox=$(readlink -f "$rbox")

work=$(mktemp -d "${WORK:-/var/tmp}/rbox-bench-run.XXXXXX")
cleanup() {
    # Containers a failed run left, then mounts, cgroups and the dir.
    "$rbox" --data-root "$work/rbox-data" --state-root "$work/rbox-state" ps -aq --no-trunc 2>/dev/null |
        xargs -r "$rbox" --data-root "$work/rbox-data" --state-root "$work/rbox-state" rm -f >/dev/null 2>&1 || true
    { grep -o " $work[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # Only this benchmark's cgroups: others may use /rbox-bench too.
    for h in /sys/fs/cgroup/*/; do
        for d in engine podman rt; do
            [ -d "${h}rbox-bench/$d" ] && find "${h}rbox-bench/$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
    done
    rm -rf "$work"
}
trap cleanup EXIT

"$fixture" busybox-archive "$work/busybox.tar" >/dev/null
"$fixture" busybox-bundle "$work/bundle" -- /bin/true >/dev/null
# Not exec: the EXIT trap must run.
python3 "$here/bench.py" --rbox "$rbox" --work "$work" --busybox "$work/busybox.tar" \
    --bundle "$work/bundle" --runs "$runs" --warmup "${WARMUP:-3}" --parallel "${PARALLEL:-50}" \
    ${JSON:+--json "$JSON"}
