#!/usr/bin/env bash
# Registry push and pull: rbox vs skopeo on one ~270 MB (uncompressed)
# six-layer image, against Debian's docker-registry on loopback (plain
# HTTP), interleaved. See bench/README.md.
#
#   bench/registry/run.sh [N]        N pushes and pulls per tool (default 5)
#
# Environment: RBOX=/path/to/rbox and LAYERED=/path/to/layered_image
# (built with cargo --release if unset), WARMUP (1), WORK (a temp dir
# under /var/tmp), JSON=/path for raw samples.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-${N:-5}}
warmup=${WARMUP:-1}
registry=/usr/bin/docker-registry

missing=()
[ -x "$registry" ] || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "run.sh: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    else
        echo "run.sh: missing ${missing[*]} (install them, or run as root)" >&2
        exit 1
    fi
fi

target=${CARGO_TARGET_DIR:-$repo/target}
rbox=${RBOX:-}
if [ -z "$rbox" ]; then
    (cd "$repo" && cargo build -q --release -p rbox)
    rbox=$target/release/rbox
fi
layered=${LAYERED:-}
if [ -z "$layered" ]; then
    (cd "$repo" && cargo build -q --release -p rbox-fixtures --example layered_image)
    layered=$target/release/examples/layered_image
fi

work=$(mktemp -d "${WORK:-/var/tmp}/rbox-bench-registry.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Six layers, one /usr directory each (many small text files, some
# binaries), gzip-packed by rbox-image itself straight into the source
# data root (a docker-archive would carry them uncompressed).
dirs=()
for d in /usr/include /usr/lib/python3.11 /usr/share/man /usr/share/vim /usr/lib/git-core /usr/share/perl; do
    [ -d "$d" ] && dirs+=("$d")
done
"$layered" "$work/src" bench/img:1 "${dirs[@]}" >/dev/null

echo "layers: ${dirs[*]}: $(du -scm --apparent-size "${dirs[@]}" | tail -1 | cut -f1) MiB uncompressed," \
     "$(du -sm --apparent-size "$work/src/blobs" | cut -f1) MiB of blobs"
echo "rbox $(cd "$repo" && git rev-parse --short HEAD); $(skopeo --version); registry $("$registry" --version | cut -d' ' -f3)"
echo "kernel $(uname -r); $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg); user $(id -un)"

python3 "$here/bench.py" --runs "$runs" --warmup "$warmup" --rbox "$rbox" \
    --registry "$registry" --src "$work/src" --work "$work" ${JSON:+--json "$JSON"}
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
