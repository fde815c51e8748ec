"""Corpus suite: every real DICOM SEG in ../shared/testdata/seg against its expected JSON.

The oracle is ../shared/testdata/expected/NAME.json, written by the corpus's own
make_expected.py (pydicom + numpy, independent of segweb). Nothing here compares
segweb with output saved from segweb.

For each SEG file:
  * `segweb info FILE`: UIDs, size, type and segments (number, label, frames) by number;
  * `segweb frames FILE --out DIR`: one PNG per frame, of the right size and bit depth,
    whose values unpacked one per pixel hash to the expected frame_sha256;
  * `segweb frame FILE N` for the first and last frame: the same bytes as `frames` wrote;
  * `segweb frame FILE N --color`: RGBA, transparent exactly where the mask is 0.

Environment: SEGWEB_BIN (default <repo>/build/server/segweb), SEGWEB_TESTDATA (default
<repo>/../shared/testdata). Run under the sanitizer build by scripts/test.sh.
"""
import hashlib
import io
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image

from conftest import (BIN, NAMES, SEG_FILES, TESTDATA, describe, expected, needs_corpus, no_sanitizer_report,
                      run_segweb as run, seg_path)

pytestmark = needs_corpus

# PNG bit depths the CLI contract allows per SegmentationType (grayscale, colour type 0).
# LABELED is the non-standard pre-Sup-243 type of hd_legacy_labeled_32bit.
ALLOWED_DEPTHS = {'BINARY': {1}, 'FRACTIONAL': {8}, 'LABELMAP': {8, 16}, 'LABELED': {8, 16}}
HASH_DTYPES = {'uint8': np.dtype(np.uint8), 'uint16le': np.dtype('<u2')}


def test_corpus_present():
    assert SEG_FILES, f'no SEG files under {TESTDATA}/seg (set SEGWEB_TESTDATA)'
    assert os.access(BIN, os.X_OK), f'segweb binary not found at {BIN} (set SEGWEB_BIN)'


# ---------------------------------------------------------------- helpers

def check_ok(proc):
    assert proc.returncode == 0, describe(proc)
    no_sanitizer_report(proc)


def png_header(data):
    """(width, height, bit_depth, colour_type) from a PNG's IHDR chunk."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG (bad signature)'
    assert data[12:16] == b'IHDR', 'PNG does not start with IHDR'
    width, height, depth, ctype = struct.unpack('>IIBB', data[16:26])
    return width, height, depth, ctype


def png_values(data):
    """Stored values of a grayscale PNG, one per pixel, as a 2-D int64 array.

    1-bit -> 0/1 (Pillow mode '1' gives booleans), 8-bit -> 0..255 (mode 'L'),
    16-bit -> 0..65535 (mode 'I;16' or 'I', depending on the Pillow version).
    """
    img = Image.open(io.BytesIO(data))
    img.load()
    if img.mode == '1':
        arr = np.array(img, dtype=bool).astype(np.int64)
    elif img.mode in ('L', 'I;16', 'I;16L', 'I;16B', 'I'):
        arr = np.array(img).astype(np.int64)
    else:
        raise AssertionError(f'PNG mode {img.mode!r} is not grayscale')
    assert arr.shape == (img.height, img.width)
    return arr


def values_sha256(values, hash_dtype):
    """sha256 of the values cast like make_expected.py does (uint8 or little-endian uint16)."""
    dtype = HASH_DTYPES[hash_dtype]
    info = np.iinfo(dtype)
    lo, hi = int(values.min()), int(values.max())
    assert info.min <= lo and hi <= info.max, \
        f'values {lo}..{hi} do not fit the expected {hash_dtype}'
    return hashlib.sha256(np.ascontiguousarray(values.astype(dtype)).tobytes()).hexdigest()


# ---------------------------------------------------------------- per-file runs (cached)

_info_cache = {}
_frames_cache = {}


def info_of(name):
    if name not in _info_cache:
        proc = run('info', seg_path(name))
        _info_cache[name] = proc
    proc = _info_cache[name]
    check_ok(proc)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f'info stdout is not JSON ({exc}): {proc.stdout[:300]!r}')


@pytest.fixture(scope='session')
def frames_root(tmp_path_factory):
    return tmp_path_factory.mktemp('frames')


def frames_of(name, root):
    """Run `frames` once per file; return the output directory."""
    if name not in _frames_cache:
        out = root / name
        out.mkdir()
        _frames_cache[name] = (run('frames', seg_path(name), '--out', out), out)
    proc, out = _frames_cache[name]
    check_ok(proc)
    return out


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize('name', NAMES)
def test_info(name):
    exp = expected(name)
    got = info_of(name)
    assert isinstance(got, dict), 'info JSON is not an object'

    for key in ('sop_instance_uid', 'rows', 'columns', 'number_of_frames',
                'segmentation_type', 'sop_class_uid', 'transfer_syntax_uid'):
        assert key in got, f'info lacks key {key!r}'
        assert got[key] == exp[key], f'{key}: got {got[key]!r}, expected {exp[key]!r}'

    assert isinstance(got.get('segments'), list), 'info lacks a segments list'
    for seg in got['segments']:
        for key in ('number', 'label', 'frames'):
            assert key in seg, f'segment {seg.get("number")!r} lacks key {key!r}'
    numbers = [s['number'] for s in got['segments']]
    assert len(numbers) == len(set(numbers)), f'duplicate segment numbers: {numbers}'
    got_by_number = {s['number']: s for s in got['segments']}
    exp_by_number = {s['number']: s for s in exp['segments']}
    assert sorted(got_by_number) == sorted(exp_by_number), 'segment numbers differ'
    for number, e in exp_by_number.items():
        g = got_by_number[number]
        assert g['label'] == e['label'], \
            f'segment {number} label: got {g["label"]!r}, expected {e["label"]!r}'
        assert g['frames'] == e['frames'], \
            f'segment {number} frames: got {g["frames"]}, expected {e["frames"]}'


@pytest.mark.parametrize('name', NAMES)
def test_frames(name, frames_root):
    exp, out = expected(name), frames_of(name, frames_root)
    n = exp['number_of_frames']
    pngs = sorted(os.listdir(out))
    assert pngs == [f'frame-{i:05d}.png' for i in range(1, n + 1)], \
        f'expected {n} files frame-00001.png.., got {len(pngs)}: {pngs[:5]}...'

    depths = ALLOWED_DEPTHS[exp['segmentation_type']]
    bad_hash, bad_count = [], []
    for i in range(1, n + 1):
        data = (out / f'frame-{i:05d}.png').read_bytes()
        width, height, depth, ctype = png_header(data)
        assert (width, height) == (exp['columns'], exp['rows']), \
            f'frame {i}: PNG is {width}x{height}, expected {exp["columns"]}x{exp["rows"]}'
        assert ctype == 0, f'frame {i}: PNG colour type {ctype}, expected 0 (grayscale)'
        assert depth in depths, \
            f'frame {i}: {depth}-bit PNG for {exp["segmentation_type"]}, expected {depths}'
        values = png_values(data)
        nonzero = int(np.count_nonzero(values))
        if nonzero != exp['frame_nonzero_pixels'][i - 1]:
            bad_count.append((i, nonzero, exp['frame_nonzero_pixels'][i - 1]))
        if values_sha256(values, exp['frame_hash_dtype']) != exp['frame_sha256'][i - 1]:
            bad_hash.append(i)
    assert not bad_count, \
        f'nonzero pixel counts differ (frame, got, expected): {bad_count[:10]}'
    assert not bad_hash, f'frame sha256 differs for frames {bad_hash[:20]}'


@pytest.mark.parametrize('name', NAMES)
def test_frame_matches_frames(name, frames_root):
    exp, out = expected(name), frames_of(name, frames_root)
    n = exp['number_of_frames']
    for i in sorted({1, n}):
        proc = run('frame', seg_path(name), i)
        check_ok(proc)
        assert proc.stdout == (out / f'frame-{i:05d}.png').read_bytes(), \
            f'`frame {i}` differs from frames/frame-{i:05d}.png'


@pytest.mark.parametrize('name', NAMES)
def test_frame_color(name, frames_root):
    exp, out = expected(name), frames_of(name, frames_root)
    # The frame with the most mask pixels, so the alpha check means something.
    counts = exp['frame_nonzero_pixels']
    i = max(range(len(counts)), key=lambda k: counts[k]) + 1
    gray = png_values((out / f'frame-{i:05d}.png').read_bytes())

    proc = run('frame', seg_path(name), i, '--color')
    check_ok(proc)
    width, height, depth, ctype = png_header(proc.stdout)
    assert (width, height) == (exp['columns'], exp['rows'])
    img = Image.open(io.BytesIO(proc.stdout))
    img.load()
    assert img.mode == 'RGBA', f'--color PNG has mode {img.mode}, expected RGBA'
    alpha = np.array(img)[:, :, 3]
    assert not np.any(alpha[gray == 0]), 'alpha is not 0 everywhere the mask is 0'
    if exp['segmentation_type'] in ('BINARY', 'LABELMAP'):
        # LABELMAP value 0 may be a real segment (e.g. "Background") but is still drawn
        # transparent; every other label value must be visible.
        assert np.all(alpha[gray != 0] > 0), 'alpha is 0 somewhere the mask is set'
    else:
        assert np.count_nonzero(alpha) <= np.count_nonzero(gray)
