"""End-to-end tests of the store: STOW-RS, WADO-RS, QIDO-RS, DELETE and `segweb reindex`
against the real binary on a loopback port with a temporary store.

Oracles that are not segweb: the corpus files' own bytes, pydicom's reading of them, and
../shared/testdata/expected/ (pydicom + numpy). Env: SEGWEB_BIN, SEGWEB_TESTDATA.
"""
import glob
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
import pydicom
import pytest

from conftest import (BIN, NAMES, TESTDATA, SegwebProcess, expected, multipart, needs_binary, needs_corpus,
                      parse_multipart, png_hash, read_seg, seg_path)

pytestmark = [needs_corpus, needs_binary]

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
CT_FILE = os.path.join(TESTDATA, "source", "dcmqi_ct3slice", "01.dcm")
ANY_TS = 'multipart/related; type="application/dicom"; transfer-syntax=*'
NATIVE_TS = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def read_bytes(p):
    with open(p, "rb") as f:
        return f.read()


def header(name):
    return pydicom.dcmread(seg_path(name), stop_before_pixels=True)


def groups_by_uid():
    """Corpus names split so that SOPInstanceUIDs are unique inside each group (MANIFEST:
    "SOPInstanceUIDs repeat"); group 0 holds the first file of each UID."""
    groups = []
    for n in NAMES:
        uid = header(n).SOPInstanceUID
        for g in groups:
            if uid not in g:
                g[uid] = n
                break
        else:
            groups.append({uid: n})
    return [sorted(g.values()) for g in groups]


class Store(SegwebProcess):
    """A server with the store at a given directory (kept across restarts)."""

    def __init__(self, store, args=(), env_extra=None):
        self.store = store
        super().__init__(BIN, ["--store", store, "--max-body", str(64 << 20)] + list(args), env_extra)

    def json(self, target, accept=None):
        st, h, body = self.get(target, {"Accept": accept} if accept else None)
        assert st == 200, (target, st, body[:300])
        return json.loads(body)


def sop_list(doc, tag):
    return [it.get("00081155", {}).get("Value", [None])[0] for it in doc.get(tag, {}).get("Value", [])]


def reasons(doc):
    return {it.get("00081155", {}).get("Value", [None])[0]: it["00081197"]["Value"][0]
            for it in doc.get("00081198", {}).get("Value", [])}


def instance_url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def frame_hash_from_octets(data, exp):
    n = exp["rows"] * exp["columns"]
    if exp["segmentation_type"] == "BINARY":
        assert len(data) == (n + 7) // 8
        arr = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[:n].astype(np.uint8)
        return hashlib.sha256(arr.tobytes()).hexdigest()
    if exp["frame_hash_dtype"] == "uint16le":
        assert len(data) == 2 * n
        return hashlib.sha256(data).hexdigest()
    if exp["bits_allocated"] > 16 and len(data) == 2 * n:
        # the non-standard 32-bit LABELED file: values (1..24) come back as 16-bit words
        return hashlib.sha256(np.frombuffer(data, "<u2").astype(np.uint8).tobytes()).hexdigest()
    assert len(data) == n, (len(data), n)
    return hashlib.sha256(data).hexdigest()


def store_files(store):
    return sorted(glob.glob(os.path.join(store, "instances", "*", "*", "*.dcm")))


# ---- the corpus through one upload per UID group ----

@pytest.fixture(scope="module")
def loaded():
    """One store with group 0 (every distinct SOPInstanceUID) uploaded in ONE request."""
    base = tempfile.mkdtemp(prefix="segweb-stow-")
    srv = Store(os.path.join(base, "store"), ["--workers", "4"])
    groups = groups_by_uid()
    st, h, body = srv.stow([read_seg(n) for n in groups[0]])
    yield srv, groups, (st, h, body)
    assert srv.stop() == 0
    shutil.rmtree(base, ignore_errors=True)


def test_one_upload_stores_every_distinct_uid(loaded):
    srv, groups, (st, h, body) = loaded
    doc = json.loads(body)
    assert st == 200, body[:2000]
    assert h["content-type"].startswith("application/dicom+json")
    stored = sop_list(doc, "00081199")
    assert sorted(stored) == sorted(header(n).SOPInstanceUID for n in groups[0])
    for it in doc["00081199"]["Value"]:
        assert it["00081150"]["Value"][0] in (SEG_CLASS, LABELMAP_CLASS)
        assert it["00081190"]["Value"][0].endswith("/instances/" + it["00081155"]["Value"][0])
    assert "00081198" not in doc
    # durable: every file complete on disk, nothing left in tmp/
    files = store_files(srv.store)
    assert len(files) == len(groups[0])
    assert os.listdir(os.path.join(srv.store, "tmp")) == []
    for n in groups[0]:
        ds = header(n)
        p = os.path.join(srv.store, "instances", ds.StudyInstanceUID, ds.SeriesInstanceUID,
                         ds.SOPInstanceUID + ".dcm")
        assert read_bytes(p) == read_seg(n)


def test_duplicates_with_other_bytes_refused_0x0111(loaded):
    srv, groups, _ = loaded
    assert len(groups) > 1, "corpus is expected to repeat SOPInstanceUIDs"
    for g in groups[1:]:
        st, _, body = srv.stow([read_seg(n) for n in g])
        doc = json.loads(body)
        assert st == 409, body[:1000]
        assert reasons(doc) == {header(n).SOPInstanceUID: 0x0111 for n in g}
        assert "00081199" not in doc
    # the stored objects are the originals of group 0
    for n in groups[0]:
        ds = header(n)
        st, h, body = srv.get(instance_url(ds), {"Accept": ANY_TS})
        assert st == 200
        assert parse_multipart(body, h["content-type"])[0][1] == read_seg(n)


def test_identical_bytes_again_is_success(loaded):
    srv, groups, _ = loaded
    name = groups[0][0]
    st, _, body = srv.request("POST", "/studies", read_seg(name),
                              {"Content-Type": "application/dicom"})
    assert st == 200, body
    assert sop_list(json.loads(body), "00081199") == [header(name).SOPInstanceUID]


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file_roundtrip(loaded, name):
    """Every corpus file (group 0 here, the others in a store of their own) comes back
    byte-identical, parses with pydicom, and its segments and frames match expected/."""
    srv, groups, _ = loaded
    own = None
    if name not in groups[0]:
        base = tempfile.mkdtemp(prefix="segweb-stow-dup-")
        own = Store(os.path.join(base, "store"))
        st, _, body = own.stow([read_seg(name)])
        assert st == 200, body
        s = own
    else:
        s = srv
    try:
        ds = header(name)
        url = instance_url(ds)
        st, h, body = s.get(url, {"Accept": ANY_TS})
        assert st == 200
        parts = parse_multipart(body, h["content-type"])
        assert len(parts) == 1 and parts[0][0]["content-type"].startswith("application/dicom")
        assert parts[0][1] == read_seg(name)
        got = pydicom.dcmread(io.BytesIO(parts[0][1]))
        assert got.SOPInstanceUID == ds.SOPInstanceUID
        # no transfer-syntax: Explicit VR Little Endian (PS3.18), re-encoded when stored otherwise,
        # a compressed one decoded (its frames hash as expected/ says; tests/e2e/test_transcode.py)
        st, h, body = s.get(url, {"Accept": 'multipart/related; type="application/dicom"'})
        stored_ts = str(pydicom.dcmread(seg_path(name), stop_before_pixels=True).file_meta.TransferSyntaxUID)
        assert st == 200, body[:300]
        part = parse_multipart(body, h["content-type"])[0]
        assert part[0]["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
        ex = pydicom.dcmread(io.BytesIO(part[1]))
        assert ex.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1" and ex.SOPInstanceUID == ds.SOPInstanceUID
        if stored_ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
            assert ex.PixelData == pydicom.dcmread(seg_path(name)).PixelData
        else:
            assert not ex["PixelData"].is_undefined_length, stored_ts

        exp = expected(name)
        c = s.conn()
        st, _, body = s.get(url + "/segments", conn=c)
        assert st == 200, body[:300]
        doc = json.loads(body)
        for k in ("sop_instance_uid", "rows", "columns", "number_of_frames", "segmentation_type"):
            assert doc[k] == exp[k], k
        assert [(x["number"], x["label"], x["frames"]) for x in doc["segments"]] == \
               [(x["number"], x["label"], x["frames"]) for x in exp["segments"]]
        for i, want in enumerate(exp["frame_sha256"]):
            st, h, body = s.get(f"{url}/frames/{i + 1}/rendered", conn=c)
            assert st == 200 and png_hash(body, exp["frame_hash_dtype"]) == want, f"frame {i + 1}"
        # /frames (octets) against the same oracle, several frames per request
        nf = len(exp["frame_sha256"])
        for start in range(1, nf + 1, 50):
            lst = list(range(start, min(nf, start + 49) + 1))
            st, h, body = s.get(f"{url}/frames/{','.join(map(str, lst))}", conn=c)
            assert st == 200, body[:300]
            assert h["content-type"].startswith('multipart/related; type="application/octet-stream"')
            parts = parse_multipart(body, h["content-type"])
            assert len(parts) == len(lst)
            for f, (_, data) in zip(lst, parts):
                assert frame_hash_from_octets(data, exp) == exp["frame_sha256"][f - 1], f"octets frame {f}"
        st, _, body = s.get(f"{url}/frames/{nf + 1}", conn=c)
        assert st in (400, 404) and json.loads(body)["error"]["status"] == st
        c.close()
    finally:
        if own:
            assert own.stop() == 0


def pydicom_frames(name):
    ds = pydicom.dcmread(seg_path(name))
    arr = ds.pixel_array
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if n == 1 and arr.ndim == 2:
        arr = arr[None]
    out = []
    for fr in arr:
        if ds.BitsAllocated == 1:
            out.append(np.packbits(fr.astype(np.uint8).ravel(), bitorder="little").tobytes())
        elif ds.BitsAllocated == 16:
            out.append(fr.astype("<u2").tobytes())
        else:
            out.append(fr.astype(np.uint8).tobytes())
    return out


@pytest.mark.parametrize("name", ["dcmqi_38x23_odd", "pyd_liver_nonbyte_aligned", "hd_ct_true_fractional",
                                  "hd_sm_control_tiled_sparse", "dcmqi_labelmap_sparse_ppv5",
                                  "derived_labelmap16_renumbered", "pyd_liver_expb"])
def test_frames_equal_pydicom(name):
    if name not in NAMES:
        pytest.skip("not in corpus")
    base = tempfile.mkdtemp(prefix="segweb-stow-fr-")
    s = Store(os.path.join(base, "store"))
    try:
        st, _, body = s.stow([read_seg(name)])
        assert st == 200, body
        want = pydicom_frames(name)
        url = instance_url(header(name))
        lst = ",".join(str(i + 1) for i in range(len(want)))
        st, h, body = s.get(f"{url}/frames/{lst}",
                            {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
        assert st == 200
        got = [d for _, d in parse_multipart(body, h["content-type"])]
        assert got == want
        st, _, _ = s.get(f"{url}/frames/1", {"Accept": "image/jpeg"})
        assert st == 406
        for bad in ("0", "x", "1,,2", "1,"):
            st, _, _ = s.get(f"{url}/frames/{bad}")
            assert st == 400, bad
    finally:
        assert s.stop() == 0


def test_metadata_matches_pydicom(loaded):
    srv, groups, _ = loaded
    for name in ("dcmqi_liver", "hd_sm_control_labelmap", "dcmjs_iowa2dicom_2seg", "hd_ct_binary"):
        if name not in groups[0]:
            continue
        ds = pydicom.dcmread(seg_path(name), stop_before_pixels=True)
        url = instance_url(ds)
        st, h, body = srv.get(url + "/metadata", {"Accept": "application/dicom+json"})
        assert st == 200, body[:300]
        assert h["content-type"].startswith("application/dicom+json")
        doc = json.loads(body)
        assert isinstance(doc, list) and len(doc) == 1
        meta = doc[0]
        assert meta["7FE00010"]["BulkDataURI"].startswith(url)
        assert meta["00100010"]["vr"] == "PN"
        if "Value" in meta["00100010"]:
            assert isinstance(meta["00100010"]["Value"][0], dict)
        assert isinstance(meta["00280010"]["Value"][0], int)
        got = pydicom.Dataset.from_json(meta, bulk_data_uri_handler=lambda *a: b"")
        for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Rows",
                   "Columns", "Modality", "PatientID", "SegmentationType"):
            assert getattr(got, kw, None) == getattr(ds, kw, None), kw
        assert str(got.get("PatientName", "")) == str(ds.get("PatientName", ""))
        assert int(got.get("NumberOfFrames", 1)) == int(ds.get("NumberOfFrames", 1))
        assert [(s.SegmentNumber, s.SegmentLabel) for s in got.SegmentSequence] == \
               [(s.SegmentNumber, s.SegmentLabel) for s in ds.SegmentSequence]
        if "PerFrameFunctionalGroupsSequence" in ds:
            assert len(got.PerFrameFunctionalGroupsSequence) == len(ds.PerFrameFunctionalGroupsSequence)
        if "ReferencedSeriesSequence" in ds:
            assert len(got.ReferencedSeriesSequence) == len(ds.ReferencedSeriesSequence)
        # series and study levels hold it too
        for lvl in (url.rsplit("/instances/", 1)[0], url.rsplit("/series/", 1)[0]):
            arr = srv.json(lvl + "/metadata")
            assert ds.SOPInstanceUID in [m["00080018"]["Value"][0] for m in arr]
    st, _, _ = srv.get(url + "/metadata", {"Accept": "image/png"})
    assert st == 406


def test_study_and_series_retrieve(loaded):
    srv, groups, _ = loaded
    by_study = {}
    for n in groups[0]:
        by_study.setdefault(header(n).StudyInstanceUID, []).append(n)
    study, names = max(by_study.items(), key=lambda kv: len(kv[1]))
    st, h, body = srv.get(f"/studies/{study}", {"Accept": ANY_TS})
    assert st == 200
    parts = parse_multipart(body, h["content-type"])
    assert sorted(d for _, d in parts) == sorted(read_seg(n) for n in names)
    ds = header(names[0])
    st, h, body = srv.get(f"/studies/{study}/series/{ds.SeriesInstanceUID}", {"Accept": ANY_TS})
    assert st == 200
    want = sorted(read_seg(n) for n in names if header(n).SeriesInstanceUID == ds.SeriesInstanceUID)
    assert sorted(d for _, d in parse_multipart(body, h["content-type"])) == want
    st, _, _ = srv.get(f"/studies/{study}", {"Accept": "application/json"})
    assert st == 406
    st, _, _ = srv.get("/studies/1.2.3.4")
    assert st == 404


# ---- QIDO-RS ----

def vals(arr, tag):
    return [x.get(tag, {}).get("Value", [None])[0] for x in arr]


def test_qido(loaded):
    srv, groups, _ = loaded
    hdrs = [header(n) for n in groups[0]]
    studies = sorted({d.StudyInstanceUID for d in hdrs})
    res = srv.json("/studies")
    assert sorted(vals(res, "0020000D")) == studies
    one = hdrs[0]
    res = srv.json(f"/studies?StudyInstanceUID={one.StudyInstanceUID}")
    assert vals(res, "0020000D") == [one.StudyInstanceUID]
    r = res[0]
    assert r["00201208"]["Value"][0] == sum(d.StudyInstanceUID == one.StudyInstanceUID for d in hdrs)
    assert r["00080061"]["Value"] == ["SEG"]
    assert r["00081190"]["Value"][0] == f"/studies/{one.StudyInstanceUID}"
    two = sorted(studies[:2])
    for sep in (",", "%5C"):
        res = srv.json(f"/studies?0020000D={two[0]}{sep}{two[1]}")
        assert sorted(vals(res, "0020000D")) == two
    # PatientID, PatientName wildcards (case-insensitive), Modality, SOPClassUID
    pid = next(d.PatientID for d in hdrs if d.get("PatientID"))
    res = srv.json(f"/studies?PatientID={pid}")
    assert set(vals(res, "0020000D")) == {d.StudyInstanceUID for d in hdrs if d.get("PatientID") == pid}
    named = next(d for d in hdrs if str(d.get("PatientName", "")))
    family = str(named.PatientName).split("^")[0]
    res = srv.json(f"/studies?PatientName={family[:3].lower()}*")
    assert named.StudyInstanceUID in vals(res, "0020000D")
    res = srv.json(f"/studies?PatientName={family[:2]}?{family[3:]}*&includefield=00100020")
    assert named.StudyInstanceUID in vals(res, "0020000D")
    res = srv.json("/series?Modality=SEG")
    assert sorted(vals(res, "0020000E")) == sorted({d.SeriesInstanceUID for d in hdrs})
    res = srv.json(f"/instances?SOPClassUID={LABELMAP_CLASS}")
    assert sorted(vals(res, "00080018")) == sorted(d.SOPInstanceUID for d in hdrs if d.SOPClassUID == LABELMAP_CLASS)
    assert srv.json("/studies?Modality=CT") == []
    assert srv.json("/studies?PatientID=no-such-patient") == []
    # StudyDate ranges
    dated = sorted({d.StudyDate for d in hdrs if d.get("StudyDate")})
    lo, hi = dated[0], dated[-1]
    assert sorted(vals(srv.json(f"/studies?StudyDate={lo}-{hi}"), "0020000D")) == \
           sorted({d.StudyInstanceUID for d in hdrs if d.get("StudyDate")})
    assert set(vals(srv.json(f"/studies?StudyDate=-{lo}"), "00080020")) == {lo}
    assert set(vals(srv.json(f"/studies?StudyDate={hi}-"), "00080020")) == {hi}
    assert vals(srv.json(f"/studies?StudyDate={lo}"), "00080020") == [lo] * len(
        {d.StudyInstanceUID for d in hdrs if d.get("StudyDate") == lo})
    assert srv.json("/studies?StudyDate=19000101-19000102") == []
    # limit / offset
    all_s = vals(srv.json("/studies"), "0020000D")
    assert vals(srv.json("/studies?limit=2"), "0020000D") == all_s[:2]
    assert vals(srv.json("/studies?limit=2&offset=1"), "0020000D") == all_s[1:3]
    assert srv.json(f"/studies?offset={len(all_s)}") == []
    st, _, _ = srv.get("/studies?limit=abc")
    assert st == 400
    # nested forms
    res = srv.json(f"/studies/{one.StudyInstanceUID}/series")
    assert set(vals(res, "0020000E")) == {d.SeriesInstanceUID for d in hdrs if d.StudyInstanceUID == one.StudyInstanceUID}
    assert all(x["00201209"]["Value"][0] >= 1 for x in res)
    res = srv.json(f"/studies/{one.StudyInstanceUID}/instances")
    assert set(vals(res, "00080018")) == {d.SOPInstanceUID for d in hdrs if d.StudyInstanceUID == one.StudyInstanceUID}
    res = srv.json(f"/studies/{one.StudyInstanceUID}/series/{one.SeriesInstanceUID}/instances")
    assert one.SOPInstanceUID in vals(res, "00080018")
    inst = next(x for x in res if x["00080018"]["Value"][0] == one.SOPInstanceUID)
    assert inst["00280010"]["Value"][0] == one.Rows and inst["00280011"]["Value"][0] == one.Columns
    assert inst["00081190"]["Value"][0] == instance_url(one)
    # includefield
    res = srv.json(f"/instances?SOPInstanceUID={one.SOPInstanceUID}&includefield=all")
    assert "00100020" in res[0] and "00080020" in res[0]
    res = srv.json(f"/studies?StudyInstanceUID={one.StudyInstanceUID}&includefield=StudyDescription")
    assert "00081030" in res[0]
    assert srv.json("/studies/1.2.3/series") == []


# ---- mixed uploads, errors, limits ----

def test_mixed_upload_202(tmp_path):
    """Any DICOM object is stored (issue 12: a CT beside its SEGs); garbage is not."""
    s = Store(str(tmp_path / "store"))
    try:
        segs = ["hd_ct_binary", "dcmqi_38x24"]
        parts = [read_seg(n) for n in segs] + [read_bytes(CT_FILE), b"garbage, not DICOM " * 40]
        st, h, body = s.stow(parts)
        assert st == 202, body
        doc = json.loads(body)
        ct = pydicom.dcmread(CT_FILE, stop_before_pixels=True)
        want = sorted([header(n).SOPInstanceUID for n in segs] + [ct.SOPInstanceUID])
        assert sorted(sop_list(doc, "00081199")) == want
        items = doc["00081198"]["Value"]
        assert len(items) == 1 and items[0]["00081197"]["Value"][0] == 0xC000
        assert len(store_files(s.store)) == 3
        assert os.listdir(os.path.join(s.store, "tmp")) == []
        assert sorted(vals(s.json("/instances"), "00080018")) == want
        base = f"/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
        st, _, body = s.get(base, {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert st == 200 and read_bytes(CT_FILE) in body
        # SEG routes on a non-SEG: 415 with a clear message
        st, _, body = s.get(base + "/segments")
        assert st == 415 and "segmentation" in json.loads(body)["error"]["message"]
        # Modality and ModalitiesInStudy from every instance
        studies = s.json(f"/studies?StudyInstanceUID={ct.StudyInstanceUID}&includefield=00080061")
        assert "CT" in studies[0]["00080061"]["Value"]
        # a non-SEG alone: stored too (idempotent)
        st, _, body = s.stow([read_bytes(CT_FILE)])
        assert st == 200, body
    finally:
        assert s.stop() == 0


def test_study_mismatch_and_media_types(tmp_path):
    s = Store(str(tmp_path / "store"), ["--max-parts", "3"])
    try:
        name = "hd_cr_binary"
        ds = header(name)
        data = read_seg(name)
        st, _, body = s.stow([data], target="/studies/1.2.3.4.5")
        assert st == 409 and reasons(json.loads(body)) == {ds.SOPInstanceUID: 0xA900}
        st, _, body = s.stow([data], target=f"/studies/{ds.StudyInstanceUID}", quoted=False, chunked=True)
        assert st == 200, body
        assert json.loads(body)["00081190"]["Value"][0] == f"/studies/{ds.StudyInstanceUID}"
        st, _, _ = s.request("POST", "/studies", data, {"Content-Type": "text/plain"})
        assert st == 415
        st, _, _ = s.request("POST", "/studies", data, {"Content-Type": 'multipart/related; type="image/png"; boundary=x'})
        assert st == 415
        st, _, _ = s.request("POST", "/studies", data, {"Content-Type": "multipart/related; type=\"application/dicom\""})
        assert st == 400
        body = multipart([data])
        st, _, _ = s.request("POST", "/studies", body[:-30],
                             {"Content-Type": 'multipart/related; type="application/dicom"; boundary=segweb-test-boundary-7c1e'})
        assert st == 400
        st, _, _ = s.stow([data] * 4)
        assert st == 413
        st, _, _ = s.request("POST", "/studies", b"", {"Content-Type": "application/dicom"})
        assert st == 400
        st, _, _ = s.request("POST", "/studies/1.2/series/3.4", data, {"Content-Type": "application/dicom"})
        assert st == 405
        st, _, _ = s.request("PUT", "/studies", data, {"Content-Type": "application/dicom"})
        assert st == 405
        assert os.listdir(os.path.join(s.store, "tmp")) == []
    finally:
        assert s.stop() == 0
    s = Store(str(tmp_path / "store"), ["--max-body", "10000"])
    try:
        st, _, _ = s.stow([read_seg("dcmqi_liver")])
        assert st == 413
        try:  # chunked: the limit trips mid-body; the answer is 413 and the connection closes
            st, _, _ = s.stow([read_seg("dcmqi_liver")], chunked=True)
            assert st == 413
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            pass
        assert s.get("/healthz")[0] == 200
        assert os.listdir(os.path.join(s.store, "tmp")) == []
    finally:
        assert s.stop() == 0


def test_overwrite_flag(tmp_path):
    a, b = "dcmqi_38x23_odd", "dcmtk_deflated_dcmqi_38x23_odd"
    assert header(a).SOPInstanceUID == header(b).SOPInstanceUID
    s = Store(str(tmp_path / "store"), ["--overwrite"])
    try:
        assert s.stow([read_seg(a)])[0] == 200
        st, _, body = s.stow([read_seg(b)])
        assert st == 200, body
        st, h, body = s.get(instance_url(header(b)), {"Accept": ANY_TS})
        assert parse_multipart(body, h["content-type"])[0][1] == read_seg(b)
    finally:
        assert s.stop() == 0


# ---- delete, restart, reindex, crash ----

def test_delete_levels(tmp_path):
    s = Store(str(tmp_path / "store"))
    try:
        names = ["hd_ct_binary", "hd_ct_binary_overlap", "hd_ct_true_fractional", "dcmqi_38x24"]
        hdrs = [header(n) for n in names]
        assert s.stow([read_seg(n) for n in names])[0] == 200
        one = hdrs[0]
        st, _, body = s.request("DELETE", instance_url(one))
        assert st == 200 and json.loads(body)["deleted"] == 1
        assert s.get(instance_url(one))[0] == 404
        assert s.get(instance_url(one) + "/segments")[0] == 404
        assert s.request("DELETE", instance_url(one))[0] == 404
        left = [d for d in hdrs if d.SOPInstanceUID != one.SOPInstanceUID]
        d2 = left[0]
        st, _, body = s.request("DELETE", f"/studies/{d2.StudyInstanceUID}/series/{d2.SeriesInstanceUID}")
        assert st == 200
        gone = {d.SOPInstanceUID for d in left if d.SeriesInstanceUID == d2.SeriesInstanceUID}
        assert json.loads(body)["deleted"] == len(gone)
        left = [d for d in left if d.SOPInstanceUID not in gone]
        for d in {d.StudyInstanceUID for d in left}:
            assert s.request("DELETE", f"/studies/{d}")[0] == 200
        assert s.json("/studies") == []
        assert store_files(s.store) == []
    finally:
        assert s.stop() == 0


def run_reindex(store):
    p = subprocess.run([BIN, "reindex", "--store", store], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_restart_without_index_and_reindex(tmp_path):
    store = str(tmp_path / "store")
    names = ["hd_ct_binary", "dcmqi_liver", "hd_sm_control_labelmap"]
    s = Store(store)
    try:
        assert s.stow([read_seg(n) for n in names])[0] == 200
    finally:
        assert s.stop() == 0
    for damage in ("delete", "garbage"):
        for suffix in ("", "-wal", "-shm"):
            p = os.path.join(store, "index.sqlite" + suffix)
            if os.path.exists(p):
                os.unlink(p)
        if damage == "garbage":
            with open(os.path.join(store, "index.sqlite"), "wb") as f:
                f.write(b"not a database" * 100)
        s = Store(store)
        try:
            assert sorted(vals(s.json("/instances"), "00080018")) == sorted(header(n).SOPInstanceUID for n in names)
            ds = header(names[1])
            st, h, body = s.get(instance_url(ds), {"Accept": ANY_TS})
            assert st == 200 and parse_multipart(body, h["content-type"])[0][1] == read_seg(names[1])
            assert s.get(instance_url(ds) + "/frames/1/rendered")[0] == 200
        finally:
            assert s.stop() == 0
    # a file put there by hand (stale index): found at start-up and by reindex
    extra = header("hd_cr_binary")
    d = os.path.join(store, "instances", extra.StudyInstanceUID, extra.SeriesInstanceUID)
    os.makedirs(d)
    shutil.copy(seg_path("hd_cr_binary"), os.path.join(d, extra.SOPInstanceUID + ".dcm"))
    out = run_reindex(store)
    assert out["indexed"] == len(names) + 1 and out["skipped"] == 0
    s = Store(store)
    try:
        assert extra.SOPInstanceUID in vals(s.json("/instances"), "00080018")
    finally:
        assert s.stop() == 0


def test_kill9_during_upload(tmp_path):
    store = str(tmp_path / "store")
    s = Store(store)
    first = "dcmqi_partial_overlaps"
    assert s.stow([read_seg(first)])[0] == 200
    # a large upload cut off half-way, then kill -9
    big = multipart([read_seg("dcmqi_liver")] * 1 + [os.urandom(8 << 20)])
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(("POST /studies HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; "
                  "type=\"application/dicom\"; boundary=segweb-test-boundary-7c1e\r\n"
                  f"Content-Length: {len(big)}\r\n\r\n").encode())
    sock.sendall(big[: len(big) // 2])
    time.sleep(0.5)
    assert os.listdir(os.path.join(store, "tmp")), "upload should be in progress in tmp/"
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    sock.close()
    s.logf.close()
    shutil.rmtree(s.tmp, ignore_errors=True)
    s2 = Store(store)
    try:
        assert os.listdir(os.path.join(store, "tmp")) == []
        uids = vals(s2.json("/instances"), "00080018")
        assert uids == [header(first).SOPInstanceUID]
        st, h, body = s2.get(instance_url(header(first)))
        assert parse_multipart(body, h["content-type"])[0][1] == read_seg(first)
    finally:
        assert s2.stop() == 0
    assert run_reindex(store)["indexed"] == len(store_files(store)) == 1
