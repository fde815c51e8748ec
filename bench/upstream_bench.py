#!/usr/bin/python3
"""Issue 12's performance figures, on loopback, with Debian's Orthanc as the archive:

  cold    first PNG of a small SEG through upstream Orthanc (classify + pull + index + PNG),
          one fresh SEG per sample (target <= 0.5 s)
  restart a replica restarted over its warm object cache: time to /readyz 200, then the
          first frame (target <= 20 ms after /readyz); --restarts N times with the persisted
          indexes (<key>.idx beside each cached object) and N times without (the .idx files
          removed first, so the first frame parses the object with DCMTK), interleaved
  proxy   one replica direct vs behind nginx (docker/nginx files): median latency added
  scale   warm frames/s: one replica direct vs three replicas behind nginx, wrk with the
          same connections and duration (target >= 2.5x; the cores are whatever this
          machine has, shared by every process: the report says how many)

usage: bench/upstream_bench.py [--bin build/server/segweb] [--seconds 10] [--restarts 7] [--only restart]
                               [--out bench/UPSTREAM.md]
--only restart measures the restart figures only and replaces that section of --out in place.
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


def restart_runs(a, args, segs, cache):
    """First frames after /readyz over the warm cache: persisted indexes vs parsed objects,
    interleaved, a.restarts times each. Returns the report lines."""
    objects = os.path.join(cache, "objects")
    saved = os.path.join(os.path.dirname(cache), "idx-saved")
    os.makedirs(saved, exist_ok=True)
    for p in glob.glob(os.path.join(objects, "*.idx")):
        shutil.copy2(p, saved)
    n_idx = len(os.listdir(saved))
    res = {"persisted": [], "parsed": []}
    ready, next_frames, parses = {"persisted": [], "parsed": []}, {"persisted": [], "parsed": []}, {}
    for _ in range(a.restarts):
        for mode in ("persisted", "parsed"):
            for p in glob.glob(os.path.join(objects, "*.idx")):
                os.unlink(p)
            if mode == "persisted":
                for f in os.listdir(saved):
                    shutil.copy2(os.path.join(saved, f), objects)
            t0 = time.perf_counter()
            s = SegwebProcess(a.bin, args)
            ready[mode].append(time.perf_counter() - t0)
            try:
                st, dt = timed_get(s.port, url(segs[0][1]))
                assert st == 200
                res[mode].append(dt)
                for _, ds in segs[1:5]:
                    st, dt = timed_get(s.port, url(ds))
                    assert st == 200
                    next_frames[mode].append(dt)
                m = http_request(s.port, "GET", "/metrics")[2].decode()
                parses[mode] = [ln for ln in m.splitlines() if ln.startswith("segweb_index_parses_total ")]
            finally:
                s.stop()
    med = {k: statistics.median(v) * 1000 for k, v in res.items()}
    return ["## Restarted replica over a warm object cache", "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
            f"`bench/upstream_bench.py --only restart --restarts {a.restarts}` ({os.cpu_count()} shared cores). "
            f"{a.restarts} restarts each way, interleaved; the first SEG ({os.path.basename(segs[0][0])}) "
            "requested right after /readyz turns 200, then four more. \"persisted\": each cached object has "
            f"its persisted index beside it ({n_idx} .idx files, written when the object was pulled); "
            "\"parsed\": the .idx files removed before the start, so the first frame parses the object with "
            "DCMTK (what every restart did before the persisted index).", "",
            "| | first frame after /readyz, median | min | max | next four SEGs' first frames, median | "
            "start to /readyz 200, median | DCMTK parses after the five |",
            "|---|---|---|---|---|---|---|"] + [
            f"| {k} | {med[k]:.1f} ms | {min(res[k]) * 1000:.1f} ms | {max(res[k]) * 1000:.1f} ms | "
            f"{statistics.median(next_frames[k]) * 1000:.1f} ms | {statistics.median(ready[k]) * 1000:.0f} ms | "
            f"{parses[k][0].split()[1] if parses.get(k) else '?'} |" for k in ("persisted", "parsed")] + [
            "",
            f"- persisted / parsed first frame: {med['persisted'] / med['parsed']:.2f}x "
            f"(target <= 20 ms: {'met' if med['persisted'] <= 20 else 'NOT met'})", ""]


def replace_section(path, lines):
    """Replaces the "## Restarted replica" section of path with lines."""
    with open(path) as f:
        text = f.read().split("\n")
    start = next(i for i, ln in enumerate(text) if ln.startswith("## Restarted replica"))
    end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
    with open(path, "w") as f:
        f.write("\n".join(text[:start] + lines + text[end:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "server", "segweb"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "UPSTREAM.md"))
    ap.add_argument("--restarts", type=int, default=7)
    ap.add_argument("--only", choices=["restart"], default=None)
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

        # restart over the warm cache: persisted indexes vs parsed objects
        restart = restart_runs(a, args, segs, cache)
        lines += restart
        if a.only == "restart":
            replace_section(a.out, restart)
            print("\n".join(restart))
            return

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
