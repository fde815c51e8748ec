#!/usr/bin/python3
"""Why one scales out a caching sidecar: each replica caches only the instances nginx
routes to it, so N replicas hold N times the working set. Measured on loopback with
Debian's Orthanc as the archive and nginx running docker/nginx/ (tests/scaleout's
harness):

  SEGs      a handful of large, realistic SEG objects made by
            ../shared/tools/make_big_seg.py (a few MB to ~20 MB each, fixed seeds),
            uploaded to Orthanc; the working set W is the sum of their sizes
  stream    random frames (/frames/{f}/rendered, PNG), drawn uniformly over every
            frame of every object with a fixed seed, replayed by wrk (url_list.lua)
  setups    a  one replica behind nginx,   --cache-max-bytes W/2.5
            b  three replicas behind nginx, --cache-max-bytes W/2.5 each
            c  one replica behind nginx,   --cache-max-bytes 3W/2.5 (b's total
               object-cache budget in one process: is b's gain from replicas or
               from cache capacity?)
  rounds    a, b, c interleaved, --rounds times; each round starts fresh processes
            with empty caches, pulls every object once (frame 1), runs wrk for
            --warmup seconds, then measures --seconds with the same client
  figures   requests/s (median of the rounds), p50/p99 latency, errors, and from
            the replicas' /metrics over the measured window: upstream pulls, cache
            hits/misses/evictions; pulls per distinct instance over the whole round
  --pin     also the same three setups with the replicas pinned to CPU 1 and
            everything else (Orthanc, nginx, wrk, this script) to CPU 0: the
            replica set gets exactly one core whether it is one process or three

Three replicas' ring depends on their ports, and a handful of keys hash lumpily: the
bench picks ports on a model of nginx's ring (tests/scaleout/nginx_ring.py) so that
no replica's share of W exceeds its cache, checks nginx's own split, and prints the
shares (a deployment with thousands of instances gets that balance from the law of
large numbers; the test suite does the same).

usage: bench/replica_cache_bench.py [--bin build/server/segweb] [--seconds 10]
         [--warmup 5] [--rounds 3] [--pin] [--objects N] [--segs DIR] [--out bench/REPLICAS.md]
Generating the SEGs takes a few minutes on a busy 2-core machine; --segs DIR keeps
them for the next run. ~9 minutes with --pin, about half without.
Needs orthanc, orthanc-dicomweb, nginx, wrk, python3-numpy, python3-pydicom."""
import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "scaleout"))
import nginx_ring  # noqa: E402
from conftest import SegwebProcess  # noqa: E402
from scaleout_harness import Nginx, Orthanc, http_request  # noqa: E402

import pydicom  # noqa: E402

MAKE_BIG_SEG = os.path.join(ROOT, "..", "shared", "tools", "make_big_seg.py")

# (name, make_big_seg.py arguments): 2.5 to ~20 MB, BINARY and FRACTIONAL, odd sizes
SEG_SPECS = [
    ("b512_s10", ["--segments", "10", "--slices", "100", "--min-len", "20", "--max-len", "60", "--seed", "1"]),
    ("b512_s6", ["--segments", "6", "--slices", "80", "--min-len", "20", "--max-len", "50", "--seed", "2"]),
    ("b512_s14", ["--segments", "14", "--slices", "120", "--min-len", "20", "--max-len", "60", "--seed", "3"]),
    ("b333x517_s8", ["--rows", "333", "--cols", "517", "--segments", "8", "--slices", "90", "--min-len", "20",
                     "--max-len", "60", "--seed", "4"]),
    ("b256_s12", ["--rows", "256", "--cols", "256", "--segments", "12", "--slices", "100", "--min-len", "20",
                  "--max-len", "60", "--seed", "5"]),
    ("f256_s4", ["--rows", "256", "--cols", "256", "--segments", "4", "--slices", "80", "--min-len", "20",
                 "--max-len", "50", "--fractional", "--seed", "6"]),
    ("b512_s8", ["--segments", "8", "--slices", "100", "--min-len", "30", "--max-len", "70", "--seed", "7"]),
    ("b384_s10", ["--rows", "384", "--cols", "384", "--segments", "10", "--slices", "100", "--min-len", "20",
                  "--max-len", "60", "--seed", "8"]),
    ("f200x300_s3", ["--rows", "200", "--cols", "300", "--segments", "3", "--slices", "60", "--min-len", "20",
                     "--max-len", "50", "--fractional", "--seed", "9"]),
    ("b512_s4", ["--segments", "4", "--slices", "60", "--min-len", "20", "--max-len", "40", "--seed", "10"]),
    ("b448_s12", ["--rows", "448", "--cols", "448", "--segments", "12", "--slices", "110", "--min-len", "20",
                  "--max-len", "50", "--seed", "11"]),
    ("b256_s20", ["--rows", "256", "--cols", "256", "--segments", "20", "--slices", "120", "--min-len", "20",
                  "--max-len", "60", "--seed", "12"]),
]

WORKERS = 2  # per replica, as on a 2-core node


def make_segs(out_dir, count):
    """Generates the first count SEGs (reusing files already in out_dir); returns their paths."""
    paths = []
    for name, args in SEG_SPECS[:count]:
        p = os.path.join(out_dir, name + ".dcm")
        if not os.path.exists(p):
            subprocess.run(["nice", sys.executable, MAKE_BIG_SEG, p, "--no-truth"] + args, check=True,
                           stdout=subprocess.DEVNULL)
        paths.append(p)
    return paths


class Obj:
    def __init__(self, path):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        self.path, self.size, self.frames = path, os.path.getsize(path), int(ds.NumberOfFrames)
        self.base = f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def write_stream(objs, path, n=40000, seed=12):
    """n random frame URLs, uniform over every frame of every object (fixed seed)."""
    rng = random.Random(seed)
    frames = [(o, f) for o in objs for f in range(1, o.frames + 1)]
    with open(path, "w") as f:
        for _ in range(n):
            o, k = rng.choice(frames)
            f.write(f"{o.base}/frames/{k}/rendered\n")


def archive_time(o, ob):
    """Seconds for Orthanc alone to send the whole object (what a pull waits for at least)."""
    t0 = time.perf_counter()
    st, _, body = http_request(o.port, "GET", "/dicom-web" + ob.base, timeout=120,
                               headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200 and len(body) > ob.size, (st, len(body))
    return time.perf_counter() - t0


def metrics(port):
    st, _, body = http_request(port, "GET", "/metrics")
    assert st == 200
    want = ("segweb_upstream_pulls_total", "segweb_upstream_cache_hits_total", "segweb_upstream_cache_misses_total",
            "segweb_upstream_cache_evictions_total", "segweb_upstream_pull_bytes_total")
    out = {}
    for name in want:
        m = re.search(rb"^" + name.encode() + rb" ([0-9.e+]+)$", body, re.M)
        out[name.split("_", 2)[2]] = float(m.group(1)) if m else 0.0
    return out


def summed(ms):
    return {k: sum(m[k] for m in ms) for k in ms[0]}


def wrk(port, urls_file, seconds, conns=8, threads=2):
    env = dict(os.environ, BENCH_URLS=urls_file)
    p = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s",
                        "-s", os.path.join(HERE, "url_list.lua"), f"http://127.0.0.1:{port}"],
                       capture_output=True, text=True, env=env, timeout=seconds + 90)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("BENCH ")][-1]
    kv = {k: float(v) for k, v in (x.split("=") for x in line.split()[1:])}
    kv["rps"] = kv["requests"] / kv["seconds"]
    return kv


class Pin:
    """CPU affinity for what this script starts next (children inherit it)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.all = os.sched_getaffinity(0)

    def to(self, cpus):
        if self.enabled:
            os.sched_setaffinity(0, cpus)

    def reset(self):
        os.sched_setaffinity(0, self.all)


def start_replicas(bin_path, o, n, cache_bytes, objs, tmp, pin):
    """n replicas + nginx; for n > 1 on ports whose ring gives no replica more of W than
    its cache (tests/scaleout/nginx_ring.py), checked against nginx's own split."""
    keys = [(ob.base, ob.size) for ob in objs]
    ports = nginx_ring.balanced_ports(keys, n, cache_bytes) if n > 1 else [0]
    if not ports:
        raise SystemExit(f"no ports give every replica a share <= {cache_bytes} bytes")
    pin.to({1})
    reps = [SegwebProcess(bin_path, ["--upstream", o.dicomweb, "--cache-dir", tempfile.mkdtemp(prefix="cache-", dir=tmp),
                                     "--cache-max-bytes", str(cache_bytes), "--workers", str(WORKERS),
                                     "--listen", f"127.0.0.1:{port}"], prefix="segweb-rbench-")
            for port in ports]
    pin.to({0})
    nginx = None
    try:
        nginx = Nginx([r.port for r in reps])
        share = {}
        for ob in objs:  # routes like the instance, answers 404 cheaply
            st, h, _ = nginx.request("GET", ob.base + "/probe-routing")
            assert st == 404, st
            share[h["x-segweb-replica"]] = share.get(h["x-segweb-replica"], 0) + ob.size
        assert len(share) == n and (n == 1 or max(share.values()) <= cache_bytes), share
        return reps, nginx, sorted(share.values(), reverse=True)
    except BaseException:
        if nginx:
            nginx.stop()
        for r in reps:
            r.stop()
        raise


def run_round(a, o, objs, urls_file, n, cache_bytes, tmp, pin):
    reps, nginx, shares = start_replicas(a.bin, o, n, cache_bytes, objs, tmp, pin)
    try:
        cold = []
        for ob in objs:  # every object pulled once; a miss's cost, one client
            t0 = time.perf_counter()
            st, _, body = nginx.request("GET", ob.base + "/frames/1/rendered", timeout=120)
            cold.append(time.perf_counter() - t0)
            assert st == 200, (ob.path, st, body[:300])
        wrk(nginx.port, urls_file, a.warmup)
        before = summed([metrics(r.port) for r in reps])
        w = wrk(nginx.port, urls_file, a.seconds)
        after = summed([metrics(r.port) for r in reps])
    finally:
        nginx.stop()
        rcs = [r.stop() for r in reps]
    assert all(rc == 0 for rc in rcs), rcs
    d = {k: after[k] - before[k] for k in after}
    looked = d["cache_hits_total"] + d["cache_misses_total"]
    return {"rps": w["rps"], "p50": w["p50_ms"], "p99": w["p99_ms"], "errors": w["errors"], "requests": w["requests"],
            "pulls": d["pulls_total"], "pull_mb": d["pull_bytes_total"] / 1e6, "hits": d["cache_hits_total"],
            "misses": d["cache_misses_total"], "evictions": d["cache_evictions_total"],
            "hit_ratio": d["cache_hits_total"] / looked if looked else 1.0,
            "served_cached": 1 - d["pulls_total"] / w["requests"] if w["requests"] else 0.0,
            "pulls_per_instance": after["pulls_total"] / len(objs), "shares": shares,
            "cold_ms": statistics.median(cold) * 1000}


def commit():
    r = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h (%cs)"], capture_output=True, text=True)
    return r.stdout.strip() or "an unknown commit"


def capacity_verdict(b_over_c):
    """What b against c says: is b's gain from cache capacity or from replicas?"""
    if b_over_c > 1.15:
        return ("three replicas beat one replica with the same total cache: beyond cache capacity, "
                "something per process helps here (three index and PNG caches, three worker pools, "
                "less lock contention).")
    text = ("one replica with the same total cache gets the gain too. It is from cache capacity, not from "
            "the replica count: on one machine a bigger `--cache-max-bytes` does what three replicas do. "
            "Replicas give that capacity when it lives on several machines (each with its disk, memory and "
            "cores); routing by instance is what makes their caches add up instead of each holding the same "
            "hot objects.")
    if b_over_c < 0.9:
        text += (" Here one process was even faster than three: three processes on the same cores cost more "
                 "than they give (as in UPSTREAM.md's all-warm run).")
    return text


def med(rs, k):
    return statistics.median(r[k] for r in rs)


def table(results, names, label):
    lines = [f"| setup{label} | requests/s (rounds) | p50 ms | p99 ms | errors | pulls in window (MB) | "
             "metrics hit ratio | requests served without a pull | evictions | pulls per instance, whole round |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, name in names:
        rs = results[key]
        lines.append(
            f"| {name} | **{med(rs, 'rps'):.0f}** ({', '.join(format(r['rps'], '.0f') for r in rs)}) | {med(rs, 'p50'):.2f} | "
            f"{med(rs, 'p99'):.1f} | {sum(r['errors'] for r in rs):.0f} | {med(rs, 'pulls'):.0f} ({med(rs, 'pull_mb'):.0f}) | "
            f"{med(rs, 'hit_ratio') * 100:.1f} % | {med(rs, 'served_cached') * 100:.1f} % | {med(rs, 'evictions'):.0f} | "
            f"{med(rs, 'pulls_per_instance'):.2f} |")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "server", "segweb"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pin", action="store_true", help="also run pinned: replicas on CPU 1, the rest on CPU 0")
    ap.add_argument("--objects", type=int, default=len(SEG_SPECS), help="use the first N objects (quick trials)")
    ap.add_argument("--segs", help="directory to generate the SEGs into and reuse (default: a temp dir)")
    ap.add_argument("--out", default=os.path.join(HERE, "REPLICAS.md"))
    a = ap.parse_args()
    if a.pin and not {0, 1} <= os.sched_getaffinity(0):
        raise SystemExit("--pin needs CPUs 0 and 1")
    tmp = tempfile.mkdtemp(prefix="segweb-rbench-")
    seg_dir = a.segs or os.path.join(tmp, "segs")
    os.makedirs(seg_dir, exist_ok=True)
    t0 = time.time()
    objs = [Obj(p) for p in make_segs(seg_dir, a.objects)]
    gen_s = time.time() - t0
    work = sum(ob.size for ob in objs)
    cache = int(work / 2.5)
    urls_file = os.path.join(tmp, "urls.txt")
    write_stream(objs, urls_file)
    setups = [("a", 1, cache), ("b", 3, cache), ("c", 1, 3 * cache)]
    names = [("a", "a: 1 replica, cache W/2.5"), ("b", "b: 3 replicas, cache W/2.5 each"),
             ("c", "c: 1 replica, cache 3W/2.5")]
    load0 = open("/proc/loadavg").read().split()[:3]
    o = Orthanc()
    results, pinned = {k: [] for k, _, _ in setups}, {k: [] for k, _, _ in setups}
    pin = Pin(False)
    try:
        for ob in objs:
            o.upload(ob.path)
        archive_ms = statistics.median(archive_time(o, ob) for ob in objs) * 1000
        for rnd in range(a.rounds):
            for key, n, cb in setups:
                r = run_round(a, o, objs, urls_file, n, cb, tmp, pin)
                results[key].append(r)
                print(f"round {rnd + 1} {key}: {r}", flush=True)
        if a.pin:
            pin = Pin(True)
            subprocess.run(["taskset", "-a", "-p", "-c", "0", str(o.proc.pid)], check=True, stdout=subprocess.DEVNULL)
            pin.to({0})
            for rnd in range(a.rounds):
                for key, n, cb in setups:
                    r = run_round(a, o, objs, urls_file, n, cb, tmp, pin)
                    pinned[key].append(r)
                    print(f"pinned round {rnd + 1} {key}: {r}", flush=True)
            pin.reset()
    finally:
        o.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = open("/proc/loadavg").read().split()[:3]

    cold_ms = statistics.median(r["cold_ms"] for rs in results.values() for r in rs)

    def ratio(res, x, y):
        return med(res[x], "rps") / med(res[y], "rps")

    sizes = sorted((ob.size for ob in objs), reverse=True)
    cmd = "bench/replica_cache_bench.py" + (f" --seconds {a.seconds}" if a.seconds != 10 else "") + \
          (f" --warmup {a.warmup}" if a.warmup != 5 else "") + (f" --rounds {a.rounds}" if a.rounds != 3 else "") + \
          (" --pin" if a.pin else "") + \
        (f" --objects {a.objects}" if a.objects != len(SEG_SPECS) else "") + (" --segs DIR" if a.segs else "")
    b_shares = [r["shares"] for r in results["b"]]
    lines = [
        f"# Replicas as a cache: measured ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
        "Why one scales out a caching sidecar: nginx routes every URL of an instance to one replica "
        "(docker/nginx/, `hash $segweb_key consistent`), so each replica caches only its share and three "
        "replicas hold three times the working set. Companion to [UPSTREAM.md](UPSTREAM.md), whose warm-frame "
        "run (everything cached everywhere) shows that on this machine three replicas cannot add CPU.", "",
        f"Command: `{cmd}` (`{os.path.relpath(a.bin, ROOT)}`, a Release build of {commit()}; the script's "
        "design note says what it does).", "",
        "## Setup", "",
        f"- Objects: {len(objs)} SEGs from `../shared/tools/make_big_seg.py` (fixed seeds; BINARY 256² to 512², "
        f"two FRACTIONAL), {sum(ob.frames for ob in objs)} frames; sizes "
        + ", ".join(f"{s / 1e6:.1f}" for s in sizes) + f" MB; working set W = {work / 1e6:.1f} MB, uploaded to "
        f"Debian's Orthanc (DICOMweb plugin) on loopback"
        + (f" (generated in {gen_s:.0f} s, not measured)." if gen_s > 5 else " (generated earlier into `--segs`)."),
        f"- Cache: `--cache-max-bytes {cache}` (W/2.5) per replica in a and b; {3 * cache} (3W/2.5, b's total) "
        f"in c. Every replica: `--workers {WORKERS}`, defaults otherwise (index cache 256 MB, PNG cache 64 MB: "
        "memory caches, so b also has three times those).",
        "- Client: wrk, 2 threads, 8 keep-alive connections, `--timeout 30s`, `bench/url_list.lua` over 40000 "
        "frame URLs (`/frames/{f}/rendered`, PNG) drawn uniformly over every frame of every object "
        "(Python `random.Random(12)`); the same file and client for every setup.",
        f"- Rounds: a, b, c interleaved, {a.rounds} rounds; each round starts fresh replicas and nginx with "
        f"empty caches, requests frame 1 of every object once, runs wrk {a.warmup} s (warm-up), then "
        f"measures {a.seconds} s. Figures are medians over the rounds (each round's requests/s in brackets).",
        "- Ring: b's replica ports are picked on a model of nginx's ring (`tests/scaleout/nginx_ring.py`, "
        "checked against nginx's own split) so that no replica's share of W exceeds its cache (a handful of "
        "keys hashes lumpily; thousands would not). Shares per round, MB: "
        + "; ".join("/".join(f"{s / 1e6:.1f}" for s in sh) for sh in b_shares) + ".",
        f"- Cores: {os.cpu_count()}, shared by every process of a run (Orthanc, nginx with one worker, the "
        "replicas, wrk, this script) and by the other engineers' work on this machine (load average "
        f"{' '.join(load0)} at the start, {' '.join(load1)} at the end). Unpinned: the kernel schedules "
        "everything on both cores; a and c have one replica process, b three, each with "
        f"{WORKERS} worker threads.",
        "", "## Results (unpinned: all processes on the same 2 cores)", ""]
    lines += table(results, names, "")
    lines += ["", f"- **b / a = {ratio(results, 'b', 'a'):.1f}x** requests/s (target >= 2.5x: "
              f"{'met' if ratio(results, 'b', 'a') >= 2.5 else 'NOT met'}).",
              f"- c / a = {ratio(results, 'c', 'a'):.1f}x, b / c = {ratio(results, 'b', 'c'):.2f}x: "
              + capacity_verdict(ratio(results, 'b', 'c')),
              "- Hit ratio: `segweb_upstream_cache_hits_total / (hits + misses)` over the measured window (a miss is a lookup "
              "that pulls or waits for a pull); \"requests served without a pull\" is 1 - pulls / requests.",
              f"- What a miss costs: frame 1 of each object through nginx right after the start (one client, "
              f"empty cache: classify, pull, check, index, PNG) took {cold_ms:.0f} ms "
              f"(median over objects, then rounds; mean object {work / len(objs) / 1e6:.1f} MB); Orthanc alone sends "
              f"an object whole in {archive_ms:.0f} ms (median). wrk is a closed loop (8 connections, each waits for "
              "its answer), so once most connections wait on misses the rate falls to about the pull rate: "
              "the ratio measures a cache that holds the working set against one that does not, which is what "
              "the routing by instance buys.",
              "- Pulls per instance, whole round: upstream pulls of all replicas since start / distinct "
              "instances. 1.00: every object came from the archive once; above 1, evicted objects were pulled "
              "again."]
    if a.pin:
        lines += ["", "## Results (pinned: replicas on CPU 1, Orthanc, nginx and wrk on CPU 0)", "",
                  "`os.sched_setaffinity` before each replica starts (its threads inherit it), "
                  "`taskset -a -p -c 0` for Orthanc: the replica set gets exactly one core, whether one process "
                  "or three, so b and c have the same CPU as a.", ""]
        lines += table(pinned, names, " (pinned)")
        lines += ["", f"- b / a = {ratio(pinned, 'b', 'a'):.1f}x, c / a = {ratio(pinned, 'c', 'a'):.1f}x, "
                  f"b / c = {ratio(pinned, 'b', 'c'):.2f}x with one core for the replica set. Where the whole "
                  "working set is cached (b, c), the rate is what one core serves in warm frames: more replicas "
                  "on that core cannot go past it (UPSTREAM.md: three replicas over one at 0.86x when everything "
                  "is cached everywhere)."]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
