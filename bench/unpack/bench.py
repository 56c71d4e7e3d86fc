#!/usr/bin/env python3
"""Layer unpack: rbox-image's example `unpack` vs GNU tar, interleaved.

Called by run.sh. For each target directory (disk, tmpfs) and each format
(plain, gzip, zstd) it first checks that both tools produce the same tree
and that rbox reports the right digests, then times WARMUP + RUNS rounds.
Every run extracts into a fresh directory after a `sync`, and outputs are
only deleted at the end of a target's rounds on disk (ext4 slows new files
down for a while after a large delete), after each run on tmpfs (memory).
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

FORMATS = {
    "tar": ("", []),
    "gzip": (".gz", ["-z"]),
    "zstd": (".zst", ["--zstd"]),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def commands(args, fmt, out):
    suffix, flags = FORMATS[fmt]
    layer = args.layer + suffix
    return {
        "tar": ["tar", *flags, "-xf", layer, "-C", out],
        "rbox": [args.rbox, layer, out],
    }


def run(cmd):
    """Wall seconds and user+sys CPU seconds of cmd and what it reaped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"bench.py: {' '.join(cmd)} failed: {p.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout


def verify(args, name, base):
    """Both tools give the same tree; rbox's digests are right."""
    diff_id = sha256(args.layer)
    for fmt, (suffix, _) in FORMATS.items():
        outs = {}
        for tool, cmd in commands(args, fmt, "").items():
            out = os.path.join(base, f"verify-{fmt}-{tool}")
            os.makedirs(out)
            cmd[-1] = out
            _, _, stdout = run(cmd)
            outs[tool] = out
            if tool == "rbox":
                fields = dict(kv.split("=", 1) for kv in stdout.split())
                want = {"diff_id": diff_id, "digest": sha256(args.layer + suffix)}
                for k, v in want.items():
                    if fields.get(k) != v:
                        sys.exit(f"bench.py: rbox {fmt}: {k} {fields.get(k)} != {v}")
        d = subprocess.run(["diff", "-r", "--no-dereference", outs["tar"], outs["rbox"]],
                           stdout=subprocess.PIPE, text=True)
        if d.returncode != 0:
            sys.exit(f"bench.py: {name} {fmt}: trees differ:\n{d.stdout[:2000]}")
        for out in outs.values():
            shutil.rmtree(out)
    subprocess.run(["sync"], check=True)
    print(f"{name}: trees identical for all formats; rbox digests and diff_id checked")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rbox", required=True)
    ap.add_argument("--layer", required=True)
    ap.add_argument("--target", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--json")
    args = ap.parse_args()

    size_mib = os.path.getsize(args.layer) / (1 << 20)
    samples = {}
    for spec in args.target:
        name, base = spec.split("=", 1)
        os.makedirs(base, exist_ok=True)
        verify(args, name, base)
        keep = name != "tmpfs"
        made = []
        k = 0
        for rnd in range(args.warmup + args.runs):
            for fmt in FORMATS:
                tools = list(commands(args, fmt, "").items())
                if rnd % 2:
                    tools.reverse()
                for tool, cmd in tools:
                    k += 1
                    out = os.path.join(base, f"run-{k}")
                    os.makedirs(out)
                    cmd[-1] = out
                    subprocess.run(["sync"], check=True)
                    wall, cpu, _ = run(cmd)
                    if rnd >= args.warmup:
                        samples.setdefault((name, fmt, tool), []).append((wall, cpu))
                    if keep:
                        made.append(out)
                    else:
                        shutil.rmtree(out)
        for out in made:
            shutil.rmtree(out)
        subprocess.run(["sync"], check=True)

    print()
    print(f"{args.runs} measured unpacks per tool, format and target ({args.warmup} warm-up), "
          f"interleaved; layer {size_mib:.0f} MiB uncompressed")
    head = f"{'target':7} {'format':6} {'tool':5} {'wall med s':>10} {'wall min s':>10} {'cpu med s':>9} {'MiB/s':>7}"
    print(head)
    print("-" * len(head))
    for (name, fmt, tool), xs in samples.items():
        walls = [w for w, _ in xs]
        cpus = [c for _, c in xs]
        med = statistics.median(walls)
        print(f"{name:7} {fmt:6} {tool:5} {med:10.3f} {min(walls):10.3f} "
              f"{statistics.median(cpus):9.3f} {size_mib / med:7.0f}")
    print()
    for spec in args.target:
        name = spec.split("=", 1)[0]
        parts = []
        for fmt in FORMATS:
            r = statistics.median(w for w, _ in samples[(name, fmt, "rbox")])
            t = statistics.median(w for w, _ in samples[(name, fmt, "tar")])
            parts.append(f"{fmt} {t / r:.2f}x")
        print(f"{name}: tar/rbox wall median (above 1 = rbox faster): {', '.join(parts)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"|".join(k): v for k, v in samples.items()}, f, indent=1)


if __name__ == "__main__":
    main()
