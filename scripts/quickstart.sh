#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, as root, with no internet but
# the package registries: install what is needed, build rbox, install it
# (and the rbox-runc name podman/containerd/dockerd use), make the busybox
# bundle from rootfs-fixtures/ and run it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release -p rbox -p rbox-fixtures
install -m 0755 target/release/rbox /usr/local/bin/rbox
ln -sf rbox /usr/local/bin/rbox-runc

bundle=${RBOX_DEMO_BUNDLE:-/tmp/rbox-demo-bundle}
rm -rf "$bundle"
target/release/rbox-fixture busybox-bundle "$bundle" -- \
    sh -c 'echo "hello from $(hostname): pid $$ in its own namespaces, as $(id -un)"; uname -sr'
id="demo-$$"
rbox runtime run --bundle "$bundle" "$id"
