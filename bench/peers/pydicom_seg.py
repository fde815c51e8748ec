#!/usr/bin/python3
"""The script a user would write with pydicom + Pillow (no highdicom).

  pydicom_seg.py meta   FILE          read the SEG, list segments and per-frame segment numbers
  pydicom_seg.py decode FILE          ... plus decode every frame (ds.pixel_array)
  pydicom_seg.py png    FILE OUTDIR   ... plus write every frame as OUTDIR/frame-NNNNN.png

Prints one line: "<mode> <seconds> <frames> <segments>" (time inside the process,
after the interpreter and imports; the benchmark also times the whole process).
"""
import os
import sys
import time

t_import = time.perf_counter()
import numpy as np
import pydicom
from PIL import Image


def main():
    mode, path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    ds = pydicom.dcmread(path)
    segments = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    frame_segment = [
        int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for f in ds.PerFrameFunctionalGroupsSequence
    ]
    n = int(ds.NumberOfFrames)
    if mode in ("decode", "png"):
        pixels = ds.pixel_array  # (frames, rows, cols), one uint8 per pixel
        if pixels.ndim == 2:
            pixels = pixels[np.newaxis]
    if mode == "png":
        out = sys.argv[3]
        os.makedirs(out, exist_ok=True)
        binary = ds.SegmentationType == "BINARY"
        for i in range(n):
            frame = pixels[i]
            img = Image.fromarray((frame * 255).astype(np.uint8)).convert("1") if binary \
                else Image.fromarray(frame.astype(np.uint8))
            img.save(os.path.join(out, "frame-%05d.png" % (i + 1)))
    t1 = time.perf_counter()
    print("%s %.3f %d %d" % (mode, t1 - t0, len(frame_segment), len(segments)))


if __name__ == "__main__":
    main()
