// Drives the served page in headless Chromium: draws digits with mouse strokes, drags the
// latent point, switches maps, checks the backend badge, and saves screenshots.
// Run: scripts/test-e2e (builds the bundle, serves www/, installs playwright-core).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const root = new URL('../../', import.meta.url).pathname;
const port = 8700 + Math.floor(Math.random() * 200);
const shots = join(root, 'tests/e2e/screenshots');
let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = spawn('python3', ['scripts/serve.py', String(port)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => String(d).includes('http://') && resolve());
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
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
});

async function openPage(query = '', { withoutWebGpu = false, fullBundleFails = false } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1800 } });
  // A browser without WebGPU: no navigator.gpu at all.
  if (withoutWebGpu) await page.addInitScript(() => { delete Object.getPrototypeOf(navigator).gpu; });
  // A network failure while fetching the full bundle.
  if (fullBundleFails) await page.route('**/pkg-full/**', (route) => route.abort('connectionfailed'));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  await page.waitForFunction(() => !document.querySelector('#backend').classList.contains('badge-pending'), null, { timeout: 120_000 });
  // Where WebGPU exists the full bundle loads after the first result and takes over.
  await page.waitForFunction(() => document.body.dataset.backendSettled === 'true', null, { timeout: 180_000 });
  return { page, errors };
}

/** Strokes in the pad's 280×280 coordinates, drawn with the mouse. */
async function draw(page, strokes) {
  const box = await page.locator('#pad').boundingBox();
  const sx = box.width / 280, sy = box.height / 280;
  for (const stroke of strokes) {
    await page.mouse.move(box.x + stroke[0][0] * sx, box.y + stroke[0][1] * sy);
    await page.mouse.down();
    for (const [x, y] of stroke.slice(1)) await page.mouse.move(box.x + x * sx, box.y + y * sy, { steps: 4 });
    await page.mouse.up();
  }
}

const canvasHash = (page, id) => page.evaluate((id) => document.getElementById(id).toDataURL(), id);

async function predictionAfter(page, strokes) {
  await page.click('#clear');
  await draw(page, strokes);
  // Live predictions run while drawing; wait for the one that belongs to the finished drawing.
  await page.waitForFunction(() => {
    const pad = document.querySelector('#pad').dataset.version;
    return pad && document.querySelector('#prediction').dataset.version === pad;
  }, null, { timeout: 60_000 });
  return page.textContent('#prediction');
}

/**
 * The first load (everything fetched before the page starts the WebGPU upgrade: HTML, CSS, JS,
 * the CPU bundle with its weights, the latent maps) must stay within 2.5 MB gzip; the full
 * bundle comes after, and replaces the CPU models once it works.
 */
async function checkFirstLoad(page) {
  const { upgradeStart, interactive, upgraded, entries } = await page.evaluate(() => ({
    upgradeStart: window.digitLabTimings.upgradeStart,
    interactive: window.digitLabTimings.interactive,
    upgraded: window.digitLabTimings.upgraded,
    entries: performance.getEntriesByType('resource').map((e) => ({ path: new URL(e.name).pathname, start: e.startTime })),
  }));
  assert.ok(upgradeStart > 0, 'the WebGPU upgrade started');
  const firstLoad = new Set(['/index.html', ...entries.filter((e) => e.start < upgradeStart).map((e) => e.path)]);
  assert.ok(firstLoad.has('/pkg/digit_lab_bg.wasm') && firstLoad.has('/pkg/maps.json'), [...firstLoad].join(' '));
  assert.ok(![...firstLoad].some((p) => p.includes('pkg-full')), 'the full bundle is not part of the first load');
  assert.ok(entries.some((e) => e.path === '/pkg-full/digit_lab_full_bg.wasm' && e.start >= upgradeStart), 'the full bundle follows');
  let gzipBytes = 0;
  for (const path of firstLoad) gzipBytes += gzipSync(readFileSync(join(root, 'www', path)), { level: 9 }).length;
  console.log(`first load: ${firstLoad.size} files, ${gzipBytes} bytes gzip; page interactive (CPU) ${Math.round(interactive)} ms after navigation, WebGPU took over at ${Math.round(upgraded)} ms`);
  assert.ok(gzipBytes <= 2_500_000, `first load ${gzipBytes} bytes gzip > 2.5 MB`);
}

for (const backend of ['auto', 'cpu']) {
  test(`page works on the ${backend === 'auto' ? 'WebGPU' : 'CPU'} backend`, async () => {
    const { page, errors } = await openPage(backend === 'cpu' ? '?backend=cpu' : '');
    const badge = await page.textContent('#backend');
    if (backend === 'auto') assert.match(badge, /^WebGPU · .+/, 'headless Chromium here has WebGPU');
    else assert.match(badge, /CPU/);
    if (backend === 'auto') await checkFirstLoad(page);
    assert.equal(await page.textContent('#prediction'), 'draw a digit', 'empty canvas: no guess');

    const emptyRecon = await canvasHash(page, 'rec-ae');
    // A "1": one vertical stroke.
    const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
    assert.match(one, /^1 /, `drew a 1, got "${one}"`);
    // Reconstructions follow the prediction (WebGPU on SwiftShader compiles shaders first).
    await page.waitForFunction((empty) => document.getElementById('rec-ae').toDataURL() !== empty, emptyRecon, { timeout: 60_000 });
    // A "7": a bar and a diagonal.
    const seven = await predictionAfter(page, [[[70, 60], [210, 60], [120, 240]]]);
    assert.match(seven, /^7 /, `drew a 7, got "${seven}"`);
    // A "0": a closed loop.
    const loop = [];
    for (let a = 0; a <= 2 * Math.PI + 0.2; a += 0.2) loop.push([140 + 60 * Math.sin(a), 140 - 95 * Math.cos(a)]);
    const zero = await predictionAfter(page, [loop]);
    assert.match(zero, /^0 /, `drew a 0, got "${zero}"`);
    await page.locator('#draw-panel').screenshot({ path: join(shots, `draw-${backend}.png`) });

    // Undo empties the canvas again: back to "draw a digit".
    await page.click('#undo');
    await page.waitForFunction(() => document.querySelector('#prediction').textContent === 'draw a digit');

    // Drag the latent point: the decoded image changes.
    const before = await canvasHash(page, 'lat-vae');
    const pad = await page.locator('#latent-pad').boundingBox();
    await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height / 2);
    await page.mouse.down();
    await page.mouse.move(pad.x + pad.width * 0.85, pad.y + pad.height * 0.2, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction((b) => document.getElementById('lat-vae').toDataURL() !== b, before, { timeout: 60_000 });

    // The denoiser: the wide-code model by default, with its PSNR; switching to the paper's DAE
    // changes the denoised image.
    await page.waitForFunction(() => /denoised \d+\.\d dB/.test(document.getElementById('dn-psnr').textContent), null, { timeout: 60_000 });
    const wide = await canvasHash(page, 'dn-out');
    await page.selectOption('#denoiser', 'dae');
    await page.waitForFunction((w) => document.getElementById('dn-out').toDataURL() !== w, wide, { timeout: 60_000 });

    // Switch latent maps.
    const maps = {};
    for (const key of ['ae', 'vae', 'pca', 'tsne']) {
      await page.click(`[data-map=${key}]`);
      assert.equal(await page.getAttribute(`[data-map=${key}]`, 'aria-pressed'), 'true');
      maps[key] = await canvasHash(page, 'map');
      assert.match(await page.textContent('#map-info'), /5-NN accuracy \d+\.\d\d%/);
    }
    assert.equal(new Set(Object.values(maps)).size, 4, 'four different maps');

    await page.screenshot({ path: join(shots, `page-${backend}.png`), fullPage: true });
    assert.deepEqual(errors, [], 'no errors on the page');
    await page.close();
  });
}

test('a browser without WebGPU stays on the CPU bundle and never fetches the full one', async () => {
  const { page, errors } = await openPage('', { withoutWebGpu: true });
  assert.match(await page.textContent('#backend'), /CPU/);
  assert.match(await page.textContent('#backend-why'), /no WebGPU/);
  const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  assert.match(one, /^1 /, `drew a 1, got "${one}"`);
  const paths = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  assert.deepEqual(paths.filter((p) => p.includes('pkg-full')), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('when the full bundle fails to load, the page says so and keeps working on the CPU', async () => {
  const { page, errors } = await openPage('', { fullBundleFails: true });
  assert.match(await page.textContent('#backend'), /CPU/);
  const why = await page.textContent('#backend-why');
  assert.match(why, /the WebGPU bundle failed to load/);
  // The browser's long message (with the bundle's URL) stays in the tooltip, not the badge line.
  assert.doesNotMatch(why, /pkg-full/);
  assert.ok((await page.getAttribute('#backend', 'title')).length > 0, 'the tooltip holds the details');
  const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  assert.match(one, /^1 /, `drew a 1, got "${one}"`);
  // Chromium logs the aborted request itself; nothing else may fail.
  assert.deepEqual(errors.filter((e) => !/ERR_CONNECTION_FAILED/.test(e)), []);
  await page.close();
});

test('training mode: trains in the page, feeds the explorer, learns the user\'s handwriting (CPU backend)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  // Nothing of the training mode is loaded with the page.
  assert.equal(await page.isVisible('#train-ui'), false);
  assert.deepEqual(requests.filter((u) => /pkg-full|mnist-subset/.test(u)), []);

  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  assert.ok(requests.some((u) => u.includes('pkg-full/digit_lab_full_bg.wasm')), 'training bundle loaded on demand');
  assert.ok(requests.some((u) => u.includes('mnist-subset-images.idx.gz')));

  // Train the ConvAE for a few seconds: the curves, the map and the speed appear.
  await page.fill('#t-epochs', '5');
  const emptyMap = await canvasHash(page, 't-map');
  await page.click('#t-start');
  await page.waitForFunction(() => Number(document.body.dataset.trainEvals ?? 0) >= 3, null, { timeout: 120_000 });
  assert.equal(await page.textContent('#t-start'), 'Pause');
  assert.notEqual(await canvasHash(page, 't-map'), emptyMap, 'the latent map is drawn');
  assert.match(await page.textContent('#t-rate'), /^[\d,]+ samples\/s$/);
  assert.match(await page.textContent('#t-valid'), /^0\.\d{4}$/);
  assert.match(await page.textContent('#t-map-caption'), /5-NN accuracy \d+\.\d%/);
  assert.match(await page.textContent('#t-backend'), /CPU/);

  // Pause: training stops (the epoch counter holds), resume continues.
  await page.click('#t-start');
  assert.equal(await page.textContent('#t-start'), 'Resume');
  await page.waitForTimeout(400);
  const pausedAt = await page.textContent('#t-epoch');
  await page.waitForTimeout(800);
  assert.equal(await page.textContent('#t-epoch'), pausedAt, 'paused training does not advance');

  // The trained model in the latent explorer, next to the bundled ones.
  await page.check('#t-explorer');
  await page.check('input[name=latent-model][value=mine]');
  const mine = await canvasHash(page, 'lat-mine');
  const box = await page.locator('#latent-pad').boundingBox();
  await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.waitForFunction((b) => document.getElementById('lat-mine').toDataURL() !== b, mine, { timeout: 60_000 });

  await page.click('#t-start');
  await page.waitForFunction(() => document.querySelector('#t-start').textContent === 'Done', null, { timeout: 180_000 });
  await page.locator('#train-panel').screenshot({ path: join(shots, 'train-cpu.png') });

  // Teach it your handwriting: three 1s and three 7s, each shifted a little, added as examples
  // (every third is held out), then fine-tune and read the before/after line.
  const one = [[[140, 40], [142, 120], [143, 240]]];
  const seven = [[[70, 60], [210, 60], [120, 240]]];
  for (let i = 0; i < 3; i++) {
    for (const [digit, strokes] of [[1, one], [7, seven]]) {
      await predictionAfter(page, strokes.map((s) => s.map(([x, y]) => [x + 12 * i - 12, y])));
      await page.click(`#teach-digits [data-digit="${digit}"]`);
    }
  }
  assert.match(await page.textContent('#teach-counts'), /6 drawings: 4 to learn from, 2 held out/);
  await page.fill('#teach-steps', '20');
  await page.click('#teach-fit');
  await page.waitForFunction(() => document.body.dataset.teachDone === '1', null, { timeout: 120_000 });
  assert.match(await page.textContent('#teach-result'), /Held-out drawings: \d\/2 → \d\/2/);
  // Predictions can use the fine-tuned classifier.
  await page.check('#teach-use');
  const again = await predictionAfter(page, one);
  assert.match(again, /^1 /, `fine-tuned classifier on a 1: "${again}"`);
  await page.locator('#teach-panel').screenshot({ path: join(shots, 'teach-cpu.png') });
  await page.click('#teach-clear');
  assert.match(await page.textContent('#teach-counts'), /No drawings yet/);

  await page.screenshot({ path: join(shots, 'page-training-cpu.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});
