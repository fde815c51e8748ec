"""Fault suite for the store (STOW-RS): the real `segweb serve` with a real store.

  - malformed multipart bodies (no / odd boundary, headers without a body, a part cut
    mid-way, no closing delimiter, ...) each get a 4xx; the server stays up and the
    objects stored before read back byte-identically, with the expected frame hashes;
  - kill -9 at random points while uploads stream in, then a restart: the store is
    consistent (tmp/ empty, every file indexed and every indexed instance readable and
    byte-identical to what was sent, no half objects);
  - a store that stops accepting writes (a 2 MiB tmpfs, when mount is permitted) answers
    0xA700 / 507 and leaves no half-written object.

Env: SEGWEB_BIN, SEGWEB_TESTDATA; SEGWEB_HARDENING_QUICK=1 fewer kill rounds;
SEGWEB_HARDENING_REPORT=FILE appends figures as JSON lines.
"""
import glob
import io
import json
import os
import random
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import (BIN, NAMES, QUICK, SegwebProcess, expected, multipart_head, multipart_tail, needs_binary,
                      needs_corpus, png_hash, read_seg, report, seg_path, stow_content_type)

BOUNDARY = "segweb-fault-boundary-41d"
CT = stow_content_type(BOUNDARY, quoted=False)

pytestmark = [needs_corpus, needs_binary]


def uids(name):
    import pydicom
    ds = pydicom.dcmread(seg_path(name), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def distinct():
    """Corpus names with pairwise distinct SOP Instance UIDs (first of each)."""
    seen, out = set(), []
    for n in NAMES:
        sop = uids(n)[2]
        if sop not in seen:
            seen.add(sop)
            out.append(n)
    return out


class Store(SegwebProcess):
    def __init__(self, store, args=()):
        self.store = store
        super().__init__(BIN, ["--store", store, "--max-body", str(64 << 20)] + list(args),
                         prefix="segweb-fault-", own_store=False)

    def stow(self, parts):
        return super().stow(parts, boundary=BOUNDARY, quoted=False)

    def raw(self, head, body, shut=True, timeout=30):
        """Sends bytes on a fresh socket; returns (status or None, response bytes)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(head + body)
            if shut:
                s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return (int(m.group(1)) if m else None), data

def instance_url(name):
    st, se, sop = uids(name)
    return f"/studies/{st}/series/{se}/instances/{sop}"


def retrieve_bytes(s, name):
    return retrieve_url(s, instance_url(name))


def retrieve_url(s, url):
    st, h, body = s.request("GET", url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200, (url, st, body[:300])
    m = re.search(r'boundary="?([^";]+)"?', h["content-type"])
    delim = b"--" + m.group(1).encode()
    part = body.split(delim)[1]
    head, _, data = part.partition(b"\r\n\r\n")
    assert data.endswith(b"\r\n")
    return data[:-2]


def check_readback(s, names):
    for n in names:
        assert retrieve_bytes(s, n) == read_seg(n), n
        exp = expected(n)
        for i, h in enumerate(exp["frame_sha256"][:5]):
            st, _, body = s.request("GET", instance_url(n) + f"/frames/{i + 1}/rendered")
            assert st == 200, (n, i + 1, st, body[:200])
            assert png_hash(body, exp["frame_hash_dtype"]) == h, (n, i + 1)


def store_files(store):
    return sorted(glob.glob(os.path.join(store, "instances", "*", "*", "*.dcm")))


def indexed_sops(s):
    st, _, body = s.request("GET", "/instances?limit=100000", headers={"Accept": "application/dicom+json"})
    if st == 204:
        return set()
    assert st == 200, (st, body[:300])
    return {it["00080018"]["Value"][0] for it in json.loads(body)}


# ---------------------------------------------------------------- malformed multipart

def malformed_bodies(obj):
    """(label, content-type, body, how): how = 'http' (Content-Length) or 'cut'
    (announce a longer body, send part of it, then half-close)."""
    b = BOUNDARY
    part = multipart_head(b)
    end = b"\r\n" + multipart_tail(b)
    good = part + obj + end
    long_b = "x" * 513  # over the 512 segweb accepts (RFC 2046 says 70; Orthanc sends 73)
    return [
        ("no-boundary", 'multipart/related; type="application/dicom"', good, "http"),
        ("empty-boundary", 'multipart/related; type="application/dicom"; boundary=""', good, "http"),
        ("boundary-too-long", f'multipart/related; type="application/dicom"; boundary={long_b}',
         f"--{long_b}\r\n\r\n".encode() + obj + f"\r\n--{long_b}--\r\n".encode(), "http"),
        ("boundary-unterminated-quote", f'multipart/related; type="application/dicom"; boundary="{b}', good, "http"),
        ("boundary-mismatch", 'multipart/related; type="application/dicom"; boundary=other-boundary', good, "http"),
        ("boundary-trailing-space", 'multipart/related; boundary="trailing-space "', good, "http"),
        ("no-parts", CT, f"--{b}--\r\n".encode(), "http"),
        ("empty-body", CT, b"", "http"),
        ("preamble-only", CT, b"just some text, no delimiter at all\r\n", "http"),
        ("headers-without-body", CT, f"--{b}\r\nContent-Type: application/dicom\r\n".encode(), "http"),
        ("headers-then-eof", CT, part, "http"),
        ("part-cut-mid-way", CT, part + obj[: len(obj) // 2], "http"),
        ("no-closing-delimiter", CT, part + obj + f"\r\n--{b}\r\n".encode(), "http"),
        ("closing-delimiter-cut", CT, part + obj + f"\r\n--{b}-".encode(), "http"),
        ("delimiter-without-crlf", CT, f"--{b}Content-Type: application/dicom\r\n\r\n".encode() + obj + end, "http"),
        ("header-without-colon", CT, f"--{b}\r\nthis is not a header\r\n\r\n".encode() + obj + end, "http"),
        ("huge-part-headers", CT, f"--{b}\r\nX-Filler: {'y' * 20000}\r\n\r\n".encode() + obj + end, "http"),
        ("part-not-dicom", CT, part + b"hello, not DICOM" + end, "http"),
        ("part-wrong-type", CT, f"--{b}\r\nContent-Type: image/png\r\n\r\n".encode() + obj + end, "http"),
        ("part-truncated-dicom", CT, part + obj[:400] + end, "http"),
        ("wrong-media-type", "text/plain", good, "http"),
        ("multipart-mixed-no-type", f"multipart/mixed; boundary={b}", good, "http"),
        ("client-cut-mid-part", CT, part + obj, "cut"),
        ("client-cut-in-headers", CT, f"--{b}\r\nContent-Ty".encode(), "cut"),
    ]


def test_malformed_multipart(tmp_path):
    store = str(tmp_path / "store")
    s = Store(store)
    names = distinct()[:4]
    try:
        st, _, body = s.stow([read_seg(n) for n in names])
        assert st == 200, body[:500]
        check_readback(s, names)
        statuses = {}
        obj = read_seg("dcmqi_38x24") if "dcmqi_38x24" in NAMES else read_seg(NAMES[0])
        for label, ct, body, how in malformed_bodies(obj):
            if how == "http":
                st, h, resp = s.request("POST", "/studies", body, {"Content-Type": ct})
            else:
                head = (f"POST /studies HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                        f"Content-Length: {len(body) + 5000}\r\n\r\n").encode()
                st, resp = s.raw(head, body)
                h = {}
                if st is None:  # the server may close a cut request without an answer
                    statuses[label] = "closed"
                    assert s.proc.poll() is None, label
                    continue
            statuses[label] = st
            assert 400 <= st < 500, (label, st, resp[:300])
            if how == "http" and resp:
                json.loads(resp)  # a JSON error or a DICOM JSON failure list
            assert s.proc.poll() is None, f"server died on {label}"
        # earlier stored objects are intact; nothing new was stored
        check_readback(s, names)
        assert indexed_sops(s) == {uids(n)[2] for n in names}
        assert len(store_files(store)) == len(names)
        print("malformed multipart:", statuses)
        report("malformed_multipart", statuses=statuses)
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------- kill -9

def check_consistent(store, s, sent):
    """Every file is indexed, every indexed instance is readable and identical to
    what was sent, and tmp/ is empty. sent: SOP Instance UID -> (instance URL, bytes)."""
    tmpdir = os.path.join(store, "tmp")
    assert not os.path.isdir(tmpdir) or os.listdir(tmpdir) == [], os.listdir(tmpdir)
    files = store_files(store)
    sops = indexed_sops(s)
    assert len(files) == len(sops), (len(files), len(sops))
    for sop in sops:
        url, data = sent[sop]
        assert retrieve_url(s, url) == data, url
    everything = {data for _, data in sent.values()}
    for f in files:
        with open(f, "rb") as fh:
            assert fh.read() in everything, f"half or foreign object {f}"
    return len(sops)


def sent_map(names):
    return {uids(n)[2]: (instance_url(n), read_seg(n)) for n in names}


def test_kill9_at_random_points(tmp_path):
    rounds = 4 if QUICK else 10
    rnd = random.Random(7)
    store = str(tmp_path / "store")
    pool = [n for n in distinct() if len(read_seg(n)) < 300000]
    sent = sent_map(pool)
    figures = []
    for r in range(rounds):
        s = Store(store, ["--workers", "2"])
        if r:
            figures.append(check_consistent(store, s, sent))
        stop = threading.Event()

        def uploader():
            # many small and some large uploads (a big random tail part keeps the
            # temporary file growing); errors are expected once the server is gone
            while not stop.is_set():
                parts = [read_seg(n) for n in rnd.sample(pool, rnd.randint(1, 4))]
                if rnd.random() < 0.3:
                    parts.append(os.urandom(rnd.randint(1, 6) << 20))
                try:
                    s.stow(parts)
                except OSError:
                    return

        threads = [threading.Thread(target=uploader) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.05, 1.5))
        s.kill9()
        stop.set()
        for t in threads:
            t.join(30)
    s = Store(store)
    try:
        n = check_consistent(store, s, sent)
        figures.append(n)
        # and the store still takes uploads
        st, _, body = s.stow([read_seg(pool[0])])
        assert st == 200, body[:300]
    finally:
        assert s.stop() == 0
    print(f"kill -9 rounds {rounds}: instances after each restart {figures}")
    report("kill9", rounds=rounds, instances_after_restart=figures)


# ---------------------------------------------------------------- disk full

@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + r.stderr.decode(errors="replace"))
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)])


def copies(name, count):
    """count copies of a corpus object, each with its own SOP Instance UID: (url, bytes)."""
    import pydicom
    out = []
    for k in range(count):
        ds = pydicom.dcmread(seg_path(name))
        sop = f"2.25.{4242000000 + k}{random.randrange(10**9)}"
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        buf = io.BytesIO()
        ds.save_as(buf, write_like_original=True)
        out.append((sop, f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{sop}",
                    buf.getvalue()))
    return out


def test_store_full_0xA700(tiny_fs):
    store = os.path.join(tiny_fs, "store")
    s = Store(store)
    objs = copies("dcmqi_partial_overlaps", 16)  # 16 x 237 kB into 2 MiB
    sent = {sop: (url, data) for sop, url, data in objs}
    failures, stored = [], []
    try:
        for sop, url, data in objs:
            st, h, body = s.stow([data])
            assert st in (200, 409, 413, 507), (sop, st, body[:300])
            if st == 200:
                stored.append(sop)
                continue
            if st == 409:
                doc = json.loads(body)
                reasons = [it["00081197"]["Value"][0] for it in doc.get("00081198", {}).get("Value", [])]
                assert reasons == [0xA700], (sop, reasons, doc)
            failures.append(st)
            if len(failures) >= 4:
                break
        assert stored and failures, (stored, failures)
        # no half-written objects, nothing left in tmp, the stored ones intact
        assert s.proc.poll() is None
        assert check_consistent(store, s, sent) == len(stored)
        assert set(stored) == indexed_sops(s)
        # reads still work on the full disk
        st, _, body = s.request("GET", sent[stored[0]][0] + "/frames/1/rendered")
        assert st == 200, body[:200]
        print(f"store full: {len(stored)} stored, then statuses {failures}")
        report("store_full", stored=len(stored), failure_statuses=failures)
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------- concurrency (also run under TSan)

def test_concurrent_uploads_reads_deletes(tmp_path):
    """Uploads of distinct objects, reads of stored frames and metadata, QIDO and
    DELETE from many threads at once: every answer is designed, the store ends
    consistent, and the server exits 0 (under TSan: no data race reported)."""
    store = str(tmp_path / "store")
    s = Store(store, ["--workers", "4"])
    base = distinct()[:3]
    objs = copies("dcmqi_38x24", 24) if "dcmqi_38x24" in NAMES else []
    errors = []
    try:
        st, _, body = s.stow([read_seg(n) for n in base])
        assert st == 200, body[:300]

        def uploader(chunk):
            for sop, url, data in chunk:
                st, _, body = s.stow([data])
                if st != 200:
                    errors.append(("stow", st, body[:200]))

        def reader(k):
            for i in range(40):
                n = base[(k + i) % len(base)]
                st, _, body = s.request("GET", instance_url(n) + "/frames/1/rendered")
                if st != 200:
                    errors.append(("frame", n, st))
                st, _, _ = s.request("GET", instance_url(n) + "/metadata")
                if st != 200:
                    errors.append(("metadata", n, st))
                st, _, _ = s.request("GET", "/instances", headers={"Accept": "application/dicom+json"})
                if st not in (200, 204):
                    errors.append(("qido", st))

        def deleter(chunk):
            for sop, url, data in chunk:
                st, _, _ = s.request("DELETE", url)
                if st not in (200, 404):
                    errors.append(("delete", st))

        threads = [threading.Thread(target=uploader, args=(objs[i::4],)) for i in range(4)]
        threads += [threading.Thread(target=reader, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=deleter, args=(objs[::3],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors[:5]
        sent = sent_map(base)
        sent.update({sop: (url, data) for sop, url, data in objs})
        check_consistent(store, s, sent)
        check_readback(s, base)
    finally:
        assert s.stop() == 0
