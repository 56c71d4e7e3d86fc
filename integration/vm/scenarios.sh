#!/bin/sh
# cgroup v2 scenarios for a runc-compatible OCI runtime, run as root inside
# the test VM (busybox sh, pure cgroup v2 at /sys/fs/cgroup with cpu, memory,
# pids and io enabled at the root).
#
# Environment:
#   RUNTIME         command prefix of the runtime, e.g. "/usr/local/bin/runc"
#                   or "/usr/local/bin/rbox runtime"; the runc-style
#                   subcommand and its arguments are appended.
#   RBOX_VM_ROOTFS  busybox rootfs copied into each bundle (default /rbox/rootfs)
#   RBOX_VM_ONLY    space-separated scenario names to run (default: all)
#
# Output, one line per scenario: `ok NAME` or `not ok NAME: WHY`, with
# `# ...` lines as progress and diagnostics. Every container lives under the
# absolute cgroup /rboxtest/NAME and is deleted afterwards; the last
# scenario checks that the runtime removed every cgroup it made.
#
# jq is not in the VM, so config.json comes from a heredoc template.

: "${RUNTIME:?set RUNTIME to the runtime command, e.g. /usr/local/bin/runc}"
ROOTFS=${RBOX_VM_ROOTFS:-/rbox/rootfs}
WORK=${RBOX_VM_WORK:-/tmp/rbox-vm}
CG=/sys/fs/cgroup
PARENT=rboxtest

rt() {
    # shellcheck disable=SC2086 # RUNTIME is a command plus its leading words
    $RUNTIME "$@"
}

# Print the arguments as a JSON array of strings.
json_args() {
    out="" sep=""
    for a in "$@"; do
        a=$(printf '%s' "$a" | awk 'BEGIN { ORS = "" }
            { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, "\\t")
              if (NR > 1) print "\\n"; print }')
        out="$out$sep\"$a\""
        sep=", "
    done
    printf '[%s]' "$out"
}

# make_bundle NAME RESOURCES ARG...: a bundle at $WORK/NAME running ARG...
# with cgroupsPath /rboxtest/NAME, a cgroup namespace, and the cgroup
# resources given as JSON members (e.g. '"pids": {"limit": 8}', may be "").
make_bundle() {
    name=$1 resources=$2
    shift 2
    b=$WORK/$name
    rm -rf "$b"
    mkdir -p "$b"
    cp -a "$ROOTFS" "$b/rootfs"
    cat >"$b/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": $(json_args "$@"),
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "$name",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "cgroupsPath": "/$PARENT/$name",
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}]${resources:+,
      $resources}
    },
    "namespaces": [
      {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
      {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
    ],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
      "/proc/sysrq-trigger"]
  }
}
EOF
}

# run_ctr NAME: `run` the bundle in the foreground; stdout/stderr land in
# $WORK/NAME/out and err; sets $rc to the runtime's exit status.
run_ctr() {
    rt run --bundle "$WORK/$1" "$1" <"/dev/null" >"$WORK/$1/out" 2>"$WORK/$1/err"
    rc=$?
}

# create_ctr NAME: `create` the container, its stdio going to files so no
# caller waits on a pipe the container holds open.
create_ctr() {
    rt create --bundle "$WORK/$1" "$1" <"/dev/null" >"$WORK/$1/out" 2>"$WORK/$1/err"
}

# status NAME: the "status" field of `state NAME`, or nothing.
status() {
    rt state "$1" 2>/dev/null | tr -d '\n' | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'
}

# wait_status NAME WANT: poll `state` (up to ~20 s under emulation).
wait_status() {
    i=0
    while [ "$i" -lt 100 ]; do
        [ "$(status "$1")" = "$2" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# Failure helpers: set $why and return 1 so a scenario can `|| return 1`.
fail() {
    why="$*"
    return 1
}
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
# The runtime's stderr, one line, for failure messages.
err_of() {
    tr '\n' ' ' <"$WORK/$1/err" 2>/dev/null | cut -c1-300
}

# cleanup NAME: remove the container and bundle; the cgroup is the
# runtime's to remove (checked by the last scenario).
cleanup() {
    rt delete --force "$1" >/dev/null 2>&1
    rm -rf "${WORK:?}/$1"
}

# --- scenarios ---------------------------------------------------------------

# memory.max and memory.low come from limit and reservation, and the
# container sees its own cgroup's files at /sys/fs/cgroup (cgroup namespace).
scn_memory() {
    make_bundle memory '"memory": {"limit": 33554432, "reservation": 16777216}' \
        sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low'
    run_ctr memory
    [ "$rc" = 0 ] || fail "run exited $rc: $(err_of memory)" || return 1
    expect_eq "memory.max" "$(sed -n 1p "$WORK/memory/out")" 33554432 || return 1
    expect_eq "memory.low" "$(sed -n 2p "$WORK/memory/out")" 16777216 || return 1
}

# A process allocating past a 16 MiB limit is OOM-killed: the runtime
# reports the SIGKILL as exit status 137 and the kernel counts an oom_kill
# (memory.events is hierarchical, so /rboxtest's count outlives the
# container's cgroup).
scn_oom() {
    before=$(sed -n 's/^oom_kill //p' "$CG/$PARENT/memory.events" 2>/dev/null)
    make_bundle oom '"memory": {"limit": 16777216}' tail /dev/zero
    run_ctr oom
    after=$(sed -n 's/^oom_kill //p' "$CG/$PARENT/memory.events" 2>/dev/null)
    expect_eq "run exit status" "$rc" 137 || return 1
    [ "${after:-0}" -gt "${before:-0}" ] ||
        fail "/$PARENT memory.events oom_kill did not grow (before ${before:-none}, after ${after:-none})"
}

# pids.max stops a fork loop: the loop's subshell dies on the first failed
# fork, and pids.events counts the refusal. Only builtins run after the
# loop, since no fork can succeed until the sleeps exit.
scn_pids() {
    # shellcheck disable=SC2016 # expanded by the container's shell
    make_bundle pids '"pids": {"limit": 8}' sh -c '
        read m </sys/fs/cgroup/pids.max; echo "max=$m"
        ( n=0; while [ $n -lt 60 ]; do sleep 30 & n=$((n + 1)); echo "forked=$n"; done ) 2>/dev/null
        read c </sys/fs/cgroup/pids.current; echo "current=$c"
        while read k v; do echo "event_$k=$v"; done </sys/fs/cgroup/pids.events'
    run_ctr pids
    out=$WORK/pids/out
    [ "$rc" = 0 ] || fail "run exited $rc: $(err_of pids)" || return 1
    expect_eq "pids.max" "$(sed -n 's/^max=//p' "$out")" 8 || return 1
    forked=$(sed -n 's/^forked=//p' "$out" | tail -n 1)
    current=$(sed -n 's/^current=//p' "$out")
    events=$(sed -n 's/^event_max=//p' "$out")
    [ -n "$forked" ] && [ "$forked" -lt 60 ] || fail "fork loop was not stopped (forked ${forked:-0})" || return 1
    [ -n "$current" ] && [ "$current" -le 8 ] || fail "pids.current ${current:-?} above 8" || return 1
    [ "${events:-0}" -ge 1 ] || fail "pids.events max is ${events:-missing}" || return 1
}

# cpu.max is "<quota> <period>".
scn_cpu() {
    make_bundle cpu '"cpu": {"quota": 50000, "period": 100000}' cat /sys/fs/cgroup/cpu.max
    run_ctr cpu
    [ "$rc" = 0 ] || fail "run exited $rc: $(err_of cpu)" || return 1
    expect_eq "cpu.max" "$(cat "$WORK/cpu/out")" "50000 100000" || return 1
}

# pause freezes the cgroup (cgroup.freeze 1, cgroup.events frozen 1) and
# state says paused; resume thaws it and state says running again.
scn_freezer() {
    make_bundle freezer "" sleep 600
    dir=$CG/$PARENT/freezer
    create_ctr freezer || fail "create failed: $(err_of freezer)" || return 1
    rt start freezer 2>"$WORK/freezer/err" || fail "start failed: $(err_of freezer)" || return 1
    wait_status freezer running || fail "state is '$(status freezer)' after start" || return 1
    rt pause freezer 2>"$WORK/freezer/err" || fail "pause failed: $(err_of freezer)" || return 1
    expect_eq "cgroup.freeze after pause" "$(cat "$dir/cgroup.freeze" 2>&1)" 1 || return 1
    expect_eq "cgroup.events frozen after pause" "$(sed -n 's/^frozen //p' "$dir/cgroup.events")" 1 || return 1
    expect_eq "state after pause" "$(status freezer)" paused || return 1
    rt resume freezer 2>"$WORK/freezer/err" || fail "resume failed: $(err_of freezer)" || return 1
    expect_eq "cgroup.freeze after resume" "$(cat "$dir/cgroup.freeze" 2>&1)" 0 || return 1
    expect_eq "state after resume" "$(status freezer)" running || return 1
    rt kill freezer KILL 2>"$WORK/freezer/err" || fail "kill failed: $(err_of freezer)" || return 1
    wait_status freezer stopped || fail "state is '$(status freezer)' after kill" || return 1
}

# With a cgroup namespace the container's cgroup is its root: 0::/ inside,
# 0::/rboxtest/cgroupns from the host.
scn_cgroupns() {
    make_bundle cgroupns "" cat /proc/self/cgroup
    create_ctr cgroupns || fail "create failed: $(err_of cgroupns)" || return 1
    pid=$(rt state cgroupns 2>/dev/null | tr -d '\n' | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    [ -n "$pid" ] || fail "no pid in state" || return 1
    expect_eq "host view /proc/$pid/cgroup" "$(cat "/proc/$pid/cgroup")" "0::/$PARENT/cgroupns" || return 1
    rt start cgroupns 2>"$WORK/cgroupns/err" || fail "start failed: $(err_of cgroupns)" || return 1
    wait_status cgroupns stopped || fail "state is '$(status cgroupns)' after start" || return 1
    expect_eq "container view /proc/self/cgroup" "$(cat "$WORK/cgroupns/out")" "0::/" || return 1
}

# Every container was deleted: the runtime must have removed its cgroups.
scn_cleanup() {
    left=$(find "$CG/$PARENT" -mindepth 1 -type d 2>/dev/null | tr '\n' ' ')
    # Tidy up either way so a rerun starts clean.
    find "$CG/$PARENT" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
    rmdir "$CG/$PARENT" 2>/dev/null
    [ -z "$left" ] || fail "cgroups left after delete: $left"
}

# --- driver ------------------------------------------------------------------

all="memory oom pids cpu freezer cgroupns"
selected=${RBOX_VM_ONLY:-$all}
mkdir -p "$WORK"
for name in $selected; do
    case " $all " in
    *" $name "*) ;;
    *)
        echo "not ok $name: no such scenario"
        continue
        ;;
    esac
    echo "# $name"
    why=""
    if "scn_$name"; then
        echo "ok $name"
    else
        echo "not ok $name: ${why:-failed}"
    fi
    cleanup "$name"
done
echo "# cleanup"
why=""
if scn_cleanup; then echo "ok cleanup"; else echo "not ok cleanup: $why"; fi
