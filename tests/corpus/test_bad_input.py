"""Bad input: segweb must fail cleanly, never crash.

A clean failure is: exit status 1 (2 for usage errors where noted), not a signal;
exactly one line on stderr, starting with "segweb: "; nothing on stdout; and no
AddressSanitizer / UBSan report. The suite is meant to run under the sanitizer build
(scripts/test.sh), where a memory error or leak turns into an abort and a multi-line
report, so it fails here.

Cases: empty file, corpus files truncated at ~40 points each (inside the header and
inside the pixel data), random bytes, text, non-SEG DICOM (the source images of the
corpus; the message must name the SOP Class UID), Pixel Data shorter than declared,
frame numbers out of range, a missing path, a directory.

Environment: SEGWEB_BIN (default <repo>/build/server/segweb), SEGWEB_TESTDATA (default
<repo>/../shared/testdata).
"""
import glob
import json
import os
import random
import re

import pydicom
import pytest

from conftest import (BIN, SOURCE_DIR, TESTDATA, describe, expected, needs_corpus, no_sanitizer_report,
                      run_segweb as run, seg_path)

pytestmark = needs_corpus

# Files cut at many points: native odd-sized BINARY, RLE, JPEG 2000, JPEG-LS LABELMAP,
# and a Deflated Explicit VR LE dataset (where every cut lands inside the deflate stream).
TRUNCATE = ['dcmqi_38x23_odd', 'pyd_liver_rle', 'pyd_liver_j2k',
            'dcmtk_jpls_hd_sm_control_labelmap', 'dcmtk_deflated_dcmqi_38x23_odd']
LIVER = 'dcmqi_liver'  # native BINARY 512x512, 3 frames, Pixel Data is the last element


def clean_error(proc, codes=(1,)):
    """Assert a clean failure; return the message after 'segweb: '."""
    no_sanitizer_report(proc)
    assert proc.returncode in codes, f'expected exit status in {codes}: ' + describe(proc)
    err = proc.stderr.decode('utf-8', 'replace')
    lines = err.splitlines()
    assert len(lines) == 1, 'expected exactly one line on stderr: ' + describe(proc)
    assert lines[0].startswith('segweb: ') and lines[0][len('segweb: '):].strip(), \
        'stderr line must be "segweb: <message>": ' + describe(proc)
    assert proc.stdout == b'', 'expected nothing on stdout: ' + describe(proc)
    return lines[0][len('segweb: '):]


def clean_error_or_success(proc, check_success=None):
    """Either exit 0 (then check_success(proc)) or a clean failure."""
    no_sanitizer_report(proc)
    if proc.returncode == 0:
        if check_success:
            check_success(proc)
    else:
        clean_error(proc)


def valid_info_json(proc):
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f'info exited 0 but stdout is not JSON ({exc}): ' + describe(proc))
    assert isinstance(doc, dict) and 'segments' in doc, 'info JSON lacks segments'


def is_png(proc):
    assert proc.stdout.startswith(b'\x89PNG\r\n\x1a\n'), 'frame exited 0 without a PNG'


def test_binary_present():
    assert os.access(BIN, os.X_OK), f'segweb binary not found at {BIN} (set SEGWEB_BIN)'


# ---------------------------------------------------------------- usage

def test_usage_errors():
    for args in ([], ['no-such-command'], ['info'], ['frame', seg_path(LIVER)],
                 ['frames', seg_path(LIVER)]):
        proc = run(*args)
        no_sanitizer_report(proc)
        assert proc.returncode == 2, 'usage error must exit 2: ' + describe(proc)
        assert proc.stdout == b'', describe(proc)


# ---------------------------------------------------------------- not a SEG at all

def bad_files():
    rnd = random.Random(20240601)
    return {
        'empty': b'',
        'one_byte': b'\x00',
        'random': bytes(rnd.getrandbits(8) for _ in range(4096)),
        'preamble_only': b'\x00' * 128 + b'DICM',
        'preamble_then_random': b'\x00' * 128 + b'DICM' + bytes(rnd.getrandbits(8) for _ in range(2048)),
        'text': b'This is not a DICOM file.\nIt is plain text, 3 lines long.\nThe end.\n' * 20,
        'zeros': b'\x00' * 8192,
    }


@pytest.mark.parametrize('kind', sorted(bad_files()))
def test_not_dicom(kind, tmp_path):
    path = tmp_path / f'{kind}.dcm'
    path.write_bytes(bad_files()[kind])
    clean_error(run('info', path))
    clean_error(run('frame', path, 1))
    out = tmp_path / 'out'
    clean_error(run('frames', path, '--out', out))


SOURCES = sorted(glob.glob(os.path.join(SOURCE_DIR, '*', '*.dcm')))


def test_sources_present():
    assert SOURCES, f'no source images under {TESTDATA}/source'


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: '/'.join(str(p).split(os.sep)[-2:]))
def test_non_seg_dicom(path, tmp_path):
    sop_class = str(pydicom.dcmread(path, stop_before_pixels=True).SOPClassUID)
    assert not sop_class.startswith('1.2.840.10008.5.1.4.1.1.66.')
    msg = clean_error(run('info', path))
    assert sop_class in msg, f'message does not name SOP Class {sop_class}: {msg!r}'
    msg = clean_error(run('frame', path, 1))
    assert sop_class in msg, f'message does not name SOP Class {sop_class}: {msg!r}'
    msg = clean_error(run('frames', path, '--out', tmp_path / 'out'))
    assert sop_class in msg, f'message does not name SOP Class {sop_class}: {msg!r}'


def test_missing_path(tmp_path):
    path = tmp_path / 'no-such-file.dcm'
    for args in (['info', path], ['frame', path, 1], ['frames', path, '--out', tmp_path / 'o']):
        msg = clean_error(run(*args))
        assert str(path) in msg, f'message does not name the path {path}: {msg!r}'


def test_directory(tmp_path):
    clean_error(run('info', tmp_path))
    clean_error(run('frame', tmp_path, 1))
    clean_error(run('frames', tmp_path, '--out', tmp_path / 'o'))


# ---------------------------------------------------------------- truncated files

def pixel_data_offset(path):
    """File offset of the (7FE0,0010) Pixel Data element, or None (deflated dataset)."""
    with open(path, 'rb') as fp:
        pydicom.dcmread(fp, stop_before_pixels=True)
        pos = fp.tell()
        fp.seek(pos)
        tag = fp.read(4)
    return pos if tag in (b'\xe0\x7f\x10\x00', b'\x7f\xe0\x00\x10') else None


def cut_points(size, pd):
    """~40 cut offsets spread over the file, dense around the start and the Pixel Data."""
    def spread(lo, hi, n):
        if hi <= lo:
            return []
        return [lo + (hi - lo) * k // n for k in range(n)]

    pts = {1, 64, 128, 131, 132, 133, 136, 140, 144, 200, 300, size - 1}
    if pd is None:
        pts |= set(spread(300, size, 28))
    else:
        pts |= set(spread(300, pd, 12))
        pts |= {pd, pd + 1, pd + 4, pd + 8, pd + 11, pd + 12, pd + 13, pd + 16, pd + 20}
        pts |= set(spread(pd + 24, size, 12))
        pts |= {size - 8, size - 4, size - 2}
    return sorted(p for p in pts if 0 < p < size)


def truncation_cases():
    cases = []
    for name in TRUNCATE:
        path = seg_path(name)
        if not os.path.exists(path):
            continue
        size = os.path.getsize(path)
        pd = pixel_data_offset(path)
        ts = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        native = ts in ('1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2')
        for cut in cut_points(size, pd):
            if pd is not None and cut < pd:
                region = 'header'       # no Pixel Data left: must fail
            elif native and pd is not None and cut >= pd + 12:
                region = 'native_pixels'  # frame bytes missing: `frames` must fail
            else:
                region = 'pixels'       # may succeed, must not crash
            cases.append(pytest.param(name, cut, region, id=f'{name}@{cut}-{region}'))
    return cases


@pytest.mark.parametrize('name,cut,region', truncation_cases())
def test_truncated(name, cut, region, tmp_path):
    with open(seg_path(name), 'rb') as fh:
        data = fh.read(cut)
    path = tmp_path / f'{name}-cut{cut}.dcm'
    path.write_bytes(data)
    out = tmp_path / 'out'

    info = run('info', path)
    frames = run('frames', path, '--out', out)
    if region == 'header':
        clean_error(info)
        clean_error(frames)
    elif region == 'native_pixels':
        clean_error_or_success(info, valid_info_json)
        clean_error(frames)
    else:
        clean_error_or_success(info, valid_info_json)
        clean_error_or_success(frames)


def test_truncation_cases_cover_both_regions():
    regions = [p.values[2] for p in truncation_cases()]
    assert len(regions) >= 3 * 30, f'only {len(regions)} truncation cases'
    assert regions.count('header') >= 30 and regions.count('native_pixels') >= 10


# ---------------------------------------------------------------- Pixel Data shorter than declared

SHORT_WORDS = re.compile(r'pixel|truncat|short|premature|end of|incomplete|missing|too few|size',
                         re.IGNORECASE)


def test_pixel_data_cut_short(tmp_path):
    """dcmqi_liver with its last 1000 bytes cut: they are the end of frame 3."""
    with open(seg_path(LIVER), 'rb') as fh:
        data = fh.read()
    path = tmp_path / 'liver-short.dcm'
    path.write_bytes(data[:-1000])

    clean_error_or_success(run('info', path), valid_info_json)
    msg = clean_error(run('frame', path, 3))
    assert SHORT_WORDS.search(msg), f'message does not name the problem: {msg!r}'
    clean_error(run('frames', path, '--out', tmp_path / 'out'))
    clean_error_or_success(run('frame', path, 1), is_png)


def test_more_frames_declared_than_present(tmp_path):
    """NumberOfFrames says 5, Pixel Data holds 3 frames."""
    ds = pydicom.dcmread(seg_path(LIVER))
    ds.NumberOfFrames = 5
    path = tmp_path / 'liver-5-frames.dcm'
    ds.save_as(path)

    clean_error_or_success(run('info', path), valid_info_json)
    msg = clean_error(run('frame', path, 5))
    assert msg
    clean_error_or_success(run('frames', path, '--out', tmp_path / 'out'))
    clean_error_or_success(run('frame', path, 1), is_png)


def test_pixel_data_length_larger_than_file(tmp_path):
    """The Pixel Data element's declared length runs 1000 bytes past the end of the file."""
    with open(seg_path(LIVER), 'rb') as fh:
        data = bytearray(fh.read())
    pd = pixel_data_offset(seg_path(LIVER))
    length = int.from_bytes(data[pd + 8:pd + 12], 'little')
    assert pd + 12 + length == len(data)
    data[pd + 8:pd + 12] = (length + 1000).to_bytes(4, 'little')
    path = tmp_path / 'liver-long-length.dcm'
    path.write_bytes(bytes(data))

    clean_error_or_success(run('info', path), valid_info_json)
    clean_error_or_success(run('frame', path, 3), is_png)
    clean_error_or_success(run('frames', path, '--out', tmp_path / 'out'))


# ---------------------------------------------------------------- frame numbers

@pytest.mark.parametrize('n,codes', [
    ('0', (1,)), ('N+1', (1,)), ('-1', (1, 2)), ('abc', (1, 2)), ('1.5', (1, 2)),
    ('', (1, 2)), ('4294967297', (1, 2)), ('99999999999999999999999', (1, 2)),
])
def test_frame_number_out_of_range(n, codes):
    nframes = expected(LIVER)['number_of_frames']
    arg = str(nframes + 1) if n == 'N+1' else n
    clean_error(run('frame', seg_path(LIVER), arg), codes)
    clean_error(run('frame', seg_path(LIVER), arg, '--color'), codes)


def test_frames_out_is_a_file(tmp_path):
    target = tmp_path / 'a-file'
    target.write_bytes(b'x')
    clean_error(run('frames', seg_path(LIVER), '--out', target))
