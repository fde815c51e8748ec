"""WADO-RS bulkdata (issue 12 part 3): every BulkDataURI /metadata writes is served.

Oracles: pydicom's reading of the stored file (the ICC profile's bytes; a native SEG's
Pixel Data value, byte for byte) and ../shared/testdata/expected (frames of a compressed
SEG's decoded value). Under --base-path and --public-url the URI is absolute and its
path answers. Bad tags, missing tags and unproducible syntaxes are JSON 4xx.
(tests/dicomweb checks the same URI with dicomweb-client, OHIF's client.)"""
import hashlib
import json
from urllib.parse import urlsplit

import numpy as np
import pydicom

from conftest import BIN, SegwebProcess, expected, needs_binary, needs_corpus, parse_multipart, read_seg, seg_path

pytestmark = [needs_corpus, needs_binary]

NAMES = ["dcmqi_38x23_odd", "pyd_liver_nonbyte_aligned_j2k", "hd_sm_control_labelmap_palette"]
OCTETS = 'multipart/related; type="application/octet-stream"'


def url(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def frame_hashes(value, exp):
    """expected/'s frame_sha256 of a whole native value (BINARY packed back to back)."""
    n, npix = len(exp["frame_sha256"]), exp["rows"] * exp["columns"]
    if exp["segmentation_type"] == "BINARY":
        bits = np.unpackbits(np.frombuffer(value, np.uint8), bitorder="little")[: n * npix]
        frames = bits.reshape(n, npix).astype(np.uint8)
    else:
        dt = np.uint8 if exp["frame_hash_dtype"] == "uint8" else np.dtype("<u2")
        frames = np.frombuffer(value, dt)[: n * npix].reshape(n, npix)
    return [hashlib.sha256(f.tobytes()).hexdigest() for f in frames]


def test_bulkdata_uris_answer():
    s = SegwebProcess(BIN, ["--base-path", "/dicom-web", "--public-url", "https://viewer.example.org"])
    try:
        st, _, body = s.stow([read_seg(n) for n in NAMES], target="/dicom-web/studies")
        assert st == 200, body[:300]
        for name in NAMES:
            ds = pydicom.dcmread(seg_path(name))
            st, _, body = s.get("/dicom-web" + url(ds) + "/metadata")
            assert st == 200, body[:300]
            meta = json.loads(body)[0]
            pixel = meta["7FE00010"]["BulkDataURI"]
            assert pixel == "https://viewer.example.org/dicom-web" + url(ds) + "/bulkdata/7FE00010"
            st, h, body = s.get(urlsplit(pixel).path, {"Accept": OCTETS})
            assert st == 200, body[:300]
            (head, value), = parse_multipart(body, h["content-type"])
            assert head["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
            assert frame_hashes(value, expected(name)) == expected(name)["frame_sha256"], name
            if not ds.file_meta.TransferSyntaxUID.is_compressed:  # native: the stored value itself
                assert value[: len(ds.PixelData)] == ds.PixelData and len(value) - len(ds.PixelData) in (0, 1)
            # every other BulkDataURI answers its element's bytes
            for tag, el in meta.items():
                if tag != "7FE00010" and isinstance(el, dict) and "BulkDataURI" in el:
                    st, h, body = s.get(urlsplit(el["BulkDataURI"]).path)
                    assert st == 200, (tag, body[:300])
                    (head, got), = parse_multipart(body, h["content-type"])
                    want = ds[int(tag, 16)].value
                    assert got[: len(want)] == want and len(got) - len(want) in (0, 1), tag
        ds = pydicom.dcmread(seg_path("hd_sm_control_labelmap_palette"), stop_before_pixels=True)
        assert "00282000" in json.loads(s.get("/dicom-web" + url(ds) + "/metadata")[2])[0]  # ICC profile, by URI
        base = "/dicom-web" + url(ds) + "/bulkdata/"
        for target, status in ((base + "7FE0001", 400), (base + "7FE0001X", 400), (base + "00091234", 404),
                               ("/dicom-web" + url(ds).replace(ds.SOPInstanceUID, "1.2.3") + "/bulkdata/7FE00010", 404)):
            st, h, body = s.get(target)
            assert st == status, (target, st, body[:200])
            assert json.loads(body)["error"]["status"] == status
        st, _, body = s.get(base + "7FE00010", {"Accept": OCTETS + "; transfer-syntax=1.2.840.10008.1.2.4.90"})
        assert st == 406 and json.loads(body)["error"]["message"]
        st, _, _ = s.get(base + "7FE00010", {"Accept": "application/dicom+json"})
        assert st == 406
    finally:
        assert s.stop() == 0
