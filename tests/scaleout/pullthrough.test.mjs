// dicomweb-client (the DICOMweb client OHIF uses) against one segweb started by
// test_pullthrough.py with --upstream (Orthanc) and --base-path /dicom-web: it opens a
// study whose images are only in the archive: the study list, the CT series' metadata,
// a CT frame (proxied), and every SEG frame (pulled through), checked against expected/.
// Environment: SEGWEB_URL, STUDY, CT_SERIES, SEG_SERIES, SEG_SOP, SEG_NAME, SEGWEB_TESTDATA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
// the client is installed once, for tests/dicomweb (npm ci there)
import { api, frameHash } from '../dicomweb/client.mjs';

const env = process.env;
const client = new api.DICOMwebClient({ url: env.SEGWEB_URL });
const exp = JSON.parse(readFileSync(path.join(env.SEGWEB_TESTDATA, 'expected', env.SEG_NAME + '.json'), 'utf8'));

test('searchForStudies lists the archive study', async () => {
  const studies = await client.searchForStudies();
  assert.ok(studies.some((s) => s['0020000D'].Value[0] === env.STUDY));
  const series = await client.searchForSeries({ studyInstanceUID: env.STUDY });
  const modalities = series.map((s) => s['00080060'].Value[0]).sort();
  assert.ok(modalities.includes('CT') && modalities.includes('SEG'), modalities.join(','));
});

test('CT series metadata and a CT frame come through from the archive', async () => {
  const meta = await client.retrieveSeriesMetadata({ studyInstanceUID: env.STUDY, seriesInstanceUID: env.CT_SERIES });
  assert.ok(meta.length >= 1);
  const m = meta[0];
  const sop = m['00080018'].Value[0];
  for (const item of meta) {
    const bulk = item['7FE00010'] && item['7FE00010'].BulkDataURI;
    // path-absolute under the base path (no --public-url here), never the archive's host
    const ours = new URL(env.SEGWEB_URL).pathname + '/studies/';
    if (bulk) assert.ok(bulk.startsWith(env.SEGWEB_URL) || bulk.startsWith(ours), `BulkDataURI ${bulk} is not segweb's`);
  }
  const rows = m['00280010'].Value[0], cols = m['00280011'].Value[0], bits = m['00280100'].Value[0];
  const frames = await client.retrieveInstanceFrames({
    studyInstanceUID: env.STUDY, seriesInstanceUID: env.CT_SERIES, sopInstanceUID: sop, frameNumbers: [1] });
  assert.equal(frames.length, 1);
  assert.equal(frames[0].byteLength, rows * cols * (bits / 8));
});

test('every SEG frame, pulled through, equals expected/', async () => {
  const frameNumbers = exp.frame_sha256.map((_, i) => i + 1);
  const frames = await client.retrieveInstanceFrames({
    studyInstanceUID: env.STUDY, seriesInstanceUID: env.SEG_SERIES, sopInstanceUID: env.SEG_SOP, frameNumbers });
  assert.equal(frames.length, frameNumbers.length);
  frames.forEach((f, i) => assert.equal(frameHash(f, exp), exp.frame_sha256[i], `frame ${i + 1}`));
  const meta = await client.retrieveInstanceMetadata({
    studyInstanceUID: env.STUDY, seriesInstanceUID: env.SEG_SERIES, sopInstanceUID: env.SEG_SOP });
  assert.equal(meta[0]['00080060'].Value[0], 'SEG');
});
