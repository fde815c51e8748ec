#!/usr/bin/env node
// The script a Node user would write with dcmjs (no PNG encoder in dcmjs, so no png mode).
//   node seg.js meta   FILE   read the SEG, list segments and per-frame segment numbers
//   node seg.js decode FILE   ... plus unpack every BINARY frame to one byte per pixel
// Prints "<mode> <seconds> <frames> <segments>" (seconds inside the process).
const fs = require("fs");
const dcmjs = require("dcmjs");

const [mode, path] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const buf = fs.readFileSync(path);
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const dicomData = dcmjs.data.DicomMessage.readFile(ab);
const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicomData.dict);
const asArray = (x) => (Array.isArray(x) ? x : x ? [x] : []);
const segments = asArray(ds.SegmentSequence).map((s) => [s.SegmentNumber, s.SegmentLabel]);
const frameSegment = asArray(ds.PerFrameFunctionalGroupsSequence).map(
  (f) => asArray(f.SegmentIdentificationSequence)[0].ReferencedSegmentNumber);
const n = Number(ds.NumberOfFrames);
if (mode === "decode") {
  const px = new Uint8Array(asArray(ds.PixelData)[0]);
  const npix = ds.Rows * ds.Columns;
  const binary = ds.SegmentationType === "BINARY";
  let set = 0;
  for (let k = 0; k < n; k++) {
    const frame = new Uint8Array(npix);
    if (binary) {
      const base = k * npix;
      for (let i = 0; i < npix; i++) {
        const b = base + i;
        frame[i] = (px[b >> 3] >> (b & 7)) & 1;
      }
    } else {
      frame.set(px.subarray(k * npix, (k + 1) * npix));
    }
    set += frame[npix >> 1];
  }
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${mode} ${secs.toFixed(3)} ${frameSegment.length} ${segments.length}`);
