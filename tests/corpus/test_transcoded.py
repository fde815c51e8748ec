"""Transfer syntaxes the corpus lacks, made at test time with pydicom from corpus
files: Encapsulated Uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1.98),
with one fragment per frame and, for multi-frame objects, a Basic Offset Table.
segweb's frames must hash exactly as ../shared/testdata/expected says for the
original file (the oracle is pydicom's decoding of that original)."""
import hashlib
import json
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate

from conftest import BIN, expected, needs_binary, needs_corpus, seg_path

pytestmark = [needs_corpus, needs_binary]

ENCAPSULATED_UNCOMPRESSED = "1.2.840.10008.1.2.1.98"

SOURCES = ["dcmqi_38x23_odd", "hd_ct_binary_overlap", "hd_ct_true_fractional",
           "derived_labelmap16_renumbered", "hd_sm_control_labelmap"]


def native_frames(ds):
    """Each frame's native bytes; 1-bit frames re-aligned to bit 0 and padded."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    npix = rows * cols
    data = ds.PixelData
    if int(ds.BitsAllocated) == 1:
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return [np.packbits(bits[k * npix:(k + 1) * npix], bitorder="little").tobytes() for k in range(n)]
    size = npix * int(ds.BitsAllocated) // 8
    return [data[k * size:(k + 1) * size] for k in range(n)]


def frame_values(path):
    im = Image.open(path)
    a = np.array(im)
    return a.astype(np.int64)


@pytest.mark.parametrize("name", SOURCES)
def test_encapsulated_uncompressed(name, tmp_path):
    ds = pydicom.dcmread(seg_path(name))
    exp = expected(name)
    frames = native_frames(ds)
    ds.PixelData = encapsulate(frames, has_bot=len(frames) > 1)
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ENCAPSULATED_UNCOMPRESSED
    ds.is_little_endian, ds.is_implicit_VR = True, False
    out = tmp_path / "encap.dcm"
    ds.save_as(out, write_like_original=False)

    info = json.loads(subprocess.run([BIN, "info", str(out)], capture_output=True, check=True,
                                     text=True).stdout)
    assert info["transfer_syntax_uid"] == ENCAPSULATED_UNCOMPRESSED
    assert {s["number"]: s["frames"] for s in info["segments"]} == \
        {s["number"]: s["frames"] for s in exp["segments"]}

    pngs = tmp_path / "png"
    subprocess.run([BIN, "frames", str(out), "--out", str(pngs)], capture_output=True, check=True)
    dtype = np.uint8 if exp["frame_hash_dtype"] == "uint8" else np.dtype("<u2")
    for i, want in enumerate(exp["frame_sha256"]):
        values = frame_values(pngs / f"frame-{i + 1:05d}.png").astype(dtype)
        assert hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest() == want, f"frame {i + 1}"
