#!/usr/bin/env python3
"""Registry push and pull: `rbox push`/`rbox pull` vs skopeo, interleaved.

Called by run.sh. One docker-registry (plain HTTP) on a loopback port.
Every push goes to a registry restarted on an empty storage directory, so
every blob is really uploaded (the restart is not timed). Pulls read the
image the verification push left, into a fresh directory each time (an
rbox data root; a skopeo `oci:` layout; a skopeo `dir:`), after a `sync`.
`rbox pull --no-unpack` stores verified blobs and records the name, as
skopeo copy does (the like-for-like row); plain `rbox pull` also unpacks
every layer into the store as docker pull does (`rbox+unpack`, shown for
reference: skopeo has no equivalent).
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time


class Registry:
    def __init__(self, binary, work, port):
        self.binary, self.work, self.port = binary, work, port
        self.proc = None
        self.generation = 0

    def start_fresh(self):
        self.stop()
        self.generation += 1
        storage = os.path.join(self.work, f"storage-{self.generation}")
        old = os.path.join(self.work, f"storage-{self.generation - 1}")
        if os.path.isdir(old):
            shutil.rmtree(old)
        os.makedirs(storage)
        cfg = os.path.join(self.work, "registry.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: rbox-bench\n"
            )
        log = open(os.path.join(self.work, "registry.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "serve", cfg], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.025)
        sys.exit("bench.py: docker-registry did not start; see registry.log")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, env=None):
    """Wall seconds and user+sys CPU seconds of cmd and what it reaped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"bench.py: {' '.join(cmd)} failed: {p.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rbox", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--src", required=True, help="data root holding bench/img:1")
    ap.add_argument("--work", required=True)
    ap.add_argument("--json")
    args = ap.parse_args()

    port = free_port()
    host = f"localhost:{port}"
    name = f"{host}/bench/img:1"
    src = args.src
    oci = os.path.join(args.work, "oci")
    env = dict(os.environ, DOCKER_CONFIG=os.path.join(args.work, "docker-config"))
    env.pop("RBOX_PROGRESS", None)
    rbox = [args.rbox, "--data-root", src]
    reg = Registry(args.registry, args.work, port)
    try:
        run(rbox + ["tag", "bench/img:1", name], env)

        # Verify: rbox push, skopeo reads the same digest and copies the
        # image to an OCI layout with identical blobs (its push source).
        reg.start_fresh()
        _, _, out = run(rbox + ["push", "-q", name], env)
        digest = out.strip()
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                              f"docker://{name}"], check=True, stdout=subprocess.PIPE).stdout
        manifest = json.loads(raw)
        size = manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])
        info = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                                          f"docker://{name}"], check=True,
                                         stdout=subprocess.PIPE).stdout)
        if info["Digest"] != digest:
            sys.exit(f"bench.py: skopeo sees {info['Digest']}, rbox pushed {digest}")
        run(["skopeo", "copy", "-q", "--preserve-digests", "--src-tls-verify=false",
             f"docker://{name}", f"oci:{oci}:bench"])
        mib = size / (1 << 20)
        print(f"image: {len(manifest['layers'])} layers, {mib:.0f} MiB compressed; "
              f"rbox push and skopeo agree on {digest}")

        push = {
            "rbox": rbox + ["push", "-q", name],
            "skopeo": ["skopeo", "copy", "-q", "--preserve-digests", "--dest-tls-verify=false",
                       f"oci:{oci}:bench", f"docker://{name}"],
        }
        samples = {}
        for rnd in range(args.warmup + args.runs):
            tools = list(push.items())
            if rnd % 2:
                tools.reverse()
            for tool, cmd in tools:
                reg.start_fresh()
                subprocess.run(["sync"], check=True)
                wall, cpu, _ = run(cmd, env)
                if rnd >= args.warmup:
                    samples.setdefault(("push", tool), []).append((wall, cpu))

        # The registry now holds the image (the last push); pulls read it.
        k = 0
        for rnd in range(args.warmup + args.runs):
            k += 1
            pulls = {
                "rbox": [args.rbox, "--data-root", os.path.join(args.work, f"pull-{k}-rbox"),
                         "pull", "-q", "--no-unpack", name],
                "rbox+unpack": [args.rbox, "--data-root", os.path.join(args.work, f"pull-{k}-rbox+unpack"),
                                "pull", "-q", name],
                "skopeo": ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{name}",
                           f"oci:{os.path.join(args.work, f'pull-{k}-skopeo')}:bench"],
                "skopeo-dir": ["skopeo", "copy", "-q", "--src-tls-verify=false",
                               f"docker://{name}",
                               f"dir:{os.path.join(args.work, f'pull-{k}-skopeo-dir')}"],
            }
            tools = list(pulls.items())
            if rnd % 2:
                tools.reverse()
            for tool, cmd in tools:
                subprocess.run(["sync"], check=True)
                wall, cpu, out = run(cmd, env)
                if tool.startswith("rbox") and out.strip() != digest:
                    sys.exit(f"bench.py: rbox pulled {out.strip()}, expected {digest}")
                if rnd >= args.warmup:
                    samples.setdefault(("pull", tool), []).append((wall, cpu))
            for tool in pulls:
                shutil.rmtree(os.path.join(args.work, f"pull-{k}-{tool}"), ignore_errors=True)
    finally:
        reg.stop()

    print()
    print(f"{args.runs} measured transfers per tool ({args.warmup} warm-up), interleaved; "
          f"{mib:.0f} MiB of blobs over loopback HTTP")
    head = f"{'op':5} {'tool':11} {'wall med s':>10} {'wall min s':>10} {'cpu med s':>9} {'MiB/s':>7}"
    print(head)
    print("-" * len(head))
    for (op, tool), xs in samples.items():
        walls = [w for w, _ in xs]
        med = statistics.median(walls)
        print(f"{op:5} {tool:11} {med:10.3f} {min(walls):10.3f} "
              f"{statistics.median(c for _, c in xs):9.3f} {mib / med:7.0f}")
    print()
    med = {k: statistics.median(w for w, _ in xs) for k, xs in samples.items()}
    print("skopeo/rbox wall median (above 1 = rbox faster; target 1.5x): "
          f"push {med[('push', 'skopeo')] / med[('push', 'rbox')]:.2f}x, "
          f"pull {med[('pull', 'skopeo')] / med[('pull', 'rbox')]:.2f}x (oci:), "
          f"{med[('pull', 'skopeo-dir')] / med[('pull', 'rbox')]:.2f}x (dir:)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"|".join(k): v for k, v in samples.items()}, f, indent=1)


if __name__ == "__main__":
    main()
