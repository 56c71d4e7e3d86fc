#!/usr/bin/env python3
"""Times full `run` lifecycles of OCI runtimes on the same bundle.

Each run is one `RUNTIME --root STATE run --bundle BUNDLE ID` of a bundle
whose process is /bin/true, with a fresh id and cgroupsPath /rbox-bench/ID,
so it covers create (namespaces, mounts, cgroup), start, wait, and delete
(cgroup removal). Runtimes are interleaved in rounds, the order rotating each
round, so drift on the machine hits them alike.

Per run it records wall time (fork to reap), user+sys CPU of the runtime
and every descendant it reaped, and peak RSS (ru_maxrss: the largest of
those processes), all from wait4(2) in the small static launcher
rusage-exec (see its source for why not from python). Called by run.sh,
which builds the launcher and bundles and puts everything in one private
mount namespace.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "rbox-bench"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100, help="measured lifecycles per runtime")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured lifecycles per runtime first")
    p.add_argument("--launcher", required=True, help="the compiled rusage-exec")
    p.add_argument("--work", required=True, help="dir with NAME/bundle per runtime; state and logs go there")
    p.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME=CMD",
        help="runtime command (space-separated words) to which '--root S run --bundle B ID' is appended",
    )
    p.add_argument(
        "--oci-version",
        default="1.1.0",
        help="ociVersion written into every config (Debian 12's crun 1.8 rejects 1.2.0)",
    )
    p.add_argument("--json", help="also write the raw samples here")
    return p.parse_args()


def top_mounts():
    """{mount point: (fstype, root)} of the mount visible at each point."""
    top = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            top[fields[4]] = (fields[fields.index("-") + 1], fields[3])
    return top


def hierarchies():
    """Mount points of the cgroup hierarchies (v1 and v2) visible here; a
    hierarchy hidden under a later mount (the tmpfs over unified) is not."""
    return [mp for mp, (fstype, root) in top_mounts().items() if fstype in ("cgroup", "cgroup2") and root == "/"]


def scrub_fake_unified(cid):
    """crun, seeing a hybrid host, still makes its unified "cgroup" on the
    tmpfs run.sh puts over /sys/fs/cgroup/unified, writes cgroup.procs
    there (a plain file on tmpfs) and so cannot rmdir it. Remove it
    (untimed) so the tmpfs does not fill up."""
    fake = os.path.join(CGROUP_ROOT, "unified")
    if top_mounts().get(fake, ("",))[0] == "tmpfs":
        shutil.rmtree(os.path.join(fake, CGROUP_PARENT, cid), ignore_errors=True)


def leftover_cgroups(cid):
    """Removes and returns the cgroup dirs of `cid` a runtime left behind."""
    left = []
    for h in hierarchies():
        path = os.path.join(h, CGROUP_PARENT, cid)
        if os.path.isdir(path):
            left.append(path)
            try:
                os.rmdir(path)
            except OSError as e:
                print(f"warning: cannot remove {path}: {e}", file=sys.stderr)
    return left


class Runtime:
    def __init__(self, name, cmd, work, oci_version, launcher):
        self.launcher = launcher
        self.name = name
        self.cmd = cmd
        self.dir = os.path.join(work, name)
        self.bundle = os.path.join(self.dir, "bundle")
        self.state = os.path.join(self.dir, "state")
        self.log = os.path.join(self.dir, "last-run.log")
        self.result = os.path.join(self.dir, "last-run.rusage")
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(self.bundle, "config.json")) as f:
            self.config = json.load(f)
        self.config["ociVersion"] = oci_version
        self.samples = []  # (wall_ms, cpu_ms, maxrss_kib)
        self.failures = 0
        self.leftovers = 0

    def run_once(self, cid):
        """One lifecycle; returns (wall_ms, cpu_ms, maxrss_kib) or None on failure."""
        self.config.setdefault("linux", {})["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(self.config, f)
        argv = self.cmd + ["--root", self.state, "run", "--bundle", self.bundle, cid]
        launch = [self.launcher, self.result] + argv
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            actions = [
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ]
            pid = os.posix_spawn(launch[0], launch, os.environ, file_actions=actions)
            _, launcher_status, _ = os.wait4(pid, 0)
        finally:
            os.close(devnull)
            os.close(log)
        scrub_fake_unified(cid)
        left = leftover_cgroups(cid)
        self.leftovers += bool(left)
        status = -1
        if os.waitstatus_to_exitcode(launcher_status) == 0:
            with open(self.result) as f:
                wall_ns, utime_us, stime_us, maxrss_kib, status = map(int, f.read().split())
        if status == -1 or os.waitstatus_to_exitcode(status) != 0:
            self.failures += 1
            with open(self.log) as f:
                err = f.read().strip()
            print(f"{self.name}: run {cid} failed ({status:#x}): {err}", file=sys.stderr)
            # Leave no container behind for the next id to trip over.
            os.spawnv(os.P_WAIT, argv[0], self.cmd + ["--root", self.state, "delete", "--force", cid])
            leftover_cgroups(cid)
            return None
        return (wall_ns / 1e6, (utime_us + stime_us) / 1e3, maxrss_kib)


def p90(values):
    s = sorted(values)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def summary(rt):
    wall = [s[0] for s in rt.samples]
    cpu = [s[1] for s in rt.samples]
    rss = [s[2] for s in rt.samples]
    if not wall:
        return None
    return {
        "runs": len(wall),
        "wall_median_ms": statistics.median(wall),
        "wall_p90_ms": p90(wall),
        "cpu_mean_ms": statistics.fmean(cpu),
        "cpu_median_ms": statistics.median(cpu),
        "rss_peak_mib": max(rss) / 1024,
        "rss_median_mib": statistics.median(rss) / 1024,
    }


def main():
    args = parse_args()
    runtimes = []
    for spec in args.runtime:
        name, _, cmd = spec.partition("=")
        runtimes.append(Runtime(name, cmd.split(), args.work, args.oci_version, args.launcher))
    if not runtimes:
        sys.exit("no runtime given")
    tag = os.getpid()
    total = args.warmup + args.runs
    for rnd in range(total):
        order = runtimes[rnd % len(runtimes):] + runtimes[: rnd % len(runtimes)]
        for rt in order:
            sample = rt.run_once(f"{rt.name}-{tag}-{rnd}")
            if sample is not None and rnd >= args.warmup:
                rt.samples.append(sample)
        if (rnd + 1) % 25 == 0:
            print(f"  round {rnd + 1}/{total}", file=sys.stderr)

    sums = {rt.name: summary(rt) for rt in runtimes}
    print()
    print(f"{args.runs} measured `run` lifecycles of /bin/true per runtime ({args.warmup} warm-up), interleaved")
    hdr = f"{'runtime':<8} {'ok':>4} {'fail':>4} {'wall med ms':>11} {'wall p90 ms':>11} {'cpu/run ms':>10} {'cpu med ms':>10} {'RSS peak MiB':>12} {'RSS med MiB':>11}"
    print(hdr)
    print("-" * len(hdr))
    for rt in runtimes:
        s = sums[rt.name]
        if s is None:
            print(f"{rt.name:<8} {0:>4} {rt.failures:>4}  (no successful run)")
            continue
        print(
            f"{rt.name:<8} {s['runs']:>4} {rt.failures:>4} {s['wall_median_ms']:>11.2f} {s['wall_p90_ms']:>11.2f} "
            f"{s['cpu_mean_ms']:>10.2f} {s['cpu_median_ms']:>10.2f} {s['rss_peak_mib']:>12.1f} {s['rss_median_mib']:>11.1f}"
        )
    for rt in runtimes:
        if rt.leftovers:
            print(f"note: {rt.name} left its cgroup behind in {rt.leftovers} runs (removed by the harness)")

    def ratio(a, b):
        sa, sb = sums.get(a), sums.get(b)
        if not sa or not sb:
            return
        print(
            f"{a}/{b}: wall median {sa['wall_median_ms'] / sb['wall_median_ms']:.2f}x, "
            f"cpu/run {sa['cpu_mean_ms'] / sb['cpu_mean_ms']:.2f}x, "
            f"RSS peak {sa['rss_peak_mib'] / sb['rss_peak_mib']:.2f}x"
        )

    print()
    if "rbox" in sums:
        ratio("rbox", "crun")
        ratio("rbox", "runc")
    else:
        print("rbox/crun, rbox/runc: n/a (rbox skipped)")
    ratio("crun", "runc")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({rt.name: {"summary": sums[rt.name], "samples": rt.samples,
                                 "failures": rt.failures} for rt in runtimes}, f, indent=1)
    sys.exit(1 if any(rt.failures for rt in runtimes) else 0)


if __name__ == "__main__":
    main()
