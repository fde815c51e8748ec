// Drives Debian's chromium (headless, no browser download) through the /view
// page with playwright-core, following a plan written by test_browser.py, and
// writes what it saw: screenshots of the image canvas, its geometry, timings,
// page text, console errors and uncaught exceptions. The pixel checks against
// pydicom are made in Python afterwards.
//
//   node drive.mjs PLAN.json RESULT.json
//
// Plan: {"base": "http://127.0.0.1:port/", "out": "dir", "chromium": "/usr/bin/chromium",
//        "scenarios": [{"name", "path", "steps": [...]}]}
// Steps: {"shot": name} | {"key": "ArrowUp", "slice": 2} | {"click": "#seg-1"}
//        | {"repeat": n, "keys": ["ArrowUp", "ArrowDown"]}   (slice-change timing)
//        | {"text": "#message"}  (record an element's text)
// A scenario may name its own "base" (another server) and a "token" to type into
// the page's --auth-token prompt.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [planFile, resultFile] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
fs.mkdirSync(plan.out, { recursive: true });

const browser = await chromium.launch({
  executablePath: plan.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--force-color-profile=srgb', '--disable-gpu', '--no-sandbox', '--disable-dev-shm-usage',
    '--disable-lcd-text', '--font-render-hinting=none'],
});
// page.waitForFunction polls with eval() inside the page, which the page's own CSP
// (script-src without 'unsafe-eval') refuses: a pageerror whenever the condition is not
// true at once, i.e. now and then (a CI run failed on it). page.evaluate goes through the
// DevTools protocol, outside the CSP: poll with that.
const waitUntil = async (page, fn, arg, { timeout }) => {
  const t0 = Date.now();
  for (;;) {
    if (await page.evaluate(fn, arg)) return true;
    if (Date.now() - t0 > timeout) throw new Error(`waitUntil: timed out after ${timeout} ms`);
    await new Promise((res) => setTimeout(res, 25));
  }
};
const results = [];
try {
  for (const sc of plan.scenarios) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const r = { name: sc.name, console: [], exceptions: [], shots: {}, texts: {}, steps: [] };
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') r.console.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => r.exceptions.push(String(e && e.stack || e)));
    const t0 = Date.now();
    await page.goto(new URL(sc.path, sc.base || plan.base).href, { waitUntil: 'load' });
    if (sc.token) { // --auth-token: the page asks once, keeps it in sessionStorage
      await page.waitForSelector('#token-input', { state: 'visible', timeout: 15000 });
      await page.fill('#token-input', sc.token);
      await page.click('#token-dialog button[value="ok"]');
    }
    try {
      await page.waitForSelector(sc.waitFor || (sc.expectError ? '#message.error' : 'body[data-ready="1"]'), { timeout: 15000 });
    } catch (e) {
      r.timeout = true;
    }
    r.loadMs = Date.now() - t0;
    r.perf = await page.evaluate(() => window.segwebPerf ? { firstPaint: window.segwebPerf.firstPaint } : null);
    const canvasInfo = async () => page.evaluate(() => {
      const c = document.getElementById('canvas');
      const b = c.getBoundingClientRect();
      return { x: b.x, y: b.y, width: b.width, height: b.height, cw: c.width, ch: c.height,
        slice: c.dataset.slice || null, paints: Number(c.dataset.paints || 0), hash: location.hash };
    });
    const waitPaints = async (n) => waitUntil(page, (k) => Number(document.getElementById('canvas').dataset.paints || 0) >= k, n, { timeout: 10000 });
    for (const st of sc.steps || []) {
      if (r.timeout) break;
      if (st.shot) {
        const info = await canvasInfo();
        const file = path.join(plan.out, `${sc.name}-${st.shot}.png`);
        await page.screenshot({ path: file, clip: { x: info.x, y: info.y, width: info.width, height: info.height } });
        r.shots[st.shot] = { file, ...info };
      } else if (st.key) {
        await page.focus('#stage');
        await page.keyboard.press(st.key);
        if (st.slice) await waitUntil(page, (s) => document.getElementById('canvas').dataset.slice === String(s), st.slice, { timeout: 10000 });
      } else if (st.click) {
        const before = (await canvasInfo()).paints;
        await page.click(st.click);
        await waitPaints(before + 1);
      } else if (st.repeat) {
        await page.focus('#stage');
        for (let i = 0; i < st.repeat; i++) {
          for (const k of st.keys) {
            const before = (await canvasInfo()).paints;
            await page.keyboard.press(k);
            await waitPaints(before + 1);
          }
        }
      } else if (st.text) {
        r.texts[st.text] = await page.evaluate((s) => { const e = document.querySelector(s); return e ? e.textContent : null; }, st.text);
      }
      r.steps.push(Object.keys(st)[0]);
    }
    if (!sc.expectError && !sc.waitFor && !r.timeout) {
      await waitUntil(page, () => { const f = document.getElementById('findings'); return f && f.textContent !== '…'; },
        null, { timeout: 10000 }).catch(() => {});
    }
    if (sc.volumes) {
      await waitUntil(page, () => [...document.querySelectorAll('#segments td.vol')].some((c) => c.textContent !== '—'),
        null, { timeout: 10000 }).catch(() => {});
      r.volumes = await page.evaluate(() => [...document.querySelectorAll('#segments td.vol')].map((c) => c.textContent));
    }
    r.changes = await page.evaluate(() => window.segwebPerf ? window.segwebPerf.changes : []);
    r.texts.message = await page.evaluate(() => { const e = document.getElementById('message'); return e ? e.textContent : null; });
    r.texts.sliceinfo = await page.evaluate(() => { const e = document.getElementById('sliceinfo'); return e ? e.textContent : null; });
    r.texts.findings = await page.evaluate(() => { const e = document.getElementById('findings'); return e ? e.textContent : null; });
    r.links = await page.evaluate(() => [...document.querySelectorAll('main a')].map((a) => [a.textContent, a.getAttribute('href')]));
    r.texts.storedToken = await page.evaluate(() => sessionStorage.getItem('segweb-token'));
    r.texts.bodyLength = await page.evaluate(() => document.body.innerText.length);
    results.push(r);
    await context.close();
  }
} finally {
  await browser.close();
}
fs.writeFileSync(resultFile, JSON.stringify(results, null, 1));
