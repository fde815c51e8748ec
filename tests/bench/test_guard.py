"""Performance regression guard for CI: prints figures, asserts only counts.

Serves a generated 512x512 BINARY SEG (../shared/tools/make_big_seg.py, ~300
frames) and checks that
  - the index is built once for many frame requests (segweb_index_builds_total),
  - serving N distinct frames reads at most N frames' bytes of Pixel Data
    (/proc/PID/io rchar: pread of the frame + the HTTP requests, never the object),
  - a repeated frame is served from the PNG cache without reading Pixel Data.
Times (index build, per-frame latency, requests/s) are printed, never asserted:
CI machines are shared and noisy. Full benchmark: bench/run.sh.
"""
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, SHARED, free_port, metric, needs_binary, rchar

TOOL = os.path.join(SHARED, "tools", "make_big_seg.py")
ROWS = COLS = 512
FRAME_BYTES = ROWS * COLS // 8

pytestmark = needs_binary


@pytest.fixture(scope="module")
def server():
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} not found (../shared is missing)")
    base = tempfile.mkdtemp(prefix="segweb-guard-")
    path = os.path.join(base, "seg.dcm")
    subprocess.run(["/usr/bin/python3", TOOL, path, "--segments", "6", "--slices", "60",
                    "--min-len", "40", "--max-len", "60", "--no-truth"], check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--files-root", base,
                             "--workers", "2", "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    yield proc, conn, path
    conn.close()
    proc.terminate()
    proc.wait(30)
    shutil.rmtree(base, ignore_errors=True)


def get(conn, target):
    conn.request("GET", target)
    r = conn.getresponse()
    return r.status, r.read()


def metric_of(conn, name):
    return metric(get(conn, "/metrics")[1].decode(), name)


def test_frames_read_lazily_and_index_built_once(server):
    proc, conn, path = server
    t0 = time.perf_counter()
    st, body = get(conn, "/files/seg.dcm/segments")
    index_s = time.perf_counter() - t0
    assert st == 200, body[:200]
    import json
    n_frames = json.loads(body)["number_of_frames"]
    assert n_frames >= 100

    frames = list(range(1, n_frames + 1, max(1, n_frames // 50)))
    r0 = rchar(proc.pid)
    t0 = time.perf_counter()
    for f in frames:
        st, png = get(conn, f"/files/seg.dcm/frames/{f}/rendered")
        assert st == 200 and png[:4] == b"\x89PNG"
    dt = time.perf_counter() - t0
    read = rchar(proc.pid) - r0
    # Each distinct frame: one frame's bytes (+1 for a frame that starts mid-byte),
    # plus the HTTP request bytes (< 1 KB each). Never the whole object.
    limit = len(frames) * (FRAME_BYTES + 1 + 1024)
    print(f"\nguard: {os.path.getsize(path) / 1e6:.1f} MB object, {n_frames} frames; "
          f"index + first answer {index_s * 1000:.0f} ms; {len(frames)} distinct frames "
          f"{dt / len(frames) * 1000:.2f} ms each, read {read} bytes "
          f"({read / len(frames):.0f} per frame, limit {limit // len(frames)})")
    assert read <= limit, (read, limit)
    assert metric_of(conn, "segweb_index_builds_total") == 1


def test_repeated_frame_reads_no_pixel_data(server):
    proc, conn, _ = server
    get(conn, "/files/seg.dcm/frames/7/rendered")  # fills the PNG cache
    n = 200
    r0 = rchar(proc.pid)
    t0 = time.perf_counter()
    for _ in range(n):
        st, png = get(conn, "/files/seg.dcm/frames/7/rendered")
        assert st == 200
    dt = time.perf_counter() - t0
    read = rchar(proc.pid) - r0
    print(f"\nguard: repeated frame x{n}: {n / dt:.0f} req/s on one connection, "
          f"read {read} bytes ({read / n:.0f} per request)")
    # Only the HTTP requests themselves (well under 1 KB each), no frame reads.
    assert read < n * 1024, read
    hits = metric_of(conn, "segweb_png_cache_hits_total")
    if hits is not None:  # all n answered from the encoded-PNG cache
        assert hits >= n, hits
    assert metric_of(conn, "segweb_index_builds_total") == 1
