"""`segweb create`: label volumes + dcmqi metadata + source series -> DICOM SEG.

The inputs are made independently of segweb: corpus SEGs decoded by pydicom, placed on their
source series' grid (tests/writer/segvol.py) and saved with nibabel (NIfTI) or by hand (NRRD).
Every SEG written is checked with
  * dciodvfy (dicom3tools): no "Error" line (LABELMAP .66.7: only "Information Object Not found",
    since Debian's dciodvfy predates that IOD; deflated files are inflated with dcmconv first,
    as dciodvfy cannot read Deflated Explicit VR Little Endian);
  * pydicom: SOP class, Study, Frame of Reference, Referenced Series, every frame derived from the
    source image at its position (purpose 121322), and the masks equal the input voxel for voxel
    per segment, in world space (frames placed by Image Position (Patient));
  * segweb's own reader (`info`, `frames`): segment metadata equals the JSON (labels, codes,
    algorithm, RGB read back from CIELab) and its frames equal pydicom's.
Bad input exits 1 with one line on stderr and leaves nothing behind.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import segvol  # noqa: E402

from conftest import BIN, TESTDATA  # noqa: E402
SEG = os.path.join(TESTDATA, 'seg')
SRC = os.path.join(TESTDATA, 'source')
SANITIZER_MARKS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'UndefinedBehaviorSanitizer')
LABELMAP_CLASS = '1.2.840.10008.5.1.4.1.1.66.7'
SEG_CLASS = '1.2.840.10008.5.1.4.1.1.66.4'


def run(*args, check=None):
    p = subprocess.run([BIN, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = p.stderr.decode('utf-8', 'replace')
    assert not any(m in err for m in SANITIZER_MARKS), err
    if check is not None:
        assert p.returncode == check, f'{" ".join(map(str, p.args))} -> {p.returncode}\n{err}'
    return p


def create(src, labels, meta, out, *extra, check=0):
    args = ['create', '--source', src]
    for lab in labels:
        args += ['--labels', lab]
    return run(*args, '--meta', meta, '--out', out, *extra, check=check)


def dciodvfy_errors(path, tmp):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    target = path
    if ds.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.1.99':
        target = os.path.join(tmp, 'inflated.dcm')
        subprocess.run(['dcmconv', '+te', path, target], check=True)
    p = subprocess.run(['dciodvfy', target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    lines = [ln for ln in p.stdout.decode('utf-8', 'replace').splitlines() if ln.startswith('Error')]
    if ds.SOPClassUID == LABELMAP_CLASS:
        lines = [ln for ln in lines if ln.strip() != 'Error - Information Object Not found']
    return lines


def segweb_info(path):
    return json.loads(run('info', path, check=0).stdout)


def segweb_frames(path, tmp):
    d = os.path.join(tmp, 'frames-' + os.path.basename(path))
    run('frames', path, '--out', d, check=0)
    out = []
    for f in sorted(glob.glob(os.path.join(d, 'frame-*.png'))):
        im = Image.open(f)
        a = np.array(im)
        out.append(a.astype(np.uint16))
    return out


def check_seg(out, grid, expected, meta, tmp, seg_type='BINARY'):
    """expected: {segment number: (n, rows, cols) values} (LABELMAP: {0: labelmap})."""
    assert dciodvfy_errors(out, tmp) == []
    ds, masks = segvol.seg_masks(out, grid)
    labelmap = seg_type == 'LABELMAP'
    assert ds.SOPClassUID == (LABELMAP_CLASS if labelmap else SEG_CLASS)
    assert ds.SegmentationType == seg_type
    assert ds.Modality == 'SEG'
    assert ds.StudyInstanceUID == grid.study_uid
    assert ds.FrameOfReferenceUID == grid.for_uid
    assert ds.SeriesInstanceUID != grid.series_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == grid.series_uid
    ref_uids = {it.ReferencedSOPInstanceUID for it in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert ref_uids <= set(grid.uids)
    # every frame derives from the source image at its position
    for i, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ipp = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        s = grid.index_of(ipp)
        src = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPInstanceUID == grid.uids[s]
        assert src.ReferencedSOPClassUID == grid.class_uid
        assert src.PurposeOfReferenceCodeSequence[0].CodeValue == '121322'
        assert src.ReferencedSOPInstanceUID in ref_uids
    # masks, voxel for voxel, per segment
    for number, vol in expected.items():
        got = masks.get(number, np.zeros_like(vol))
        assert np.array_equal(got.astype(np.int64), vol.astype(np.int64)), f'segment {number} differs'
    assert set(masks) <= set(expected) | {0}
    # segment metadata, read back by segweb
    info = segweb_info(out)
    attrs = [a for lst in meta['segmentAttributes'] for a in lst]
    # segment numbers are 1..N in labelID order (labelIDs are unique in these tests)
    number_of = {lid: i + 1 for i, lid in enumerate(sorted(a['labelID'] for a in attrs))}
    by_number = {s['number']: s for s in info['segments']}
    assert sorted(by_number) == list(range(1, len(attrs) + 1))
    for a in attrs:
        s = by_number[number_of[a['labelID']]]
        assert s['label'] == a.get('SegmentLabel')
        assert s['algorithm_type'] == a['SegmentAlgorithmType']
        assert s['algorithm_name'] == a.get('SegmentAlgorithmName')
        for key, name in (('category', 'SegmentedPropertyCategoryCodeSequence'),
                          ('type', 'SegmentedPropertyTypeCodeSequence')):
            c = a[name]
            assert s[key] == {'value': c['CodeValue'], 'scheme': c['CodingSchemeDesignator'],
                              'meaning': c['CodeMeaning']}
        assert s['rgb'] == a['recommendedDisplayRGBValue']
        assert s['color_source'] == 'cielab'
    assert info['content']['creator'] == meta['ContentCreatorName']
    assert ds.SeriesDescription == meta['SeriesDescription']
    assert str(ds.SeriesNumber) == str(meta['SeriesNumber'])
    # segweb's frames equal pydicom's
    frames = segweb_frames(out, tmp)
    arr = segvol.seg_frames(ds)
    assert len(frames) == arr.shape[0] == int(ds.NumberOfFrames)
    for i in range(arr.shape[0]):
        assert np.array_equal(frames[i], arr[i].astype(np.uint16)), f'frame {i + 1}'
    return ds, info


def corpus_case(tmp, seg_name, src_name, split, fmt='nii.gz'):
    """Label files made from a corpus SEG: split='one' (all segments in one volume, values =
    segment numbers) or 'each' (one file per segment, for overlaps). Returns grid, files,
    meta doc, meta path and the expected masks (by segment number)."""
    grid = segvol.source_grid(os.path.join(SRC, src_name))
    ds, masks = segvol.seg_masks(os.path.join(SEG, seg_name), grid)
    numbers = sorted(masks)
    files, attrs = [], []
    if split == 'one':
        vol = np.zeros((grid.n, grid.rows, grid.cols), np.uint16)
        for n in numbers:
            vol[masks[n] > 0] = n
        files.append(write(tmp, 'labels', vol, grid, fmt))
        attrs.append([segvol.segment_attrs(ds, n, i) for i, n in enumerate(numbers)])
    else:
        for i, n in enumerate(numbers):
            fm = fmt[i % len(fmt)] if isinstance(fmt, list) else fmt
            files.append(write(tmp, f'seg{n}', (masks[n] > 0).astype(np.uint16) * n, grid, fm))
            attrs.append([segvol.segment_attrs(ds, n, i)])
    meta_path = os.path.join(tmp, 'meta.json')
    meta = segvol.meta_json(meta_path, attrs)
    expected = {n: (masks[n] > 0).astype(np.uint16) for n in numbers}
    return grid, files, meta, meta_path, expected


def write(tmp, stem, vol, grid, fmt, dtype=np.uint16):
    path = os.path.join(tmp, f'{stem}.{fmt.replace("-raw", "")}')
    if fmt.startswith('nrrd'):
        return segvol.write_nrrd(path, vol, grid, dtype, 'raw' if fmt == 'nrrd-raw' else 'gzip')
    return segvol.write_nifti(path, vol, grid, dtype)


@pytest.fixture
def tmp(tmp_path):
    return str(tmp_path)


# ---------------------------------------------------------------- cases

def test_binary_liver(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out)
    check_seg(out, grid, expected, meta, tmp)


def test_overlapping_segments_as_several_files(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'each',
                                                  ['nii.gz', 'nrrd', 'nii', 'nrrd-raw'])
    assert len(files) == 5
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out)
    ds, _ = check_seg(out, grid, expected, meta, tmp)
    assert ds.SegmentsOverlap == 'YES'
    # frames ordered by segment, then position; dimension index values say so
    keys = [tuple(int(v) for v in it.FrameContentSequence[0].DimensionIndexValues)
            for it in ds.PerFrameFunctionalGroupsSequence]
    assert keys == sorted(keys)


@pytest.mark.parametrize('compress', ['none', 'rle', 'deflate'])
def test_odd_size_38x23(tmp, compress):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_38x23_odd.dcm', 'dcmqi_23x38x3', 'one', 'nrrd')
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_23x38x3'), files, mp, out, '--compress', compress)
    ds, _ = check_seg(out, grid, expected, meta, tmp)
    assert (ds.Rows, ds.Columns) == (38, 23)
    if compress == 'none':
        # frames follow each other bit by bit: no padding between frames
        n = int(ds.NumberOfFrames)
        assert len(ds.PixelData) == ((n * 38 * 23 + 7) // 8 + 1) // 2 * 2
        # dcmqi's object from the same labels has the same Pixel Data
        assert ds.PixelData == pydicom.dcmread(os.path.join(SEG, 'dcmqi_38x23_odd.dcm')).PixelData
    expect_ts = {'none': '1.2.840.10008.1.2.1', 'rle': '1.2.840.10008.1.2.5',
                 'deflate': '1.2.840.10008.1.2.1.99'}[compress]
    assert ds.file_meta.TransferSyntaxUID == expect_ts


def test_labelmap(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_38x24.dcm', 'dcmqi_24x38x3', 'one')
    # a second label in the same volume, away from the first
    vol = np.zeros((grid.n, grid.rows, grid.cols), np.uint16)
    vol[expected[1] > 0] = 1
    vol[1, 0:4, 0:5] = 7
    vol[2, 30:38, 20:24] = 7
    files = [segvol.write_nifti(os.path.join(tmp, 'lm.nii.gz'), vol, grid)]
    a7 = dict(meta['segmentAttributes'][0][0], labelID=7, SegmentLabel='Spleen',
              recommendedDisplayRGBValue=[157, 108, 162])
    meta = segvol.meta_json(mp, [meta['segmentAttributes'][0] + [a7]])
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_24x38x3'), files, mp, out, '--type', 'LABELMAP')
    expected = np.where(vol == 7, 2, vol)  # labelIDs 1, 7 -> segment numbers 1, 2
    ds, info = check_seg(out, grid, {0: expected}, meta, tmp, 'LABELMAP')
    assert ds.BitsAllocated == 8
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [1, 2]


def test_labelmap_with_overlap_is_refused(tmp):
    grid, files, meta, mp, _ = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'each')
    out = os.path.join(tmp, 'out.dcm')
    p = create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out, '--type', 'LABELMAP', check=1)
    assert 'overlap' in p.stderr.decode()
    assert not os.path.exists(out)


def test_fractional_from_float(tmp):
    # pydicom_ct2 has one image 200 mm away from the other three: a label volume is a regular
    # grid, so it is drawn on the three evenly spaced images
    src = os.path.join(tmp, 'ct3')
    os.makedirs(src)
    for f in os.listdir(os.path.join(SRC, 'pydicom_ct2')):
        if f != '17106.dcm':
            shutil.copy(os.path.join(SRC, 'pydicom_ct2', f), src)
    grid = segvol.source_grid(src)
    ds, masks = segvol.seg_masks(os.path.join(SEG, 'hd_ct_true_fractional.dcm'), grid)
    (number, vol), = masks.items()
    assert vol.max() > 1 and vol.max() < 255
    files = [segvol.write_nifti(os.path.join(tmp, 'prob.nii.gz'), vol.astype(np.float32) / 255.0, grid,
                                np.float32)]
    mp = os.path.join(tmp, 'meta.json')
    meta = segvol.meta_json(mp, [[segvol.segment_attrs(ds, number)]])
    out = os.path.join(tmp, 'out.dcm')
    create(src, files, mp, out, '--type', 'FRACTIONAL')
    got, _ = check_seg(out, grid, {number: vol}, meta, tmp, 'FRACTIONAL')
    assert got.SegmentationFractionalType == 'PROBABILITY' and got.MaximumFractionalValue == 255


def test_keep_empty_frames(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'each')
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out, '--skip-empty-frames=no')
    ds, _ = check_seg(out, grid, expected, meta, tmp)
    assert int(ds.NumberOfFrames) == 5 * 3
    create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out, '--skip-empty-frames=yes')
    nonempty = sum(int(v[s].any()) for v in expected.values() for s in range(grid.n))
    assert int(pydicom.dcmread(out).NumberOfFrames) == nonempty


def test_uid_root_and_series_fields(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    meta = segvol.meta_json(mp, meta['segmentAttributes'], BodyPartExamined='LIVER', SeriesNumber=42)
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out, '--uid-root', '1.2.826.0.1.3680043.10.1137')
    ds = pydicom.dcmread(out)
    for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID):
        assert uid.startswith('1.2.826.0.1.3680043.10.1137.') and len(uid) <= 64
    assert ds.BodyPartExamined == 'LIVER' and ds.SeriesNumber == 42
    assert ds.PatientID == pydicom.dcmread(grid.files[0], stop_before_pixels=True).PatientID
    assert dciodvfy_errors(out, tmp) == []


def test_metadata_label_missing_from_volume_warns(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    extra = dict(meta['segmentAttributes'][0][0], labelID=9, SegmentLabel='Nothing')
    meta = segvol.meta_json(mp, [meta['segmentAttributes'][0] + [extra]])
    out = os.path.join(tmp, 'out.dcm')
    p = create(os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, out)
    assert 'warning' in p.stderr.decode() and 'labelID 9' in p.stderr.decode()
    info = segweb_info(out)
    assert {s['label']: s['frames'] for s in info['segments']}['Nothing'] == []
    assert dciodvfy_errors(out, tmp) == []


ROUND_TRIPS = [('dcmqi_partial_overlaps', 'dcmqi_ct3slice', 'BINARY'),
               ('dcmqi_38x23_odd', 'dcmqi_23x38x3', 'BINARY'),
               ('dcmqi_labelmap_sparse_noppv', 'dcmqi_24x38x3', 'LABELMAP'),
               ('hd_ct_binary_overlap', 'pydicom_ct2', 'BINARY')]


@pytest.mark.parametrize('seg,src,seg_type', ROUND_TRIPS)
def test_volume_round_trip(tmp, seg, src, seg_type):
    """`segweb volume --out-dir` of a corpus SEG, `segweb create` from those files over its source
    series, `segweb volume` again: identical volumes (every file, affine included) and metadata.
    hd_ct_binary_overlap's series is irregular: the volume's empty slices between the images are
    skipped with a warning."""
    if run('volume', '--help').returncode != 0:
        pytest.skip('segweb volume is not built yet')
    import nibabel as nib
    d1, d2 = os.path.join(tmp, 'v1'), os.path.join(tmp, 'v2')
    run('volume', os.path.join(SEG, seg + '.dcm'), '--out-dir', d1, check=0)
    numbered = [f for f in os.listdir(d1) if f.split('.')[0].isdigit() and f.endswith('.nii.gz')]
    labels = [os.path.join(d1, f) for f in sorted(numbered, key=lambda f: int(f.split('.')[0]))]
    out = os.path.join(tmp, 'rt.dcm')
    create(os.path.join(SRC, src), labels, os.path.join(d1, 'meta.json'), out, '--type', seg_type)
    assert dciodvfy_errors(out, tmp) == []
    run('volume', out, '--out-dir', d2, check=0)
    assert sorted(os.listdir(d1)) == sorted(os.listdir(d2))
    for f in os.listdir(d1):
        if f.endswith('.nii.gz'):
            a, b = nib.load(os.path.join(d1, f)), nib.load(os.path.join(d2, f))
            assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj)), f
            assert np.allclose(a.affine, b.affine, atol=1e-4), f
    with open(os.path.join(d1, 'meta.json')) as f1, open(os.path.join(d2, 'meta.json')) as f2:
        assert json.load(f1) == json.load(f2)


# ---------------------------------------------------------------- bad input

def refused(tmp, src, files, mp, *extra, words=()):
    out = os.path.join(tmp, 'refused', 'out.dcm')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    p = create(src, files, mp, out, *extra, check=1)
    err = p.stderr.decode().strip().splitlines()
    err = [ln for ln in err if 'warning' not in ln]
    assert len(err) == 1, err
    for w in words:
        assert w in err[0], err[0]
    assert os.listdir(os.path.dirname(out)) == []  # nothing written, no temporary left
    return err[0]


def test_grid_mismatch(tmp):
    _, files, _, mp, _ = corpus_case(tmp, 'dcmqi_38x23_odd.dcm', 'dcmqi_23x38x3', 'one')
    refused(tmp, os.path.join(SRC, 'dcmqi_24x38x3'), files, mp, words=('38 rows x 23 columns', '38 x 24'))


def test_slices_off_the_source_positions(tmp):
    grid, _, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    shifted = segvol.Grid(grid.files)
    shifted.positions = [p + shifted.normal * grid.gap * 0.7 for p in grid.positions]
    f = segvol.write_nifti(os.path.join(tmp, 'shifted.nii.gz'), expected[1], shifted)
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), [f], mp, words=('no source image',))


def test_labels_missing_from_metadata(tmp):
    grid, _, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    vol = expected[1].copy()
    vol[0, 0, 0] = 3
    f = segvol.write_nifti(os.path.join(tmp, 'extra.nii.gz'), vol, grid)
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), [f], mp, words=('label value 3', 'metadata'))


def test_multi_series_folder(tmp):
    _, files, _, mp, _ = corpus_case(tmp, 'dcmqi_38x23_odd.dcm', 'dcmqi_23x38x3', 'one')
    src = os.path.join(tmp, 'mixed')
    os.makedirs(src)
    for d in ('dcmqi_23x38x3', 'dcmqi_ct3slice'):
        for f in os.listdir(os.path.join(SRC, d)):
            shutil.copy(os.path.join(SRC, d, f), os.path.join(src, d + f))
    refused(tmp, src, files, mp, words=('several series',))


def test_non_image_source(tmp):
    _, files, _, mp, _ = corpus_case(tmp, 'dcmqi_38x23_odd.dcm', 'dcmqi_23x38x3', 'one')
    src = os.path.join(tmp, 'noimg')
    os.makedirs(src)
    for f in os.listdir(os.path.join(SRC, 'dcmqi_23x38x3')):
        ds = pydicom.dcmread(os.path.join(SRC, 'dcmqi_23x38x3', f))
        del ds.PixelData
        ds.save_as(os.path.join(src, f))
    refused(tmp, src, files, mp, words=('not an image',))


def test_non_dicom_files_are_skipped_with_a_warning(tmp):
    grid, files, meta, mp, expected = corpus_case(tmp, 'dcmqi_38x23_odd.dcm', 'dcmqi_23x38x3', 'one')
    src = os.path.join(tmp, 'withjunk')
    shutil.copytree(os.path.join(SRC, 'dcmqi_23x38x3'), src)
    with open(os.path.join(src, 'README.txt'), 'w') as f:
        f.write('not dicom\n')
    out = os.path.join(tmp, 'out.dcm')
    p = create(src, files, mp, out)
    assert 'README.txt' in p.stderr.decode() and 'warning' in p.stderr.decode()
    check_seg(out, grid, expected, meta, tmp)


def test_unknown_code_format(tmp):
    _, files, meta, mp, _ = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    meta['segmentAttributes'][0][0]['SegmentedPropertyTypeCodeSequence'] = 'T-62000^SRT^Liver'
    with open(mp, 'w') as f:
        json.dump(meta, f)
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), files, mp, words=('SegmentedPropertyTypeCodeSequence',))


def test_label_file_count_must_match_metadata(tmp):
    _, files, _, mp, _ = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'each')
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), files[:2], mp, words=('segmentAttributes',))


@pytest.mark.parametrize('content', [b'', b'NRRD0004\ntype: uint8\n', b'\x1f\x8b\x08\x00garbage', b'x' * 400])
def test_broken_label_file(tmp, content):
    _, _, _, mp, _ = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    f = os.path.join(tmp, 'broken.nii.gz')
    with open(f, 'wb') as fh:
        fh.write(content)
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), [f], mp)


def test_flipped_and_transposed_volumes_match_by_position(tmp):
    """The same labels stored flipped along every axis, and transposed, give the same SEG masks:
    voxels are placed by their world position, not by index."""
    grid, _, meta, mp, expected = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'one')
    vol = np.zeros((grid.n, grid.rows, grid.cols), np.uint16)
    # non-overlapping part only (one volume)
    for n in sorted(expected):
        vol[(expected[n] > 0) & (vol == 0)] = n
    ijk = segvol.to_ijk(vol)
    aff = grid.lps_affine()
    files = []
    # flipped along i, j and k
    fl = ijk[::-1, ::-1, ::-1].copy()
    a2 = aff.copy()
    a2[:3, 3] = aff[:3, :3] @ np.array(ijk.shape) - aff[:3, :3] @ np.ones(3) + aff[:3, 3]
    a2[:3, :3] = -aff[:3, :3]
    files.append(segvol.write_ijk_nifti(os.path.join(tmp, 'flipped.nii.gz'), fl, a2))
    # transposed in-plane (i = row, j = column)
    tr = np.ascontiguousarray(np.transpose(ijk, (1, 0, 2)))
    a3 = aff.copy()
    a3[:3, 0], a3[:3, 1] = aff[:3, 1], aff[:3, 0]
    files.append(segvol.write_ijk_nifti(os.path.join(tmp, 'transposed.nii.gz'), tr, a3))
    present = {n: (vol == n).astype(np.uint16) for n in sorted(expected) if (vol == n).any()}
    meta = segvol.meta_json(mp, [[a for a in meta['segmentAttributes'][0] if a['labelID'] in present]])
    for f in files:
        out = os.path.join(tmp, os.path.basename(f) + '.dcm')
        create(os.path.join(SRC, 'dcmqi_ct3slice'), [f], mp, out)
        number_of = {lid: i + 1 for i, lid in enumerate(sorted(present))}
        check_seg(out, grid, {number_of[n]: v for n, v in present.items()}, meta, tmp)


def test_labelmap_16bit(tmp):
    """More than 255 segments: LABELMAP pixels become 16-bit."""
    grid = segvol.source_grid(os.path.join(SRC, 'dcmqi_23x38x3'))
    ds = pydicom.dcmread(os.path.join(SEG, 'dcmqi_38x23_odd.dcm'))
    vol = np.zeros((grid.n, grid.rows, grid.cols), np.uint16)
    flat = vol.reshape(-1)
    flat[:300 * 7:7] = np.arange(1, 301)
    f = segvol.write_nifti(os.path.join(tmp, 'many.nii.gz'), vol, grid)
    base = segvol.segment_attrs(ds, 1)
    attrs = [dict(base, labelID=i, SegmentLabel=f'L{i}', recommendedDisplayRGBValue=[i % 256, 40, 200])
             for i in range(1, 301)]
    mp = os.path.join(tmp, 'meta.json')
    meta = segvol.meta_json(mp, [attrs])
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_23x38x3'), [f], mp, out, '--type', 'LABELMAP', '--compress', 'rle')
    got, _ = check_seg(out, grid, {0: vol}, meta, tmp, 'LABELMAP')
    assert got.BitsAllocated == 16


def test_png_masks_named_by_sop_instance_uid(tmp):
    """One greyscale PNG per source image (UID.png), values = labelIDs: 8-bit and 1-bit."""
    grid, _, meta, mp, expected = corpus_case(tmp, 'dcmqi_partial_overlaps.dcm', 'dcmqi_ct3slice', 'one')
    d8, d1 = os.path.join(tmp, 'm8'), os.path.join(tmp, 'm1')
    os.makedirs(d8)
    os.makedirs(d1)
    vol = np.zeros((grid.n, grid.rows, grid.cols), np.uint8)
    for n in sorted(expected):
        vol[(expected[n] > 0) & (vol == 0)] = n
    for s in range(grid.n):
        Image.fromarray(vol[s]).save(os.path.join(d8, grid.uids[s] + '.png'))
        Image.fromarray(vol[s] == 1).save(os.path.join(d1, grid.uids[s] + '.png'))  # mode '1'
    present = [n for n in sorted(expected) if (vol == n).any()]
    attrs = [a for a in meta['segmentAttributes'][0] if a['labelID'] in present]
    a1 = dict(attrs[0], labelID=1, SegmentLabel='from 1-bit masks')
    attrs2 = [dict(a, labelID=a['labelID'] + 10) for a in attrs]  # unique over both sources
    meta = segvol.meta_json(mp, [attrs2, [a1]])
    for s in range(grid.n):  # 8-bit masks carry labelIDs + 10
        Image.fromarray(np.where(vol[s] > 0, vol[s] + 10, 0).astype(np.uint8)).save(
            os.path.join(d8, grid.uids[s] + '.png'))
    out = os.path.join(tmp, 'out.dcm')
    create(os.path.join(SRC, 'dcmqi_ct3slice'), [], mp, out, '--masks', d8, '--masks', d1)
    number_of = {lid: i + 1 for i, lid in enumerate(sorted([1] + [n + 10 for n in present]))}
    exp = {number_of[n + 10]: (vol == n).astype(np.uint16) for n in present}
    exp[number_of[1]] = (vol == 1).astype(np.uint16)
    check_seg(out, grid, exp, meta, tmp)


def test_png_mask_for_an_unknown_image(tmp):
    grid, _, meta, mp, expected = corpus_case(tmp, 'dcmqi_liver.dcm', 'dcmqi_ct3slice', 'one')
    d = os.path.join(tmp, 'm')
    os.makedirs(d)
    Image.fromarray(expected[1][0].astype(np.uint8)).save(os.path.join(d, '1.2.3.4.png'))
    refused(tmp, os.path.join(SRC, 'dcmqi_ct3slice'), [], mp, '--masks', d, words=('1.2.3.4',))
