#!/usr/bin/env bash
# Installs every Debian package rbox's build, demo and tests use, on a fresh
# Debian 12 machine that has the Rust toolchain, gcc, python3 and git.
# Idempotent and quiet; run as root.
set -euo pipefail

packages=(
    # the busybox fixture rootfs and images
    busybox-static cpio
    # peers: differential tests and the lifecycle benchmark
    runc crun
    # tools used by tests and the CLI (`rbox runtime ps` runs ps(1))
    procps iproute2 jq util-linux
    # engine networking: CNI plugins (bridge, host-local, portmap, firewall,
    # loopback) driven by rbox, and the iptables they call
    containernetworking-plugins iptables
    # cgroup v2 tests in a qemu VM
    qemu-system-x86 linux-image-amd64
    # real clients driving rbox as their OCI runtime
    podman containerd docker.io
    # validating the images and layouts rbox writes; the builder's peer
    skopeo umoci buildah
    # registries on loopback: distribution 2.8, a throw-away CA, htpasswd
    # (bcrypt) for its basic auth
    docker-registry openssl apache2-utils
    # moto (fake AWS for the ECR tests) runs in a venv: scripts/moto-venv.sh
    python3-venv
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No services may start from package scripts here (no systemd; tests start
# their own daemons on private sockets).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$created_policy" = 1 ]; then
    rm -f "$policy"
fi
