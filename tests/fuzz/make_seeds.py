#!/usr/bin/python3
"""Writes the fuzz seed corpora into OUT/<target>/ at run time (nothing is copied
into the repository):

  fuzz_decoder    every SEG of TESTDATA/seg/
  fuzz_frame_png  8-byte geometry header + payload: native frame bytes, and each
                  compressed frame (RLE, JPEG-LS, JPEG 2000, deflate) of the corpus
                  with the matching codec selector
  fuzz_route      request targets (good, traversal attempts, odd encodings)
  fuzz_multipart  multipart/related bodies with their Content-Type (if the target exists)
  fuzz_upstream_multipart  the same, as an upstream archive answers them

usage: make_seeds.py TESTDATA OUT
"""
import glob
import os
import shutil
import struct
import sys
import zlib

import pydicom
from pydicom.encaps import generate_pixel_data_frame

testdata, out = sys.argv[1], sys.argv[2]
segs = sorted(glob.glob(os.path.join(testdata, "seg", "*.dcm")))


def target_dir(name):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    return d


# fuzz_decoder, fuzz_volume: whole files
for t in ("fuzz_decoder", "fuzz_volume"):
    d = target_dir(t)
    for p in segs:
        shutil.copy(p, os.path.join(d, os.path.basename(p)))

# fuzz_frame_png
CODEC = {"1.2.840.10008.1.2.5": 1, "1.2.840.10008.1.2.4.80": 2, "1.2.840.10008.1.2.4.81": 2,
         "1.2.840.10008.1.2.4.90": 3, "1.2.840.10008.1.2.4.91": 3, "1.2.840.10008.1.2.8.1": 4}
BITSEL = {1: 0, 8: 1, 16: 2}
d = target_dir("fuzz_frame_png")


def header(rows, cols, bits, low, frame=0):
    return struct.pack("<HHBBH", (rows - 1) % 65536, (cols - 1) % 65536, BITSEL.get(bits, 1), low, frame)


for p in segs:
    ds = pydicom.dcmread(p)
    base = os.path.basename(p)[:-4]
    rows, cols, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
    if rows > 300 or cols > 300 or bits not in BITSEL:
        continue
    ts = str(ds.file_meta.TransferSyntaxUID)
    nframes = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if ts in CODEC:
        for i, frag in enumerate(generate_pixel_data_frame(ds.PixelData, nframes)):
            if i >= 3:
                break
            with open(os.path.join(d, f"{base}-f{i}"), "wb") as f:
                f.write(header(rows, cols, bits, CODEC[ts] << 3) + frag)
    elif "PixelData" in ds:
        pd = ds.PixelData
        for off in (0, 3):
            with open(os.path.join(d, f"{base}-native{off}"), "wb") as f:
                f.write(header(rows, cols, bits, off, 1) + pd[: 4 * rows * cols])
        raw = pd[: rows * cols * max(bits // 8, 1)]
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        with open(os.path.join(d, f"{base}-deflate"), "wb") as f:
            f.write(header(rows, cols, bits, 4 << 3) + c.compress(raw) + c.flush())

# fuzz_route
d = target_dir("fuzz_route")
ROUTES = [
    "/healthz", "/readyz", "/metrics", "/files/a.dcm/segments", "/files/sub/b.dcm/segments/2",
    "/files/a.dcm/frames/1/rendered?style=color", "/files/a.dcm/segments/0",
    "/files/a.dcm/segments/1/mask?source=1.2.3.4&frame=2",
    "/studies/1.2/series/1.3/instances/1.4/segments", "/studies/1.2/series/1.3/instances/1.4/frames/7/rendered",
    "/files/../etc/passwd/segments", "/files/%2e%2e/x.dcm/segments", "/files/a%2fb.dcm/segments",
    "/files/%252e%252e/segments", "/files/up/outside.dcm/segments", "/files/out.dcm/segments",
    "/files//etc/passwd/segments", "/files/a\\b/segments", "/files/a%00.dcm/segments",
    "/files/a.dcm/frames/01/rendered", "/files/a.dcm/frames/4294967296/rendered",
    "/files/a.dcm/segments/1/mask?source=1.2&source=3.4&frame=0&x=%zz",
    "/studies/1.2/series/1.3/instances/1.4/frames/1", "/studies", "/studies/1.2/series",
    "/studies/1.2/series/1.3/instances/1.4", "/studies/1.2/series/1.3/instances/1.4/metadata",
]
for i, r in enumerate(ROUTES):
    with open(os.path.join(d, f"route-{i:02d}"), "w") as f:
        f.write(r)

# fuzz_multipart: "Content-Type value\n" then the body
d = target_dir("fuzz_multipart")
small = segs[1] if len(segs) > 1 else None
if small:
    with open(small, "rb") as f:
        obj = f.read()[:4096]
    b = "segweb-fuzz-boundary"
    body = (f"--{b}\r\nContent-Type: application/dicom\r\n\r\n").encode() + obj + \
        (f"\r\n--{b}\r\nContent-Type: application/dicom\r\n\r\n").encode() + obj[:100] + f"\r\n--{b}--\r\n".encode()
    for i, ct in enumerate([f'multipart/related; type="application/dicom"; boundary={b}',
                            f'multipart/related; boundary="{b}"; type=application/dicom']):
        with open(os.path.join(d, f"mp-{i}"), "wb") as f:
            f.write(ct.encode() + b"\n" + body)

# fuzz_upstream_multipart: the same format, as an upstream archive answers (a 73-character
# boundary like Orthanc's, one part, transfer-syntax=*)
d = target_dir("fuzz_upstream_multipart")
if small:
    b = "0d6e4e32-6c86-4d8b-b1e2-1f4a1b7c1e55-7f8c5e9a-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
    body = (f"--{b}\r\nContent-Type: application/dicom; transfer-syntax=*\r\nContent-Length: {len(obj)}\r\n\r\n").encode() \
        + obj + f"\r\n--{b}--\r\n".encode()
    with open(os.path.join(d, "orthanc-0"), "wb") as f:
        f.write(f'multipart/related; type="application/dicom"; boundary={b}'.encode() + b"\n" + body)

# fuzz_writer_inputs: selector byte (even: label volume, odd: metadata JSON), then the bytes
d = target_dir("fuzz_writer_inputs")
import gzip
import json
import nibabel as nib
import numpy as np
vol = np.zeros((5, 3, 2), np.uint16)
vol[1:3, 1, 0] = 1
vol[2, 0:2, 1] = 2
aff = np.array([[-0.7, 0, 0, 40], [0, -0.7, 0, 5], [0, 0, 2.5, -170], [0, 0, 0, 1]])
nii = nib.Nifti1Image(vol, aff)
nii.set_qform(aff, code=1)
seeds = {"nii": nii.to_bytes(), "nii.gz": gzip.compress(nii.to_bytes())}
nii.set_sform(aff, code=0)
seeds["nii-qform"] = nii.to_bytes()
hdr = ("NRRD0004\ntype: uint16\ndimension: 3\nspace: left-posterior-superior\nsizes: 5 3 2\n"
       "space directions: (0.7,0,0) (0,0.7,0) (0,0,2.5)\nendian: little\nencoding: %s\n"
       "space origin: (-40,-5,-170)\n\n")
raw = vol.tobytes(order="F")
seeds["nrrd-raw"] = (hdr % "raw").encode() + raw
seeds["nrrd-gz"] = (hdr % "gzip").encode() + gzip.compress(raw)
for name, data in seeds.items():
    with open(os.path.join(d, "labels-" + name), "wb") as f:
        f.write(b"\0" + data)
meta = {"ContentCreatorName": "Reader1", "SeriesNumber": 300, "segmentAttributes": [[
    {"labelID": 1, "SegmentLabel": "Liver", "SegmentAlgorithmType": "MANUAL",
     "SegmentedPropertyCategoryCodeSequence": {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT",
                                               "CodeMeaning": "Tissue"},
     "SegmentedPropertyTypeCodeSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT",
                                           "CodeMeaning": "Liver"},
     "SegmentedPropertyTypeModifierCodeSequence": [{"CodeValue": "7771000", "CodingSchemeDesignator": "SCT",
                                                    "CodeMeaning": "Left"}],
     "AnatomicRegionSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Liver"},
     "recommendedDisplayRGBValue": [221, 130, 101]}]]}
with open(os.path.join(d, "meta-0"), "wb") as f:
    f.write(b"\1" + json.dumps(meta).encode())
import io
from PIL import Image
for name, img in (("png8", Image.fromarray(vol[:, :, 0].astype(np.uint8))),
                  ("png1", Image.fromarray(vol[:, :, 0] > 0)),
                  ("png16", Image.fromarray(vol[:, :, 1].astype(np.uint16) * 300))):
    b = io.BytesIO()
    img.save(b, format="PNG")
    with open(os.path.join(d, "mask-" + name), "wb") as f:
        f.write(b"\2" + b.getvalue())
