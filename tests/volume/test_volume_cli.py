"""segweb volume / total on every corpus SEG, against the independent pydicom
reconstruction in oracle.py: every segment and the labelmap, NIfTI (.nii.gz by
--out-dir, .nii by --segment / --labelmap) and NRRD, compared in world space
after reorienting both to canonical axes (voxels equal, affine within 1e-3 mm);
clear one-line errors (exit 1) for slide and position-less SEGs."""
import glob
import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pydicom
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import oracle  # noqa: E402

from conftest import BIN, TESTDATA as DATA, needs_binary, needs_corpus  # noqa: E402

pytestmark = [needs_corpus, needs_binary]
SEGS = sorted(glob.glob(os.path.join(DATA, "seg", "*.dcm")))
NAMES = [os.path.basename(p)[:-4] for p in SEGS]

_cache = {}


def reference(path):
    """(dataset, frames, geometry or the NotAVolume reason)."""
    if path not in _cache:
        ds = pydicom.dcmread(path)
        try:
            geo = oracle.geometry(ds)
        except oracle.NotAVolume as e:
            geo = str(e)
        arr = oracle.frames(ds) if not isinstance(geo, str) else None
        _cache[path] = (ds, arr, geo)
    return _cache[path]


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)


def assert_same_world(vol, aff_ras, ref_vol, ref_aff_lps, what):
    a, aa = oracle.canonical(np.asarray(vol), aff_ras)
    b, bb = oracle.canonical(ref_vol, oracle.ras(ref_aff_lps))
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert np.abs(aa - bb).max() < 1e-3, f"{what}: affine\n{aa}\n!=\n{bb}"
    diff = int((a != b).sum())
    assert diff == 0, f"{what}: {diff} voxels differ"


def check_nifti(path, ref_vol, ref_aff, what, scale=None):
    img = nib.load(path)
    h = img.header
    assert h["sizeof_hdr"] == 348 and h["magic"] == b"n+1"
    assert int(h["qform_code"]) == 1 and int(h["sform_code"]) == 1
    assert h.get_xyzt_units()[0] == "mm"
    assert np.abs(img.get_qform() - img.get_sform()).max() < 1e-3, f"{what}: qform != sform"
    raw = img.dataobj.get_unscaled()
    assert raw.dtype == ref_vol.dtype, f"{what}: dtype {raw.dtype} != {ref_vol.dtype}"
    if scale is not None:
        assert abs(float(img.dataobj.slope) - scale) < 1e-7
    assert_same_world(raw, img.affine, ref_vol, ref_aff, what)


def check_nrrd(path, ref_vol, ref_aff, what):
    vol, aff_lps, h = oracle.read_nrrd(path)
    assert vol.dtype == ref_vol.dtype, f"{what}: dtype {vol.dtype} != {ref_vol.dtype}"
    assert_same_world(vol, oracle.ras(aff_lps), ref_vol, ref_aff, what)


@pytest.mark.parametrize("path", SEGS, ids=NAMES)
def test_out_dir_nifti_and_nrrd(path, tmp_path):
    ds, arr, geo = reference(path)
    if isinstance(geo, str):
        pytest.skip("not a volume (test_refusals)")
    aff = geo[0]
    lab, overlap = oracle.labelmap_volume(ds, arr, geo)
    for fmt, ext in (("nifti", ".nii.gz"), ("nrrd", ".nrrd")):
        out = tmp_path / fmt
        r = run("volume", path, "--out-dir", str(out), "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert f"labelmap: {overlap} overlapping voxels" in r.stderr
        files = sorted(os.listdir(out))
        numbers = [n for n in oracle.segment_numbers(ds) if not (oracle.is_labelmap(ds) and n == 0)]
        assert set(files) == {f"{n}{ext}" for n in numbers} | {f"labelmap{ext}", "meta.json"}
        check = check_nifti if fmt == "nifti" else check_nrrd
        for n in numbers:
            if (path, n) not in _cache:
                _cache[(path, n)] = oracle.segment_volume(ds, n, arr=arr, geo=geo)
            check(str(out / f"{n}{ext}"), _cache[(path, n)], aff, f"{fmt} segment {n}")
        check(str(out / f"labelmap{ext}"), lab, aff, f"{fmt} labelmap")
        meta = json.loads((out / "meta.json").read_text())
        got = [item[0]["labelID"] for item in meta["segmentAttributes"]]
        assert got == numbers
        for item, seg in zip(meta["segmentAttributes"], sorted(ds.SegmentSequence, key=lambda s: int(s.SegmentNumber))):
            if oracle.is_labelmap(ds) and int(seg.SegmentNumber) == 0:
                continue
            a = item[0]
            assert a.get("SegmentLabel", "") == str(seg.get("SegmentLabel", ""))
            assert a["SegmentAlgorithmType"] == seg.SegmentAlgorithmType
            cat = seg.SegmentedPropertyCategoryCodeSequence[0]
            assert a["SegmentedPropertyCategoryCodeSequence"]["CodeValue"] == cat.CodeValue
            assert len(a["recommendedDisplayRGBValue"]) == 3


# One of each kind (the codec twins are covered by test_out_dir_nifti_and_nrrd).
SINGLE = ["dcmqi_liver", "dcmqi_38x23_odd", "hd_ct_true_fractional", "derived_fractional_max100",
          "dcmqi_labelmap_sparse_ppv5", "hd_ct_binary_overlap", "hd_ct_binary_single_frame",
          "dcmjs_iowa2dicom_2seg", "pyd_liver_nonbyte_aligned_rle"]


@pytest.mark.parametrize("name", SINGLE)
def test_single_segment_and_labelmap_nii(name, tmp_path):
    path = os.path.join(DATA, "seg", name + ".dcm")
    ds, arr, geo = reference(path)
    if isinstance(geo, str):
        pytest.skip("not a volume (test_refusals)")
    numbers = [n for n in oracle.segment_numbers(ds) if n != 0]
    n = numbers[-1]
    out = str(tmp_path / "s.nii")
    r = run("volume", path, "--segment", str(n), "--out", out)
    assert r.returncode == 0, r.stderr
    frac = ds.get("SegmentationType", "") == "FRACTIONAL"
    maxf = int(ds.get("MaximumFractionalValue", 255) or 255)
    check_nifti(out, oracle.segment_volume(ds, n, arr=arr, geo=geo), geo[0], f"segment {n}",
                scale=1.0 / maxf if frac else 1.0)
    out = str(tmp_path / "b.nrrd")
    r = run("volume", path, "--segment", str(n), "--binary", "--out", out)
    assert r.returncode == 0, r.stderr
    check_nrrd(out, oracle.segment_volume(ds, n, binary=True, arr=arr, geo=geo), geo[0], f"binary {n}")
    out = str(tmp_path / "l.nii")
    r = run("volume", path, "--labelmap", "--out", out)
    assert r.returncode == 0, r.stderr
    check_nifti(out, oracle.labelmap_volume(ds, arr, geo)[0], geo[0], "labelmap")


@pytest.mark.parametrize("path", SEGS, ids=NAMES)
def test_refusals(path, tmp_path):
    ds, arr, geo = reference(path)
    if not isinstance(geo, str):
        pytest.skip("a volume")
    r = run("volume", path, "--labelmap", "--out", str(tmp_path / "x.nii.gz"))
    assert r.returncode == 1
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("segweb: geometry is not a volume:"), r.stderr
    if geo == "slide":
        assert "slide" in lines[0]
    else:
        assert "no patient geometry" in lines[0]
    assert not os.listdir(tmp_path)


def test_expected_refusals_are_the_manifest_ones():
    refused = {os.path.basename(p)[:-4] for p in SEGS if isinstance(reference(p)[2], str)}
    assert "hd_cr_binary" in refused
    assert {"hd_sm_dots_tiled_full", "hd_sm_control_tiled_sparse", "hd_sm_control_labelmap"} <= refused
    assert "dcmqi_liver" not in refused


def test_unknown_segment_and_usage(tmp_path):
    path = os.path.join(DATA, "seg", "dcmqi_liver.dcm")
    r = run("volume", path, "--segment", "7", "--out", str(tmp_path / "x.nii.gz"))
    assert r.returncode == 1 and r.stderr.startswith("segweb: no segment 7"), r.stderr
    r = run("volume", path, "--segment", "1", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2
    r = run("volume", path, "--grid", "source", "--segment", "1", "--out", str(tmp_path / "x.nii"))
    assert r.returncode == 2


def test_grid_source(tmp_path):
    """dcmqi_labelmap_sparse_* reference 2 of the 3 source slices: on the source
    grid the volume has the series' 3 slices, frames on the slices they derive from."""
    path = os.path.join(DATA, "seg", "dcmqi_labelmap_sparse_noppv.dcm")
    src = os.path.join(DATA, "source", "dcmqi_24x38x3")
    out = str(tmp_path / "l.nii.gz")
    r = run("volume", path, "--labelmap", "--grid", "source", "--source", src, "--out", out)
    assert r.returncode == 0, r.stderr
    img = nib.load(out)
    assert img.shape[2] == 3
    ds = pydicom.dcmread(path)
    arr = oracle.frames(ds)
    srcs = [pydicom.dcmread(os.path.join(src, f)) for f in sorted(os.listdir(src))]
    normal = np.cross(*np.array(srcs[0].ImageOrientationPatient, float).reshape(2, 3))
    order = sorted(srcs, key=lambda s: np.dot(np.array(s.ImagePositionPatient, float), normal))
    uid_k = {s.SOPInstanceUID: k for k, s in enumerate(order)}
    expect = np.zeros(img.shape, np.uint8)
    for i in range(arr.shape[0]):
        ref = ds.PerFrameFunctionalGroupsSequence[i].DerivationImageSequence[0].SourceImageSequence[0]
        expect[:, :, uid_k[ref.ReferencedSOPInstanceUID]] = arr[i].T
    aff = np.eye(4)
    o = np.array(order[0].ImageOrientationPatient, float)
    ps = [float(x) for x in order[0].PixelSpacing]
    aff[:3, 0], aff[:3, 1] = o[:3] * ps[1], o[3:] * ps[0]
    p0, p1 = (np.array(s.ImagePositionPatient, float) for s in order[:2])
    aff[:3, 2] = normal * np.dot(p1 - p0, normal)
    aff[:3, 3] = p0
    assert_same_world(img.dataobj.get_unscaled(), img.affine, expect, aff, "grid source")
    # a series with another in-plane grid: clear error, no resampling
    other = os.path.join(DATA, "source", "dcmqi_23x38x3")
    r = run("volume", path, "--labelmap", "--grid", "source", "--source", other, "--out", out)
    assert r.returncode == 1 and "in-plane grid" in r.stderr, r.stderr


def test_total_png(tmp_path):
    path = os.path.join(DATA, "seg", "hd_sm_dots_tiled_full.dcm")
    sparse = os.path.join(DATA, "seg", "hd_sm_dots_tiled_sparse.dcm")
    ds = pydicom.dcmread(sparse)
    arr = oracle.frames(ds)
    for n in (7,):
        expect = np.zeros((50, 50), np.uint8)
        for i in range(arr.shape[0]):
            if oracle.segment_of_frame(ds, i) != n:
                continue
            pos = ds.PerFrameFunctionalGroupsSequence[i].PlanePositionSlideSequence[0]
            r0, c0 = int(pos.RowPositionInTotalImagePixelMatrix) - 1, int(pos.ColumnPositionInTotalImagePixelMatrix) - 1
            expect[r0:r0 + 10, c0:c0 + 10] |= arr[i]
        for p in (path, sparse):
            out = str(tmp_path / f"{n}.png")
            r = run("total", p, "--segment", str(n), "--out", out)
            assert r.returncode == 0, r.stderr
            from PIL import Image
            got = np.array(Image.open(out)).astype(np.uint8)
            assert got.shape == (50, 50)
            assert (got != 0).astype(np.uint8).tolist() == expect.tolist(), p
    r = run("total", path, "--segment", "2", "--out", str(tmp_path / "x.png"), "--max-total-pixels", "100")
    assert r.returncode == 1 and "exceeds the limit" in r.stderr
    r = run("total", os.path.join(DATA, "seg", "dcmqi_liver.dcm"), "--segment", "1", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "not a slide SEG" in r.stderr
