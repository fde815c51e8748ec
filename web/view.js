// /view/{R}: one segmentation over its source images.
//
// Data: R/segments (the index: segments, colours), R/slices (frames grouped into
// slices, each with its source image's URL), R/lint (the SEG doctor). Pixels:
// the source slice as R'/frames/{k}/rendered (windowed by segweb), each SEG
// frame as R/frames/{f}/rendered (stored values as a grey PNG). Masks are
// coloured here, so hiding a segment or changing opacity needs no request:
// fill = (1 - a) * below + a * colour with a = opacity * coverage, segments in
// ascending number, outline pixels opaque (the same rule as the server's
// ?segmentation= burn-in, render/render.h).
import { get, getJSON, say, el, root } from './common.js';

const PRESETS = [
  { label: 'Soft tissue (40/400)', value: '40,400' },
  { label: 'Lung (−600/1500)', value: '-600,1500' },
  { label: 'Bone (400/1800)', value: '400,1800' },
  { label: 'Brain (40/80)', value: '40,80' },
];

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const ctx2d = canvas.getContext('2d');
const stage = $('stage');

// Timing for the browser test and for people: first paint and slice changes (ms).
const perf = (window.segwebPerf = { firstPaint: null, changes: [], paints: 0 });

const state = {
  R: '', idx: null, sl: null, slice: 0, visible: new Set(), opacity: 0.5, outline: true,
  window: '', zoom: 1, fit: true, panX: 0, panY: 0, width: 1, height: 1,
};

const sourceCache = new Map(); // url -> Promise<ImageBitmap>
const frameCache = new Map();  // frame -> Promise<{w, h, v: Uint8ClampedArray}>
const maskCache = new Map();   // `${frame}:${segment}` -> {fill, edge} canvases

function resource() {
  const base = new URL('view/', root).pathname;
  const p = location.pathname;
  return p.startsWith(base) ? p.slice(base.length) : '';
}

function parseHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  return {
    slice: h.has('slice') ? parseInt(h.get('slice'), 10) : null,
    segments: h.has('segments') ? h.get('segments') : null,
    opacity: h.has('opacity') ? parseFloat(h.get('opacity')) : null,
    outline: h.has('outline') ? h.get('outline') !== '0' : null,
    window: h.get('window') || '',
  };
}

function writeHash() {
  const all = segmentNumbers();
  const vis = all.filter((n) => state.visible.has(n));
  const h = new URLSearchParams();
  h.set('slice', String(state.slice + 1));
  if (vis.length !== all.length) h.set('segments', vis.length ? vis.join(',') : 'none');
  if (state.opacity !== 0.5) h.set('opacity', String(state.opacity));
  if (!state.outline) h.set('outline', '0');
  if (state.window) h.set('window', state.window);
  history.replaceState(null, '', '#' + h.toString());
}

function segmentNumbers() {
  return state.idx.segments.map((s) => s.number).filter((n) => n > 0 || state.idx.segmentation_kind !== 'LABELMAP');
}

async function bitmap(path) {
  const res = await get(path, { headers: { Accept: 'image/png' } });
  return createImageBitmap(await res.blob());
}

function sourceUrl(src) {
  const w = state.window ? '?window=' + encodeURIComponent(state.window) : '';
  return `${src.url}/frames/${src.frame}/rendered${w}`;
}

function sourceImage(slice) {
  const src = slice.source;
  if (!src || !src.found) return Promise.resolve(null);
  const u = sourceUrl(src);
  if (!sourceCache.has(u)) {
    const p = bitmap(u).catch((e) => { say('Source image: ' + e.message, 'error'); return null; });
    sourceCache.set(u, p);
  }
  return sourceCache.get(u);
}

// Stored values of a SEG frame (one byte per pixel; 1-bit frames come as 0/255).
function frameValues(f) {
  if (!frameCache.has(f)) {
    frameCache.set(f, bitmap(`${state.R}/frames/${f}/rendered`).then((bm) => {
      const c = new OffscreenCanvas(bm.width, bm.height);
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(bm, 0, 0);
      const d = g.getImageData(0, 0, bm.width, bm.height).data;
      const v = new Uint8ClampedArray(bm.width * bm.height);
      for (let i = 0; i < v.length; i++) v[i] = d[4 * i];
      return { w: bm.width, h: bm.height, v };
    }));
  }
  return frameCache.get(f);
}

function segment(n) {
  return state.idx.segments.find((s) => s.number === n);
}

// Fill and outline canvases of segment n in frame f.
async function mask(f, n) {
  const key = f + ':' + n;
  if (maskCache.has(key)) return maskCache.get(key);
  const fv = await frameValues(f);
  const kind = state.idx.segmentation_kind;
  const max = state.sl.max_fractional_value || 255;
  const [r, g, b] = segment(n).rgb;
  const { w, h, v } = fv;
  const cov = new Uint8ClampedArray(w * h); // 0..255
  for (let i = 0; i < v.length; i++) {
    if (kind === 'LABELMAP') cov[i] = v[i] === n ? 255 : 0;
    else if (kind === 'FRACTIONAL') cov[i] = Math.round(255 * Math.min(v[i] / max, 1));
    else cov[i] = v[i] ? 255 : 0;
  }
  const fill = new ImageData(w, h), edge = new ImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!cov[i]) continue;
      const isEdge = x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
        !cov[i - 1] || !cov[i + 1] || !cov[i - w] || !cov[i + w];
      const o = 4 * i;
      fill.data[o] = r; fill.data[o + 1] = g; fill.data[o + 2] = b; fill.data[o + 3] = cov[i];
      if (isEdge) { edge.data[o] = r; edge.data[o + 1] = g; edge.data[o + 2] = b; edge.data[o + 3] = 255; }
    }
  }
  const out = { fill: await createImageBitmap(fill), edge: await createImageBitmap(edge) };
  maskCache.set(key, out);
  return out;
}

function layersOf(slice) {
  // [{n, f, x, y}] in drawing order: ascending segment number, then frame;
  // x, y: a slide tile's top-left pixel in the total pixel matrix.
  const kind = state.idx.segmentation_kind;
  const out = [];
  for (const n of segmentNumbers()) {
    if (!state.visible.has(n)) continue;
    for (const fr of slice.frames) {
      if (kind !== 'LABELMAP' && fr.segment !== n) continue;
      if (kind === 'LABELMAP' && !(segment(n).frames || []).includes(fr.frame)) continue;
      const [x, y] = fr.tile ? [fr.tile[0] - 1, fr.tile[1] - 1] : [0, 0];
      out.push({ n, f: fr.frame, x, y });
    }
  }
  return out;
}

let paintSeq = 0;
async function paint(t0 = performance.now()) {
  const seq = ++paintSeq;
  const slice = state.sl.slices[state.slice];
  const layers = layersOf(slice);
  const [src, masks] = await Promise.all([sourceImage(slice),
    Promise.all(layers.map((l) => mask(l.f, l.n)))]);
  if (seq !== paintSeq) return; // a newer paint started
  ctx2d.globalAlpha = 1;
  ctx2d.fillStyle = '#000';
  ctx2d.fillRect(0, 0, canvas.width, canvas.height);
  if (src) ctx2d.drawImage(src, 0, 0);
  let i = 0;
  for (const n of new Set(layers.map((l) => l.n))) {
    const mine = layers.map((l, k) => [l, masks[k]]).filter(([l]) => l.n === n);
    ctx2d.globalAlpha = state.opacity;
    for (const [l, m] of mine) ctx2d.drawImage(m.fill, l.x, l.y);
    if (state.outline) {
      ctx2d.globalAlpha = 1;
      for (const [l, m] of mine) ctx2d.drawImage(m.edge, l.x, l.y);
    }
    i++;
  }
  ctx2d.globalAlpha = 1;
  const dt = performance.now() - t0;
  perf.paints++;
  canvas.dataset.slice = String(state.slice + 1);
  canvas.dataset.paints = String(perf.paints);
  canvas.dataset.layers = String(i);
  if (perf.firstPaint === null) {
    perf.firstPaint = performance.now();
    document.body.dataset.ready = '1';
  } else {
    perf.changes.push(dt);
  }
  sliceInfo();
}

function sliceInfo() {
  const s = state.sl.slices[state.slice];
  const n = state.sl.slices.length;
  let t = `${state.slice + 1} / ${n}`;
  if (s.location !== null && s.location !== undefined) t += ` · ${s.location.toFixed(2)} mm`;
  if (s.source && !s.source.found) t += ' · no source image';
  $('sliceinfo').value = t;
  $('sliceinfo').textContent = t;
  $('slice').setAttribute('aria-valuetext', t);
}

function setSlice(k, t0 = performance.now()) {
  const n = state.sl.slices.length;
  k = Math.max(0, Math.min(n - 1, k));
  if (k === state.slice && perf.firstPaint !== null) return;
  state.slice = k;
  $('slice').value = String(k + 1);
  writeHash();
  paint(t0).catch(fail);
}

function layout() {
  const W = stage.clientWidth, H = stage.clientHeight;
  if (state.fit) {
    const z = Math.min(W / state.width, H / state.height);
    state.zoom = z >= 1 ? Math.floor(z) : z; // whole pixels when enlarging: crisp voxels
    state.panX = Math.round((W - state.width * state.zoom) / 2);
    state.panY = Math.round((H - state.height * state.zoom) / 2);
  }
  canvas.style.transform = `translate(${state.panX}px, ${state.panY}px) scale(${state.zoom})`;
}

function zoomBy(f) {
  const W = stage.clientWidth / 2, H = stage.clientHeight / 2;
  const z = Math.max(0.05, Math.min(64, state.zoom * f));
  state.panX = W - (W - state.panX) * (z / state.zoom);
  state.panY = H - (H - state.panY) * (z / state.zoom);
  state.zoom = z;
  state.fit = false;
  layout();
}

function buildTable() {
  const body = document.querySelector('#segments tbody');
  body.textContent = '';
  for (const s of state.idx.segments) {
    if (!segmentNumbers().includes(s.number)) continue;
    const id = 'seg-' + s.number;
    const label = s.label || '(no label)';
    const box = el('input', { type: 'checkbox', id, 'aria-label': `Show segment ${s.number} ${label}` });
    box.checked = state.visible.has(s.number);
    box.addEventListener('change', () => {
      if (box.checked) state.visible.add(s.number); else state.visible.delete(s.number);
      writeHash();
      paint().catch(fail);
    });
    const type = s.type && s.type.meaning ? s.type.meaning : '—';
    const alg = [s.algorithm_type, s.algorithm_name].filter(Boolean).join(' · ') || '—';
    const vol = typeof s.volume_ml === 'number' ? s.volume_ml.toFixed(2) : '—';
    body.append(el('tr', { 'data-segment': String(s.number) },
      el('td', {}, box),
      el('td', {}, el('span', { class: 'swatch', style: `background:${s.color}`, title: s.color })),
      el('td', { class: 'num', text: String(s.number) }),
      el('td', {}, el('label', { for: id, text: label })),
      el('td', { text: type }),
      el('td', { text: alg }),
      el('td', { class: 'num', text: String((s.frames || []).length) }),
      el('td', { class: 'num vol', text: vol })));
  }
}

function setAll(on) {
  state.visible = new Set(on ? segmentNumbers() : []);
  for (const b of document.querySelectorAll('#segments tbody input')) b.checked = on;
  writeHash();
  paint().catch(fail);
}

function buildWindows() {
  const sel = $('window');
  sel.textContent = '';
  sel.append(el('option', { value: '', text: 'From the image' }));
  for (const w of state.sl.windows || []) {
    const v = `${w.center},${w.width}`;
    sel.append(el('option', { value: v, text: `${w.explanation || 'Image'} (${w.center}/${w.width})` }));
  }
  for (const p of PRESETS) sel.append(el('option', { value: p.value, text: p.label }));
  if (state.window && ![...sel.options].some((o) => o.value === state.window))
    sel.append(el('option', { value: state.window, text: state.window.replace(',', '/') }));
  sel.value = state.window;
  sel.disabled = !state.sl.sources.found;
}

// Volumes (mL) come after the first paint: they need every frame read.
async function loadVolumes() {
  let doc;
  try {
    doc = await getJSON(state.R + '/volumes');
  } catch (e) {
    doc = { volumes_ml: {}, message: e.message };
  }
  for (const row of document.querySelectorAll('#segments tbody tr')) {
    const v = doc.volumes_ml[row.dataset.segment];
    const cell = row.querySelector('td.vol');
    if (typeof v === 'number') cell.textContent = v.toFixed(2);
    else if (doc.message) cell.title = doc.message;
  }
}

async function loadFindings() {
  const ul = $('findings');
  try {
    const doc = await getJSON(state.R + '/lint');
    ul.textContent = '';
    if (!doc.findings.length) ul.append(el('li', { text: 'No findings: nothing known to trouble viewers or archives.' }));
    for (const f of doc.findings)
      ul.append(el('li', { class: f.severity }, el('code', { text: f.code }), ` ${f.severity}: ${f.message}`));
  } catch (e) {
    ul.textContent = '';
    ul.append(el('li', { text: 'Checks are not available: ' + e.message }));
  }
}

function fail(e) {
  say(String((e && e.message) || e), 'error');
}

function prefetch() {
  // Warm the caches for every slice so slice changes paint from memory.
  let k = 0;
  const next = () => {
    if (k >= state.sl.slices.length) return;
    const s = state.sl.slices[k++];
    Promise.all([sourceImage(s), ...layersOf(s).map((l) => mask(l.f, l.n))]).catch(() => {}).then(() => setTimeout(next, 0));
  };
  next();
}

function wire() {
  $('slice').addEventListener('input', (e) => setSlice(parseInt(e.target.value, 10) - 1));
  $('opacity').addEventListener('input', (e) => { state.opacity = e.target.value / 100; writeHash(); paint().catch(fail); });
  $('outline').addEventListener('change', (e) => { state.outline = e.target.checked; writeHash(); paint().catch(fail); });
  $('window').addEventListener('change', (e) => { state.window = e.target.value; writeHash(); paint().catch(fail); });
  $('all').addEventListener('click', () => setAll(true));
  $('none').addEventListener('click', () => setAll(false));
  $('zoomin').addEventListener('click', () => zoomBy(1.25));
  $('zoomout').addEventListener('click', () => zoomBy(0.8));
  $('zoomfit').addEventListener('click', () => { state.fit = true; layout(); });
  stage.addEventListener('wheel', (e) => {
    e.preventDefault();
    if (state.sl.slide || e.ctrlKey) zoomBy(e.deltaY < 0 ? 1.25 : 0.8);
    else setSlice(state.slice + (e.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  let drag = null;
  stage.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY, px: state.panX, py: state.panY }; stage.setPointerCapture(e.pointerId); });
  stage.addEventListener('pointermove', (e) => {
    if (!drag) return;
    state.panX = drag.px + e.clientX - drag.x; state.panY = drag.py + e.clientY - drag.y; state.fit = false; layout();
  });
  stage.addEventListener('pointerup', () => { drag = null; });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key;
    if (k === 'ArrowUp' || k === 'ArrowRight' || k === 'PageUp') setSlice(state.slice + 1);
    else if (k === 'ArrowDown' || k === 'ArrowLeft' || k === 'PageDown') setSlice(state.slice - 1);
    else if (k === 'Home') setSlice(0);
    else if (k === 'End') setSlice(state.sl.slices.length - 1);
    else if (k === '+' || k === '=') zoomBy(1.25);
    else if (k === '-') zoomBy(0.8);
    else if (k === '0') { state.fit = true; layout(); }
    else return;
    e.preventDefault();
  });
  window.addEventListener('resize', layout);
}

async function main() {
  state.R = resource();
  if (!state.R) {
    say('No segmentation named in the address: use view/studies/…/instances/… or view/files/….', 'error');
    return;
  }
  $('title').textContent = decodeURIComponent(state.R.split('/').pop());
  let idx, sl;
  try {
    [idx, sl] = await Promise.all([getJSON(state.R + '/segments'), getJSON(state.R + '/slices')]);
  } catch (e) {
    const what = e.status === 415 || e.status === 422 ? 'This is not a segweb-readable segmentation' : 'Cannot open this segmentation';
    say(`${what}: ${e.message}`, 'error');
    $('findings').textContent = '';
    return;
  }
  state.idx = idx;
  state.sl = sl;
  document.title = `${idx.content.label || idx.series_description || 'Segmentation'} · segweb`;
  $('title').textContent = idx.content.label || idx.series_description || 'Segmentation';
  $('subtitle').textContent = `${idx.segmentation_kind} · ${idx.rows}×${idx.columns} · ${idx.number_of_frames} frames`;
  if (!sl.slices.length) { say('This segmentation has no frames.', 'error'); return; }
  const h = parseHash();
  const numbers = segmentNumbers();
  state.visible = new Set(numbers);
  const notes = [];
  if (h.segments === 'none') state.visible = new Set();
  else if (h.segments) {
    const asked = h.segments.split(',').map((x) => parseInt(x, 10));
    const unknown = asked.filter((n) => !numbers.includes(n));
    if (unknown.length) notes.push(`Segment ${unknown.join(', ')} is not in this segmentation (ignored).`);
    state.visible = new Set(asked.filter((n) => numbers.includes(n)));
  }
  if (h.opacity !== null && h.opacity >= 0 && h.opacity <= 1) state.opacity = h.opacity;
  if (h.outline !== null) state.outline = h.outline;
  if (/^-?[\d.]+,[\d.]+$/.test(h.window)) state.window = h.window;
  if (sl.message) notes.push(sl.message.charAt(0).toUpperCase() + sl.message.slice(1) + '.');
  say(notes.join(' '));
  if (sl.slide && sl.total_matrix) {
    state.height = sl.total_matrix[0]; state.width = sl.total_matrix[1];
  } else {
    state.height = sl.rows; state.width = sl.columns;
  }
  canvas.width = state.width;
  canvas.height = state.height;
  $('slice').max = String(sl.slices.length);
  $('slice').disabled = sl.slices.length < 2;
  $('opacity').value = String(Math.round(state.opacity * 100));
  $('outline').checked = state.outline;
  buildTable();
  buildWindows();
  wire();
  layout();
  let k = h.slice !== null && h.slice >= 1 && h.slice <= sl.slices.length ? h.slice - 1 : Math.floor((sl.slices.length - 1) / 2);
  if (h.slice !== null && (h.slice < 1 || h.slice > sl.slices.length)) say(`There is no slice ${h.slice}; showing ${k + 1}.`);
  state.slice = k;
  $('slice').value = String(k + 1);
  writeHash();
  await paint(0);
  prefetch();
  loadFindings();
  loadVolumes();
}

main().catch(fail);
