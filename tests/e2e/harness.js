// What the end-to-end test files share: the page as deployed (www/ packaged by
// scripts/package-web.mjs into a folder of this run's own, served by scripts/serve.py on a random
// port), one headless Chromium per file, opening the page until its backend has settled, and the
// user's gestures on the drawing pad. Each *.test.js file calls useServedPage() once.
// The packaged files have content-hashed names: asset() gives the served path of a www/ file,
// logical() the www/ path of a served URL.

import { before, after } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const root = new URL('../../', import.meta.url).pathname;
export const port = 8700 + Math.floor(Math.random() * 200);
export const origin = `http://127.0.0.1:${port}`;
export const shots = join(root, 'tests/e2e/screenshots');
let server;
let browser;
let site;
let assets;

/** The folder being served: www/ packaged before the file's first test. */
export const siteDir = () => site;

/** Packages www/ as deployed into `out` (brotli of a changed wasm takes a minute; cached after). */
export function packageSite(out, from = join(root, 'www')) {
  const run = spawnSync('node', [join(root, 'scripts/package-web.mjs'), '--from', from, '--out', out], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`packaging failed: ${run.stderr.trim() || run.stdout.trim()}`);
  return JSON.parse(readFileSync(join(out, 'asset-manifest.json'), 'utf8'));
}

/** The served path (relative, './js/main.0123456789.js') of the www/ file `path` ('js/main.js'). */
export function asset(path) {
  const entry = assets?.files[path.replace(/^\.?\//, '')];
  if (!entry) throw new Error(`${path}: not a file of the packaged site`);
  return `./${entry.path}`;
}

/** The www/ path of a served URL or path: its content hash taken out ('.../js/main.0123456789.js' -> '.../js/main.js'). */
export const logical = (url) => url.replace(/\.[0-9a-f]{10}(\.[A-Za-z0-9]+)(?=$|[?#])/, '$1');

/** Starts `scripts/serve.py` on `folder` at `atPort`; resolves to the process once it listens. */
export async function startServer(folder, atPort) {
  const child = spawn('python3', ['scripts/serve.py', String(atPort), '--dir', folder], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('http://') && resolve());
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return child;
}

/** The file's browser (launched before its first test). */
export const browserOf = () => browser;

/** Starts the server and the browser before the file's tests, and stops both after them. */
export function useServedPage() {
  before(async () => {
    mkdirSync(shots, { recursive: true });
    // A folder of this file's own: other test runs may package a newer www/ meanwhile.
    site = mkdtempSync(join(tmpdir(), 'digit-lab-site-'));
    assets = packageSite(site);
    server = await startServer(site, port);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update',
        // Playwright's launch() already runs on a fresh temporary profile.
        '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
    server?.kill();
    if (site) rmSync(site, { recursive: true, force: true });
  });
}

/** The full bundle's wasm file, as routes match it (in the page and in its workers). */
export const FULL_WASM = '**/pkg-full/*.wasm';

/** Waits until the page's backend has settled (the badge says where each kind of operation runs). */
export async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('#backend').classList.contains('badge-pending'), null, { timeout: 120_000 });
  // Where WebGPU exists the full bundle loads after the first result and takes over.
  await page.waitForFunction(() => document.body.dataset.backendSettled === 'true', null, { timeout: 180_000 });
}

/**
 * Opens the page and waits until its backend has settled; collects the page's errors. Its service
 * worker is blocked unless `serviceWorkers: 'allow'`: Playwright's routes (the failures simulated
 * below) do not see requests that a service worker answers (served.test.js tests the worker).
 */
export async function openPage(query = '', { withoutWebGpu = false, fullBundleFails = false, fullWasmFails = false, serviceWorkers = 'block' } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1800 }, serviceWorkers });
  // A browser without WebGPU: no navigator.gpu at all.
  if (withoutWebGpu) await page.addInitScript(() => { delete Object.getPrototypeOf(navigator).gpu; });
  // A network failure while fetching the full bundle.
  if (fullBundleFails) await page.route('**/pkg-full/**', (route) => route.abort('connectionfailed'));
  // The same for its wasm file alone, in the page and its workers (the context's routes).
  if (fullWasmFails) await page.context().route(FULL_WASM, (route) => route.abort('connectionfailed'));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${origin}/${query}`);
  await settled(page);
  return { page, errors };
}

/** Strokes in the pad's 280×280 coordinates, drawn with the mouse. */
export async function draw(page, strokes, { segmentMs = 0 } = {}) {
  const box = await page.locator('#pad').boundingBox();
  const sx = box.width / 280, sy = box.height / 280;
  for (const stroke of strokes) {
    let [px, py] = stroke[0];
    await page.mouse.move(box.x + px * sx, box.y + py * sy);
    await page.mouse.down();
    for (const [x, y] of stroke.slice(1)) {
      if (!segmentMs) {
        await page.mouse.move(box.x + x * sx, box.y + y * sy, { steps: 4 });
        continue;
      }
      // At a hand's pace: each segment in 8 moves spread over `segmentMs`.
      for (let i = 1; i <= 8; i++) {
        await page.mouse.move(box.x + (px + ((x - px) * i) / 8) * sx, box.y + (py + ((y - py) * i) / 8) * sy);
        await page.waitForTimeout(segmentMs / 8);
      }
      [px, py] = [x, y];
    }
    await page.mouse.up();
  }
}

export const canvasHash = (page, id) => page.evaluate((id) => document.getElementById(id).toDataURL(), id);

/** Clears the pad, draws `strokes` and returns the prediction that belongs to the finished drawing. */
export async function predictionAfter(page, strokes, drawing = {}) {
  await page.click('#clear');
  await draw(page, strokes, drawing);
  // Live predictions run while drawing; wait for the one that belongs to the finished drawing.
  await page.waitForFunction(() => {
    const pad = document.querySelector('#pad').dataset.version;
    return pad && document.querySelector('#prediction').dataset.version === pad;
  }, null, { timeout: 60_000 });
  return page.textContent('#prediction');
}
