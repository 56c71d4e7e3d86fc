#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root, with no internet but
# the package registries: install what is needed, build rbox, install it
# (and the rbox-runc name podman/containerd/dockerd use), make the busybox
# image from rootfs-fixtures/ (Debian's busybox-static, no network), load
# it into the store and run it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release -p rbox -p rbox-fixtures
install -m 0755 target/release/rbox /usr/local/bin/rbox
ln -sf rbox /usr/local/bin/rbox-runc

archive=${RBOX_DEMO_ARCHIVE:-/tmp/rbox-busybox.tar}
target/release/rbox-fixture busybox-archive "$archive" busybox >/dev/null
rbox load -i "$archive"
rbox run --rm busybox echo hello
