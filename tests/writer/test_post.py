"""POST /studies/{study}/series/{series}/segmentations on the real server (loopback).

The whole path -- source series in the store, labels posted, SEG stored, answered with the
Store Instances Response and Location, read back over WADO-RS and checked like the CLI's
output -- runs when the store accepts the source images (STOW of a CT series). Until the store
holds any DICOM it is skipped with that reason; tests/unit/api/test_segmentations_post.c covers
the handler with the source put into the store directly. The refusals run either way.
"""
import io
import json
import os
import sys

import numpy as np
import pydicom
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import segvol  # noqa: E402
from conftest import BIN, TESTDATA, SegwebProcess, multipart  # noqa: E402

SRC = os.path.join(TESTDATA, 'source', 'dcmqi_ct3slice')
SEG = os.path.join(TESTDATA, 'seg', 'dcmqi_liver.dcm')
BOUNDARY = 'segweb-writer-post-b0undary'


def body(parts):
    out = b''
    for headers, data in parts:
        out += f'--{BOUNDARY}\r\n'.encode()
        out += ''.join(f'{k}: {v}\r\n' for k, v in headers.items()).encode() + b'\r\n' + data + b'\r\n'
    return out + f'--{BOUNDARY}--\r\n'.encode()


CT = f'multipart/related; type="application/json"; boundary={BOUNDARY}'


@pytest.fixture(scope='module')
def server():
    s = SegwebProcess(BIN, [])
    yield s
    s.proc.terminate()
    s.proc.wait(timeout=30)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp('post'))
    grid = segvol.source_grid(SRC)
    ds, masks = segvol.seg_masks(SEG, grid)
    vol = (masks[1] > 0).astype(np.uint16)
    nii = segvol.write_nifti(os.path.join(tmp, 'liver.nii.gz'), vol, grid)
    meta = segvol.meta_json(os.path.join(tmp, 'meta.json'), [[segvol.segment_attrs(ds, 1)]])
    return grid, vol, open(nii, 'rb').read(), json.dumps(meta).encode(), meta


def source_stored(server, grid):
    parts = [open(f, 'rb').read() for f in grid.files]
    st, _, _ = server.stow(parts)
    return st == 200


def test_series_not_in_store(server, inputs):
    grid, _, nii, meta, _ = inputs
    st, _, b = server.request('POST', f'/studies/{grid.study_uid}/series/1.2.3.4.5/segmentations',
                              body([({'Content-Type': 'application/json'}, meta),
                                    ({'Content-Type': 'application/gzip'}, nii)]), {'Content-Type': CT})
    assert st == 404, b


def test_not_multipart(server, inputs):
    grid, _, nii, meta, _ = inputs
    st, _, _ = server.request('POST', f'/studies/{grid.study_uid}/series/{grid.series_uid}/segmentations', meta,
                              {'Content-Type': 'application/json'})
    assert st == 415


def test_get_is_not_allowed(server, inputs):
    grid = inputs[0]
    st, h, _ = server.request('GET', f'/studies/{grid.study_uid}/series/{grid.series_uid}/segmentations')
    assert st == 405 and 'POST' in h.get('allow', '')


def test_create_over_http(server, inputs, tmp_path):
    grid, vol, nii, meta, meta_doc = inputs
    if not source_stored(server, grid):
        pytest.skip('the store does not hold source images yet (STOW refuses the CT series)')
    target = f'/studies/{grid.study_uid}/series/{grid.series_uid}/segmentations'
    st, h, b = server.request('POST', target, body([({'Content-Type': 'application/json'}, meta),
                                                    ({'Content-Type': 'application/gzip'}, nii)]),
                              {'Content-Type': CT})
    assert st == 201, b
    loc = h['location']
    doc = json.loads(b)
    assert doc['00081199']['Value'][0]['00081190']['Value'][0] == loc
    # the object as written (transfer-syntax=*: no parameter would mean Explicit VR LE, PS3.18)
    st, _, obj = server.get(loc, {'Accept': 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert st == 200
    out = tmp_path / 'posted.dcm'
    # a single part multipart/related answer or the bare object
    data = obj[obj.index(b'DICM') - 128:] if b'DICM' in obj[:4096] else obj
    out.write_bytes(data)
    ds, masks = segvol.seg_masks(str(out), grid)
    assert ds.StudyInstanceUID == grid.study_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == grid.series_uid
    assert np.array_equal(masks[1] > 0, vol > 0)
    # grid mismatch: 422, nothing stored
    bad = vol[:, :, :-1]
    g2 = segvol.Grid(grid.files)
    p = tmp_path / 'bad.nii.gz'
    segvol.write_nifti(str(p), bad, g2)
    st, _, b = server.request('POST', target, body([({'Content-Type': 'application/json'}, meta),
                                                    ({'Content-Type': 'application/gzip'}, p.read_bytes())]),
                              {'Content-Type': CT})
    assert st == 422, b
