"""End-to-end tests of `segweb serve`: the real binary on a free loopback port.

Env: SEGWEB_BIN (the segweb binary), SEGWEB_TESTDATA (the shared corpus dir).
Standard library + PIL/numpy from Debian only.
"""
import glob
import gzip
import io
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time

import numpy as np
import pytest
from PIL import Image

from conftest import (BIN, NAMES, SEG_DIR, TESTDATA, SegwebProcess, expected, metric, needs_binary, needs_corpus,
                      png_hash, rchar)

SECRET = "segweb-outside-secret-7f3a"

pytestmark = [needs_corpus, needs_binary]


@pytest.fixture(scope="module")
def tree():
    """files-root with copies of the corpus, a subdirectory, and symlinks pointing out."""
    base = tempfile.mkdtemp(prefix="segweb-files-")
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "sub"))
    for n in NAMES:
        shutil.copy(os.path.join(SEG_DIR, n + ".dcm"), os.path.join(root, n + ".dcm"))
    shutil.copy(os.path.join(SEG_DIR, NAMES[0] + ".dcm"), os.path.join(root, "sub", "nested.dcm"))
    with open(os.path.join(base, "outside.dcm"), "w") as f:
        f.write(SECRET)
    os.makedirs(os.path.join(base, "root-sibling"))
    with open(os.path.join(base, "root-sibling", "x.dcm"), "w") as f:
        f.write(SECRET)
    os.symlink("/etc/passwd", os.path.join(root, "passwd.dcm"))
    os.symlink(os.path.join(base, "outside.dcm"), os.path.join(root, "out.dcm"))
    os.symlink(base, os.path.join(root, "updir"))
    with open(os.path.join(root, "garbage.dcm"), "wb") as f:
        f.write(b"this is not DICOM at all" * 20)
    src = glob.glob(os.path.join(TESTDATA, "source", "*", "*.dcm"))
    if src:
        shutil.copy(src[0], os.path.join(root, "ct.dcm"))
    yield root
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tree):
    s = SegwebProcess(BIN, ["--workers", "4", "--cors-origin", "http://viewer.example"], files_root=tree)
    yield s
    assert s.stop() == 0


@pytest.mark.parametrize("name", NAMES)
def test_corpus_json_and_every_frame(server, name):
    exp = expected(name)
    c = server.conn()
    st, h, body = server.get(f"/files/{name}.dcm/segments", conn=c)
    assert st == 200, body
    assert h["content-type"].startswith("application/json")
    doc = json.loads(body)
    for k in ("sop_instance_uid", "rows", "columns", "number_of_frames", "segmentation_type"):
        assert doc[k] == exp[k], k
    got = [{"number": s["number"], "label": s["label"], "frames": s["frames"]} for s in doc["segments"]]
    want = [{"number": s["number"], "label": s["label"], "frames": s["frames"]} for s in exp["segments"]]
    assert got == want
    for i, want_hash in enumerate(exp["frame_sha256"]):
        st, h, body = server.get(f"/files/{name}.dcm/frames/{i + 1}/rendered", conn=c)
        assert st == 200, (i + 1, body[:200])
        assert h["content-type"] == "image/png"
        assert png_hash(body, exp["frame_hash_dtype"]) == want_hash, f"frame {i + 1}"
    st, _, body = server.get(f"/files/{name}.dcm/frames/{len(exp['frame_sha256']) + 1}/rendered", conn=c)
    assert st == 404 and json.loads(body)["error"]["status"] == 404
    c.close()


def test_segment_route(server):
    exp = expected("dcmqi_partial_overlaps")
    for s in exp["segments"]:
        st, _, body = server.get(f"/files/dcmqi_partial_overlaps.dcm/segments/{s['number']}")
        assert st == 200
        doc = json.loads(body)
        assert doc["number"] == s["number"] and doc["label"] == s["label"] and doc["frames"] == s["frames"]
    st, _, body = server.get("/files/dcmqi_partial_overlaps.dcm/segments/99")
    assert st == 404 and json.loads(body)["error"]["status"] == 404


def test_32_concurrent_clients(server):
    jobs = []
    for name in ("dcmqi_liver", "pyd_liver_rle", "hd_sm_dots_tiled_full", "dcmqi_38x23_odd", "pyd_liver_j2k"):
        exp = expected(name)
        for i, hsh in enumerate(exp["frame_sha256"][:40]):
            jobs.append((name, i + 1, hsh, exp["frame_hash_dtype"]))
    errors = []

    def client(k):
        c = server.conn()
        try:
            for j in range(k, len(jobs) + k * 3, 1):
                name, f, hsh, dt = jobs[j % len(jobs)]
                st, _, body = server.get(f"/files/{name}.dcm/frames/{f}/rendered", conn=c)
                if st != 200 or png_hash(body, dt) != hsh:
                    errors.append((name, f, st))
        except Exception as ex:  # noqa: BLE001
            errors.append(repr(ex))
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


TRAVERSALS = [
    "/files/../../../../etc/passwd/segments",
    "/files/%2e%2e/%2e%2e/etc/passwd/segments",
    "/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/segments",
    "/files/..%2f..%2f..%2fetc%2fpasswd/segments",
    "/files/%252e%252e/%252e%252e/etc/passwd/segments",
    "/files//etc/passwd/segments",
    "/files/%2fetc%2fpasswd/segments",
    "/files/..\\..\\..\\etc\\passwd/segments",
    "/files/..%5c..%5cetc%5cpasswd/segments",
    "/files/passwd.dcm%00.png/segments",
    "/files/%00/segments",
    "/files/passwd.dcm/segments",
    "/files/out.dcm/segments",
    "/files/updir/outside.dcm/segments",
    "/files/updir/root-sibling/x.dcm/segments",
    "/files/sub/../../outside.dcm/segments",
    "/files/./passwd.dcm/segments",
    "/files/.%2e/outside.dcm/frames/1/rendered",
    "/files/passwd.dcm/frames/1/rendered",
    "/files/out.dcm/frames/1/rendered",
]


def test_traversal_refused(server):
    assert len(TRAVERSALS) >= 12
    with open("/etc/passwd", "rb") as f:
        passwd_line = f.readline().strip()
    for t in TRAVERSALS:
        st, h, body = server.get(t)
        assert 400 <= st < 500, (t, st)
        assert SECRET.encode() not in body and (not passwd_line or passwd_line not in body), t
        assert json.loads(body)["error"]["status"] == st, t


def test_errors_are_json(server):
    for t, want in [("/nope", 404), ("/files/garbage.dcm/segments", 422), ("/files/missing.dcm/segments", 404),
                    ("/files/dcmqi_liver.dcm/frames/0/rendered", 400), ("/files/dcmqi_liver.dcm/frames/abc/rendered", 400),
                    ("/studies/1.2/series/1.3/instances/1.4/segments", 404)]:
        st, h, body = server.get(t)
        assert st == want, (t, st, body)
        assert h["content-type"].startswith("application/json")
        doc = json.loads(body)
        assert doc["error"]["status"] == want and doc["error"]["message"]
    if os.path.exists(os.path.join(server_root(server), "ct.dcm")):
        st, _, body = server.get("/files/ct.dcm/segments")
        assert st in (415, 422) and "SOP" in json.loads(body)["error"]["message"] or st in (415, 422)
    st, h, body = server.get("/healthz", method="POST")
    assert st == 405 and json.loads(body)["error"]["status"] == 405


def server_root(server):
    m = re.search(r"files-root=(\S+)", server.read_log())
    return m.group(1) if m else ""


def test_etag_304_and_cache_headers(server):
    for t in ("/files/dcmqi_liver.dcm/segments", "/files/dcmqi_liver.dcm/frames/2/rendered"):
        st, h, body = server.get(t)
        assert st == 200 and h["etag"].startswith('"')
        assert h["cache-control"] == "no-cache"
        st2, h2, body2 = server.get(t, {"If-None-Match": h["etag"]})
        assert st2 == 304 and body2 == b"" and h2["etag"] == h["etag"]
        st3, _, _ = server.get(t, {"If-None-Match": '"other"'})
        assert st3 == 200
    a = server.get("/files/dcmqi_liver.dcm/frames/1/rendered")[1]["etag"]
    b = server.get("/files/dcmqi_liver.dcm/frames/2/rendered")[1]["etag"]
    c = server.get("/files/dcmqi_liver.dcm/frames/1/rendered?style=color")[1]["etag"]
    assert len({a, b, c}) == 3


def test_changed_file_is_reindexed(server, tree):
    p = os.path.join(tree, "changing.dcm")
    shutil.copy(os.path.join(SEG_DIR, "dcmqi_38x23_odd.dcm"), p)
    st, h, body = server.get("/files/changing.dcm/segments")
    assert st == 200 and json.loads(body)["rows"] == 38
    tmp = p + ".tmp"
    shutil.copy(os.path.join(SEG_DIR, "dcmqi_liver.dcm"), tmp)
    os.replace(tmp, p)
    st2, h2, body2 = server.get("/files/changing.dcm/segments", {"If-None-Match": h["etag"]})
    assert st2 == 200 and json.loads(body2)["rows"] == 512 and h2["etag"] != h["etag"]


def test_accept_negotiation(server):
    t = "/files/dcmqi_liver.dcm/frames/1/rendered"
    for acc, want in [("image/png", 200), ("image/*", 200), ("*/*", 200), ("text/html", 406),
                      ("application/json", 406), ("text/html, image/png;q=0.5", 200)]:
        st, h, body = server.get(t, {"Accept": acc})
        assert st == want, acc
        if want == 406:
            assert json.loads(body)["error"]["status"] == 406


def test_color_style(server):
    st, h, body = server.get("/files/dcmqi_liver.dcm/frames/1/rendered?style=color")
    assert st == 200
    img = Image.open(io.BytesIO(body))
    assert img.mode == "RGBA"
    gray = np.array(Image.open(io.BytesIO(server.get("/files/dcmqi_liver.dcm/frames/1/rendered")[2]))).astype(bool)
    alpha = np.array(img)[..., 3]
    assert ((alpha > 0) == gray).all()


def test_mask_route(server):
    exp = expected("dcmqi_38x23_odd")
    st, _, body = server.get("/files/dcmqi_38x23_odd.dcm/segments")
    doc = json.loads(body)
    frames = doc["frames"]
    for fr in frames:
        src = fr["source"][0]["sop_instance_uid"]
        st, h, body = server.get(f"/files/dcmqi_38x23_odd.dcm/segments/1/mask?source={src}")
        assert st == 200 and h["content-type"] == "image/png"
        assert png_hash(body, "uint8") == exp["frame_sha256"][fr["number"] - 1]
    st, _, body = server.get("/files/dcmqi_38x23_odd.dcm/segments/1/mask?source=1.2.3.4.5")
    assert st == 404 and json.loads(body)["error"]["status"] == 404
    # LABELMAP: the mask is pixel == n
    st, _, body = server.get("/files/dcmqi_labelmap_sparse_noppv.dcm/segments")
    doc = json.loads(body)
    fr = doc["frames"][0]
    src = fr["source"][0]["sop_instance_uid"]
    full = np.array(Image.open(io.BytesIO(server.get(f"/files/dcmqi_labelmap_sparse_noppv.dcm/frames/{fr['number']}/rendered")[2])))
    for seg in doc["segments"]:
        st, _, body = server.get(f"/files/dcmqi_labelmap_sparse_noppv.dcm/segments/{seg['number']}/mask?source={src}")
        assert st == 200
        m = np.array(Image.open(io.BytesIO(body))).astype(np.uint8)
        assert m.shape == full.shape and (m == (full == seg["number"])).all()


def test_cors(server):
    st, h, _ = server.get("/files/dcmqi_liver.dcm/segments", {"Origin": "http://viewer.example"})
    assert st == 200 and h["access-control-allow-origin"] == "http://viewer.example"
    assert "Origin" in h.get("vary", "")
    st, h, _ = server.get("/files/dcmqi_liver.dcm/segments", {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in h
    st, h, _ = server.get("/files/dcmqi_liver.dcm/frames/1/rendered", {
        "Origin": "http://viewer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"}, method="OPTIONS")
    assert st == 204 and "GET" in h["access-control-allow-methods"]
    assert h["access-control-allow-origin"] == "http://viewer.example"


def test_gzip_json(server):
    st, h, body = server.get("/files/dcmqi_partial_overlaps.dcm/segments", {"Accept-Encoding": "gzip"})
    assert st == 200 and h.get("content-encoding") == "gzip"
    doc = json.loads(gzip.decompress(body))
    assert doc["sop_instance_uid"] == expected("dcmqi_partial_overlaps")["sop_instance_uid"]
    st, h, body = server.get("/files/dcmqi_partial_overlaps.dcm/segments")
    assert "content-encoding" not in h and json.loads(body)["rows"] == 512


def test_health_ready_metrics(server):
    assert server.get("/healthz")[0] == 200
    assert server.get("/readyz")[0] == 200
    st, h, body = server.get("/metrics")
    text = body.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    for name in ("segweb_requests_total{", "segweb_request_duration_seconds_bucket{", "segweb_cache_hits_total",
                 "segweb_cache_misses_total", "segweb_cache_bytes", "segweb_queue_depth", "segweb_index_seconds_total"):
        assert name in text, name
    assert re.search(r'segweb_requests_total\{route="frame_rendered",status="200"\} \d+', text)


def test_access_log(server):
    server.get("/healthz")
    time.sleep(0.2)
    assert re.search(r'access id=\S+ method=GET path="/healthz" status=200 bytes=\d+ ms=', server.read_log())


def _burst(srv, target, n):
    results = []
    lock = threading.Lock()

    def one():
        try:
            st, h, body = srv.get(target)
        except Exception as ex:  # noqa: BLE001
            st, h, body = -1, {}, repr(ex).encode()
        with lock:
            results.append((st, h, body))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


def test_queue_full_503(tree):
    s = SegwebProcess(BIN, ["--workers", "1", "--queue", "1"], {"SEGWEB_TEST_DELAY_MS": "400"}, files_root=tree)
    try:
        threads, results = _burst(s, "/files/dcmqi_liver.dcm/frames/1/rendered", 8)
        for t in threads:
            t.join()
        codes = sorted(r[0] for r in results)
        assert 200 in codes and 503 in codes, codes
        for st, h, body in results:
            if st == 503:
                assert h.get("retry-after") and json.loads(body)["error"]["status"] == 503
        assert s.get("/healthz")[0] == 200  # health is answered on the HTTP thread
    finally:
        assert s.stop() == 0


def test_sigterm_finishes_in_flight(tree):
    s = SegwebProcess(BIN, ["--workers", "4"], {"SEGWEB_TEST_DELAY_MS": "1000"}, files_root=tree)
    try:
        threads, results = _burst(s, "/files/dcmqi_liver.dcm/frames/2/rendered", 3)
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        assert s.proc.wait(30) == 0
        assert [r[0] for r in results] == [200, 200, 200], results
        exp = expected("dcmqi_liver")
        for _, _, body in results:
            assert png_hash(body, "uint8") == exp["frame_sha256"][1]
    finally:
        s.stop()


def test_files_off_without_root():
    s = SegwebProcess(BIN, [])
    try:
        st, _, body = s.get("/files/x.dcm/segments")
        assert st == 404 and "files-root" in json.loads(body)["error"]["message"]
    finally:
        assert s.stop() == 0


def make_big_seg(path, n_frames=7000, rows=512, cols=512):
    """A native BINARY SEG of n_frames 512x512 frames (about 229 MB). Frame k (1-based)
    has exactly the pixels 0..(k % 997) of its first rows set, so each frame differs."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "SEG"
    ds.PatientID = "BIG"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, n_frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.SegmentationType = "BINARY"
    ds.ContentLabel = "BIG"
    seg = Dataset()
    seg.SegmentNumber, seg.SegmentLabel, seg.SegmentAlgorithmType = 1, "Big", "MANUAL"
    ds.SegmentSequence = Sequence([seg])
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = Sequence([po])
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = [0.5, 0.5], 1.0
    shared.PixelMeasuresSequence = Sequence([pm])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    items = []
    for k in range(n_frames):
        fg = Dataset()
        si = Dataset()
        si.ReferencedSegmentNumber = 1
        fg.SegmentIdentificationSequence = Sequence([si])
        pp = Dataset()
        pp.ImagePositionPatient = [0.0, 0.0, float(k)]
        fg.PlanePositionSequence = Sequence([pp])
        items.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)
    frame_bytes = rows * cols // 8
    data = bytearray(frame_bytes * n_frames)
    for k in range(1, n_frames + 1):
        ones = k % 997
        off = (k - 1) * frame_bytes
        data[off:off + ones // 8] = b"\xff" * (ones // 8)
        if ones % 8:
            data[off + ones // 8] = (1 << (ones % 8)) - 1
    ds.PixelData = bytes(data)
    ds.save_as(path, write_like_original=False)


def test_big_object_first_frame_and_no_reread():
    base = tempfile.mkdtemp(prefix="segweb-big-")
    try:
        path = os.path.join(base, "big.dcm")
        make_big_seg(path)
        s = SegwebProcess(BIN, ["--workers", "2"], files_root=base)
        try:
            t0 = time.monotonic()
            st, _, body = s.get("/files/big.dcm/frames/3500/rendered")
            first = time.monotonic() - t0
            assert st == 200, body[:300]
            arr = np.array(Image.open(io.BytesIO(body))).astype(np.uint8)
            assert arr.shape == (512, 512) and int(arr.sum()) == 3500 % 997
            index_s = metric(s.metrics(), "segweb_index_seconds_total")
            assert metric(s.metrics(), "segweb_index_builds_total") == 1
            # first frame = index build + one frame (+ slack for HTTP and PNG of one frame)
            assert first <= index_s + 0.5, (first, index_s)
            r0 = rchar(s.proc.pid)
            t0 = time.monotonic()
            for k in (1, 2, 6999, 7000, 1234, 4321, 5000, 997, 998, 3500):
                st, _, body = s.get(f"/files/big.dcm/frames/{k}/rendered")
                assert st == 200
                arr = np.array(Image.open(io.BytesIO(body))).astype(np.uint8)
                assert int(arr.sum()) == k % 997, k
            later = (time.monotonic() - t0) / 10
            read = rchar(s.proc.pid) - r0
            assert metric(s.metrics(), "segweb_index_builds_total") == 1
            # ten frames of 32 KiB each (plus HTTP reads), nowhere near the 229 MB object
            assert read < 10 * 32768 + 1_000_000, read
            assert later < max(0.25, index_s / 10), (later, index_s)
            print(f"big object: index {index_s:.3f}s, first frame {first:.3f}s, "
                  f"later frames {later * 1000:.1f} ms, read {read} bytes for 10 frames")
        finally:
            assert s.stop() == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
