"""Issue 12 part 2 on compressed objects: WADO-RS without a transfer-syntax parameter
answers Explicit VR Little Endian, decoded.

Oracles, all independent of segweb:
  * every compressed corpus SEG (RLE, JPEG-LS, JPEG 2000, deflate frames, Deflated
    Explicit VR LE) retrieved without transfer-syntax is read by pydicom as native
    Explicit VR LE, and the sha256 of each frame of its pixel_array equals
    ../shared/testdata/expected (made by pydicom + numpy from the originals); every
    other element equals pydicom's reading of the original; dciodvfy finds no error in
    it that it does not find in the original;
  * CT images compressed here with DCMTK's command-line tools (dcmcrle, dcmcjpls,
    dcmcjpeg lossless) or Pillow's JPEG 2000 encoder (a signed CT; a 25-frame RGB
    slide image with the reversible colour transform) come back with pydicom's
    pixel_array of the uncompressed original, as a whole object and as /frames;
  * a corrupt JPEG 2000 frame and an image no decoder knows answer a JSON 4xx, never a
    200 and never a crash."""
import hashlib
import io
import json
import os
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

from conftest import BIN, SOURCE_DIR, SegwebProcess, expected, needs_binary, needs_corpus, parse_multipart, seg_path

pytestmark = [needs_corpus, needs_binary]

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
COMPRESSED = ["pyd_liver_rle", "pyd_liver_j2k", "pyd_liver_deflate_frames", "pyd_liver_nonbyte_aligned_rle",
              "pyd_liver_nonbyte_aligned_j2k", "pyd_liver_nonbyte_aligned_deflate_frames",
              "dcmtk_jpls_hd_sm_control_labelmap", "dcmtk_rle_hd_sm_control_labelmap_palette",
              "dcmtk_deflated_dcmqi_38x23_odd"]
CT_TOOLS = [("dcmcrle", []), ("dcmcjpls", []), ("dcmcjpeg", ["+el"])]
CT_SOURCES = sorted(os.path.join(SOURCE_DIR, "pydicom_ct2", f) for f in os.listdir(os.path.join(SOURCE_DIR, "pydicom_ct2"))) \
    if os.path.isdir(os.path.join(SOURCE_DIR, "pydicom_ct2")) else []
DICOM = 'multipart/related; type="application/dicom"'


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def frame_hashes(ds, dtype):
    arr = ds.pixel_array
    n = int(ds.get("NumberOfFrames", 1) or 1)
    arr = arr.reshape((n, int(ds.Rows), int(ds.Columns)))
    dt = np.uint8 if dtype == "uint8" else np.dtype("<u2")
    return [hashlib.sha256(np.ascontiguousarray(f.astype(dt)).tobytes()).hexdigest() for f in arr]


def dciodvfy_errors(data, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(data)
    p = subprocess.run(["dciodvfy", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return {ln.strip() for ln in p.stdout.decode("utf-8", "replace").splitlines() if ln.startswith("Error")}


def j2k_encode(src, mode, d):
    """src re-encoded as JPEG 2000 Lossless by Pillow (OpenJPEG), one codestream a frame;
    RGB with the reversible colour transform (YBR_RCT)."""
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array
    n = int(ds.get("NumberOfFrames", 1) or 1)
    frames = arr.reshape((n,) + arr.shape[-3 if mode == "RGB" else -2:])
    streams = []
    for f in frames:
        b = io.BytesIO()
        if mode == "RGB":
            Image.fromarray(f.astype(np.uint8), "RGB").save(b, "JPEG2000", no_jp2=True, mct=1)
        else:
            Image.fromarray(f.astype(np.int16).view(np.uint16), "I;16").save(b, "JPEG2000", no_jp2=True)
        streams.append(b.getvalue())
    ds.PixelData = encapsulate(streams, has_bot=n > 1)
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    ds.is_implicit_VR, ds.is_little_endian = False, True
    if mode == "RGB":
        ds.PhotometricInterpretation = "YBR_RCT"
    path = str(d / f"j2k_{os.path.basename(src)}")
    ds.save_as(path, write_like_original=False)
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """CTs compressed by DCMTK's tools (one source slice each: distinct UIDs), a CT-labelled
    JPEG 2000 object nothing decodes, and a J2K SEG with its last frame corrupted."""
    d = tmp_path_factory.mktemp("made")
    out = {"ct": []}
    for (tool, opts), src in zip(CT_TOOLS, CT_SOURCES):
        dst = d / f"ct_{tool}.dcm"
        subprocess.run([tool, *opts, src, str(dst)], check=True)
        out["ct"].append((str(dst), src))
    for src, mode in ((CT_SOURCES[3], "I;16"), (os.path.join(SOURCE_DIR, "highdicom_sm", "sm_image_control.dcm"), "RGB")):
        out["ct"].append((j2k_encode(src, mode, d), src))
    ds = pydicom.dcmread(seg_path("pyd_liver_j2k"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    data = bytearray(ds.PixelData)
    data[-900:-300] = b"\xff" * 600  # inside the last frame's 1048-byte codestream
    ds.PixelData = bytes(data)
    out["corrupt"] = str(d / "corrupt_j2k.dcm")
    ds.save_as(out["corrupt"])
    ds = pydicom.dcmread(seg_path("pyd_liver_nonbyte_aligned_j2k"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()  # a study of its own
    ds.Modality = "CT"
    out["j2k_ct"] = str(d / "j2k_ct.dcm")
    ds.save_as(out["j2k_ct"])
    return out


@pytest.fixture(scope="module")
def srv(made):
    s = SegwebProcess(BIN, [])
    paths = [seg_path(n) for n in COMPRESSED] + [p for p, _ in made["ct"]] + [made["corrupt"], made["j2k_ct"]]
    st, _, body = s.stow([open(p, "rb").read() for p in paths])
    assert st == 200, body[:500]
    yield s
    assert s.stop() == 0


def retrieve_one(srv, target, accept=DICOM):
    st, h, body = srv.get(target, {"Accept": accept})
    assert st == 200, body[:300]
    parts = parse_multipart(body, h["content-type"])
    assert len(parts) == 1
    return parts[0]


@pytest.mark.parametrize("name", COMPRESSED)
def test_compressed_seg_as_explicit_le(srv, name, tmp_path):
    orig = pydicom.dcmread(seg_path(name))
    head, data = retrieve_one(srv, url(orig))
    assert head["content-type"] == f"application/dicom; transfer-syntax={EXPLICIT_LE}"
    got = pydicom.dcmread(io.BytesIO(data))
    assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert not got["PixelData"].is_undefined_length  # native, no fragments
    exp = expected(name)
    assert frame_hashes(got, exp["frame_hash_dtype"]) == exp["frame_sha256"]
    # every other element as stored
    del got.PixelData
    del orig.PixelData
    assert got == orig
    # nothing dciodvfy objects to that it did not object to in the original
    # (it cannot read Deflated Explicit VR LE; that one's source is checked as its twin)
    ref = seg_path("dcmqi_38x23_odd") if name.startswith("dcmtk_deflated") else seg_path(name)
    new = dciodvfy_errors(data, tmp_path, "out.dcm") - dciodvfy_errors(open(ref, "rb").read(), tmp_path, "in.dcm")
    assert not new, new


def test_implicit_le_asked_and_study_retrieve(srv):
    orig = pydicom.dcmread(seg_path("pyd_liver_nonbyte_aligned_rle"))
    head, data = retrieve_one(srv, url(orig), f"{DICOM}; transfer-syntax={IMPLICIT_LE}")
    assert head["content-type"] == f"application/dicom; transfer-syntax={IMPLICIT_LE}"
    got = pydicom.dcmread(io.BytesIO(data))
    exp = expected("pyd_liver_nonbyte_aligned_rle")
    assert got.file_meta.TransferSyntaxUID == IMPLICIT_LE
    assert frame_hashes(got, exp["frame_hash_dtype"]) == exp["frame_sha256"]
    # the study: every part names the syntax it carries; the stored bytes with "*"
    st, h, body = srv.get(f"/studies/{orig.StudyInstanceUID}", {"Accept": DICOM})
    assert st == 200, body[:300]
    parts = parse_multipart(body, h["content-type"])
    assert len(parts) >= 3
    for hd, d in parts:
        assert hd["content-type"] == f"application/dicom; transfer-syntax={EXPLICIT_LE}"
        assert pydicom.dcmread(io.BytesIO(d), stop_before_pixels=True).file_meta.TransferSyntaxUID == EXPLICIT_LE
    head, data = retrieve_one(srv, url(orig), f"{DICOM}; transfer-syntax=*")
    assert data == open(seg_path("pyd_liver_nonbyte_aligned_rle"), "rb").read()
    assert head["content-type"] == f"application/dicom; transfer-syntax={orig.file_meta.TransferSyntaxUID}"


def test_compressed_ct(srv, made):
    for path, src in made["ct"]:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID.is_compressed, path
        orig = pydicom.dcmread(src)
        want = orig.pixel_array
        head, data = retrieve_one(srv, url(ds))
        assert head["content-type"] == f"application/dicom; transfer-syntax={EXPLICIT_LE}"
        got = pydicom.dcmread(io.BytesIO(data))
        assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
        assert got.PhotometricInterpretation == orig.PhotometricInterpretation
        assert np.array_equal(got.pixel_array, want), path
        st, h, body = srv.get(url(ds) + "/frames/1")
        assert st == 200, body[:300]
        (fh, fd), = parse_multipart(body, h["content-type"])
        assert fh["content-type"] == f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
        first = want[0] if int(orig.get("NumberOfFrames", 1) or 1) > 1 else want
        assert fd == np.ascontiguousarray(first.astype(first.dtype.newbyteorder("<"))).tobytes(), path


def test_nothing_decodes_or_corrupt(srv, made):
    for path, codes in ((made["j2k_ct"], (406,)), (made["corrupt"], (406, 422))):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        st, h, body = srv.get(url(ds), {"Accept": DICOM})
        assert st in codes, (path, st, body[:300])
        assert h["content-type"].startswith("application/json")
        err = json.loads(body)["error"]
        assert err["status"] == st and err["message"], err
        # the Pixel Data BulkDataURI decodes the same way: the same refusal, never a short 200
        st2, h, body = srv.get(url(ds) + "/bulkdata/7FE00010")
        assert st2 == st and json.loads(body)["error"]["status"] == st, (path, st2, body[:300])
    ds = pydicom.dcmread(made["j2k_ct"], stop_before_pixels=True)
    st, h, body = srv.get(url(ds) + "/frames/1")
    assert st == 406 and json.loads(body)["error"]["message"]
    st, _, _ = srv.get("/healthz")
    assert st == 200
