"""Issue 12 on a local store: any DICOM object kept (a CT beside its SEG), WADO-RS frames of
that CT, transfer-syntax negotiation, --base-path and --public-url in the URLs segweb writes."""
import glob
import io
import json
import os

import pydicom
import pytest

from conftest import BIN, SEG_DIR, SOURCE_DIR, SegwebProcess, needs_corpus, parse_multipart

CTS = sorted(glob.glob(os.path.join(SOURCE_DIR, "dcmqi_ct3slice", "*.dcm")))
SEG = os.path.join(SEG_DIR, "dcmqi_liver.dcm")
J2K = os.path.join(SEG_DIR, "pyd_liver_j2k.dcm")
pytestmark = needs_corpus


class S(SegwebProcess):
    def __init__(self, args=()):
        super().__init__(BIN, list(args), prefix="segweb-any-")


def files(paths):
    """The bytes of each file, as STOW parts (conftest.multipart)."""
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def parts(body, ctype):
    """[(Content-Type of the part, bytes)] of a multipart answer."""
    return [(h.get("content-type", ""), d) for h, d in parse_multipart(body, ctype)]


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


@pytest.fixture(scope="module")
def srv():
    s = S()
    st, _, body = s.stow(files(CTS + [SEG, J2K]))
    assert st == 200, body[:500]
    yield s
    assert s.stop() == 0


def test_ct_frames(srv):
    ds = pydicom.dcmread(CTS[0])
    st, h, body = srv.request("GET", url(ds) + "/frames/1", headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert st == 200, body[:300]
    p = parts(body, h["content-type"])
    assert len(p) == 1 and "transfer-syntax=1.2.840.10008.1.2.1" in p[0][0]
    assert p[0][1] == ds.PixelData[: ds.Rows * ds.Columns * ds.BitsAllocated // 8]
    assert srv.request("GET", url(ds) + "/frames/2")[0] == 404
    st, _, _ = srv.request("GET", url(ds) + "/frames/1",
                       headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50'})
    assert st == 406
    st, _, body = srv.request("GET", url(ds) + "/segments")
    assert st == 415


def test_modalities_in_study(srv):
    ds = pydicom.dcmread(CTS[0], stop_before_pixels=True)
    st, _, body = srv.request("GET", f"/studies?StudyInstanceUID={ds.StudyInstanceUID}&includefield=00080061")
    mods = json.loads(body)[0]["00080061"]["Value"]
    assert "CT" in mods and "SEG" in mods
    st, _, body = srv.request("GET", f"/studies/{ds.StudyInstanceUID}/series?Modality=CT")
    assert st == 200 and len(json.loads(body)) == 1


def test_transfer_syntax_negotiation(srv):
    ds = pydicom.dcmread(J2K, stop_before_pixels=True)
    u = url(ds)
    st, h, body = srv.request("GET", u, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert st == 200  # JPEG 2000 SEG -> Explicit VR LE: decoded by segweb's codecs (test_transcode.py)
    assert "transfer-syntax=1.2.840.10008.1.2.1" in parts(body, h["content-type"])[0][0]
    st, h, body = srv.request("GET", u, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200 and parts(body, h["content-type"])[0][1] == open(J2K, "rb").read()
    ts = str(ds.file_meta.TransferSyntaxUID)
    st, h, body = srv.request("GET", u, headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ts}'})
    assert st == 200 and f"transfer-syntax={ts}" in parts(body, h["content-type"])[0][0]
    # an Explicit VR LE object asked as Implicit VR LE: re-encoded
    seg = pydicom.dcmread(SEG, stop_before_pixels=True)
    st, h, body = srv.request("GET", url(seg), headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'})
    assert st == 200
    got = pydicom.dcmread(io.BytesIO(parts(body, h["content-type"])[0][1]))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2" and got.SOPInstanceUID == seg.SOPInstanceUID


def test_base_path_and_public_url():
    s = S(["--base-path", "/dicom-web", "--public-url", "https://viewer.example.org"])
    try:
        st, _, body = s.stow(files([SEG]), target="/dicom-web/studies")
        assert st == 200, body[:300]
        doc = json.loads(body)
        ds = pydicom.dcmread(SEG, stop_before_pixels=True)
        want = "https://viewer.example.org/dicom-web" + url(ds)
        assert doc["00081199"]["Value"][0]["00081190"]["Value"] == [want]
        st, _, body = s.request("GET", "/dicom-web" + url(ds) + "/metadata")
        assert st == 200
        pixel = json.loads(body)[0]["7FE00010"]["BulkDataURI"]
        assert pixel.startswith(want + "/")
        st, _, body = s.request("GET", "/dicom-web/instances")
        assert json.loads(body)[0]["00081190"]["Value"][0] == want
        assert s.request("GET", "/studies")[0] == 404
        assert s.request("GET", "/dicom-web" + url(ds) + "/segments")[0] == 200
        assert s.request("GET", "/readyz")[0] == 200 and s.request("GET", "/healthz")[0] == 200
    finally:
        assert s.stop() == 0
