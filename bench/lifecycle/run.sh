#!/usr/bin/env bash
# Full `run` lifecycles of /bin/true: rbox vs runc vs crun on one busybox
# bundle, interleaved. See bench/README.md.
#
#   bench/lifecycle/run.sh [N]        N lifecycles per runtime (default 100)
#
# Environment: RBOX=/path/to/rbox (skipped if unset or without `runtime`),
# RBOX_FIXTURE=/path/to/rbox-fixture (else built with cargo), WARMUP (3),
# JSON=/path to keep the raw samples.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-${N:-100}}
warmup=${WARMUP:-3}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (runtimes create namespaces and cgroups)" >&2; exit 1; }

missing=()
command -v runc >/dev/null || missing+=(runc)
command -v crun >/dev/null || missing+=(crun)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

fixture=${RBOX_FIXTURE:-}
if [ -z "$fixture" ]; then
    (cd "$repo" && cargo build -q -p rbox-fixtures --bin rbox-fixture)
    fixture=${CARGO_TARGET_DIR:-$repo/target}/debug/rbox-fixture
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rbox-bench-lifecycle.XXXXXX")
cleanup() {
    # Every cgroup this bench made is below /rbox-bench: remove leaf first.
    for h in /sys/fs/cgroup/*/; do
        if [ -d "${h}rbox-bench" ]; then
            find "${h}rbox-bench" -depth -type d -exec rmdir {} + 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The measuring launcher: static so its own footprint does not leak into
# the runtime's peak RSS.
launcher=$work/rusage-exec
gcc -O2 -static -o "$launcher" "$here/rusage-exec.c" 2>/dev/null || gcc -O2 -o "$launcher" "$here/rusage-exec.c"

runtimes=()
add_runtime() { # NAME CMD...
    local name=$1; shift
    "$fixture" busybox-bundle "$work/$name/bundle" -- /bin/true >/dev/null
    runtimes+=(--runtime "$name=$*")
}

if [ -z "${RBOX:-}" ]; then
    echo "rbox: skipped (set RBOX=/path/to/rbox to include it)"
elif ! [ -x "$RBOX" ]; then
    echo "rbox: skipped ($RBOX is not executable)"
elif ! "$RBOX" runtime run --help 2>&1 | grep -qi usage; then
    echo "rbox: skipped ($RBOX has no 'runtime run' command yet)"
else
    add_runtime rbox "$(readlink -f "$RBOX")" runtime
fi
add_runtime runc "$(command -v runc)"
add_runtime crun "$(command -v crun)"

echo "runc: $(runc --version | head -1); crun: $(crun --version | head -1); kernel $(uname -r); $(nproc) cpus"

# One private mount namespace for all runtimes, so they see the same host:
# crun refuses the hybrid cgroup layout, so the unified (v2) mount is hidden
# under a tmpfs here; the host's mounts are untouched.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
unshare -m -- bash -c '
    set -e
    mount --make-rprivate /
    mount -t tmpfs -o size=16m,mode=755 rbox-bench /sys/fs/cgroup/unified
    exec python3 "$0" "$@"
' "$here/bench.py" --runs "$runs" --warmup "$warmup" --launcher "$launcher" --work "$work" ${JSON:+--json "$JSON"} "${runtimes[@]}"
