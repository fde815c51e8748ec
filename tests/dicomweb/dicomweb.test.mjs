// segweb against dicomweb-client (the DICOMweb client OHIF uses), with node's test runner.
// Starts the real binary (SEGWEB_BIN) on a free loopback port with a temporary store and
// checks STOW, QIDO, metadata, frames and retrieve. Frame oracle: ../shared/testdata/expected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, frameHash } from './client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.SEGWEB_BIN || path.join(here, '../../build/server/segweb');
const TESTDATA = process.env.SEGWEB_TESTDATA || path.join(here, '../../../shared/testdata');
// the last one is RLE-compressed, 1-bit, 510x510 (frames do not start on a byte)
const NAMES = ['dcmqi_liver', 'hd_sm_control_labelmap', 'hd_ct_binary', 'dcmqi_38x23_odd',
  'pyd_liver_nonbyte_aligned_rle'];

let proc, tmp, client, port;
const files = {};

function expected(name) {
  return JSON.parse(readFileSync(path.join(TESTDATA, 'expected', name + '.json'), 'utf8'));
}

function toArrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'segweb-dwc-'));
  proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', path.join(tmp, 'store'),
    '--max-body', String(64 << 20)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no port in log:\n' + log)), 30000);
    proc.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/\(port (\d+)\)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => reject(new Error(`segweb exited ${code}:\n${log}`)));
  });
  client = new api.DICOMwebClient({ url: `http://127.0.0.1:${port}` });
  for (const n of NAMES) {
    const bytes = readFileSync(path.join(TESTDATA, 'seg', n + '.dcm'));
    files[n] = { bytes, exp: expected(n) };
  }
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const done = new Promise((r) => proc.on('exit', r));
    proc.kill('SIGTERM');
    await done;
  }
  rmSync(tmp, { recursive: true, force: true });
});

// UIDs from QIDO after the STOW, keyed by SOP Instance UID.
const bySop = {};

test('storeInstances (STOW-RS)', async () => {
  const datasets = NAMES.map((n) => toArrayBuffer(files[n].bytes));
  const resp = await client.storeInstances({ datasets });
  assert.ok(resp !== undefined);
  for (const n of NAMES) files[n].sop = files[n].exp.sop_instance_uid;
});

test('searchForStudies / searchForSeries / searchForInstances (QIDO-RS)', async () => {
  const studies = await client.searchForStudies();
  assert.ok(studies.length >= 1);
  for (const s of studies) {
    const study = s['0020000D'].Value[0];
    const series = await client.searchForSeries({ studyInstanceUID: study });
    assert.ok(series.length >= 1);
    for (const se of series) {
      assert.equal(se['00080060'].Value[0], 'SEG');
      const seriesUid = se['0020000E'].Value[0];
      const insts = await client.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: seriesUid });
      for (const i of insts) {
        bySop[i['00080018'].Value[0]] = { study, series: seriesUid, rows: i['00280010'].Value[0] };
      }
    }
  }
  for (const n of NAMES) assert.ok(bySop[files[n].sop], `${n} found by QIDO`);
  const none = await client.searchForStudies({ queryParams: { PatientID: 'nobody-here' } });
  assert.deepEqual(none, []);
  const seg = await client.searchForInstances({ queryParams: { SOPClassUID: '1.2.840.10008.5.1.4.1.1.66.7' } });
  assert.deepEqual(seg.map((i) => i['00080018'].Value[0]), [files.hd_sm_control_labelmap.sop]);
});

test('retrieveInstanceMetadata (WADO-RS)', async () => {
  for (const n of NAMES) {
    const u = bySop[files[n].sop];
    const md = await client.retrieveInstanceMetadata({
      studyInstanceUID: u.study, seriesInstanceUID: u.series, sopInstanceUID: files[n].sop });
    assert.equal(md.length, 1);
    const m = md[0];
    assert.equal(m['00080018'].Value[0], files[n].sop);
    assert.equal(m['00280010'].Value[0], files[n].exp.rows);
    assert.equal(m['00280011'].Value[0], files[n].exp.columns);
    assert.equal(m['00620002'].Value.length, files[n].exp.segments.length);
    assert.ok(m['7FE00010'].BulkDataURI);
  }
});

test('retrieveInstanceFrames: every frame equals expected/', async () => {
  for (const n of NAMES) {
    const u = bySop[files[n].sop];
    const exp = files[n].exp;
    const frameNumbers = exp.frame_sha256.map((_, i) => i + 1);
    const frames = await client.retrieveInstanceFrames({
      studyInstanceUID: u.study, seriesInstanceUID: u.series, sopInstanceUID: files[n].sop, frameNumbers });
    assert.equal(frames.length, frameNumbers.length);
    frames.forEach((f, i) => assert.equal(frameHash(f, exp), exp.frame_sha256[i], `${n} frame ${i + 1}`));
  }
});

test('retrieveInstance: transfer-syntax=* gives the stored bytes; none gives Explicit VR LE', async () => {
  for (const n of NAMES) {
    const u = bySop[files[n].sop];
    const ids = { studyInstanceUID: u.study, seriesInstanceUID: u.series, sopInstanceUID: files[n].sop };
    const res = await fetch(`http://127.0.0.1:${port}/studies/${u.study}/series/${u.series}/instances/${files[n].sop}`,
      { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } });
    assert.equal(res.status, 200);
    const buf = Buffer.from(await res.arrayBuffer());
    assert.ok(buf.includes(files[n].bytes), `${n}: the stored bytes are not in the answer`);
    // PS3.18: no transfer-syntax means Explicit VR Little Endian (the compressed one decoded)
    const dflt = Buffer.from(await client.retrieveInstance(ids).then((g) => (Array.isArray(g) ? g[0] : g)));
    assert.ok(dflt.includes(Buffer.from('1.2.840.10008.1.2.1\0')) || dflt.includes(Buffer.from('1.2.840.10008.1.2.1 ')),
      `${n}: not Explicit VR Little Endian`);
  }
});

// Frame k of a whole native Pixel Data value: BINARY frames are packed back to back
// (frame k starts at bit k*Rows*Columns), re-aligned here to bit 0 as /frames gives them.
function frameOfValue(value, k, exp) {
  const npix = exp.rows * exp.columns;
  if (exp.segmentation_type === 'BINARY') {
    const f = new Uint8Array(Math.ceil(npix / 8));
    for (let i = 0; i < npix; i++) {
      const g = k * npix + i;
      if ((value[g >> 3] >> (g & 7)) & 1) f[i >> 3] |= 1 << (i & 7);
    }
    return f.buffer;
  }
  const size = exp.frame_hash_dtype === 'uint16le' ? 2 * npix : npix;
  return value.slice(k * size, (k + 1) * size).buffer;
}

test('retrieveBulkData: the Pixel Data BulkDataURI of /metadata holds every frame, equal to /frames', async () => {
  for (const n of NAMES) {
    const u = bySop[files[n].sop];
    const exp = files[n].exp;
    const ids = { studyInstanceUID: u.study, seriesInstanceUID: u.series, sopInstanceUID: files[n].sop };
    const md = await client.retrieveInstanceMetadata(ids);
    const uri = md[0]['7FE00010'].BulkDataURI;
    assert.ok(uri.endsWith(`/instances/${files[n].sop}/bulkdata/7FE00010`), uri);
    // path-absolute without --public-url: resolved against the server, as OHIF does
    const parts = await client.retrieveBulkData({ BulkDataURI: new URL(uri, `http://127.0.0.1:${port}`).href });
    assert.equal(parts.length, 1, `${n}: one part, the whole value`);
    const value = new Uint8Array(parts[0]);
    const frameNumbers = exp.frame_sha256.map((_, i) => i + 1);
    const frames = await client.retrieveInstanceFrames({ ...ids, frameNumbers });
    frameNumbers.forEach((f, k) => {
      const mine = frameOfValue(value, k, exp);
      assert.equal(frameHash(mine, exp), exp.frame_sha256[k], `${n} frame ${f} of the bulk data`);
      assert.deepEqual(new Uint8Array(mine), new Uint8Array(frames[k]), `${n} frame ${f}: bulk data vs /frames`);
    });
  }
});
