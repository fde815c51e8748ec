#!/usr/bin/python3
"""The peer for `segweb volume --out-dir`: what a user writes with pydicom +
numpy + nibabel, made as fast as plain numpy allows (frames unpacked one at a
time straight from the Pixel Data bytes with np.unpackbits, not the whole
ds.pixel_array; one volume array per segment, reused).

  pydicom_volume.py FILE OUTDIR [--segment N]

Writes OUTDIR/<N>.nii.gz for every segment (or only N) plus OUTDIR/labelmap.nii.gz
(all segments, the higher number wins), uint8 (uint16 above 255), RAS affine
(qform = sform, code 1) like segweb and dcmqi. BINARY native SEGs only (the
benchmark's object). Prints "<seconds> <segments>" (time after imports).
"""
import os
import sys
import time

import nibabel as nib
import numpy as np
import pydicom


def group(ds, item, seq, attr):
    if item is not None and seq in item and attr in item[seq][0]:
        return item[seq][0][attr].value
    sh = ds.SharedFunctionalGroupsSequence[0]
    return sh[seq][0][attr].value


def main():
    path, out = sys.argv[1], sys.argv[2]
    only = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--segment" else None
    t0 = time.perf_counter()
    ds = pydicom.dcmread(path)
    rows, cols, nf = int(ds.Rows), int(ds.Columns), int(ds.NumberOfFrames)
    assert int(ds.BitsAllocated) == 1 and (rows * cols) % 8 == 0
    pf = ds.PerFrameFunctionalGroupsSequence
    seg_of = np.array([int(group(ds, f, "SegmentIdentificationSequence", "ReferencedSegmentNumber")) for f in pf])
    pos = np.array([[float(x) for x in group(ds, f, "PlanePositionSequence", "ImagePositionPatient")] for f in pf])
    ori = np.array([float(x) for x in group(ds, pf[0], "PlaneOrientationSequence", "ImageOrientationPatient")])
    ps = [float(x) for x in group(ds, pf[0], "PixelMeasuresSequence", "PixelSpacing")]
    row, col = ori[:3], ori[3:]
    normal = np.cross(row, col)
    d = pos @ normal
    distinct = np.unique(np.round(d, 3))
    step = np.diff(distinct).min() if len(distinct) > 1 else 1.0
    nk = int(round((distinct[-1] - distinct[0]) / step)) + 1
    spacing = (distinct[-1] - distinct[0]) / (nk - 1) if nk > 1 else step
    k = np.round((d - d.min()) / spacing).astype(int)
    aff = np.eye(4)
    aff[:3, 0], aff[:3, 1], aff[:3, 2] = row * ps[1], col * ps[0], normal * spacing
    aff[:3, 3] = pos[np.argmax(k == 0)]
    aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff  # LPS -> RAS

    pixels = np.frombuffer(ds.PixelData, np.uint8)
    fbytes = rows * cols // 8

    def frame(i):
        return np.unpackbits(pixels[i * fbytes:(i + 1) * fbytes], bitorder="little").reshape(rows, cols).T

    os.makedirs(out, exist_ok=True)
    numbers = sorted(int(s.SegmentNumber) for s in ds.SegmentSequence)
    dtype = np.uint16 if max(numbers) > 255 else np.uint8
    vol = np.zeros((cols, rows, nk), dtype)
    for n in numbers if only is None else [only]:
        vol[:] = 0
        for i in np.nonzero(seg_of == n)[0]:
            vol[:, :, k[i]][frame(i) != 0] = n
        img = nib.Nifti1Image(vol, aff)
        img.set_qform(aff, 1)
        img.set_sform(aff, 1)
        nib.save(img, os.path.join(out, f"{n}.nii.gz"))
    if only is None:
        vol[:] = 0
        for i in sorted(range(nf), key=lambda i: (seg_of[i], i)):
            vol[:, :, k[i]][frame(i) != 0] = seg_of[i]
        img = nib.Nifti1Image(vol, aff)
        img.set_qform(aff, 1)
        img.set_sform(aff, 1)
        nib.save(img, os.path.join(out, "labelmap.nii.gz"))
    print(f"{time.perf_counter() - t0:.3f} {len(numbers)}")


if __name__ == "__main__":
    main()
