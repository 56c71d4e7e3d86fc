#!/usr/bin/env bash
# Layer unpack: rbox-image vs GNU tar on one ~100 MB multi-file layer made
# from /usr, plain, gzip and zstd, interleaved. See bench/README.md.
#
#   bench/unpack/run.sh [N]          N unpacks per tool and format (default 7)
#
# Environment: RBOX_UNPACK=/path/to/unpack (the rbox-image example; built
# with cargo --release if unset), SIZE_MB (100), WARMUP (1), WORK (a temp
# dir under /var/tmp; the disk runs write there), JSON=/path for raw samples.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-${N:-7}}
warmup=${WARMUP:-1}
size_mb=${SIZE_MB:-100}

missing=()
command -v tar >/dev/null || missing+=(tar)
command -v gzip >/dev/null || missing+=(gzip)
command -v zstd >/dev/null || missing+=(zstd)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "run.sh: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    else
        echo "run.sh: missing ${missing[*]} (install them, or run as root)" >&2
        exit 1
    fi
fi

unpack=${RBOX_UNPACK:-}
if [ -z "$unpack" ]; then
    (cd "$repo" && cargo build -q --release -p rbox-image --example unpack)
    unpack=${CARGO_TARGET_DIR:-$repo/target}/release/examples/unpack
fi

work=$(mktemp -d "${WORK:-/var/tmp}/rbox-bench-unpack.XXXXXX")
shm=""
cleanup() {
    rm -rf "$work"
    [ -z "$shm" ] || rm -rf "$shm"
}
trap cleanup EXIT

# The layer: whole directories of /usr, in this order, until SIZE_MB is
# reached; many small files (headers, python modules) like a real layer.
dirs=()
total=0
for d in usr/include usr/lib/python3 usr/share/perl usr/lib/gcc usr/share/doc usr/share/locale usr/lib/x86_64-linux-gnu; do
    [ -d "/$d" ] || continue
    dirs+=("$d")
    total=$((total + $(du -s --apparent-size -m "/$d" | cut -f1)))
    [ "$total" -lt "$size_mb" ] || break
done
tar -C / -cf "$work/layer.tar" "${dirs[@]}"
gzip -6 -c "$work/layer.tar" >"$work/layer.tar.gz"
zstd -q -3 -c "$work/layer.tar" >"$work/layer.tar.zst"

echo "layer: ${dirs[*]} from /usr: $(tar -tf "$work/layer.tar" | wc -l) entries, $(( $(stat -c %s "$work/layer.tar") / 1048576 )) MiB tar," \
     "$(( $(stat -c %s "$work/layer.tar.gz") / 1048576 )) MiB gzip, $(( $(stat -c %s "$work/layer.tar.zst") / 1048576 )) MiB zstd"
echo "tar: $(tar --version | head -1); gzip: $(gzip --version | head -1); zstd: $(zstd --version)"
echo "kernel $(uname -r); $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg); user $(id -un)"

# tmpfs as well as disk: tmpfs isolates the unpacker's own cost from the
# file system's.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=$(mktemp -d /dev/shm/rbox-bench-unpack.XXXXXX)
fi

python3 "$here/bench.py" --runs "$runs" --warmup "$warmup" --rbox "$unpack" \
    --layer "$work/layer.tar" --target "disk=$work/out" ${shm:+--target "tmpfs=$shm"} \
    ${JSON:+--json "$JSON"}
