#!/bin/sh
# Install what integration/vm/run.sh needs on a Debian host: qemu, a Debian
# kernel with its modules, a static busybox and cpio. Idempotent and quiet:
# it does nothing when everything is installed, and prints apt's log only
# when apt fails. Extra package names may be given as arguments (e.g. `runc`
# to try the harness against runc).
set -eu

pkgs="qemu-system-x86 linux-image-amd64 busybox-static cpio $*"

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: need root to install:$missing" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() {
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 \
        --no-install-recommends $missing >>"$log" 2>&1
}
# A stale package index is the usual reason for a failed install: refresh once.
if ! install; then
    if ! { apt-get update -q >>"$log" 2>&1 && install; }; then
        cat "$log" >&2
        echo "setup.sh: apt-get install failed for:$missing" >&2
        exit 1
    fi
fi
