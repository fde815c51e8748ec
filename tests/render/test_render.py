"""render/ against an independent oracle: pydicom reads the stored values and
numpy applies PS3.3 C.11.1 (Rescale Slope/Intercept) and C.11.2.1.2 (the VOI
window functions) itself; segweb's answer (`segweb render`, the same code as
GET .../rendered) must match within 1 grey level. Variants of corpus images are
made with pydicom in the test: no window (min-max), MONOCHROME1, RGB, RLE and
JPEG-LS (dcmcjpls) encodings, Rescale Slope/Intercept other than 1/0."""
import io
import json
import math
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from conftest import BIN, TESTDATA as DATA, needs_binary, needs_corpus

pytestmark = [needs_corpus, needs_binary]
CT = os.path.join(DATA, "source/dcmqi_ct3slice/01.dcm")
CT_SMALL = os.path.join(DATA, "source/pydicom_ct2/17106.dcm")
CT_NOWINDOW = os.path.join(DATA, "source/highdicom_ct/ct_image.dcm")
CR_MONO1 = os.path.join(DATA, "source/pydicom_cr1/6154.dcm")
SM_RGB = os.path.join(DATA, "source/highdicom_sm/sm_image_control.dcm")
LIVER = os.path.join(DATA, "seg/dcmqi_liver.dcm")
OVERLAPS = os.path.join(DATA, "seg/dcmqi_partial_overlaps.dcm")


def render(path, *args, expect_ok=True):
    p = subprocess.run([BIN, "render", path, *args], capture_output=True)
    if expect_ok:
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout, p.stderr.decode()
    return p


def png_array(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def modality(ds):
    x = ds.pixel_array.astype(np.float64)
    return x * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))


def first(v):
    return float(v[0]) if isinstance(v, pydicom.multival.MultiValue) else float(v)


def window(x, c, w, fn="LINEAR"):
    """PS3.3 C.11.2.1.2.1 / .3.1 / .3.2 with y in 0..255."""
    if fn == "SIGMOID":
        y = 255.0 / (1 + np.exp(-4 * (x - c) / w))
    elif fn == "LINEAR_EXACT":
        y = np.clip((x - c) / w + 0.5, 0, 1) * 255
    else:
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
        y = np.where(x <= c - 0.5 - (w - 1) / 2, 0, np.where(x > c - 0.5 + (w - 1) / 2, 255, y))
    return y


def close(got, want, tol=1.0):
    d = np.abs(got.astype(np.float64) - want)
    assert d.max() <= tol, "max difference %.2f at %s (got %s want %.2f)" % (
        d.max(), np.unravel_index(d.argmax(), d.shape), got[np.unravel_index(d.argmax(), d.shape)],
        want[np.unravel_index(d.argmax(), d.shape)])


@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="segweb-render-")
    yield d
    shutil.rmtree(d)


def test_object_window_and_rescale():
    ds = pydicom.dcmread(CT)
    assert float(ds.RescaleIntercept) != 0  # the oracle must really apply it
    png, log = render(CT)
    got = png_array(png)
    assert got.shape == (ds.Rows, ds.Columns) and got.dtype == np.uint8
    close(got, window(modality(ds), first(ds.WindowCenter), first(ds.WindowWidth)))
    assert "(object)" in log


@pytest.mark.parametrize("spec,fn", [("100,300", "LINEAR"), ("-600,1500,linear", "LINEAR"),
                                     ("40,400,linear-exact", "LINEAR_EXACT"), ("40,400,sigmoid", "SIGMOID")])
def test_query_window(spec, fn):
    ds = pydicom.dcmread(CT)
    c, w = (float(v) for v in spec.split(",")[:2])
    got = png_array(render(CT, "--window", spec)[0])
    close(got, window(modality(ds), c, w, fn))


def test_min_max_without_window(tmp):
    x = modality(pydicom.dcmread(CT_NOWINDOW))
    png, log = render(CT_NOWINDOW)
    close(png_array(png), (x - x.min()) / (x.max() - x.min()) * 255)
    assert "(min-max)" in log
    ds = pydicom.dcmread(CT_SMALL)
    for k in ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation"):
        if k in ds:
            delattr(ds, k)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    path = os.path.join(tmp, "nowindow.dcm")
    ds.save_as(path)
    x = modality(pydicom.dcmread(path))
    png, log = render(path)
    lo, hi = x.min(), x.max()
    close(png_array(png), (x - lo) / (hi - lo) * 255)
    assert "(min-max)" in log


def test_monochrome1_inverted(tmp):
    cr = pydicom.dcmread(CR_MONO1)
    assert cr.PhotometricInterpretation == "MONOCHROME1"
    want = 255 - window(modality(cr), first(cr.WindowCenter), first(cr.WindowWidth))
    close(png_array(render(CR_MONO1)[0]), want)
    ds = pydicom.dcmread(CT_SMALL)
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = os.path.join(tmp, "mono1.dcm")
    ds.save_as(path)
    got = png_array(render(path)[0])
    want = 255 - window(modality(ds), first(ds.WindowCenter), first(ds.WindowWidth))
    close(got, want)


def test_rgb_passes_through(tmp):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(23, 38, 3), dtype=np.uint8)
    sm = pydicom.dcmread(SM_RGB)
    for f in (1, 7, 25):
        got = png_array(render(SM_RGB, "--frame", str(f))[0])
        assert np.array_equal(got, sm.pixel_array[f - 1])
    ds = pydicom.dcmread(CT_SMALL)
    for k in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept", "RescaleType"):
        if k in ds:
            delattr(ds, k)
    ds.Rows, ds.Columns = 23, 38
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = rgb.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = os.path.join(tmp, "rgb.dcm")
    ds.save_as(path, write_like_original=False)
    got = png_array(render(path)[0])
    assert got.shape == (23, 38, 3)
    assert np.array_equal(got, rgb)


def test_compressed_sources_match(tmp):
    """RLE (pydicom) and JPEG-LS lossless (DCMTK dcmcjpls) decode to the same picture."""
    plain = png_array(render(CT_SMALL)[0])
    ds = pydicom.dcmread(CT_SMALL)
    ds.compress(RLELossless)
    rle = os.path.join(tmp, "rle.dcm")
    ds.save_as(rle)
    assert pydicom.dcmread(rle).file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(png_array(render(rle)[0]), plain)
    if shutil.which("dcmcjpls"):
        jls = os.path.join(tmp, "jls.dcm")
        subprocess.run(["dcmcjpls", CT_SMALL, jls], check=True)
        assert np.array_equal(png_array(render(jls)[0]), plain)


def test_jpeg_output():
    data = render(CT, "--jpeg")[0]
    assert data[:3] == b"\xff\xd8\xff"
    got = np.asarray(Image.open(io.BytesIO(data))).astype(np.float64)
    ref = png_array(render(CT)[0]).astype(np.float64)
    assert got.shape == ref.shape and np.abs(got - ref).mean() < 3


def seg_info(path):
    return json.loads(subprocess.run([BIN, "info", path], capture_output=True, check=True).stdout)


def seg_mask(seg_path, segment, source_uid):
    """The mask of `segment` on source_uid, from pydicom alone."""
    ds = pydicom.dcmread(seg_path)
    px = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    m = np.zeros((ds.Rows, ds.Columns), bool)
    for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence):
        n = f.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        refs = [r.ReferencedSOPInstanceUID for d in f.DerivationImageSequence for r in d.SourceImageSequence]
        if n == segment and source_uid in refs:
            m |= px[i] > 0
    return m


def blend(grey, mask, rgb, a):
    out = np.repeat(grey[..., None], 3, axis=2).astype(np.float64)
    out[mask] = (1 - a) * out[mask] + a * np.asarray(rgb, np.float64)
    return out


def test_segment_burned_in():
    ds = pydicom.dcmread(CT)
    grey = np.round(window(modality(ds), first(ds.WindowCenter), first(ds.WindowWidth)))
    rgb = seg_info(LIVER)["segments"][0]["rgb"]
    mask = seg_mask(LIVER, 1, ds.SOPInstanceUID)
    assert mask.sum() > 1000
    got = png_array(render(CT, "--seg", LIVER, "--opacity", "0.5")[0])
    assert got.shape == (512, 512, 3)
    close(got, blend(grey, mask, rgb, 0.5), tol=1.5)
    # opacity 1: the colour itself inside, the grey outside
    got = png_array(render(CT, "--seg", LIVER, "--opacity", "1")[0])
    assert np.array_equal(got[mask], np.tile(np.asarray(rgb, np.uint8), (mask.sum(), 1)))


def test_segments_subset_overlap_and_outline():
    src = os.path.join(DATA, "source/dcmqi_ct3slice/02.dcm")  # segments 1, 2 and 3 lie on it
    ds = pydicom.dcmread(src)
    info = seg_info(OVERLAPS)
    grey = np.round(window(modality(ds), first(ds.WindowCenter), first(ds.WindowWidth)))
    nums = [s["number"] for s in info["segments"]]
    on_slice = [n for n in nums if seg_mask(OVERLAPS, n, ds.SOPInstanceUID).any()]
    assert len(on_slice) >= 2
    a, b = on_slice[:2]
    ma, mb = seg_mask(OVERLAPS, a, ds.SOPInstanceUID), seg_mask(OVERLAPS, b, ds.SOPInstanceUID)
    rgb = {s["number"]: s["rgb"] for s in info["segments"]}
    # only segment a: b's pixels outside a stay grey
    got = png_array(render(src, "--seg", OVERLAPS, "--segments", str(a), "--opacity", "0.4")[0])
    close(got, blend(grey, ma, rgb[a], 0.4), tol=1.5)
    # a then b, in that order (b drawn over a where they overlap)
    got = png_array(render(src, "--seg", OVERLAPS, "--segments", "%d,%d" % (a, b), "--opacity", "0.4")[0])
    want = blend(grey, ma, rgb[a], 0.4)
    want = np.round(want)
    want[mb] = 0.6 * want[mb] + 0.4 * np.asarray(rgb[b], np.float64)
    close(got, want, tol=1.5)
    # outline: the mask's boundary pixels are the colour itself
    got = png_array(render(src, "--seg", OVERLAPS, "--segments", str(a), "--outline")[0])
    pad = np.pad(ma, 1)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    edge = ma & ~inner
    assert edge.sum() > 0
    assert np.array_equal(got[edge], np.tile(np.asarray(rgb[a], np.uint8), (edge.sum(), 1)))


def test_bad_input():
    p = render(CT, "--seg", LIVER, "--segments", "9", expect_ok=False)
    assert p.returncode == 1 and b"no segment 9" in p.stderr
    p = render(LIVER, expect_ok=False)
    assert p.returncode == 1 and b"Segmentation" in p.stderr
    p = render(CT, "--window", "40,0", expect_ok=False)
    assert p.returncode == 1 and b"width" in p.stderr
    p = render(CT, "--frame", "2", expect_ok=False)
    assert p.returncode == 1 and b"out of range" in p.stderr
    # a SEG over another series' image
    small = os.path.join(DATA, "source/dcmqi_24x38x3/IMG0001.dcm")
    p = render(small, "--seg", LIVER, expect_ok=False)
    assert p.returncode == 1 and b"grid" in p.stderr


def test_jpeg2000_source(tmp):
    """JPEG 2000 Lossless (PIL/OpenJPEG encodes, pydicom encapsulates) renders like the original."""
    import pydicom.encaps
    for src, name in ((CT, "j2k_ct.dcm"), (CT_SMALL, "j2k_small.dcm")):
        ds = pydicom.dcmread(src)
        arr = ds.pixel_array.astype(np.int32)
        if arr.min() < 0:  # PIL's I;16 is unsigned: shift, and move the shift into the intercept
            lo = int(arr.min())
            arr = arr - lo
            ds.RescaleIntercept = float(getattr(ds, "RescaleIntercept", 0)) + lo * float(getattr(ds, "RescaleSlope", 1))
            ds.PixelRepresentation = 0
        arr = arr.astype(np.uint16)
        ds.PixelData = arr.tobytes()
        plain = os.path.join(tmp, "plain_" + name)
        ds.save_as(plain)
        buf = io.BytesIO()
        Image.fromarray(arr.astype(np.uint16), mode="I;16").save(buf, format="JPEG2000", irreversible=False,
                                                               no_jp2=True)
        ds.PixelData = pydicom.encaps.encapsulate([buf.getvalue()])
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
        ds.is_implicit_VR, ds.is_little_endian = False, True
        path = os.path.join(tmp, name)
        ds.save_as(path, write_like_original=False)
        assert np.array_equal(pydicom.dcmread(path).pixel_array, arr)  # the oracle reads it back (Pillow)
        assert np.array_equal(png_array(render(path)[0]), png_array(render(plain)[0]))
        close(png_array(render(path)[0]), window(modality(pydicom.dcmread(plain)), first(ds.WindowCenter),
                                                 first(ds.WindowWidth)))
