"""The SEG doctor (`segweb lint FILE --sources DIR`, the same JSON as GET R/lint):
each finding on a corpus object modified with pydicom to have it, and a clean
object without findings."""
import json
import os
import shutil
import subprocess
import tempfile

import pydicom
import pytest

from conftest import BIN, TESTDATA as DATA, needs_binary, needs_corpus

pytestmark = [needs_corpus, needs_binary]
SEG = os.path.join(DATA, "seg")
CT3 = os.path.join(DATA, "source/dcmqi_ct3slice")


@pytest.fixture()
def work():
    """A folder with the three CT slices (the sources of the liver SEGs)."""
    d = tempfile.mkdtemp(prefix="segweb-lint-")
    os.mkdir(os.path.join(d, "ct"))
    for f in os.listdir(CT3):
        shutil.copy(os.path.join(CT3, f), os.path.join(d, "ct", f))
    yield d
    shutil.rmtree(d)


def lint(path, sources):
    p = subprocess.run([BIN, "lint", path, "--sources", sources], capture_output=True)
    assert p.returncode in (0, 1), p.stderr.decode()
    doc = json.loads(p.stdout)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert (p.returncode == 1) == bool(errors)
    return doc


def codes(doc):
    return {f["code"] for f in doc["findings"]}


def modified(work, name, change):
    ds = pydicom.dcmread(os.path.join(SEG, name))
    change(ds)
    out = os.path.join(work, "seg.dcm")
    ds.save_as(out)
    return out


def test_clean_object(work):
    shutil.copy(os.path.join(SEG, "dcmqi_liver.dcm"), os.path.join(work, "seg.dcm"))
    doc = lint(os.path.join(work, "seg.dcm"), work)
    assert doc["findings"] == [] and doc["sources"] == {"referenced": 3, "found": 3}


def test_referenced_series_missing(work):
    doc = lint(modified(work, "dcmqi_liver.dcm", lambda ds: delattr(ds, "ReferencedSeriesSequence")), work)
    assert "REFERENCED_SERIES_MISSING" in codes(doc)


def test_source_not_found(work):
    os.remove(os.path.join(work, "ct", "02.dcm"))
    shutil.copy(os.path.join(SEG, "dcmqi_liver.dcm"), os.path.join(work, "seg.dcm"))
    doc = lint(os.path.join(work, "seg.dcm"), work)
    assert codes(doc) == {"SOURCE_NOT_FOUND"}
    assert doc["sources"] == {"referenced": 3, "found": 2}


def test_source_other_series(work):
    def change(ds):
        ds.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.4.5.6"
    assert "SOURCE_OTHER_SERIES" in codes(lint(modified(work, "dcmqi_liver.dcm", change), work))


def test_frame_without_source(work):
    def change(ds):
        del ds.PerFrameFunctionalGroupsSequence[1].DerivationImageSequence
    doc = lint(modified(work, "dcmqi_liver.dcm", change), work)
    assert "FRAME_WITHOUT_SOURCE" in codes(doc)
    assert "1 of 3 frames" in [f for f in doc["findings"] if f["code"] == "FRAME_WITHOUT_SOURCE"][0]["message"]


def test_segment_numbers(work):
    def change(ds):
        ds.SegmentSequence[0].SegmentNumber = 2
        for f in ds.PerFrameFunctionalGroupsSequence:
            f.SegmentIdentificationSequence[0].ReferencedSegmentNumber = 2
    assert "SEGMENT_NUMBERS" in codes(lint(modified(work, "dcmqi_liver.dcm", change), work))


def test_off_grid(work):
    def change(ds):
        p = ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0]
        p.ImagePositionPatient = [p.ImagePositionPatient[0], p.ImagePositionPatient[1],
                                  float(p.ImagePositionPatient[2]) + 0.4]
    assert "OFF_GRID" in codes(lint(modified(work, "dcmqi_liver.dcm", change), work))


def test_grid_unlike_source(work):
    def change(ds):
        ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = [0.5, 0.5]
    doc = lint(modified(work, "dcmqi_liver.dcm", change), work)
    assert "GRID_UNLIKE_SOURCE" in codes(doc)
    # and rows x columns: the 510x510 crop over the 512x512 CT (a corpus object as it is)
    shutil.copy(os.path.join(SEG, "pyd_liver_nonbyte_aligned.dcm"), os.path.join(work, "seg.dcm"))
    assert "GRID_UNLIKE_SOURCE" in codes(lint(os.path.join(work, "seg.dcm"), work))


def test_empty_segment(work):
    def change(ds):
        ds.PixelData = bytes(len(ds.PixelData))  # every frame empty
    doc = lint(modified(work, "dcmqi_liver.dcm", change), work)
    assert "EMPTY_SEGMENT" in codes(doc)
    assert "all of them empty" in [f for f in doc["findings"] if f["code"] == "EMPTY_SEGMENT"][0]["message"]


def test_spacing_between_slices_missing(work):
    def change(ds):
        del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices
    assert "SPACING_BETWEEN_SLICES_MISSING" in codes(lint(modified(work, "dcmqi_liver.dcm", change), work))


def test_bits_not_byte_aligned(work):
    doc = lint(os.path.join(SEG, "dcmqi_38x23_odd.dcm"), os.path.join(DATA, "source/dcmqi_23x38x3"))
    assert codes(doc) == {"BITS_NOT_BYTE_ALIGNED"}
    assert doc["findings"][0]["severity"] == "info"


def test_pixel_data_length(work):
    def change(ds):
        ds.PixelData = ds.PixelData + bytes(64)
    assert "PIXEL_DATA_LENGTH" in codes(lint(modified(work, "dcmqi_liver.dcm", change), work))

    def shorter(ds):
        ds.PixelData = ds.PixelData[:-1024]
    assert "PIXEL_DATA_LENGTH" in codes(lint(modified(work, "dcmqi_liver.dcm", shorter), work))


def test_code_without_scheme(work):
    def change(ds):
        del ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator
    doc = lint(modified(work, "dcmqi_liver.dcm", change), work)
    assert "CODE_WITHOUT_SCHEME" in codes(doc)
