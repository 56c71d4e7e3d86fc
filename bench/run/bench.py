"""rbox run vs podman run vs the bare runtime, interleaved rounds; then
PARALLEL containers started with `rbox run -d` through xargs -P and
removed with `rbox rm -f`, and a check that nothing is left behind.

- rbox: `rbox run --rm --network none busybox true`, its own data and
  state roots, containers under the cgroup parent /rbox-bench/engine.
- podman: the same image loaded with `podman load`, its own --root,
  --runroot and --tmpdir, cgroupfs, file events, runc as its runtime
  (crun refuses this hybrid host), the ulimits root needs here.
- runtime: `rbox runtime run` of the busybox bundle (/bin/true) with a
  fresh id and cgroupsPath /rbox-bench/rt/ID, as bench/lifecycle does.
"""

import argparse
import json
import os
import statistics
import subprocess
import time

NETNS = "/run/rbox/netns"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--rbox", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--busybox", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--parallel", type=int, default=50)
    p.add_argument("--json")
    return p.parse_args()


def must(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout.decode()


def timed(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return dt


class Setup:
    def __init__(self, a):
        w = a.work
        self.rbox = [a.rbox, "--data-root", f"{w}/rbox-data", "--state-root", f"{w}/rbox-state"]
        self.data = f"{w}/rbox-data"
        self.state = f"{w}/rbox-state"
        self.podman = [
            "podman", "--root", f"{w}/podman/root", "--runroot", f"{w}/podman/run",
            "--tmpdir", f"{w}/podman/tmp", "--cgroup-manager=cgroupfs",
            "--events-backend=file", "--runtime", "runc",
        ]
        self.bundle = a.bundle
        self.rt_state = f"{w}/rt-state"
        self.seq = 0
        self.netns_before = set(os.listdir(NETNS)) if os.path.isdir(NETNS) else set()
        must(self.rbox + ["load", "-i", a.busybox])
        must(self.podman + ["load", "-i", a.busybox])
        with open(os.path.join(a.bundle, "config.json")) as f:
            self.config = json.load(f)

    def rbox_run(self):
        return timed(self.rbox + [
            "run", "--rm", "--network", "none", "--cgroup-parent", "/rbox-bench/engine",
            "busybox", "true",
        ])

    def podman_run(self):
        return timed(self.podman + [
            "run", "--rm", "--network", "none", "--cgroup-parent", "/rbox-bench/podman",
            "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
            "busybox", "true",
        ])

    def runtime_run(self):
        self.seq += 1
        cid = f"bench-{os.getpid()}-{self.seq}"
        self.config.setdefault("linux", {})["cgroupsPath"] = f"/rbox-bench/rt/{cid}"
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(self.config, f)
        return timed([
            self.rbox[0], "runtime", "--root", self.rt_state, "run", "--bundle", self.bundle, cid,
        ])


def leftovers(s):
    """What a removed container may leave: mounts under the data root,
    cgroups under its parent, records, names, runtime state, netns."""
    out = []
    with open("/proc/self/mountinfo") as f:
        out += [f"mount {l.split()[4]}" for l in f if l.split()[4].startswith(s.data)]
    for h in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{h}/rbox-bench/engine"
        if os.path.isdir(d):
            out += [f"cgroup {d}/{c}" for c in os.listdir(d) if os.path.isdir(f"{d}/{c}")]
    for sub in ["containers", "container-names"]:
        d = f"{s.data}/{sub}"
        if os.path.isdir(d):
            out += [f"{sub}/{c}" for c in os.listdir(d)]
    # Named netns live under /run/rbox/netns whatever the state root:
    # only entries that appeared during this benchmark count.
    if os.path.isdir(NETNS):
        out += [f"netns {n}" for n in set(os.listdir(NETNS)) - s.netns_before]
    if os.path.isdir(s.state):
        out += [f"state {c}" for c in os.listdir(s.state) if c not in ("exits", "netns")]
        for sub in ["exits", "netns"]:
            if os.path.isdir(f"{s.state}/{sub}"):
                out += [f"state {sub}/{c}" for c in os.listdir(f"{s.state}/{sub}")]
    return out


def parallel(s, n):
    names = "\n".join(f"par{i}" for i in range(n)) + "\n"
    xargs = ["xargs", "-P", str(n), "-I{}"]
    t0 = time.monotonic()
    r = subprocess.run(
        xargs + s.rbox + ["run", "-d", "--network", "none", "--cgroup-parent",
                          "/rbox-bench/engine", "--name", "{}", "busybox", "sleep", "1000"],
        input=names.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_run = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"parallel run failed: {r.stderr.decode(errors='replace')[-2000:]}")
    listed = must(s.rbox + ["ps", "-a", "--format", "{{.Names}} {{.State}}"]).splitlines()
    running = [l for l in listed if l.endswith(" running")]
    if len(listed) != n:
        print(f"after the parallel runs ps -a lists {len(listed)}: {listed}")
    t0 = time.monotonic()
    r = subprocess.run(xargs + s.rbox + ["rm", "-f", "{}"], input=names.encode(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_rm = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"parallel rm failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return t_run, t_rm, len(running), leftovers(s)


def main():
    a = parse_args()
    s = Setup(a)
    tools = {"rbox run": s.rbox_run, "podman run": s.podman_run, "runtime run": s.runtime_run}
    samples = {k: [] for k in tools}
    names = list(tools)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{must(['podman', '--version']).strip()}; runc {must(['runc', '--version']).split()[2]}; "
          f"kernel {os.uname().release}; {os.cpu_count()} cpus; load {' '.join(load)}")
    for rnd in range(a.warmup + a.runs):
        order = names[rnd % 3:] + names[:rnd % 3]
        for k in order:
            dt = tools[k]()
            if rnd >= a.warmup:
                samples[k].append(dt)
    med = {k: statistics.median(v) for k, v in samples.items()}
    p90 = {k: sorted(v)[int(len(v) * 0.9) - 1] for k, v in samples.items()}
    print(f"\n{a.runs} rounds (after {a.warmup} warm-up), wall seconds per container")
    print(f"{'':14}{'median':>9}{'p90':>9}")
    for k in names:
        print(f"{k:14}{med[k]:9.4f}{p90[k]:9.4f}")
    print(f"\nrbox run / podman run:  {med['rbox run'] / med['podman run']:.3f}x  (target < 0.2x)")
    print(f"rbox run / runtime run: {med['rbox run'] / med['runtime run']:.2f}x  (target <= 2x)")
    left = leftovers(s)
    if left:
        print(f"left behind by the sequential runs: {left}")
    t_run, t_rm, running, left = parallel(s, a.parallel)
    print(f"\n{a.parallel} x `rbox run -d` through xargs -P {a.parallel}: {t_run:.2f} s, "
          f"{running} running; `rbox rm -f` of all (xargs -P {a.parallel}): {t_rm:.2f} s")
    print("left behind: " + (", ".join(left) if left else "nothing (mounts, cgroups, records, names, state, netns)"))
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load at the end: {' '.join(load)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"samples": samples, "parallel": {"run": t_run, "rm": t_rm}}, f)


if __name__ == "__main__":
    main()
