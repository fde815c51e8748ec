"""The volume routes over HTTP (files R), against the independent reconstruction
in oracle.py: every corpus SEG with patient geometry, each segment as .nii.gz and
.nrrd, the labelmap as .nii.gz (X-Segweb-Overlap-Voxels) and .nii, meta.json, the
labelmap PNG of a source image, segment measurements in R/segments; 422 / 404 / 413
as JSON; ETag and 304."""
import glob
import gzip
import http.client
import io
import json
import os
import sys
import tempfile

import nibabel as nib
import numpy as np
import pydicom
import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
import oracle  # noqa: E402
from conftest import BIN, TESTDATA as DATA, SegwebProcess, needs_binary, needs_corpus  # noqa: E402
from test_volume_cli import assert_same_world, reference  # noqa: E402

pytestmark = [needs_corpus, needs_binary]
SEGDIR = os.path.join(DATA, "seg")
SEGS = sorted(glob.glob(os.path.join(SEGDIR, "*.dcm")))
NAMES = [os.path.basename(p)[:-4] for p in SEGS]


@pytest.fixture(scope="module")
def server():
    s = SegwebProcess(BIN, ["--files-root", SEGDIR, "--max-total-pixels", "2000"], prefix="segweb-volume-")
    yield s
    assert s.stop() == 0


def get(server, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def nifti_from(body, gz):
    with tempfile.NamedTemporaryFile(suffix=".nii.gz" if gz else ".nii") as f:
        f.write(body)
        f.flush()
        img = nib.load(f.name)
        return np.array(img.dataobj.get_unscaled()), img.affine


def nrrd_from(body):
    with tempfile.NamedTemporaryFile(suffix=".nrrd") as f:
        f.write(body)
        f.flush()
        vol, aff, _ = oracle.read_nrrd(f.name)
        return vol.copy(), aff


@pytest.mark.parametrize("name", NAMES)
def test_volumes(server, name):
    path = os.path.join(SEGDIR, name + ".dcm")
    ds, arr, geo = reference(path)
    R = f"/files/{name}.dcm"
    if isinstance(geo, str):
        first = oracle.segment_numbers(ds)[-1]
        for route in ("/volume.nii.gz", f"/segments/{first}/volume.nrrd"):
            st, h, body = get(server, R + route)
            assert st == 422, (route, st, body)
            assert h["content-type"].startswith("application/json")
            json.loads(body)
            assert b"geometry is not a volume" in body
        return
    aff = geo[0]
    numbers = [n for n in oracle.segment_numbers(ds) if not (oracle.is_labelmap(ds) and n == 0)]
    for n in numbers:
        ref = oracle.segment_volume(ds, n, arr=arr, geo=geo)
        st, h, body = get(server, f"{R}/segments/{n}/volume.nii.gz")
        assert st == 200, body
        assert h.get("etag")
        vol, a = nifti_from(body, True)
        assert vol.dtype == ref.dtype
        assert_same_world(vol, a, ref, aff, f"segment {n} nii.gz")
        st, h, body = get(server, f"{R}/segments/{n}/volume.nrrd")
        assert st == 200, body
        vol, a = nrrd_from(body)
        assert_same_world(vol, oracle.ras(a), ref, aff, f"segment {n} nrrd")
    lab, overlap = oracle.labelmap_volume(ds, arr, geo)
    st, h, body = get(server, f"{R}/volume.nii.gz")
    assert st == 200, body
    assert int(h["x-segweb-overlap-voxels"]) == overlap
    vol, a = nifti_from(body, True)
    assert_same_world(vol, a, lab, aff, "labelmap nii.gz")
    st, h, body = get(server, f"{R}/volume.nrrd")
    assert st == 200
    vol, a = nrrd_from(body)
    assert_same_world(vol, oracle.ras(a), lab, aff, "labelmap nrrd")


def test_nii_binary_and_etag(server):
    path = os.path.join(SEGDIR, "dcmqi_partial_overlaps.dcm")
    ds, arr, geo = reference(path)
    R = "/files/dcmqi_partial_overlaps.dcm"
    st, h, body = get(server, f"{R}/segments/3/volume.nii?values=binary")
    assert st == 200
    vol, a = nifti_from(body, False)
    assert_same_world(vol, a, oracle.segment_volume(ds, 3, binary=True, arr=arr, geo=geo), geo[0], "binary")
    st, h, body = get(server, f"{R}/segments/3/volume.nii")
    vol, a = nifti_from(body, False)
    assert vol.max() == 3
    etag = h["etag"]
    st2, h2, body2 = get(server, f"{R}/segments/3/volume.nii", {"If-None-Match": etag})
    assert st2 == 304 and not body2
    st3, h3, _ = get(server, f"{R}/segments/3/volume.nii?values=binary")
    assert h3["etag"] != etag  # the variant is part of the ETag


def test_errors_are_json(server):
    R = "/files/dcmqi_liver.dcm"
    st, h, body = get(server, f"{R}/segments/9/volume.nii.gz")
    assert st == 404 and h["content-type"].startswith("application/json"), body
    json.loads(body)
    st, h, body = get(server, "/files/hd_cr_binary.dcm/volume.nii.gz")
    assert st == 422 and b"no patient geometry" in body
    st, h, body = get(server, "/files/hd_sm_dots_tiled_full.dcm/segments/1/volume.nii.gz")
    assert st == 422 and b"slide" in body
    # 50x50 = 2500 pixels > --max-total-pixels 2000
    st, h, body = get(server, "/files/hd_sm_dots_tiled_full.dcm/segments/7/total.png")
    assert st == 413 and h["content-type"].startswith("application/json"), body
    st, h, body = get(server, f"{R}/segments/1/total.png")
    assert st == 422, body
    st, h, body = get(server, f"{R}/labelmap?source=1.2.3.4")
    assert st == 404, body


def test_meta_json(server):
    ds = pydicom.dcmread(os.path.join(SEGDIR, "dcmqi_partial_overlaps.dcm"))
    st, h, body = get(server, "/files/dcmqi_partial_overlaps.dcm/meta.json")
    assert st == 200 and h["content-type"].startswith("application/json")
    meta = json.loads(body)
    assert [a[0]["labelID"] for a in meta["segmentAttributes"]] == oracle.segment_numbers(ds)
    assert meta["segmentAttributes"][0][0]["SegmentLabel"] == ds.SegmentSequence[0].SegmentLabel


def test_labelmap_png(server):
    from PIL import Image
    name = "hd_ct_binary_overlap"
    ds = pydicom.dcmread(os.path.join(SEGDIR, name + ".dcm"))
    arr = oracle.frames(ds)
    pf = ds.PerFrameFunctionalGroupsSequence
    uid = pf[0].DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
    expect = np.zeros(arr.shape[1:], np.uint8)
    order = sorted(range(len(pf)), key=lambda i: (oracle.segment_of_frame(ds, i), i))
    for i in order:
        src = pf[i].DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        if src == uid:
            expect[arr[i] != 0] = oracle.segment_of_frame(ds, i)
    st, h, body = get(server, f"/files/{name}.dcm/labelmap?source={uid}")
    assert st == 200 and h["content-type"] == "image/png", body
    got = np.array(Image.open(io.BytesIO(body)))
    assert got.tolist() == expect.tolist()
    st, h, body = get(server, f"/files/{name}.dcm/labelmap?source={uid}&style=color")
    assert st == 200
    rgba = np.array(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert (rgba[..., 3] != 0).tolist() == (expect != 0).tolist()


def test_total_png(server):
    from PIL import Image
    st, h, body = get(server, "/files/hd_sm_dots_tiled_full.dcm/segments/7/total.png")
    assert st == 413  # the server's limit here is 2000 pixels
    s = SegwebProcess(BIN, ["--files-root", SEGDIR], prefix="segweb-volume-total-")
    try:
        st, h, body = get(s, "/files/hd_sm_dots_tiled_full.dcm/segments/7/total.png")
        assert st == 200 and h["content-type"] == "image/png"
        assert np.array(Image.open(io.BytesIO(body))).shape == (50, 50)
    finally:
        assert s.stop() == 0


def test_measurements(server):
    name = "dcmqi_partial_overlaps"
    ds, arr, geo = reference(os.path.join(SEGDIR, name + ".dcm"))
    st, h, body = get(server, f"/files/{name}.dcm/segments")
    assert st == 200
    doc = json.loads(body)
    aff = geo[0]
    vox_ml = abs(np.linalg.det(aff[:3, :3])) / 1000
    for seg in doc["segments"]:
        m = seg["measurements"]
        vol = oracle.segment_volume(ds, seg["number"], binary=True, arr=arr, geo=geo)
        idx = np.argwhere(vol)
        assert m["voxels"] == len(idx)
        assert abs(m["volume_ml"] - len(idx) * vox_ml) < 1e-6
        assert m["bbox_voxels"]["min"] == idx.min(0).tolist()
        assert m["bbox_voxels"]["max"] == idx.max(0).tolist()
        c = (aff @ np.c_[idx.mean(0)[None], [[1]]].T)[:3, 0]
        assert np.abs(np.array(m["centroid_mm"]) - c).max() < 1e-3
        assert m["slices"] == int(idx[:, 2].max() - idx[:, 2].min() + 1)
    st, h, body = get(server, "/files/hd_sm_control_tiled_sparse.dcm/segments/3")
    m = json.loads(body)["measurements"]
    assert "pixels" in m and "area_mm2" in m
