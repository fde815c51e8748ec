"""Segment display colours: segweb's sRGB against an independent re-implementation
of the conversion the issue names (DCMTK 3.6.7's IODCIELabUtil::dicomLab2RGB, the
formula OHIF uses): DICOM-scaled Lab -> CIE Lab -> XYZ (D65 white point, CIE
inverse f) -> linear sRGB, shifted to be non-negative -> sRGB gamma; then
rounded and clamped. The Lab values are read by pydicom, not by segweb."""
import json
import subprocess
from pathlib import Path

import pydicom
import pytest

from conftest import BIN, SEG_DIR, needs_binary, needs_corpus

pytestmark = [needs_corpus, needs_binary]

FILES = sorted(Path(SEG_DIR).glob("*.dcm"))


def lab_to_rgb(dicom_lab):
    L = dicom_lab[0] * 100.0 / 65535.0
    a = dicom_lab[1] * 255.0 / 65535.0 - 128.0
    b = dicom_lab[2] * 255.0 / 65535.0 - 128.0
    y = (L + 16.0) / 116.0
    x = y + a / 500.0
    z = y - b / 200.0

    def f(t):  # inverse of the CIE Lab function
        return t ** 3 if t >= 6.0 / 29.0 else (108.0 / 841.0) * (t - 4.0 / 29.0)

    X, Y, Z = 0.950456 * f(x), 1.0 * f(y), 1.088754 * f(z)
    rgb = [3.2406 * X - 1.5372 * Y - 0.4986 * Z,
           -0.9689 * X + 1.8758 * Y + 0.0415 * Z,
           0.0557 * X - 0.2040 * Y + 1.0570 * Z]
    low = min(rgb)
    if low < 0:  # keep gamma correction defined
        rgb = [v - low for v in rgb]

    def gamma(v):
        v = 1.055 * v ** (1 / 2.4) - 0.055 if v > 0.0031308 else 12.92 * v
        return min(max(v, 0.0), 1.0)

    return [round(gamma(v) * 255) for v in rgb]


def segments_with_lab():
    for path in FILES:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for item in ds.get("SegmentSequence", []):
            lab = item.get("RecommendedDisplayCIELabValue")
            if lab is not None:
                yield pytest.param(path, int(item.SegmentNumber), [int(v) for v in lab],
                                   id=f"{path.stem}-{int(item.SegmentNumber)}")


CASES = list(segments_with_lab())


def test_corpus_has_colours():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path,number,lab", CASES)
def test_segment_rgb_matches_cielab_formula(path, number, lab):
    out = subprocess.run([BIN, "info", str(path)], capture_output=True, check=True, text=True)
    seg = {s["number"]: s for s in json.loads(out.stdout)["segments"]}[number]
    assert seg["recommended_display_cielab"] == lab
    assert seg["color_source"] == "cielab"
    want = lab_to_rgb(lab)
    assert all(abs(g - w) <= 1 for g, w in zip(seg["rgb"], want)), (seg["rgb"], want)
    assert seg["color"] == "#%02x%02x%02x" % tuple(seg["rgb"])
