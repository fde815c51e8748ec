#!/usr/bin/python3
"""segweb against its peers: the measurements behind bench/RESULTS.md.

Run by bench/run.sh (which installs packages, generates the objects and builds
segweb). Usable alone once those exist:

    /usr/bin/python3 bench/bench.py --segweb build-bench/server/segweb --data bench/.data

Everything runs on this machine, interleaved round by round (segweb, then each
peer, then the next round), so background load hits both sides alike. Raw
figures go to bench/.out/results.json, the report to bench/RESULTS.md and the
chart to bench/chart.png.
"""
import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from conftest import free_port, multipart_head, multipart_tail, proc_value, stow_content_type  # noqa: E402

LUA = os.path.join(HERE, "random_frames.lua")
PEER = os.path.join(HERE, "peers", "pydicom_seg.py")
PY = "/usr/bin/python3"
DCMJS = os.path.join(HERE, "peers", "dcmjs", "seg.js")
HAVE_DCMJS = (shutil.which("node") is not None and
              os.path.isdir(os.path.join(HERE, "peers", "dcmjs", "node_modules", "dcmjs")))
BOUNDARY = "segwebBenchBoundary7d1"
STOW_CT = stow_content_type(BOUNDARY, quoted=False)

COMMANDS = []  # (label, command) in the order first run, for the report


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def note_cmd(label, cmd):
    text = cmd if isinstance(cmd, str) else " ".join(cmd)
    if not any(c[0] == label for c in COMMANDS):
        COMMANDS.append((label, text))


def timed(label, cmd, env=None, cwd=None, stdout=subprocess.DEVNULL):
    """Wall seconds of one process run (fails loudly on a non-zero exit)."""
    note_cmd(label, cmd)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    # communicate() reaped the child; its CPU time is in our children's rusage delta.
    if p.returncode:
        raise SystemExit(f"{label}: exit {p.returncode}: {err.decode()[-500:]}")
    p.stdout = out
    return dt, p


def timed_cpu(label, cmd, **kw):
    """(wall seconds, CPU seconds user+sys) of one process run."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    dt, p = timed(label, cmd, **kw)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p


def wait_port(port, timeout=30.0, step=0.001):
    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(step)
    return False


def http_get(port, target, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", target)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def terminate(proc, wait):
    """SIGTERM, then SIGKILL after wait seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_cpu(pid):
    """utime + stime of a process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


class Segweb:
    def __init__(self, binary, files_root, args, logdir, name):
        self.port = free_port()
        self.cmd = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--files-root",
                    files_root] + args
        self.log = open(os.path.join(logdir, f"segweb-{name}.log"), "w")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log)
        if not wait_port(self.port):
            raise SystemExit(f"segweb {name} did not start; see {self.log.name}")

    def stop(self):
        terminate(self.proc, 30)
        self.log.close()


class Orthanc:
    def __init__(self, workdir, logdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "orthanc")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "db"))
        cfg = {
            "Name": "segweb-bench",
            "StorageDirectory": os.path.join(self.dir, "db"),
            "IndexDirectory": os.path.join(self.dir, "db"),
            "StorageCompression": False,
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        }
        self.config = os.path.join(self.dir, "orthanc.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.log = open(os.path.join(logdir, "orthanc.log"), "w")
        self.proc = subprocess.Popen(["Orthanc", self.config], stdout=self.log, stderr=self.log,
                                     cwd=self.dir)
        t_end = time.time() + 60
        while time.time() < t_end:
            try:
                if http_get(self.port, "/system", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("Orthanc did not start; see " + self.log.name)

    def request(self, method, target, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request(method, target, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def lookup(self, sop):
        st, data = self.request("POST", "/tools/lookup", body=sop)
        hits = json.loads(data) if st == 200 else []
        return hits[0]["ID"] if hits else None

    def delete(self, sop):
        oid = self.lookup(sop)
        if oid:
            self.request("DELETE", f"/instances/{oid}")

    def stop(self):
        terminate(self.proc, 60)
        self.log.close()


def stow_body(dcm, out):
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(dcm):
        return out
    with open(out + ".tmp", "wb") as o:
        o.write(multipart_head(BOUNDARY))
        with open(dcm, "rb") as f:
            shutil.copyfileobj(f, o, 1 << 22)
        o.write(b"\r\n" + multipart_tail(BOUNDARY))
    os.replace(out + ".tmp", out)
    return out


def curl_post(label, url, body_file):
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X", "POST",
           "-T", body_file, "-H", "Content-Type: " + STOW_CT, "-H",
           "Accept: application/dicom+json", url]
    note_cmd(label, " ".join(c if " " not in c and '"' not in c else repr(c) for c in cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    code, secs = p.stdout.decode().split()
    return int(code), float(secs)


def wrk(label, port, prefix, suffix, frames, base, conns, secs, pid=None):
    threads = min(2, conns)
    env = dict(os.environ, BENCH_PREFIX=prefix, BENCH_SUFFIX=suffix, BENCH_FRAMES=str(frames),
               BENCH_BASE=str(base))
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency", "-s", LUA,
           f"http://127.0.0.1:{port}"]
    note_cmd(label, f"BENCH_PREFIX={prefix} BENCH_SUFFIX={suffix} BENCH_FRAMES={frames} "
                    f"BENCH_BASE={base} " + " ".join(cmd))
    cpu0 = proc_cpu(pid) if pid else None
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    cpu1 = proc_cpu(pid) if pid else None
    m = re.search(r"WRKJSON (\{.*\})", p.stdout.decode())
    if not m:
        raise SystemExit(f"{label}: no wrk result:\n{p.stdout.decode()[-800:]}")
    r = json.loads(m.group(1))
    if cpu0 is not None and r["requests"]:
        r["server_cpu_us_per_req"] = (cpu1 - cpu0) / r["requests"] * 1e6
    return r


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs),
            "all": xs}


# ---------------------------------------------------------------- measurements


def measure(a):
    R = {"objects": {}, "machine": machine(), "config": vars(a).copy()}
    out = a.out
    os.makedirs(out, exist_ok=True)
    logdir = os.path.join(out, "logs")
    os.makedirs(logdir, exist_ok=True)
    sw = os.path.abspath(a.segweb)
    data = os.path.abspath(a.data)
    big = os.path.join(data, "big.dcm")
    rounds = a.rounds

    info = json.loads(subprocess.run([sw, "info", big], stdout=subprocess.PIPE,
                                     check=True).stdout)
    n_big = info["number_of_frames"]
    ids = {"study": info["study_instance_uid"], "series": info["series_instance_uid"],
           "sop": info["sop_instance_uid"]}
    R["objects"]["big"] = {"path": big, "frames": n_big, "bytes": os.path.getsize(big),
                           "rows": info["rows"], "columns": info["columns"],
                           "type": info["segmentation_type"], "segments": len(info["segments"])}
    # PNG files go to tmpfs when there is one: on ext4, creating 6807 files right after
    # deleting the previous round's 6807 costs seconds of kernel time in the inode
    # allocator (find_get_block_common / recently_deleted in perf), for both tools alike.
    # One extra segweb run per round writes to disk (bench/.out) to show that cost.
    tmp_root = a.tmpfs if a.tmpfs and os.path.isdir(a.tmpfs) else out
    R["png_output_dir"] = tmp_root
    frames_dir = os.path.join(tmp_root, "segweb-bench-frames")
    peer_dir = os.path.join(tmp_root, "segweb-bench-peer-png")
    disk_frames_dir = os.path.join(out, "frames")

    # Warm the page cache for everybody (all figures are page-cache-warm).
    subprocess.run(["cat", big], stdout=subprocess.DEVNULL)

    # ---- A: command-line paths, interleaved per round --------------------
    A = {k: [] for k in ["segweb_info", "segweb_frame_cli", "segweb_cold_http",
                         "segweb_cold_http_listen", "segweb_frames", "pydicom_meta",
                         "pydicom_meta_inproc", "pydicom_decode", "pydicom_png",
                         "segweb_info_cpu", "segweb_frame_cli_cpu", "segweb_cold_http_cpu",
                         "segweb_frames_cpu", "pydicom_meta_cpu", "pydicom_png_cpu",
                         "segweb_frames_disk", "dcmjs_meta", "dcmjs_decode"]}
    for r in range(rounds):
        log(f"CLI round {r + 1}/{rounds}")
        dt, cpu, _ = timed_cpu("segweb info", [sw, "info", big])
        A["segweb_info"].append(dt)
        A["segweb_info_cpu"].append(cpu)
        dt, cpu, p = timed_cpu("pydicom meta", [PY, PEER, "meta", big], stdout=subprocess.PIPE)
        A["pydicom_meta"].append(dt)
        A["pydicom_meta_cpu"].append(cpu)
        A["pydicom_meta_inproc"].append(float(p.stdout.split()[1]))
        if HAVE_DCMJS:
            A["dcmjs_meta"].append(timed("dcmjs meta", ["node", DCMJS, "meta", big])[0])
        frame_no = 1 + (r * 2399) % n_big
        dt, cpu, _ = timed_cpu("segweb frame (cold CLI)", [sw, "frame", big, str(frame_no)])
        A["segweb_frame_cli"].append(dt)
        A["segweb_frame_cli_cpu"].append(cpu)
        # Cold HTTP: fresh process -> port accepts -> first frame PNG received.
        t0 = time.perf_counter()
        port = free_port()
        cmd = [sw, "serve", "--listen", f"127.0.0.1:{port}", "--files-root", data,
               "--workers", "2"]
        note_cmd("segweb cold HTTP", " ".join(cmd) + f"  # then GET /files/big.dcm/frames/N/rendered")
        lf = open(os.path.join(logdir, "segweb-cold.log"), "w")
        proc = subprocess.Popen(cmd, stdout=lf, stderr=lf)
        if not wait_port(port):
            raise SystemExit("segweb serve did not start")
        t_listen = time.perf_counter() - t0
        st, body = http_get(port, f"/files/big.dcm/frames/{frame_no}/rendered")
        t_first = time.perf_counter() - t0
        assert st == 200 and body[:8] == b"\x89PNG\r\n\x1a\n", st
        A["segweb_cold_http_cpu"].append(proc_cpu(proc.pid))
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        lf.close()
        A["segweb_cold_http"].append(t_first)
        A["segweb_cold_http_listen"].append(t_listen)

        shutil.rmtree(frames_dir, ignore_errors=True)
        dt, cpu, _ = timed_cpu("segweb frames", [sw, "frames", big, "--out", frames_dir])
        A["segweb_frames"].append(dt)
        A["segweb_frames_cpu"].append(cpu)
        shutil.rmtree(disk_frames_dir, ignore_errors=True)
        A["segweb_frames_disk"].append(
            timed("segweb frames (to disk)", [sw, "frames", big, "--out", disk_frames_dir])[0])
        if r < a.slow_rounds:
            A["pydicom_decode"].append(timed("pydicom decode", [PY, PEER, "decode", big])[0])
            if HAVE_DCMJS:
                A["dcmjs_decode"].append(timed("dcmjs decode", ["node", DCMJS, "decode", big])[0])
            shutil.rmtree(peer_dir, ignore_errors=True)
            dt, cpu, _ = timed_cpu("pydicom png", [PY, PEER, "png", big, peer_dir])
            A["pydicom_png"].append(dt)
            A["pydicom_png_cpu"].append(cpu)
    n_png = len([f for f in os.listdir(frames_dir) if f.endswith(".png")])
    R["frames_written"] = n_png
    R["A"] = {k: stats(v) for k, v in A.items()}

    # ---- B: Orthanc (STOW, metadata, preview, rendered) + segweb STOW ---------
    orth = Orthanc(out, logdir)
    R["orthanc_config"] = open(orth.config).read()
    body = stow_body(big, os.path.join(out, "stow-big.body"))
    B = {"orthanc_stow": [], "orthanc_metadata": [], "segweb_stow": [], "segweb_stow_status": []}
    meta_path = (f"/dicom-web/studies/{ids['study']}/series/{ids['series']}"
                 f"/instances/{ids['sop']}")
    stow_ok = True
    for r in range(rounds):
        log(f"STOW/metadata round {r + 1}/{rounds}")
        orth.delete(ids["sop"])
        code, secs = curl_post("Orthanc STOW", f"http://127.0.0.1:{orth.port}/dicom-web/studies",
                               body)
        if code != 200:
            raise SystemExit(f"Orthanc STOW answered {code}")
        B["orthanc_stow"].append(secs)
        t0 = time.perf_counter()
        st, _ = orth.request("GET", meta_path + "/metadata")
        B["orthanc_metadata"].append(time.perf_counter() - t0)
        note_cmd("Orthanc metadata", f"curl http://127.0.0.1:PORT{meta_path}/metadata")
        assert st == 200, st
        if not stow_ok:
            continue
        # segweb: a fresh, empty store each round (as Orthanc's instance is deleted first).
        sw_store = tempfile.mkdtemp(prefix="segweb-bench-store-", dir=out)
        seg_srv = Segweb(sw, data, ["--workers", "2", "--store", sw_store, "--max-body",
                                    str(os.path.getsize(body) + (1 << 20))], logdir, "stow")
        code, secs = curl_post("segweb STOW", f"http://127.0.0.1:{seg_srv.port}/studies", body)
        seg_srv.stop()
        shutil.rmtree(sw_store, ignore_errors=True)
        B["segweb_stow_status"].append(code)
        if code in (200, 202):
            B["segweb_stow"].append(secs)
        else:
            log(f"segweb POST /studies answered {code}: STOW not available in this build")
            stow_ok = False
    # The limit for STOW: writing the object's bytes and fsync (dd conv=fsync, same disk).
    ddf = os.path.join(out, "dd.tmp")
    note_cmd("disk write + fsync of the object's size",
             f"dd if={big} of={ddf} bs=4M conv=fsync")
    dd = []
    for r in range(3):
        t0 = time.perf_counter()
        subprocess.run(["dd", f"if={big}", f"of={ddf}", "bs=4M", "conv=fsync"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        dd.append(time.perf_counter() - t0)
        os.unlink(ddf)
    B["dd_write_fsync"] = dd
    R["B"] = {k: (stats(v) if k != "segweb_stow_status" else v) for k, v in B.items()}
    oid = orth.lookup(ids["sop"])

    # DICOMweb rendered (slow: a few sequential requests).
    rend = []
    for k in range(a.rendered_requests):
        f = 1 + (k * 1777) % n_big
        t0 = time.perf_counter()
        st, _ = orth.request("GET", meta_path + f"/frames/{f}/rendered")
        rend.append(time.perf_counter() - t0)
        assert st == 200, st
    note_cmd("Orthanc DICOMweb rendered", f"curl http://127.0.0.1:PORT{meta_path}/frames/N/rendered")
    R["B"]["orthanc_rendered_s"] = stats(rend)

    # ---- C: warm random frames over HTTP ------------------------------------
    servers = {
        "segweb": Segweb(sw, data, ["--workers", "2", "--cache-mb", str(a.cache_mb),
                                    "--png-cache-mb", str(a.png_cache_mb)], logdir, "warm"),
        "segweb_nopngcache": Segweb(sw, data, ["--workers", "2", "--cache-mb", str(a.cache_mb),
                                               "--png-cache-mb", "0"], logdir, "nopngcache"),
        "segweb_defaults": Segweb(sw, data, [], logdir, "defaults"),
    }
    for name, s in servers.items():
        note_cmd(f"server {name}", " ".join(s.cmd))
    seg_url = ("/files/big.dcm/frames/", "/rendered", n_big, 1)
    orth_url = (f"/instances/{oid}/frames/", "/preview", n_big, 0)
    # Warm up: index built, PNG cache filled (wrk visits ~all frames), Orthanc's cache loaded.
    for name, s in servers.items():
        wrk(f"warm-up {name}", s.port, *seg_url, 16, a.warmup, s.proc.pid)
    wrk("warm-up orthanc", orth.port, *orth_url, 16, max(3, a.warmup // 2), orth.proc.pid)
    C = {k: [] for k in list(servers) + ["orthanc_preview"]}
    for r in range(rounds):
        log(f"warm HTTP round {r + 1}/{rounds}")
        for name, s in servers.items():
            C[name].append(wrk(f"wrk {name}", s.port, *seg_url, a.conns, a.duration, s.proc.pid))
        C["orthanc_preview"].append(wrk("wrk orthanc preview", orth.port, *orth_url, a.conns,
                                        a.duration, orth.proc.pid))
    R["C"] = {k: {m: stats([x.get(m) for x in v]) for m in
                  ["rps", "p50_ms", "p99_ms", "max_ms", "server_cpu_us_per_req"]}
              for k, v in C.items()}
    R["C_errors"] = {k: sum(x["errors_status"] + x["errors_read"] + x["errors_connect"] +
                            x["errors_timeout"] for x in v) for k, v in C.items()}

    # Concurrency sweep (chart).
    sweep = {"segweb": {}, "orthanc_preview": {}}
    for c in a.sweep:
        log(f"sweep c={c}")
        s = servers["segweb"]
        sweep["segweb"][c] = wrk("sweep segweb", s.port, *seg_url, c, a.sweep_duration, s.proc.pid)
        sweep["orthanc_preview"][c] = wrk("sweep orthanc", orth.port, *orth_url, c,
                                          a.sweep_duration, orth.proc.pid)
    R["sweep"] = sweep

    R["rss"] = {}
    for name, s in servers.items():
        R["rss"][name] = {"VmHWM_kB": proc_value(s.proc.pid, "status", "VmHWM"),
                          "VmRSS_kB": proc_value(s.proc.pid, "status", "VmRSS")}
        try:
            m = http_get(s.port, "/metrics")[1].decode()
            R["rss"][name]["cache_bytes"] = float(
                re.search(r"^segweb_cache_bytes ([0-9.e+]+)$", m, re.M).group(1))
        except Exception:  # noqa: BLE001 - metrics are informative only
            pass
    R["rss"]["orthanc"] = {"VmHWM_kB": proc_value(orth.proc.pid, "status", "VmHWM")}
    for s in servers.values():
        s.stop()
    orth.stop()

    # ---- D: the odd-sized and the FRACTIONAL object ---------------------------
    D = {}
    for name in ("odd", "frac"):
        path = os.path.join(data, f"{name}.dcm")
        if not os.path.exists(path):
            continue
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL)
        inf = json.loads(subprocess.run([sw, "info", path], stdout=subprocess.PIPE,
                                        check=True).stdout)
        n = inf["number_of_frames"]
        R["objects"][name] = {"path": path, "frames": n, "bytes": os.path.getsize(path),
                              "rows": inf["rows"], "columns": inf["columns"],
                              "type": inf["segmentation_type"], "segments": len(inf["segments"])}
        d = {k: [] for k in ["segweb_info", "segweb_frames", "pydicom_meta", "pydicom_png",
                             "segweb_warm"]}
        s = Segweb(sw, data, ["--workers", "2", "--png-cache-mb", str(a.png_cache_mb)], logdir,
                   name)
        url = (f"/files/{name}.dcm/frames/", "/rendered", n, 1)
        wrk(f"warm-up {name}", s.port, *url, 16, 3, s.proc.pid)
        for r in range(a.slow_rounds):
            log(f"{name} round {r + 1}/{a.slow_rounds}")
            d["segweb_info"].append(timed(f"segweb info {name}", [sw, "info", path])[0])
            d["pydicom_meta"].append(timed(f"pydicom meta {name}", [PY, PEER, "meta", path])[0])
            shutil.rmtree(frames_dir, ignore_errors=True)
            d["segweb_frames"].append(
                timed(f"segweb frames {name}", [sw, "frames", path, "--out", frames_dir])[0])
            shutil.rmtree(peer_dir, ignore_errors=True)
            d["pydicom_png"].append(
                timed(f"pydicom png {name}", [PY, PEER, "png", path, peer_dir])[0])
            d["segweb_warm"].append(wrk(f"wrk {name}", s.port, *url, a.conns, 5, s.proc.pid))
        s.stop()
        D[name] = {k: stats(v) for k, v in d.items() if k != "segweb_warm"}
        D[name]["segweb_warm_rps"] = stats([x["rps"] for x in d["segweb_warm"]])
        D[name]["segweb_warm_p99_ms"] = stats([x["p99_ms"] for x in d["segweb_warm"]])
    R["D"] = D
    for d_ in (frames_dir, peer_dir, disk_frames_dir):
        shutil.rmtree(d_, ignore_errors=True)
    R["commands"] = COMMANDS
    return R


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    def ver(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  shell=True).stdout.decode().strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return "?"
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(), "os": ver(". /etc/os-release && echo $PRETTY_NAME"),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "orthanc": ver("dpkg-query -W -f '${Version}' orthanc"),
        "orthanc_dicomweb": ver("dpkg-query -W -f '${Version}' orthanc-dicomweb"),
        "pydicom": ver("dpkg-query -W -f '${Version}' python3-pydicom"),
        "pillow": ver("dpkg-query -W -f '${Version}' python3-pil"),
        "wrk": ver("dpkg-query -W -f '${Version}' wrk"),
        "git": ver(f"git -C {ROOT} log -1 --format='%h %s'"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--segweb", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, ".out"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--slow-rounds", type=int, default=3, help="rounds of the slow peer runs")
    ap.add_argument("--duration", type=int, default=8, help="wrk seconds per warm run")
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",")],
                    default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--sweep-duration", type=int, default=4)
    ap.add_argument("--rendered-requests", type=int, default=5)
    ap.add_argument("--cache-mb", type=int, default=256)
    ap.add_argument("--png-cache-mb", type=int, default=64)
    ap.add_argument("--tmpfs", default="/dev/shm", help="where PNG files are written ('' = bench/.out)")
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    R = measure(a)
    R["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    log("wrote", os.path.join(a.out, "results.json"))


if __name__ == "__main__":
    main()
