"""Independent helpers for the writer tests (pydicom + numpy + nibabel, no segweb code).

* source_grid(dir): the source series as pydicom sees it, sorted along the slice normal.
* seg_masks(path, grid): a SEG decoded by pydicom into {segment number: (n, rows, cols) array}
  on the source grid (world space: each frame lands on the source image at its position).
* write_labels(...): label volumes (NIfTI / NRRD) on the source grid, in the layout dcmqi and
  nibabel use (i = column, j = row, k = slice; RAS affine for NIfTI, LPS for NRRD).
* meta_json(...): dcmqi-style metadata for the segments of a corpus SEG.
"""
import gzip
import json
import os

import nibabel as nib
import numpy as np
import pydicom


class Grid:
    def __init__(self, files):
        self.files = files  # sorted
        ds0 = pydicom.dcmread(files[0], stop_before_pixels=True)
        self.rows, self.cols = int(ds0.Rows), int(ds0.Columns)
        iop = [float(v) for v in ds0.ImageOrientationPatient]
        self.row_dir, self.col_dir = np.array(iop[:3]), np.array(iop[3:])
        self.normal = np.cross(self.row_dir, self.col_dir)
        self.spacing = [float(v) for v in ds0.PixelSpacing]  # row spacing, column spacing
        self.study_uid = ds0.StudyInstanceUID
        self.series_uid = ds0.SeriesInstanceUID
        self.for_uid = ds0.FrameOfReferenceUID
        self.class_uid = ds0.SOPClassUID
        self.positions, self.uids = [], []
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            self.positions.append(np.array([float(v) for v in ds.ImagePositionPatient]))
            self.uids.append(ds.SOPInstanceUID)
        self.dist = [float(np.dot(p, self.normal)) for p in self.positions]
        self.gap = min(np.diff(self.dist)) if len(self.dist) > 1 else 1.0

    @property
    def n(self):
        return len(self.files)

    def index_of(self, ipp):
        d = float(np.dot(np.array(ipp, float), self.normal))
        i = int(np.argmin([abs(d - x) for x in self.dist]))
        assert abs(self.dist[i] - d) < self.gap / 2, f'position {ipp} is on no source image'
        return i

    def lps_affine(self):
        """Voxel (i=col, j=row, k=slice) -> LPS."""
        a = np.eye(4)
        a[:3, 0] = self.row_dir * self.spacing[1]
        a[:3, 1] = self.col_dir * self.spacing[0]
        a[:3, 2] = self.normal * self.gap
        a[:3, 3] = self.positions[0]
        return a


def source_grid(src_dir):
    files = [os.path.join(src_dir, f) for f in os.listdir(src_dir)]
    files = [f for f in files if os.path.isfile(f)]
    g = Grid(sorted(files))
    order = np.argsort(g.dist)
    return Grid([g.files[i] for i in order])


def _frame_item(ds, i, seq_name):
    pf = getattr(ds, 'PerFrameFunctionalGroupsSequence', None)
    if pf is not None and seq_name in pf[i]:
        return getattr(pf[i], seq_name)[0]
    sh = ds.SharedFunctionalGroupsSequence[0]
    return getattr(sh, seq_name)[0] if seq_name in sh else None


def _rle_segment(data):
    """PackBits as PS3.5 Annex G defines it."""
    out, i = bytearray(), 0
    while i < len(data):
        h = data[i]
        i += 1
        if h < 128:
            out += data[i:i + h + 1]
            i += h + 1
        elif h > 128:
            out += bytes([data[i]]) * (257 - h)
            i += 1
    return bytes(out)


def _rle_1bit_frames(ds):
    """pydicom 2.3 does not decode 1-bit RLE: each fragment is one RLE segment holding the
    frame's bits packed LSB first, padded to whole bytes."""
    from pydicom.encaps import generate_pixel_data_frame
    n, rows, cols = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    frames = []
    for frag in generate_pixel_data_frame(ds.PixelData, n):
        nseg, off0 = int.from_bytes(frag[0:4], 'little'), int.from_bytes(frag[4:8], 'little')
        assert nseg == 1
        raw = _rle_segment(frag[off0:])
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder='little')[:rows * cols]
        frames.append(bits.reshape(rows, cols))
    return np.array(frames)


def seg_frames(ds):
    """pydicom's decoded frames as (n, rows, cols)."""
    if ds.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.5' and ds.BitsAllocated == 1:
        return _rle_1bit_frames(ds)
    arr = ds.pixel_array
    if arr.ndim == 2:
        arr = arr[None]
    return arr


def seg_masks(path, grid):
    """{segment number: (n_src, rows, cols) uint} from pydicom, placed by frame position.
    LABELMAP: {0: labelmap volume}."""
    ds = pydicom.dcmread(path)
    arr = seg_frames(ds)
    labelmap = ds.SegmentationType == 'LABELMAP'
    out = {}
    for i in range(arr.shape[0]):
        ipp = [float(v) for v in _frame_item(ds, i, 'PlanePositionSequence').ImagePositionPatient]
        s = grid.index_of(ipp)
        seg = 0 if labelmap else int(_frame_item(ds, i, 'SegmentIdentificationSequence').ReferencedSegmentNumber)
        vol = out.setdefault(seg, np.zeros((grid.n, grid.rows, grid.cols), np.uint16))
        vol[s] = np.maximum(vol[s], arr[i])
    return ds, out


def to_ijk(vol):
    """(n, rows, cols) -> (cols, rows, n): i = column, j = row, k = slice."""
    return np.ascontiguousarray(np.transpose(vol, (2, 1, 0)))


def write_nifti(path, vol, grid, dtype=np.uint16):
    aff = grid.lps_affine()
    aff[0, :] *= -1  # LPS -> RAS
    aff[1, :] *= -1
    img = nib.Nifti1Image(to_ijk(vol).astype(dtype), aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    nib.save(img, path)
    return path


def write_nrrd(path, vol, grid, dtype=np.uint16, encoding='gzip'):
    aff = grid.lps_affine()
    data = to_ijk(vol).astype(dtype)
    tname = {np.dtype(np.uint8): 'uint8', np.dtype(np.uint16): 'uint16', np.dtype(np.int16): 'int16',
             np.dtype(np.float32): 'float'}[np.dtype(dtype)]
    vec = lambda v: '(' + ','.join(repr(float(x)) for x in v) + ')'
    hdr = ('NRRD0004\n# written by tests/writer/segvol.py\n'
           f'type: {tname}\ndimension: 3\nspace: left-posterior-superior\n'
           f'sizes: {data.shape[0]} {data.shape[1]} {data.shape[2]}\n'
           f'space directions: {vec(aff[:3, 0])} {vec(aff[:3, 1])} {vec(aff[:3, 2])}\n'
           f'kinds: domain domain domain\nendian: little\nencoding: {encoding}\n'
           f'space origin: {vec(aff[:3, 3])}\n\n')
    raw = data.tobytes(order='F')
    with open(path, 'wb') as f:
        f.write(hdr.encode())
        f.write(gzip.compress(raw) if encoding == 'gzip' else raw)
    return path


def code(item):
    c = {'CodeValue': str(item.CodeValue) if 'CodeValue' in item else str(item.LongCodeValue),
         'CodingSchemeDesignator': str(item.CodingSchemeDesignator), 'CodeMeaning': str(item.CodeMeaning)}
    return c


PALETTE = [(221, 130, 101), (128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210),
           (216, 101, 79), (183, 156, 220), (183, 214, 211)]


def segment_attrs(ds, number, rgb_index=0):
    for it in ds.SegmentSequence:
        if int(it.SegmentNumber) == number:
            a = {'labelID': number, 'SegmentLabel': str(it.SegmentLabel),
                 'SegmentAlgorithmType': str(it.SegmentAlgorithmType),
                 'SegmentedPropertyCategoryCodeSequence': code(it.SegmentedPropertyCategoryCodeSequence[0]),
                 'SegmentedPropertyTypeCodeSequence': code(it.SegmentedPropertyTypeCodeSequence[0]),
                 'recommendedDisplayRGBValue': list(PALETTE[rgb_index % len(PALETTE)])}
            if 'SegmentDescription' in it:
                a['SegmentDescription'] = str(it.SegmentDescription)
            if 'SegmentAlgorithmName' in it:
                a['SegmentAlgorithmName'] = str(it.SegmentAlgorithmName)
            return a
    raise KeyError(number)


def meta_json(path, attrs_per_file, **series):
    doc = {'ContentCreatorName': 'Test^Writer', 'SeriesDescription': 'writer test', 'SeriesNumber': '301',
           'InstanceNumber': '1', 'ClinicalTrialSeriesID': 'S1', 'ClinicalTrialTimePointID': '1',
           'segmentAttributes': attrs_per_file}
    doc.update(series)
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
    return doc


def write_ijk_nifti(path, data_ijk, aff_lps):
    aff = aff_lps.copy()
    aff[0, :] *= -1
    aff[1, :] *= -1
    img = nib.Nifti1Image(data_ijk, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    nib.save(img, path)
    return path
