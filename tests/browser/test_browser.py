"""The /view page in a real browser (Debian's chromium, headless, driven by
playwright-core from npm through drive.mjs). Corpus SEGs are shown over their
source images; the screenshots' pixels are checked against an oracle computed
here from pydicom + numpy alone: inside a segment the voxel is the segment's
colour blended over the CT grey, outside it is the CT grey unchanged, hiding a
segment removes its colour, the next slice shows the next slice's mask. No
console errors, no uncaught exceptions, keyboard navigation, readable messages
for bad input. Timings (first paint, slice changes) are written to
out/timing.json and printed, not asserted.

Screenshots stay in tests/browser/out/ (git-ignored); see README.md there."""
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid

import numpy as np
import pydicom
import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
from conftest import BIN, TESTDATA as DATA, SegwebProcess  # noqa: E402
OUT = os.path.join(HERE, "out")
CHROMIUM = os.environ.get("SEGWEB_CHROMIUM", "/usr/bin/chromium")
OPACITY = 0.5
TOKEN = "browser-test-token-4f1c"

pytestmark = pytest.mark.skipif(
    not (shutil.which("node") and os.path.exists(CHROMIUM) and
         os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core"))),
    reason="needs node, chromium and `npm ci` in tests/browser (scripts/test.sh does it)")


# ---- oracle ----

def first(v):
    return float(v[0]) if isinstance(v, pydicom.multival.MultiValue) else float(v)


def ct_grey(path):
    """PS3.3 C.11.2.1.2.1 LINEAR window of the modality values, first window of the object, else min-max."""
    ds = pydicom.dcmread(path)
    x = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + \
        float(getattr(ds, "RescaleIntercept", 0))
    if "WindowCenter" in ds:
        c, w = first(ds.WindowCenter), first(ds.WindowWidth)
    else:
        c, w = (x.min() + x.max() + 1) / 2, x.max() - x.min() + 1
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0, np.where(x > c - 0.5 + (w - 1) / 2, 255, y))
    return np.round(y)


def seg_frames(path):
    """[(frame_index, segment, {source uids}, pixel array)] from pydicom."""
    ds = pydicom.dcmread(path)
    px = ds.pixel_array.reshape(int(getattr(ds, "NumberOfFrames", 1)), ds.Rows, ds.Columns)
    out = []
    for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence):
        n = f.SegmentIdentificationSequence[0].ReferencedSegmentNumber if "SegmentIdentificationSequence" in f else 0
        refs = {r.ReferencedSOPInstanceUID for d in f.get("DerivationImageSequence", [])
                for r in d.SourceImageSequence}
        out.append((i, n, refs, px[i]))
    return ds, out


def coverage(path, source_uid, segment, kind):
    """Coverage 0..1 of `segment` on the source image, from pydicom."""
    ds, frames = seg_frames(path)
    cov = np.zeros((ds.Rows, ds.Columns))
    mx = float(getattr(ds, "MaximumFractionalValue", 1) or 1)
    for _, n, refs, px in frames:
        if source_uid not in refs:
            continue
        if kind == "LABELMAP":
            cov = np.maximum(cov, (px == segment).astype(float))
        elif n == segment:
            cov = np.maximum(cov, np.minimum(px / mx, 1) if kind == "FRACTIONAL" else (px > 0).astype(float))
    return cov


def edges(m):
    pad = np.pad(m, 1)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    e = m & ~inner
    e[0, :] |= m[0, :]
    e[-1, :] |= m[-1, :]
    e[:, 0] |= m[:, 0]
    e[:, -1] |= m[:, -1]
    return e


def expected(grey, layers, outline=True):
    """layers: [(coverage, rgb)] in drawing order; the page's rule (render/render.h)."""
    img = np.repeat(grey[..., None], 3, axis=2).astype(np.float64)
    edge_any = np.zeros(grey.shape, bool)
    for cov, rgb in layers:
        a = OPACITY * np.round(cov * 255) / 255
        m = cov > 0
        img[m] = (1 - a[m, None]) * img[m] + a[m, None] * np.asarray(rgb, float)
        if outline:
            e = edges(m)
            img[e] = rgb
            edge_any |= e
    return img, edge_any


def voxels(shot):
    """The screenshot sampled at voxel centres: rows x columns x 3."""
    im = np.asarray(Image.open(shot["file"]).convert("RGB")).astype(np.float64)
    zy, zx = shot["height"] / shot["ch"], shot["width"] / shot["cw"]
    ys = ((np.arange(shot["ch"]) + 0.5) * zy).astype(int).clip(0, im.shape[0] - 1)
    xs = ((np.arange(shot["cw"]) + 0.5) * zx).astype(int).clip(0, im.shape[1] - 1)
    return im[ys][:, xs]


def assert_close(got, want, where, tol, what):
    d = np.abs(got - want).max(axis=2)
    d[~where] = 0
    bad = np.argwhere(d > tol)
    assert not len(bad), "%s: %d voxels differ by more than %d, first %s got %s want %s" % (
        what, len(bad), tol, tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])


# ---- server and browser ----

def multipart(parts, boundary="segweb-browser-7c1e"):
    body = b""
    for p in parts:
        body += b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n", boundary


@pytest.fixture(scope="module")
def site():
    tmp = tempfile.mkdtemp(prefix="segweb-browser-")
    files = os.path.join(tmp, "files")
    shutil.copytree(os.path.join(DATA, "seg"), os.path.join(files, "seg"))
    shutil.copytree(os.path.join(DATA, "source"), os.path.join(files, "source"))
    os.mkdir(os.path.join(files, "bad"))
    # a SEG whose source images exist nowhere
    ds = pydicom.dcmread(os.path.join(DATA, "seg/dcmqi_liver.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "2.25.%d" % uuid.uuid4().int
    for f in ds.PerFrameFunctionalGroupsSequence:
        for d in f.DerivationImageSequence:
            for r in d.SourceImageSequence:
                r.ReferencedSOPInstanceUID = "2.25.%d" % uuid.uuid4().int
    for it in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence:
        it.ReferencedSOPInstanceUID = "2.25.%d" % uuid.uuid4().int
    ds.save_as(os.path.join(files, "bad", "missing_sources.dcm"))
    proc = SegwebProcess(BIN, ["--files-root", files], prefix="segweb-browser-srv-")
    # the liver SEG in the store too: /view/studies/... with its sources found under the files root
    liver = pydicom.dcmread(os.path.join(DATA, "seg/dcmqi_liver.dcm"))
    body, b = multipart([open(os.path.join(DATA, "seg/dcmqi_liver.dcm"), "rb").read()])
    c = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=60)
    c.request("POST", "/studies", body, {"Content-Type": 'multipart/related; type="application/dicom"; boundary=' + b})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
    store_r = "studies/%s/series/%s/instances/%s" % (liver.StudyInstanceUID, liver.SeriesInstanceUID,
                                                     liver.SOPInstanceUID)
    # the same files behind --auth-token
    locked = SegwebProcess(BIN, ["--files-root", files, "--auth-token", TOKEN], prefix="segweb-browser-auth-")
    yield {"proc": proc, "locked": locked, "files": files, "store_r": store_r, "tmp": tmp}
    locked.stop()
    proc.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def warm(port, paths):
    """A warm server: indexes cached, the files-root UID index built."""
    for p in paths:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/" + p)
        c.getresponse().read()
        c.close()


SCENARIOS = [
    {"name": "liver", "path": "view/files/seg/dcmqi_liver.dcm#slice=1",
     "steps": [{"shot": "s1"}, {"key": "ArrowUp", "slice": 2}, {"shot": "s2"}, {"click": "#seg-1"},
               {"shot": "hidden"}, {"click": "#seg-1"}, {"key": "End", "slice": 3}, {"key": "Home", "slice": 1},
               {"repeat": 6, "keys": ["ArrowUp", "ArrowUp", "ArrowDown", "ArrowDown"]}]},
    {"name": "liver_store", "path": None, "steps": [{"shot": "mid"}]},
    {"name": "overlaps", "path": "view/files/seg/dcmqi_partial_overlaps.dcm#slice=2", "volumes": True,
     "steps": [{"shot": "all"}, {"click": "#seg-1"}, {"shot": "no1"}]},
    {"name": "odd", "path": "view/files/seg/dcmqi_38x23_odd.dcm#slice=1",
     "steps": [{"shot": "s1"}, {"key": "ArrowRight", "slice": 2}, {"shot": "s2"}]},
    {"name": "fractional", "path": "view/files/seg/hd_ct_true_fractional.dcm#slice=1", "steps": [{"shot": "s1"}]},
    {"name": "labelmap", "path": "view/files/seg/dcmqi_labelmap_sparse_noppv.dcm#slice=1",
     "steps": [{"shot": "s1"}, {"click": "#seg-1"}, {"shot": "no1"}]},
    {"name": "slide", "path": "view/files/seg/hd_sm_control_tiled_sparse.dcm", "steps": [{"shot": "total"}]},
    {"name": "missing", "path": "view/files/bad/missing_sources.dcm#slice=2", "steps": [{"shot": "s2"}]},
    {"name": "auth", "path": "view/files/seg/dcmqi_liver.dcm#slice=2", "token": TOKEN, "steps": [{"shot": "s2"}]},
    {"name": "index", "path": "view/", "waitFor": "#series tbody a", "steps": []},
    {"name": "unknown_segment", "path": "view/files/seg/dcmqi_liver.dcm#segments=1,9", "steps": []},
    {"name": "not_seg", "path": "view/files/source/dcmqi_ct3slice/01.dcm", "expectError": True, "steps": []},
    {"name": "no_file", "path": "view/files/seg/nope.dcm", "expectError": True, "steps": []},
]


@pytest.fixture(scope="module")
def run(site):
    os.makedirs(OUT, exist_ok=True)
    scenarios = json.loads(json.dumps(SCENARIOS))
    scenarios[1]["path"] = "view/" + site["store_r"]
    next(s for s in scenarios if s["name"] == "auth")["base"] = "http://127.0.0.1:%d/" % site["locked"].port
    warm(site["proc"].port, [s["path"].split("#")[0].replace("view/", "", 1) + "/slices"
                             for s in scenarios if not s.get("expectError")] + ["view/"])
    plan = {"base": "http://127.0.0.1:%d/" % site["proc"].port, "out": OUT, "chromium": CHROMIUM,
            "scenarios": scenarios}
    pf, rf = os.path.join(site["tmp"], "plan.json"), os.path.join(site["tmp"], "result.json")
    with open(pf, "w") as f:
        json.dump(plan, f)
    p = subprocess.run(["node", os.path.join(HERE, "drive.mjs"), pf, rf], capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    res = {r["name"]: r for r in json.load(open(rf))}
    timing = {"first_paint_ms": {n: round(r["perf"]["firstPaint"], 1) for n, r in res.items()
                                 if r.get("perf") and r["perf"].get("firstPaint")},
              "slice_change_ms": [round(x, 2) for x in res["liver"]["changes"]]}
    ch = [x for x in res["liver"]["changes"]]
    timing["slice_change_median_ms"] = round(statistics.median(ch), 2) if ch else None
    timing["first_paint_median_ms"] = round(statistics.median(timing["first_paint_ms"].values()), 1)
    with open(os.path.join(OUT, "timing.json"), "w") as f:
        json.dump(timing, f, indent=1)
    print("\nbrowser timing:", json.dumps(timing))
    return res


GOOD = ["index", "liver", "liver_store", "auth", "overlaps", "odd", "fractional", "labelmap", "slide", "missing", "unknown_segment"]


@pytest.mark.parametrize("name", GOOD)
def test_page_loads_clean(run, name):
    r = run[name]
    assert not r.get("timeout"), r
    assert r["exceptions"] == [], r["exceptions"]
    console = r["console"]
    if name == "auth":  # the one refused request before the prompt
        console = [m for m in console if "status of 401" not in m]
    assert console == [], console


@pytest.mark.parametrize("name", ["not_seg", "no_file"])
def test_bad_input_readable(run, name):
    r = run[name]
    assert not r.get("timeout"), "no error message shown: %s" % r["texts"]
    assert r["exceptions"] == [], r["exceptions"]
    msg = r["texts"]["message"]
    assert msg and len(msg) > 20, msg
    assert r["texts"]["bodyLength"] > 50  # never a blank page
    if name == "not_seg":
        assert "not" in msg.lower()


def source_path(name):
    return os.path.join(DATA, "source", name)


def liver_layers(slice_file, seg="dcmqi_liver.dcm", segments=(1,), kind="BINARY"):
    src = source_path(slice_file)
    uid = pydicom.dcmread(src).SOPInstanceUID
    info = json.loads(subprocess.run([BIN, "info", os.path.join(DATA, "seg", seg)], capture_output=True,
                                     check=True).stdout)
    rgb = {s["number"]: s["rgb"] for s in info["segments"]}
    return ct_grey(src), [(coverage(os.path.join(DATA, "seg", seg), uid, n, kind), rgb[n]) for n in segments]


def check(shot, grey, layers, tol=3):
    got = voxels(shot)
    want, edge = expected(grey, layers)
    covered = np.zeros(grey.shape, bool)
    for cov, _ in layers:
        covered |= cov > 0
    assert covered.any()
    assert_close(got, want, covered & ~edge, tol, "inside: colour blended over grey")
    assert_close(got, want, edge, tol, "outline")
    assert_close(got, want, ~covered, 2, "outside: grey unchanged")


def test_liver_inside_outside_hide_next(run):
    r = run["liver"]
    # slice 1 of the page is the lowest position: 03.dcm (z -128.69)
    grey1, layers1 = liver_layers("dcmqi_ct3slice/03.dcm")
    check(r["shots"]["s1"], grey1, layers1)
    grey2, layers2 = liver_layers("dcmqi_ct3slice/02.dcm")
    check(r["shots"]["s2"], grey2, layers2)
    # the next slice shows the next slice's mask: voxels in mask 2 only are coloured only there
    m1, m2 = layers1[0][0] > 0, layers2[0][0] > 0
    assert (m2 & ~m1).sum() > 20
    # hiding the segment removes its colour: the CT grey everywhere
    check_grey = voxels(r["shots"]["hidden"])
    assert_close(check_grey, np.repeat(grey2[..., None], 3, axis=2), np.ones(grey2.shape, bool), 2, "hidden")
    assert r["shots"]["hidden"]["hash"] == "#slice=2&segments=none"


def test_keyboard_navigation(run):
    r = run["liver"]
    assert r["steps"].count("key") == 3  # ArrowUp, End, Home each reached the slice asked for
    assert len(r["changes"]) >= 24
    assert r["texts"]["sliceinfo"].startswith("1 / 3")


def test_store_resource(run):
    grey, layers = liver_layers("dcmqi_ct3slice/02.dcm")  # the middle slice
    check(run["liver_store"]["shots"]["mid"], grey, layers)


def test_overlapping_segments_and_hiding_one(run):
    r = run["overlaps"]
    grey, layers = liver_layers("dcmqi_ct3slice/02.dcm", "dcmqi_partial_overlaps.dcm", (1, 2, 3))
    check(r["shots"]["all"], grey, layers)
    check(r["shots"]["no1"], grey, layers[1:])


def test_odd_size_pair(run):
    r = run["odd"]
    for shot, f in (("s1", "IMG0001.dcm"), ("s2", "IMG0002.dcm")):
        grey, layers = liver_layers("dcmqi_23x38x3/" + f, "dcmqi_38x23_odd.dcm")
        if not layers[0][0].any():
            continue
        check(r["shots"][shot], grey, layers)
    assert r["shots"]["s1"]["cw"] == 23 and r["shots"]["s1"]["ch"] == 38


def slice_source(seg_file, index=0):
    """The source file shown on slice `index` of the page (from R/slices) and its name under source/."""
    doc = json.loads(http_get("files/seg/%s/slices" % seg_file))
    url = doc["slices"][index]["source"]["url"]
    assert url.startswith("files/source/"), url
    return url[len("files/source/"):]


def info_segments(seg_file):
    doc = json.loads(subprocess.run([BIN, "info", os.path.join(DATA, "seg", seg_file)], capture_output=True,
                                    check=True).stdout)
    return [s["number"] for s in doc["segments"] if s["number"] > 0]


def test_fractional(run):
    seg = "hd_ct_true_fractional.dcm"
    grey, layers = liver_layers(slice_source(seg), seg, (1,), "FRACTIONAL")
    assert 0 < layers[0][0].max() < 1 or (layers[0][0] > 0).any()
    check(run["fractional"]["shots"]["s1"], grey, layers)


def test_labelmap(run):
    r = run["labelmap"]
    seg = "dcmqi_labelmap_sparse_noppv.dcm"
    segs = info_segments(seg)
    grey, layers = liver_layers(slice_source(seg), seg, segs, "LABELMAP")
    shown = [(n, l) for n, l in zip(segs, layers) if l[0].any()]
    assert shown
    check(r["shots"]["s1"], grey, [l for _, l in shown])
    rest = [l for n, l in shown if n != 1]
    if rest:
        check(r["shots"]["no1"], grey, rest)
    else:
        assert_close(voxels(r["shots"]["no1"]), np.repeat(grey[..., None], 3, axis=2),
                     np.ones(grey.shape, bool), 2, "segment 1 hidden")


_PORT = {}


def http_get(path):
    c = http.client.HTTPConnection("127.0.0.1", _PORT["port"], timeout=30)
    c.request("GET", "/" + path)
    return c.getresponse().read()


@pytest.fixture(autouse=True, scope="module")
def _port(site):
    _PORT["port"] = site["proc"].port


def test_slide_total_matrix(run):
    r = run["slide"]
    shot = r["shots"]["total"]
    assert (shot["ch"], shot["cw"]) == (50, 50)  # the total pixel matrix, not one 10x10 tile
    ds = pydicom.dcmread(os.path.join(DATA, "seg/hd_sm_control_tiled_sparse.dcm"))
    px = ds.pixel_array
    covered = np.zeros((50, 50), bool)
    for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence):
        p = f.PlanePositionSlideSequence[0]
        r0, c0 = p.RowPositionInTotalImagePixelMatrix - 1, p.ColumnPositionInTotalImagePixelMatrix - 1
        covered[r0:r0 + 10, c0:c0 + 10] |= px[i] > 0
    got = voxels(shot)
    lit = got.max(axis=2) > 8
    assert covered.any()
    assert (lit == covered).mean() > 0.99, "masks on black at their tile positions"
    assert "slide" in r["texts"]["message"].lower()


def test_missing_sources_masks_on_black(run):
    r = run["missing"]
    assert "not available" in r["texts"]["message"]
    got = voxels(r["shots"]["s2"])
    _, layers = liver_layers("dcmqi_ct3slice/02.dcm")
    m = layers[0][0] > 0
    assert got[~m].max() <= 2  # black outside
    assert got[m].max(axis=1).min() > 20  # coloured inside


def test_unknown_segment_in_url(run):
    assert "Segment 9 is not in this segmentation" in run["unknown_segment"]["texts"]["message"]


def test_findings_shown(run):
    assert "No findings" in run["liver"]["texts"]["findings"]
    assert "SOURCE_NOT_FOUND" in run["missing"]["texts"]["findings"]
    assert "BITS_NOT_BYTE_ALIGNED" in run["odd"]["texts"]["findings"]


def test_auth_token_prompt(run):
    r = run["auth"]
    assert r["texts"]["storedToken"] == TOKEN
    grey, layers = liver_layers("dcmqi_ct3slice/02.dcm")
    check(r["shots"]["s2"], grey, layers)


def test_index_lists_stored_seg_series(run, site):
    r = run["index"]
    hrefs = [h for _, h in r["links"]]
    assert any(h and h.endswith(site["store_r"]) for h in hrefs), r["links"]


def test_volume_column(run):
    vols = run["overlaps"].get("volumes")
    assert vols and len(vols) == 5 and all(float(v) > 0 for v in vols), vols
