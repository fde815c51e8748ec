"""Two segweb builds side by side on bench/run.sh's headline figures: the cold first
frame (fresh `segweb serve` -> port accepts -> first rendered frame of big.dcm received,
the index built on the way) and warm random frames/s (wrk -t2 -c16 on
/files/big.dcm/frames/N/rendered after a warm-up) with the server's CPU time per
frame (user + sys over the run / requests: steadier than frames/s on a loaded machine). Rounds alternate which build goes
first, so background load on a shared machine hits both alike. Prints one line per
measurement, then the medians and the ratio B/A.

    /usr/bin/python3 bench/before_after.py --a OLD/server/segweb --b NEW/server/segweb \\
        --data bench/.data [--rounds 5] [--duration 8]

bench/.data/big.dcm comes from bench/run.sh (../shared/tools/make_big_seg.py --no-truth).
Used for issue 9's before/after (bench/RESULTS.md, "Structure (issue 9)").
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Segweb, http_get, log, wrk  # noqa: E402


def frames_of(binary, big):
    import subprocess
    out = subprocess.run([binary, "info", big], capture_output=True, text=True, check=True).stdout
    import json
    return json.loads(out)["number_of_frames"]


def cold(binary, data, frame, logdir):
    s = Segweb(binary, data, ["--workers", "2"], logdir, "cold")
    st, body = http_get(s.port, f"/files/big.dcm/frames/{frame}/rendered")
    t_first = time.perf_counter() - s.t0
    s.stop()
    assert st == 200 and body[:8] == b"\x89PNG\r\n\x1a\n", st
    return t_first * 1000.0


def warm(binary, data, n_frames, duration, logdir):
    s = Segweb(binary, data, ["--workers", "2"], logdir, "warm")
    url = ("/files/big.dcm/frames/", "/rendered", n_frames, 1)
    wrk("warm-up", s.port, *url, 16, 3, s.proc.pid)
    r = wrk("warm", s.port, *url, 16, duration, s.proc.pid)
    s.stop()
    return r["rps"], r.get("server_cpu_us_per_req")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the build before")
    ap.add_argument("--b", required=True, help="the build after")
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=8)
    a = ap.parse_args()
    data = os.path.abspath(a.data)
    big = os.path.join(data, "big.dcm")
    logdir = os.path.join(HERE, ".out")
    os.makedirs(logdir, exist_ok=True)
    n = frames_of(a.a, big)
    frame = n // 2
    res = {k: {"cold": [], "warm": [], "cpu": []} for k in ("A", "B")}
    for r in range(a.rounds):
        order = [("A", a.a), ("B", a.b)] if r % 2 == 0 else [("B", a.b), ("A", a.a)]
        for name, binary in order:
            c = cold(binary, data, frame, logdir)
            w, cpu = warm(binary, data, n, a.duration, logdir)
            res[name]["cold"].append(c)
            res[name]["warm"].append(w)
            res[name]["cpu"].append(cpu)
            log(f"round {r + 1} {name}: cold first frame {c:.1f} ms, warm {w:.0f} frames/s, "
                f"server CPU {cpu:.1f} us/frame")
    med = {k: {m: statistics.median(v) for m, v in d.items()} for k, d in res.items()}
    print(f"rounds {a.rounds}, wrk {a.duration} s -t2 -c16, {n} frames, frame {frame} cold")
    for m, unit in (("cold", "ms"), ("warm", "frames/s"), ("cpu", "us server CPU per warm frame")):
        print(f"{m}: A median {med['A'][m]:.1f} {unit} (all {[round(x, 1) for x in res['A'][m]]}), "
              f"B median {med['B'][m]:.1f} {unit} (all {[round(x, 1) for x in res['B'][m]]}), "
              f"B/A {med['B'][m] / med['A'][m]:.3f}")


if __name__ == "__main__":
    main()
