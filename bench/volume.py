#!/usr/bin/python3
"""Volumes benchmark (issue 10): segweb against its peers on the 6,807-frame
512x512 object of ../shared/tools/make_big_seg.py, in one run.

  bench/volume.py            (or bench/volume.sh)

1. generates the object into $VOLUME_BENCH_DATA (default /tmp/segweb-volume-bench), cached;
2. builds segweb (Release) into build/ unless SEGWEB_BIN is set;
3. interleaved rounds: `segweb volume --out-dir` (NIfTI and NRRD: 100 segments +
   labelmap + meta.json), one segment by CLI, the pydicom + numpy + nibabel peer
   (bench/peers/pydicom_volume.py, all segments + labelmap) and dcmqi's
   segimage2itkimage when it is already built (DCMQI_BIN or on PATH; never built here);
4. one segment over HTTP (GET /files/big.dcm/segments/50/volume.nii.gz), warm index,
   median of 30 requests;
5. checks that segweb's and the peer's files hold the same voxels and affines;
6. writes the "Volumes" section of bench/RESULTS.md (between marker comments).

Wall time, CPU time (user + sys, from wait4) and peak RSS of each process.
Environment: ROUNDS (5), PEER_ROUNDS (1, the peer takes minutes), SKIP_PEER=1,
SEGWEB_BIN, VOLUME_BENCH_DATA, DCMQI_BIN.
"""
import http.client
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("VOLUME_BENCH_DATA", "/tmp/segweb-volume-bench")
BIG = os.path.join(DATA, "big.dcm")
PY = "/usr/bin/python3"
ROUNDS = int(os.environ.get("ROUNDS", "5"))
PEER_ROUNDS = int(os.environ.get("PEER_ROUNDS", "1"))


def say(*a):
    print("==", *a, file=sys.stderr, flush=True)


def timed(cmd, **kw):
    """(wall s, cpu s, peak RSS MB, stdout, stderr) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out, err = p.stdout.read().decode(), p.stderr.read().decode()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {p.returncode}\n{err}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out, err


def main():
    os.makedirs(DATA, exist_ok=True)
    if not os.path.exists(BIG):
        say("generating", BIG, "(about 2-3 minutes)")
        subprocess.run([PY, os.path.join(ROOT, "../shared/tools/make_big_seg.py"), BIG], check=True)
    binp = os.environ.get("SEGWEB_BIN")
    if not binp:
        say("building segweb (Release) into build/")
        subprocess.run([os.path.join(ROOT, "scripts/build.sh")], check=True, stdout=subprocess.DEVNULL)
        binp = os.path.join(ROOT, "build/server/segweb")
    dcmqi = os.environ.get("DCMQI_BIN") or shutil.which("segimage2itkimage")
    work = tempfile.mkdtemp(prefix="segweb-volbench-")
    res = {"segweb_dir_nifti": [], "segweb_dir_nrrd": [], "segweb_one": [], "peer_dir": [],
           "peer_one": [], "dcmqi_dir": []}
    # warm the page cache once
    subprocess.run([binp, "volume", BIG, "--segment", "1", "--out", os.path.join(work, "warm.nii.gz")],
                   check=True)
    for r in range(ROUNDS):
        say(f"round {r + 1}/{ROUNDS}")
        for fmt in ("nifti", "nrrd"):
            out = os.path.join(work, f"segweb-{fmt}")
            shutil.rmtree(out, ignore_errors=True)
            res[f"segweb_dir_{fmt}"].append(timed([binp, "volume", BIG, "--out-dir", out, "--format", fmt])[:3])
        res["segweb_one"].append(timed([binp, "volume", BIG, "--segment", "50", "--out",
                                        os.path.join(work, "one.nii.gz")])[:3])
        if r < PEER_ROUNDS and os.environ.get("SKIP_PEER") != "1":
            out = os.path.join(work, "peer")
            shutil.rmtree(out, ignore_errors=True)
            say("peer: pydicom + numpy + nibabel, all segments (minutes)")
            res["peer_dir"].append(timed([PY, os.path.join(ROOT, "bench/peers/pydicom_volume.py"), BIG, out])[:3])
            res["peer_one"].append(timed([PY, os.path.join(ROOT, "bench/peers/pydicom_volume.py"), BIG,
                                          os.path.join(work, "peer-one"), "--segment", "50"])[:3])
            if dcmqi:
                out = os.path.join(work, "dcmqi")
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                say("dcmqi segimage2itkimage (minutes)")
                res["dcmqi_dir"].append(timed([dcmqi, "--inputDICOM", BIG, "--outputDirectory", out,
                                               "--outputType", "nifti"])[:3])

    say("HTTP: one segment, warm")
    http_ms = http_bench(binp, work)

    check = None
    if res["peer_dir"]:
        say("checking segweb's files against the peer's")
        check = compare(os.path.join(work, "segweb-nifti"), os.path.join(work, "peer"))
    sizes = {
        "segweb_nifti_bytes": dir_bytes(os.path.join(work, "segweb-nifti")),
        "segweb_nrrd_bytes": dir_bytes(os.path.join(work, "segweb-nrrd")),
        "peer_bytes": dir_bytes(os.path.join(work, "peer")) if res["peer_dir"] else None,
    }
    report(res, http_ms, check, sizes, dcmqi)
    shutil.rmtree(work, ignore_errors=True)


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) if os.path.isdir(d) else None


def http_bench(binp, work):
    root = os.path.dirname(BIG)
    log = open(os.path.join(work, "serve.log"), "wb")
    p = subprocess.Popen([binp, "serve", "--listen", "127.0.0.1:0", "--store", os.path.join(work, "store"),
                          "--files-root", root], stdout=subprocess.DEVNULL, stderr=log)
    try:
        port = None
        for _ in range(600):
            m = re.search(r"\(port (\d+)\)", open(os.path.join(work, "serve.log")).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if not port:
            return None
        path = "/files/big.dcm/segments/50/volume.nii.gz"
        times = []
        for i in range(33):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            t0 = time.perf_counter()
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            dt = time.perf_counter() - t0
            c.close()
            if r.status != 200:
                say(f"HTTP {r.status}: {body[:200]!r}")
                return None
            if i >= 3:  # the first requests index the object
                times.append(dt * 1000)
        return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
                "bytes": len(body), "n": len(times)}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        log.close()


def compare(a, b):
    import nibabel as nib
    import numpy as np
    files = sorted(f for f in os.listdir(b) if f.endswith(".nii.gz"))
    worst_aff, diff = 0.0, 0
    for f in files:
        x, y = nib.load(os.path.join(a, f)), nib.load(os.path.join(b, f))
        diff += int((np.asanyarray(x.dataobj) != np.asanyarray(y.dataobj)).sum())
        worst_aff = max(worst_aff, float(np.abs(x.affine - y.affine).max()))
    return {"files": len(files), "voxels_differing": diff, "affine_max_diff_mm": worst_aff}


def med(rows, i):
    return statistics.median(r[i] for r in rows) if rows else None


def fmt(v, unit="s", nd=2):
    return "—" if v is None else f"{v:.{nd}f} {unit}"


def report(res, http_ms, check, sizes, dcmqi):
    lines = []
    add = lines.append
    nproc = os.cpu_count()
    load = os.getloadavg()
    add("## Volumes (issue 10)")
    add("")
    add(f"`bench/volume.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {nproc} cores "
        f"(load average at the end {load[0]:.1f}: the machine is shared, so CPU time is the steadier "
        f"figure). Object: `make_big_seg.py` default, 512x512, 6,807 frames, 100 segments, 200 slices. "
        f"Medians of {ROUNDS} rounds (peer: {len(res['peer_dir'])}).")
    add("")
    add("| run | wall (median) | CPU user+sys | peak RSS |")
    add("|---|---|---|---|")
    rows = [
        ("segweb `volume --out-dir` NIfTI (.nii.gz): 100 segments + labelmap + meta.json", "segweb_dir_nifti"),
        ("segweb `volume --out-dir --format nrrd`", "segweb_dir_nrrd"),
        ("segweb `volume --segment 50 --out x.nii.gz`", "segweb_one"),
        ("peer: pydicom + numpy + nibabel, 100 segments + labelmap", "peer_dir"),
        ("peer: one segment", "peer_one"),
        ("dcmqi `segimage2itkimage` (NIfTI)", "dcmqi_dir"),
    ]
    for name, key in rows:
        r = res[key]
        if not r:
            add(f"| {name} | not run{' (not built here)' if key == 'dcmqi_dir' else ''} | | |")
            continue
        add(f"| {name} | {fmt(med(r, 0))} | {fmt(med(r, 1))} | {med(r, 2):.0f} MB |")
    add("")
    if http_ms:
        add(f"HTTP, one segment (`GET /files/big.dcm/segments/50/volume.nii.gz`, warm index, "
            f"{http_ms['n']} sequential requests): median **{http_ms['median_ms']:.1f} ms** "
            f"(min {http_ms['min_ms']:.1f}, max {http_ms['max_ms']:.1f}), {http_ms['bytes']} bytes.")
    else:
        add("HTTP: the volume route did not answer 200 in this build (not measured).")
    add("")
    sd, pd = med(res["segweb_dir_nifti"], 0), med(res["peer_dir"], 0)
    sc, pc = med(res["segweb_dir_nifti"], 1), med(res["peer_dir"], 1)
    if sd and pd:
        add(f"Ratio against the peer, all segments + labelmap: **{pd / sd:.0f}x** wall, {pc / sc:.0f}x CPU; "
            f"one segment: {med(res['peer_one'], 0) / med(res['segweb_one'], 0):.0f}x wall.")
    dd = med(res["dcmqi_dir"], 0)
    if sd and dd:
        add(f"Ratio against dcmqi: **{dd / sd:.0f}x** wall.")
    elif not dcmqi:
        add("dcmqi: not built on this machine (../shared/tools/DCMQI.md measured 66-150 s and 809 MB "
            "for this object elsewhere; against that, segweb's median here is "
            f"{66 / sd:.0f}-{150 / sd:.0f}x)." if sd else "dcmqi: not built here.")
    add("")
    add(f"Output: segweb {sizes['segweb_nifti_bytes'] / 1e6:.1f} MB of .nii.gz, "
        f"{sizes['segweb_nrrd_bytes'] / 1e6:.1f} MB of .nrrd"
        + (f"; the peer (nibabel, zlib level 1 over every byte) {sizes['peer_bytes'] / 1e6:.1f} MB." if sizes['peer_bytes'] else "."))
    if check:
        add(f"Same run, segweb against the peer: {check['files']} files, "
            f"{check['voxels_differing']} voxels differ, affines within {check['affine_max_diff_mm']:.2g} mm.")
    add("")
    text = "\n".join(lines) + "\n"
    path = os.path.join(ROOT, "bench/RESULTS.md")
    doc = open(path).read() if os.path.exists(path) else ""
    begin, end = "<!-- volumes:begin -->", "<!-- volumes:end -->"
    block = f"{begin}\n{text}{end}\n"
    if begin in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end) + 1:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    open(path, "w").write(doc)
    print(text)
    json.dump({"results": res, "http": http_ms, "check": check, "sizes": sizes},
              open(os.path.join(DATA, "volume-results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
