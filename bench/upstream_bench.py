#!/usr/bin/python3
"""Issue 12's performance figures, on loopback, with Debian's Orthanc as the archive:

  cold    first PNG of a small SEG through upstream Orthanc (classify + pull + index + PNG),
          one fresh SEG per sample (target <= 0.5 s)
  restart a replica restarted over its warm object cache: time to /readyz 200, then the
          first frame (target <= 20 ms after /readyz)
  proxy   one replica direct vs behind nginx (docker/nginx files): median latency added
  scale   warm frames/s: one replica direct vs three replicas behind nginx, wrk with the
          same connections and duration (target >= 2.5x; the cores are whatever this
          machine has, shared by every process: the report says how many)

usage: bench/upstream_bench.py [--bin build/server/segweb] [--seconds 10] [--out bench/UPSTREAM.md]
Needs orthanc, orthanc-dicomweb, nginx, wrk (scripts/install-deps.sh) and the shared corpus."""
import argparse
import glob
import os
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
from conftest import SegwebProcess  # noqa: E402
from scaleout_harness import Nginx, Orthanc, http_request  # noqa: E402

import pydicom  # noqa: E402

TESTDATA = os.environ.get("SEGWEB_TESTDATA", os.path.join(ROOT, "..", "shared", "testdata"))


def distinct_segs():
    seen, out = set(), []
    for p in sorted(glob.glob(os.path.join(TESTDATA, "seg", "*.dcm"))):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        if ds.SOPInstanceUID not in seen:
            seen.add(ds.SOPInstanceUID)
            out.append((p, ds))
    return out


def url(ds, tail="/frames/1/rendered"):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}{tail}"


def timed_get(port, path):
    t0 = time.perf_counter()
    st, _, body = http_request(port, "GET", path, timeout=60)
    return st, time.perf_counter() - t0


def wrk(port, urls_file, seconds, conns=8, threads=2):
    env = dict(os.environ, BENCH_URLS=urls_file)
    p = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-s", os.path.join(HERE, "url_list.lua"),
                        f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, timeout=seconds + 60)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("BENCH ")][-1]
    kv = dict(x.split("=") for x in line.split()[1:])
    return {k: float(v) for k, v in kv.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "server", "segweb"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "UPSTREAM.md"))
    a = ap.parse_args()
    segs = distinct_segs()
    small = [(p, ds) for p, ds in segs if os.path.getsize(p) < 10000]
    lines = [f"# Pull-through and replicas: measured ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Machine: {os.cpu_count()} cores, shared by every process here (Orthanc, nginx, the replicas, "
             f"wrk, and whatever else runs); `{os.path.relpath(a.bin, ROOT)}`; loopback; command: "
             f"`bench/upstream_bench.py --seconds {a.seconds}`.", ""]
    o = Orthanc()
    tmp = tempfile.mkdtemp(prefix="segweb-ubench-")
    procs = []
    try:
        for p, _ in segs:
            o.upload(p)
        for p in glob.glob(os.path.join(TESTDATA, "source", "**", "*.dcm"), recursive=True):
            o.upload(p)
        cache = os.path.join(tmp, "cache")
        args = ["--upstream", o.dicomweb, "--cache-dir", cache, "--cache-max-bytes", "256M", "--workers", "2"]

        # cold misses
        s = SegwebProcess(a.bin, args)
        procs.append(s)
        cold = []
        for p, ds in small:
            st, dt = timed_get(s.port, url(ds))
            assert st == 200, (p, st)
            cold.append(dt)
        lines += ["## Cold miss: first PNG of a small SEG through upstream Orthanc", "",
                  f"{len(cold)} SEGs under 10 kB, each requested once (SOP class query, whole pull with "
                  "transfer-syntax=*, decoder check, index, PNG):", "",
                  f"- median {statistics.median(cold) * 1000:.1f} ms, max {max(cold) * 1000:.1f} ms "
                  f"(target <= 500 ms: {'met' if max(cold) <= 0.5 else 'NOT met'})", ""]
        # warm everything for the throughput runs
        urls = [url(ds) for _, ds in segs]
        for u in urls:
            assert http_request(s.port, "GET", u)[0] == 200
        s.stop()
        procs.remove(s)

        # restart over the warm cache
        t0 = time.perf_counter()
        s = SegwebProcess(a.bin, args)
        ready = time.perf_counter() - t0
        procs.append(s)
        first = []
        for _, ds in segs[:5]:
            st, dt = timed_get(s.port, url(ds))
            assert st == 200
            first.append(dt)
        lines += ["## Restarted replica over a warm object cache", "",
                  f"- start to /readyz 200: {ready * 1000:.0f} ms (includes the process start and the cache scan)",
                  f"- first frame after /readyz: {first[0] * 1000:.1f} ms; the next four SEGs' first frames: "
                  + ", ".join(f"{x * 1000:.1f}" for x in first[1:]) + " ms "
                  f"(target <= 20 ms: {'met' if first[0] <= 0.02 else 'NOT met'}; no persisted index yet, "
                  "so the first frame re-reads the object's header with DCMTK)", ""]
        s.stop()
        procs.remove(s)

        urls_file = os.path.join(tmp, "urls.txt")
        with open(urls_file, "w") as f:
            f.write("\n".join(urls) + "\n")

        # one replica: direct, then behind nginx
        one = SegwebProcess(a.bin, args)
        procs.append(one)
        for u in urls:
            http_request(one.port, "GET", u)
        d1 = wrk(one.port, urls_file, a.seconds)
        n1 = Nginx([one.port])
        procs.append(n1)
        p1 = wrk(n1.port, urls_file, a.seconds)
        n1.stop()
        procs.remove(n1)
        one.stop()
        procs.remove(one)

        # three replicas behind nginx
        reps = []
        for k in range(3):
            c = os.path.join(tmp, f"cache{k}")
            shutil.copytree(cache, c)
            reps.append(SegwebProcess(a.bin, args[:2] + ["--cache-dir", c] + args[4:]))
        procs += reps
        n3 = Nginx([r.port for r in reps])
        procs.append(n3)
        for u in urls:
            n3.request("GET", u)
        p3 = wrk(n3.port, urls_file, a.seconds)
        lines += ["## Warm frames: one replica vs three behind nginx", "",
                  f"wrk, 2 threads, 8 connections, {a.seconds} s each, rotating over the frame 1 PNG of "
                  f"{len(urls)} SEGs (all warm: object cache, index, PNG cache).", "",
                  "| setup | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|",
                  f"| 1 replica, direct | {d1['requests'] / d1['seconds']:.0f} | {d1['p50_ms']:.2f} | {d1['p99_ms']:.2f} | {d1['errors']:.0f} |",
                  f"| 1 replica behind nginx | {p1['requests'] / p1['seconds']:.0f} | {p1['p50_ms']:.2f} | {p1['p99_ms']:.2f} | {p1['errors']:.0f} |",
                  f"| 3 replicas behind nginx | {p3['requests'] / p3['seconds']:.0f} | {p3['p50_ms']:.2f} | {p3['p99_ms']:.2f} | {p3['errors']:.0f} |",
                  "",
                  f"- proxy cost: +{p1['p50_ms'] - d1['p50_ms']:.2f} ms median (target <= 1 ms: "
                  f"{'met' if p1['p50_ms'] - d1['p50_ms'] <= 1 else 'NOT met'})",
                  f"- 3 replicas / 1 replica (both behind nginx): {p3['requests'] / p3['seconds'] / (p1['requests'] / p1['seconds']):.2f}x "
                  f"(target >= 2.5x). With {os.cpu_count()} cores shared by all three replicas, nginx and wrk, "
                  "more replicas cannot add CPU: the figure says how much routing and a process per replica cost, "
                  "not what three machines would give.", ""]
    finally:
        for p in reversed(procs):
            try:
                p.stop()
            except Exception:
                pass
        o.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
