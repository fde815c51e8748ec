"""Issue 12 on a local store: any DICOM object kept (a CT beside its SEG), WADO-RS frames of
that CT, transfer-syntax negotiation, --base-path and --public-url in the URLs segweb writes."""
import glob
import json
import os
import re
import sys
import uuid

import pydicom
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from segweb_process import SegwebProcess  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SEGWEB_BIN", os.path.join(ROOT, "build-asan", "server", "segweb"))
TESTDATA = os.environ.get("SEGWEB_TESTDATA", os.path.join(ROOT, "..", "shared", "testdata"))
CTS = sorted(glob.glob(os.path.join(TESTDATA, "source", "dcmqi_ct3slice", "*.dcm")))
SEG = os.path.join(TESTDATA, "seg", "dcmqi_liver.dcm")
J2K = os.path.join(TESTDATA, "seg", "pyd_liver_j2k.dcm")
import http.client  # noqa: E402


class S(SegwebProcess):
    def __init__(self, args=()):
        super().__init__(BIN, list(args), prefix="segweb-any-")

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stow(self, paths, prefix=""):
        b = "any-" + uuid.uuid4().hex
        body = b"".join(f"--{b}\r\nContent-Type: application/dicom\r\n\r\n".encode() + open(p, "rb").read() + b"\r\n"
                        for p in paths) + f"--{b}--\r\n".encode()
        return self.req("POST", prefix + "/studies", body,
                        {"Content-Type": f'multipart/related; type="application/dicom"; boundary={b}'})


def parts(body, ctype):
    b = re.search(r'boundary="?([^";]+)', ctype).group(1).encode()
    out = []
    for chunk in body.split(b"--" + b)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        out.append((head.decode(), data[:-2]))
    return out


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


@pytest.fixture(scope="module")
def srv():
    s = S()
    st, _, body = s.stow(CTS + [SEG, J2K])
    assert st == 200, body[:500]
    yield s
    assert s.stop() == 0


def test_ct_frames(srv):
    ds = pydicom.dcmread(CTS[0])
    st, h, body = srv.req("GET", url(ds) + "/frames/1", headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert st == 200, body[:300]
    p = parts(body, h["content-type"])
    assert len(p) == 1 and "transfer-syntax=1.2.840.10008.1.2.1" in p[0][0]
    assert p[0][1] == ds.PixelData[: ds.Rows * ds.Columns * ds.BitsAllocated // 8]
    assert srv.req("GET", url(ds) + "/frames/2")[0] == 404
    st, _, _ = srv.req("GET", url(ds) + "/frames/1",
                       headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50'})
    assert st == 406
    st, _, body = srv.req("GET", url(ds) + "/segments")
    assert st == 415


def test_modalities_in_study(srv):
    ds = pydicom.dcmread(CTS[0], stop_before_pixels=True)
    st, _, body = srv.req("GET", f"/studies?StudyInstanceUID={ds.StudyInstanceUID}&includefield=00080061")
    mods = json.loads(body)[0]["00080061"]["Value"]
    assert "CT" in mods and "SEG" in mods
    st, _, body = srv.req("GET", f"/studies/{ds.StudyInstanceUID}/series?Modality=CT")
    assert st == 200 and len(json.loads(body)) == 1


def test_transfer_syntax_negotiation(srv):
    ds = pydicom.dcmread(J2K, stop_before_pixels=True)
    u = url(ds)
    st, h, body = srv.req("GET", u, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert st == 200  # JPEG 2000 SEG -> Explicit VR LE: decoded by segweb's codecs (test_transcode.py)
    assert "transfer-syntax=1.2.840.10008.1.2.1" in parts(body, h["content-type"])[0][0]
    st, h, body = srv.req("GET", u, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200 and parts(body, h["content-type"])[0][1] == open(J2K, "rb").read()
    ts = str(ds.file_meta.TransferSyntaxUID)
    st, h, body = srv.req("GET", u, headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ts}'})
    assert st == 200 and f"transfer-syntax={ts}" in parts(body, h["content-type"])[0][0]
    # an Explicit VR LE object asked as Implicit VR LE: re-encoded
    seg = pydicom.dcmread(SEG, stop_before_pixels=True)
    st, h, body = srv.req("GET", url(seg), headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'})
    assert st == 200
    import io
    got = pydicom.dcmread(io.BytesIO(parts(body, h["content-type"])[0][1]))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2" and got.SOPInstanceUID == seg.SOPInstanceUID


def test_base_path_and_public_url():
    s = S(["--base-path", "/dicom-web", "--public-url", "https://viewer.example.org"])
    try:
        st, _, body = s.stow([SEG], prefix="/dicom-web")
        assert st == 200, body[:300]
        doc = json.loads(body)
        ds = pydicom.dcmread(SEG, stop_before_pixels=True)
        want = "https://viewer.example.org/dicom-web" + url(ds)
        assert doc["00081199"]["Value"][0]["00081190"]["Value"] == [want]
        st, _, body = s.req("GET", "/dicom-web" + url(ds) + "/metadata")
        assert st == 200
        pixel = json.loads(body)[0]["7FE00010"]["BulkDataURI"]
        assert pixel.startswith(want + "/")
        st, _, body = s.req("GET", "/dicom-web/instances")
        assert json.loads(body)[0]["00081190"]["Value"][0] == want
        assert s.req("GET", "/studies")[0] == 404
        assert s.req("GET", "/dicom-web" + url(ds) + "/segments")[0] == 200
        assert s.req("GET", "/readyz")[0] == 200 and s.req("GET", "/healthz")[0] == 200
    finally:
        assert s.stop() == 0
