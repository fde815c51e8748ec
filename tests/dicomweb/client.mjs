// What the dicomweb-client suites share (tests/dicomweb, tests/scaleout/pullthrough.test.mjs):
// the client, installed here by `npm ci`, and the frame oracle against ../shared/testdata/expected.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// dicomweb-client speaks XMLHttpRequest; Node has none, xhr2 provides it.
globalThis.XMLHttpRequest = require('xhr2');
export const { api } = require('dicomweb-client');

// sha256 of one /frames part as expected/<name>.json hashes it: BINARY frames as one byte
// per pixel (unpacked LSB first), others as their native bytes (uint16 little-endian).
export function frameHash(buf, exp) {
  const n = exp.rows * exp.columns;
  const bytes = new Uint8Array(buf);
  if (exp.segmentation_type === 'BINARY') {
    assert.equal(bytes.length, Math.ceil(n / 8));
    const vals = new Uint8Array(n);
    for (let i = 0; i < n; i++) vals[i] = (bytes[i >> 3] >> (i & 7)) & 1;
    return createHash('sha256').update(vals).digest('hex');
  }
  assert.equal(bytes.length, exp.frame_hash_dtype === 'uint16le' ? 2 * n : n);
  return createHash('sha256').update(bytes).digest('hex');
}
