#!/usr/bin/env bash
# Run OCI-runtime cgroup v2 scenarios inside a throw-away qemu VM.
#
# The host's cgroups are hybrid (v1 controllers, a nearly empty v2), so the
# runtime's cgroup v2 code is tested on a Debian kernel booted under qemu
# with cgroup_no_v1=all. This script builds an initramfs holding busybox,
# the runtime binary and its shared libraries, a busybox rootfs for the
# containers, the kernel modules the runtime needs and the scenario script,
# boots it, and judges the run by the single result line the guest prints.
#
# Exit status: 0 only when the guest printed `RBOX-VM-RESULT: PASS`;
# 1 on a failed or incomplete run; 2 on bad usage or a missing host tool.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

usage() {
    cat <<'EOF'
usage: run.sh --runtime-bin PATH [--runtime-args "ARGS"] [--scenarios FILE]
              [--only "NAME..."] [--timeout SECS] [--log FILE] [--keep]
              [--modules "MOD..."] [--kernel-version VER]

  --runtime-bin PATH    OCI runtime binary to copy into the VM (runc, rbox)
  --runtime-args ARGS   words put between the binary and the runc-style
                        subcommand, e.g. "runtime" for `rbox runtime run ...`
  --scenarios FILE      scenario script run in the VM (default: scenarios.sh
                        next to this script)
  --only NAMES          run only these scenarios (space-separated)
  --timeout SECS        kill the VM after SECS seconds (default 240)
  --log FILE            where the serial console output goes (default:
                        serial.log in the work directory)
  --keep                keep the work directory (initramfs, log) on success;
                        it is always kept on failure
  --modules MODS        kernel modules to load, deps resolved via modules.dep
                        (default "overlay veth bridge")
  --kernel-version VER  kernel under /boot and /lib/modules to boot (default:
                        the one the linux-image-amd64 package depends on)
EOF
}

die_usage() {
    echo "run.sh: $*" >&2
    exit 2
}

runtime_bin=""
runtime_args=""
scenarios="$here/scenarios.sh"
only=""
timeout_secs=240
log=""
keep=0
modules="overlay veth bridge"
kver=""

while [ $# -gt 0 ]; do
    case "$1" in
    --runtime-bin) runtime_bin=${2:?--runtime-bin needs a value}; shift 2 ;;
    --runtime-args) runtime_args=${2?--runtime-args needs a value}; shift 2 ;;
    --scenarios) scenarios=${2:?--scenarios needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --timeout) timeout_secs=${2:?--timeout needs a value}; shift 2 ;;
    --log) log=${2:?--log needs a value}; shift 2 ;;
    --keep) keep=1; shift ;;
    --modules) modules=${2?--modules needs a value}; shift 2 ;;
    --kernel-version) kver=${2:?--kernel-version needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die_usage "unknown argument: $1" ;;
    esac
done

[ -n "$runtime_bin" ] || { usage >&2; die_usage "--runtime-bin is required"; }
runtime_bin=$(command -v "$runtime_bin" || true)
if [ -z "$runtime_bin" ] || [ ! -x "$runtime_bin" ]; then
    die_usage "runtime binary not found or not executable"
fi
[ -r "$scenarios" ] || die_usage "scenario script not readable: $scenarios"
case "$timeout_secs" in '' | *[!0-9]*) die_usage "--timeout wants whole seconds: $timeout_secs" ;; esac
# The guest reads these from a shell file in single quotes.
case "$runtime_args$only" in *\'*) die_usage "--runtime-args/--only must not contain single quotes" ;; esac

for tool in qemu-system-x86_64 cpio gzip ldd timeout; do
    command -v "$tool" >/dev/null || die_usage "missing host tool $tool (run integration/vm/setup.sh)"
done
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    die_usage "$busybox must be a static busybox (install busybox-static; run integration/vm/setup.sh)"
fi

# The installed Debian kernel, not the host's running one (uname -r): the
# dev/CI machines run a different kernel than the linux-image-amd64 package.
if [ -z "$kver" ]; then
    kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
        sed -n 's/^linux-image-\([^ ,]*\).*/\1/p')
fi
if [ -z "$kver" ]; then
    # No package metadata: fall back to the newest kernel in /boot.
    kver=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null |
        sed 's/^vmlinuz-//' | sort -V | tail -n 1)
fi
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
if [ -z "$kver" ] || [ ! -r "$kernel" ]; then
    die_usage "no kernel image /boot/vmlinuz-$kver (run integration/vm/setup.sh)"
fi
[ -r "$moddir/modules.dep" ] || die_usage "no $moddir/modules.dep for kernel $kver"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/rbox-vm.XXXXXX")
[ -n "$log" ] || log=$workdir/serial.log
root=$workdir/root
ok=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ "$ok" = 1 ] && [ "$keep" = 0 ]; then
        rm -rf "$workdir"
    else
        echo "run.sh: work directory kept: $workdir" >&2
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t_build=$(now)

# Put busybox at /bin/busybox under $1 with one symlink per applet; $2 is
# "full" for the distribution layout (sbin/, usr/bin/...), "flat" for bin/.
install_busybox() {
    local dest=$1 layout=$2 applet
    mkdir -p "$dest/bin"
    cp "$busybox" "$dest/bin/busybox"
    if [ "$layout" = full ]; then
        for applet in $("$busybox" --list-full); do
            mkdir -p "$dest/$(dirname "$applet")"
            [ -e "$dest/$applet" ] || ln -s /bin/busybox "$dest/$applet"
        done
    else
        for applet in $("$busybox" --list); do
            [ -e "$dest/bin/$applet" ] || ln -s busybox "$dest/bin/$applet"
        done
    fi
}

# --- the VM's own tree -------------------------------------------------------
mkdir -p "$root"/{proc,sys,dev,run,tmp,etc/rbox-vm,rbox,usr/local/bin}
install_busybox "$root" full
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# The runtime binary and the libraries its loader will ask for, at the same
# paths as on the host.
runtime_name=$(basename "$runtime_bin")
cp "$runtime_bin" "$root/usr/local/bin/$runtime_name"
# A debug build's DWARF is most of its size; the VM's copy does not need it
# (symbols stay, so backtraces still name functions).
if command -v objcopy >/dev/null; then
    objcopy --strip-debug "$root/usr/local/bin/$runtime_name"
fi
for lib in $(ldd "$runtime_bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

# --- the containers' rootfs --------------------------------------------------
rootfs=$root/rbox/rootfs
mkdir -p "$rootfs"/{proc,sys,dev,tmp,etc,root}
install_busybox "$rootfs" flat
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"

# --- kernel modules ----------------------------------------------------------
# Resolve each requested module and its dependencies from modules.dep, in
# load order (dependencies first); built-in modules need nothing.
declare -A mod_dep=() mod_seen=()
mod_order=()
while IFS= read -r line; do
    mod_dep[${line%%:*}]=${line#*:}
done <"$moddir/modules.dep"
mod_path() {
    local want=${1//-/_} p base
    for p in "${!mod_dep[@]}"; do
        base=${p##*/}
        base=${base%%.ko*}
        [ "${base//-/_}" = "$want" ] && { echo "$p"; return 0; }
    done
    return 1
}
mod_add() {
    local p=$1 d
    [ -n "${mod_seen[$p]:-}" ] && return 0
    mod_seen[$p]=1
    for d in ${mod_dep[$p]}; do mod_add "$d"; done
    mod_order+=("$p")
}
for m in $modules; do
    if p=$(mod_path "$m"); then
        mod_add "$p"
    elif grep -qE "/${m//-/_}\.ko|/${m//_/-}\.ko" "$moddir/modules.builtin" 2>/dev/null; then
        : # built into the kernel
    else
        die_usage "kernel module $m not found for kernel $kver"
    fi
done
: >"$root/etc/rbox-vm/modules"
for p in "${mod_order[@]}"; do
    src=$moddir/$p
    dst=$root/lib/modules/$kver/${p%.ko*}.ko
    mkdir -p "$(dirname "$dst")"
    # busybox insmod wants a plain ELF object, so unpack compressed modules.
    case "$p" in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *) die_usage "unknown module format: $p" ;;
    esac
    echo "/lib/modules/$kver/${p%.ko*}.ko" >>"$root/etc/rbox-vm/modules"
done

# --- scenarios and settings --------------------------------------------------
cp "$scenarios" "$root/rbox/scenarios.sh"
guest_timeout=$((timeout_secs > 60 ? timeout_secs - 30 : timeout_secs / 2))
cat >"$root/etc/rbox-vm/env" <<EOF
RUNTIME='/usr/local/bin/$runtime_name${runtime_args:+ $runtime_args}'
RBOX_VM_ONLY='$only'
RBOX_VM_ROOTFS=/rbox/rootfs
RBOX_VM_GUEST_TIMEOUT=$guest_timeout
EOF

# --- init: two stages --------------------------------------------------------
# pivot_root(2) fails with EINVAL while / is the initramfs, and every runtime
# pivots into its rootfs, so stage 1 copies the tree onto a tmpfs and
# switch_roots there; stage 2 sets up the cgroup v2 host and runs the tests.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The firmware's last console line has no newline; start our lines clean.
echo
stage1_fail() {
    echo "RBOX-VM-RESULT: FAIL stage-1 init: $*"
    poweroff -f
}
mkdir -p /newroot || stage1_fail "mkdir /newroot"
mount -t tmpfs -o mode=0755 tmpfs /newroot || stage1_fail "mount tmpfs /newroot"
for entry in /*; do
    case "$entry" in /newroot | /init) continue ;; esac
    cp -a "$entry" /newroot/ || stage1_fail "copy $entry"
done
exec switch_root /newroot /init2
stage1_fail "switch_root"
EOF

cat >"$root/init2" <<'EOF'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
result() {
    echo "RBOX-VM-RESULT: $*"
    sync
    poweroff -f
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
dmesg_tail() { dmesg | tail -n 20 | sed 's/^/rbox-vm: dmesg: /'; }

mount -t proc proc /proc || result "FAIL mount proc"
mount -t sysfs sysfs /sys || result "FAIL mount sysfs"
mount -t devtmpfs devtmpfs /dev || result "FAIL mount devtmpfs"
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts || result "FAIL mount devpts"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || result "FAIL mount /dev/shm"
mount -t mqueue mqueue /dev/mqueue || result "FAIL mount mqueue"
mount -t tmpfs -o mode=0755 tmpfs /run || result "FAIL mount /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || result "FAIL mount /tmp"
# Keep kernel chatter (OOM reports) off the console; it is dumped on failure.
dmesg -n 1
hostname rbox-vm

. /etc/rbox-vm/env

while read -r ko; do
    insmod "$ko" || echo "rbox-vm: insmod $ko failed"
done </etc/rbox-vm/modules

mount -t cgroup2 cgroup2 /sys/fs/cgroup || result "FAIL mount cgroup2"
for c in cpu memory pids io; do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ||
        result "FAIL cannot enable the $c controller"
done

echo "rbox-vm: kernel $(uname -r), up $(uptime_s)s, controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "rbox-vm: runtime: $RUNTIME"

# A hung scenario must still end in a result line.
(
    sleep "$RBOX_VM_GUEST_TIMEOUT"
    echo "rbox-vm: hung in: $(sed -n 's/^# //p' /tmp/scenarios.out | tail -n 1)"
    dmesg_tail
    result "FAIL guest watchdog: scenarios still running after ${RBOX_VM_GUEST_TIMEOUT}s"
) &

export RUNTIME RBOX_VM_ONLY RBOX_VM_ROOTFS
set -o pipefail
sh /rbox/scenarios.sh 2>&1 | tee /tmp/scenarios.out
rc=$?
echo "rbox-vm: scenarios done, up $(uptime_s)s"

failed=$(sed -n 's/^not ok \([^:]*\).*/\1/p' /tmp/scenarios.out | tr '\n' ' ')
passed=$(grep -c '^ok ' /tmp/scenarios.out)
if [ -n "$failed" ]; then
    dmesg_tail
    result "FAIL not ok: ${failed% }"
elif [ "$rc" -ne 0 ]; then
    result "FAIL scenario script exited with status $rc"
elif [ "$passed" -eq 0 ]; then
    result "FAIL no scenario ran"
fi
result "PASS"
EOF
chmod +x "$root/init" "$root/init2" "$root/rbox/scenarios.sh"

initrd=$workdir/initrd.gz
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -1) >"$initrd"
t_boot=$(now)
echo "run.sh: kernel $kver, initramfs $(du -h "$initrd" | cut -f1), built in $(elapsed "$t_build" "$t_boot")s"

# --- boot --------------------------------------------------------------------
# TCG, not KVM: nested KVM does not boot on the dev/CI VMs. No NIC: the
# tests need none, and it skips the iPXE option ROM.
set +e
timeout -k 10 "$timeout_secs" qemu-system-x86_64 \
    -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 quiet cgroup_no_v1=all rdinit=/init panic=-1" \
    </dev/null >"$log" 2>&1
qemu_rc=$?
set -e
t_end=$(now)

# Drop CRs and the terminal escapes (reset, clear) firmware and kernel emit.
clean_log=$(tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g')
grep -E '^(ok |not ok |rbox-vm: )' <<<"$clean_log" || true
results=$(grep '^RBOX-VM-RESULT: ' <<<"$clean_log" || true)
echo "run.sh: VM ran $(elapsed "$t_boot" "$t_end")s (boot to power-off), qemu exit status $qemu_rc"

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    echo "run.sh: VM killed after ${timeout_secs}s; last console lines:" >&2
    tail -n 40 <<<"$clean_log" >&2
    echo "RBOX-VM-RESULT: FAIL host timeout"
    exit 1
fi
if [ "$(wc -l <<<"$results")" -ne 1 ] || [ -z "$results" ]; then
    echo "run.sh: expected one result line, got: ${results:-none}; last console lines:" >&2
    tail -n 40 <<<"$clean_log" >&2
    echo "RBOX-VM-RESULT: FAIL no result line"
    exit 1
fi
echo "$results"
if [ "$results" = "RBOX-VM-RESULT: PASS" ]; then
    ok=1
    exit 0
fi
exit 1
