"""rbox build vs buildah bud: cold and cached builds, interleaved rounds.

Each round gives both tools a fresh store (busybox loaded outside the
timing), times a cold build, then times the same build again (fully
cached). buildah runs with the overlay storage driver, chroot isolation
and --layers (its cache), its own --root/--runroot in the work dir.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import time

DOCKERFILES = {
    "run-heavy": """FROM busybox
RUN for i in $(seq 1 500); do echo $i > /tmp/a$i; done
RUN mkdir -p /opt/x && for i in $(seq 1 200); do mkdir /opt/x/d$i && echo $i > /opt/x/d$i/f; done
RUN dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null && sha256sum /big > /big.sum
RUN rm -rf /tmp/a1* && ln -s /big /big.link
RUN sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i > /count'
ENV DONE=1
RUN cat /count /big.sum > /summary
CMD ["cat", "/summary"]
""",
    "copy": """FROM busybox
COPY small/ /data/small/
COPY large/ /data/large/
RUN du -s /data > /data/du.txt
""",
    "multi-stage": """FROM busybox AS gen
RUN mkdir /out && for i in $(seq 1 300); do echo file $i > /out/f$i; done
FROM busybox AS other
RUN mkdir /other && dd if=/dev/urandom of=/other/blob bs=1M count=8 2>/dev/null
FROM busybox
COPY --from=gen /out /app/gen
COPY --from=other /other /app/other
COPY small/ /app/small/
CMD ["ls", "/app"]
""",
}


def make_context(path):
    rnd = random.Random(42)
    os.makedirs(os.path.join(path, "small"))
    os.makedirs(os.path.join(path, "large"))
    for i in range(2000):
        d = os.path.join(path, "small", f"d{i % 40}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.txt"), "wb") as f:
            f.write(rnd.randbytes(rnd.randint(200, 4000)))
    for i in range(3):
        with open(os.path.join(path, "large", f"blob{i}.bin"), "wb") as f:
            f.write(rnd.randbytes(20 << 20))


def timed(cmd, env=None):
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return dt


class Rbox:
    name = "rbox"

    def __init__(self, binary, work, busybox):
        self.binary, self.work, self.busybox = binary, work, busybox

    def fresh(self, tag):
        self.data = os.path.join(self.work, f"rbox-{tag}")
        subprocess.run([self.binary, "--data-root", self.data, "load", "-q", "-i", self.busybox], check=True)

    def build(self, ctx, dockerfile):
        return timed([self.binary, "--data-root", self.data, "build", "-q", "--cgroup-parent", "/rbox-bench/build",
                      "-f", dockerfile, "-t", "bench", ctx])

    def clean(self):
        shutil.rmtree(self.data, ignore_errors=True)


class Buildah:
    name = "buildah"

    def __init__(self, work, busybox):
        self.work, self.busybox = work, busybox

    def base(self):
        return ["buildah", "--root", os.path.join(self.root, "root"), "--runroot", os.path.join(self.root, "run"),
                "--storage-driver", "overlay"]

    def fresh(self, tag):
        self.root = os.path.join(self.work, f"buildah-{tag}")
        subprocess.run(self.base() + ["pull", "-q", f"docker-archive:{self.busybox}"], check=True,
                       stdout=subprocess.DEVNULL)

    def build(self, ctx, dockerfile):
        return timed(self.base() + ["bud", "-q", "--layers", "--isolation", "chroot", "-f", dockerfile, "-t", "bench", ctx],
                     env=dict(os.environ, BUILDAH_ISOLATION="chroot"))

    def clean(self):
        subprocess.run(self.base() + ["rm", "-a"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-R", "-l", os.path.join(self.root, "root", "overlay")], stderr=subprocess.DEVNULL)
        subprocess.run(self.base() + ["rmi", "-a", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rbox", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    ctx = os.path.join(a.work, "context")
    make_context(ctx)
    for name, text in DOCKERFILES.items():
        with open(os.path.join(a.work, f"{name}.Dockerfile"), "w") as f:
            f.write(text)
    ver = subprocess.run(["buildah", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{ver}; kernel {os.uname().release}; {os.cpu_count()} cpus; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("context: 2000 small files (200 B-4 KB) in 40 dirs, 3 x 20 MiB files")
    tools = [Rbox(a.rbox, a.work, a.busybox), Buildah(a.work, a.busybox)]
    samples = {}
    for r in range(a.warmup + a.runs):
        order = tools if r % 2 == 0 else list(reversed(tools))
        for name in DOCKERFILES:
            df = os.path.join(a.work, f"{name}.Dockerfile")
            for t in order:
                t.fresh(f"{r}-{name}")
                cold = t.build(ctx, df)
                cached = t.build(ctx, df)
                t.clean()
                if r >= a.warmup:
                    samples.setdefault((name, t.name), {"cold": [], "cached": []})
                    samples[(name, t.name)]["cold"].append(cold)
                    samples[(name, t.name)]["cached"].append(cached)
        print(f"  round {r + 1}/{a.warmup + a.runs}", flush=True)
    print()
    print(f"{a.runs} rounds (after {a.warmup} warm-up), medians in seconds")
    print(f"{'dockerfile':<12} {'tool':<8} {'cold':>8} {'cached':>8}")
    print("-" * 40)
    for name in DOCKERFILES:
        for t in ("rbox", "buildah"):
            s = samples[(name, t)]
            print(f"{name:<12} {t:<8} {statistics.median(s['cold']):>8.3f} {statistics.median(s['cached']):>8.3f}")
    print()
    for name in DOCKERFILES:
        r, b = samples[(name, "rbox")], samples[(name, "buildah")]
        print(f"{name:<12} rbox/buildah: cold {statistics.median(r['cold']) / statistics.median(b['cold']):.2f}x, "
              f"cached {statistics.median(r['cached']) / statistics.median(b['cached']):.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": v for k, v in samples.items()}, f, indent=1)


if __name__ == "__main__":
    main()
