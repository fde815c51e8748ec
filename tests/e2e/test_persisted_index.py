"""The persisted SEG index (issue 12 part 5): STOW writes each SEG's index beside it; a
restarted segweb serves frames from those files without parsing any object with DCMTK
(segweb_index_parses_total stays 0), byte-identical to the corpus oracle (expected/);
a corrupt index is refused, the object parsed once and the index rewritten; DELETE
removes it."""
import glob
import json
import os
import shutil
import tempfile

import pydicom
import pytest

from conftest import (NAMES, SegwebProcess, expected, metric, multipart, needs_binary, needs_corpus, png_hash,
                      read_seg, seg_path)

pytestmark = [needs_corpus, needs_binary]


def distinct():
    """(name, dataset) of the first corpus file of each SOP Instance UID (a STOW of
    another file with the same UID would be a conflict)."""
    seen, out = set(), []
    for name in NAMES:
        ds = pydicom.dcmread(seg_path(name), stop_before_pixels=True)
        if ds.SOPInstanceUID not in seen:
            seen.add(ds.SOPInstanceUID)
            out.append((name, ds))
    return out


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def idx_path(store, ds):
    return os.path.join(store, "instances", ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID + ".idx")


def check_frames(s, name, ds):
    exp = expected(name)
    n = len(exp["frame_sha256"])
    for f in sorted({1, (n + 1) // 2, n}):
        st, _, body = s.get(f"{url(ds)}/frames/{f}/rendered")
        assert st == 200, (name, f, body[:300])
        assert png_hash(body, exp["frame_hash_dtype"]) == exp["frame_sha256"][f - 1], (name, f)
    st, _, body = s.get(url(ds) + "/segments")
    assert st == 200
    doc = json.loads(body)
    assert [(x["number"], x["frames"]) for x in doc["segments"]] == \
           [(x["number"], x["frames"]) for x in exp["segments"]], name


def counts(s):
    m = s.metrics()
    return (metric(m, "segweb_index_parses_total"), metric(m, "segweb_index_persisted_loads_total"),
            metric(m, "segweb_index_persisted_rejected_total"))


@pytest.fixture
def store():
    d = tempfile.mkdtemp(prefix="segweb-persisted-")
    yield os.path.join(d, "store")
    shutil.rmtree(d, ignore_errors=True)


def test_restart_serves_from_persisted_index(store):
    segs = distinct()
    s = SegwebProcess(None, ["--store", store], own_store=False)
    try:
        st, _, body = s.stow([read_seg(name) for name, _ in segs])
        assert st == 200, body[:500]
    finally:
        assert s.stop() == 0
    for name, ds in segs:
        assert os.path.getsize(idx_path(store, ds)) > 48, f"{name}: no index persisted at STOW"

    corrupt_name, corrupt_ds = segs[0]
    with open(idx_path(store, corrupt_ds), "r+b") as f:
        f.truncate(30)  # a torn write

    s = SegwebProcess(None, ["--store", store], own_store=False)
    try:
        assert counts(s) == (0, 0, 0)
        for name, ds in segs:
            check_frames(s, name, ds)
        parses, loads, rejected = counts(s)
        # only the torn one was parsed (and rewritten); every other came from its file
        assert (parses, loads, rejected) == (1, len(segs) - 1, 1)
        assert os.path.getsize(idx_path(store, corrupt_ds)) > 48
    finally:
        assert s.stop() == 0

    s = SegwebProcess(None, ["--store", store], own_store=False)
    try:
        check_frames(s, corrupt_name, corrupt_ds)
        assert counts(s) == (0, 1, 0), "the rewritten index is loaded"
    finally:
        assert s.stop() == 0


def test_delete_and_overwrite_remove_the_index(store):
    name, ds = distinct()[0]
    s = SegwebProcess(None, ["--store", store, "--overwrite"], own_store=False)
    try:
        assert s.stow([read_seg(name)])[0] == 200
        p = idx_path(store, ds)
        # other bytes under the same UIDs: the old index (naming the old file) is replaced by
        # one whose header names the new file (size at bytes 16..24, inode at 24..32)
        assert s.stow([read_seg(name) + b"\0\0"])[0] == 200
        obj = os.stat(p[:-4] + ".dcm")
        with open(p, "rb") as f:
            head = f.read(32)
        assert head[:8] == b"SEGWIDX\0"
        assert int.from_bytes(head[16:24], "little") == obj.st_size == len(read_seg(name)) + 2
        assert int.from_bytes(head[24:32], "little") == obj.st_ino
        check_frames(s, name, ds)
        st, _, _ = s.request("DELETE", url(ds))
        assert st in (200, 204)
        assert not os.path.exists(p)
        assert not glob.glob(os.path.join(store, "instances", "**", "*.idx"), recursive=True)
    finally:
        assert s.stop() == 0
