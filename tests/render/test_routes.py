"""The viewer's HTTP routes on a real server: R/rendered and R/frames/{f}/rendered
for source images (files and with a stored SEG burned in), their parameters and
errors, a SEG's own frames keeping their meaning, R/slices, R/lint, the series
thumbnail and the page's files."""
import http.client
import io
import json
import os
import shutil
import tempfile

import numpy as np
import pydicom
import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
from conftest import BIN, TESTDATA as DATA, SegwebProcess  # noqa: E402
LIVER = pydicom.dcmread(os.path.join(DATA, "seg/dcmqi_liver.dcm"), stop_before_pixels=True)
CT1 = "files/source/dcmqi_ct3slice/01.dcm"


@pytest.fixture(scope="module")
def srv():
    tmp = tempfile.mkdtemp(prefix="segweb-routes-")
    files = os.path.join(tmp, "files")
    shutil.copytree(os.path.join(DATA, "source"), os.path.join(files, "source"))
    os.mkdir(os.path.join(files, "seg"))
    for n in ("dcmqi_liver.dcm", "dcmqi_partial_overlaps.dcm"):
        shutil.copy(os.path.join(DATA, "seg", n), os.path.join(files, "seg", n))
    p = SegwebProcess(BIN, ["--files-root", files], prefix="segweb-routes-srv-")
    boundary = "segweb-routes-b"
    body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" +
            open(os.path.join(DATA, "seg/dcmqi_liver.dcm"), "rb").read() + b"\r\n--" + boundary.encode() + b"--\r\n")
    st, _, _ = get(p, "/studies", "POST", body,
                   {"Content-Type": 'multipart/related; type="application/dicom"; boundary=' + boundary})
    assert st == 200
    yield p
    p.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def get(p, target, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=60)
    c.request(method, target, body, headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def img(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def test_source_rendered_png_and_window_header(srv):
    st, h, data = get(srv, "/" + CT1 + "/frames/1/rendered")
    assert st == 200 and h["content-type"] == "image/png"
    assert h["x-segweb-window"].endswith("source=object")
    assert img(data).shape == (512, 512)
    st, h, data2 = get(srv, "/" + CT1 + "/rendered?window=-600,1500,linear")
    assert st == 200 and h["x-segweb-window"] == "-600,1500;source=query"
    assert not np.array_equal(img(data), img(data2))


def test_jpeg_by_accept_and_by_parameter(srv):
    for target, headers in (("/" + CT1 + "/rendered", {"Accept": "image/jpeg"}),
                            ("/" + CT1 + "/rendered?accept=image%2Fjpeg&quality=50", {})):
        st, h, data = get(srv, target, headers=headers)
        assert st == 200 and h["content-type"] == "image/jpeg" and data[:2] == b"\xff\xd8"
    st, _, _ = get(srv, "/" + CT1 + "/rendered", headers={"Accept": "text/html"})
    assert st == 406


def test_burned_in_from_stored_seg(srv):
    uid = LIVER.SOPInstanceUID
    st, h, plain = get(srv, "/" + CT1 + "/rendered")
    st, h, burned = get(srv, "/" + CT1 + "/rendered?segmentation=%s&opacity=1" % uid)
    assert st == 200, burned
    a, b = img(plain), img(burned)
    assert b.shape == (512, 512, 3)
    changed = (b != a[..., None]).any(axis=2)
    assert changed.sum() > 1000
    st, _, body = get(srv, "/" + CT1 + "/rendered?segmentation=%s&segments=7" % uid)
    assert st == 404 and b"no segment 7" in body
    st, _, body = get(srv, "/" + CT1 + "/rendered?segmentation=1.2.3.4")
    assert st == 404, body
    st, _, body = get(srv, "/" + CT1 + "/rendered?opacity=2&segmentation=%s" % uid)
    assert st == 400 and b"opacity" in body
    st, _, body = get(srv, "/" + CT1 + "/rendered?window=40,0")
    assert st == 400


def test_other_series_image_refused_readably(srv):
    st, _, body = get(srv, "/files/source/dcmqi_24x38x3/IMG0001.dcm/rendered?segmentation=%s" % LIVER.SOPInstanceUID)
    assert st in (404, 422) and json.loads(body)["error"]["message"]


def test_seg_frames_keep_their_meaning(srv):
    st, h, data = get(srv, "/files/seg/dcmqi_liver.dcm/frames/1/rendered")
    assert st == 200 and h["content-type"] == "image/png"
    assert img(data).shape == (512, 512) and set(np.unique(img(data))) <= {0, 1, 255}
    st, h, data = get(srv, "/files/seg/dcmqi_liver.dcm/frames/9/rendered")
    assert st == 404


def test_slices_and_lint(srv):
    st, h, body = get(srv, "/files/seg/dcmqi_partial_overlaps.dcm/slices")
    assert st == 200
    doc = json.loads(body)
    assert [s["index"] for s in doc["slices"]] == [1, 2, 3]
    locs = [s["location"] for s in doc["slices"]]
    assert locs == sorted(locs)
    assert all(s["source"]["found"] for s in doc["slices"])
    assert doc["slices"][1]["source"]["url"] == "files/source/dcmqi_ct3slice/02.dcm"
    assert sorted(f["segment"] for f in doc["slices"][1]["frames"]) == [1, 2, 3]
    st, _, body = get(srv, "/files/seg/dcmqi_liver.dcm/lint")
    assert st == 200 and json.loads(body)["findings"] == []
    st, _, body = get(srv, "/" + CT1 + "/slices")
    assert st in (415, 422)


def test_store_routes_and_thumbnail(srv):
    r = "/studies/%s/series/%s/instances/%s" % (LIVER.StudyInstanceUID, LIVER.SeriesInstanceUID, LIVER.SOPInstanceUID)
    st, _, body = get(srv, r + "/slices")
    assert st == 200 and json.loads(body)["sources"] == {"referenced": 3, "found": 3}
    st, h, data = get(srv, "/studies/%s/series/%s/thumbnail" % (LIVER.StudyInstanceUID, LIVER.SeriesInstanceUID))
    assert st == 200 and h["content-type"] == "image/png"
    t = img(data)
    assert t.shape == (512, 512, 3) and (t[..., 0] != t[..., 2]).sum() > 1000  # colour over grey
    st, _, _ = get(srv, "/studies/%s/series/1.2.3/thumbnail" % LIVER.StudyInstanceUID)
    assert st == 404


def test_page_files(srv):
    st, h, body = get(srv, "/view/files/seg/dcmqi_liver.dcm")
    assert st == 200 and h["content-type"].startswith("text/html")
    assert b'content="../../../"' in body and "script-src 'self'" in h["content-security-policy"]
    st, h, body = get(srv, "/view/")
    assert st == 200 and b'content="../"' in body
    st, h, _ = get(srv, "/view/_/view.js")
    assert st == 200 and h["content-type"].startswith("text/javascript")
    st, _, _ = get(srv, "/view/_/nope.js")
    assert st == 404
    st, h, _ = get(srv, "/view")
    assert st == 308 and h["location"] == "view/"


def test_volumes(srv):
    """Per-segment volume (mL) from volume/, against voxels x spacing from pydicom."""
    ds = pydicom.dcmread(os.path.join(DATA, "seg/dcmqi_liver.dcm"))
    pm = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    voxel_mm3 = float(pm.PixelSpacing[0]) * float(pm.PixelSpacing[1]) * float(pm.SpacingBetweenSlices)
    want = (ds.pixel_array > 0).sum() * voxel_mm3 / 1000
    st, _, body = get(srv, "/files/seg/dcmqi_liver.dcm/volumes")
    assert st == 200
    got = json.loads(body)["volumes_ml"]["1"]
    assert abs(got - want) < 1e-6 * want, (got, want)
    # not a volume: 200, no volumes, the reason
    st, _, body = get(srv, "/files/source/dcmqi_ct3slice/01.dcm/volumes")
    assert st in (415, 422)
