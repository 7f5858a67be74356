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

for (const backend of ['auto', 'cpu']) {
  test(`training mode: rapid Pause/Resume/Reset runs one loop and keeps working (${backend === 'auto' ? 'WebGPU' : 'CPU'} backend)`, async () => {
    const { page, errors } = await openPage(backend === 'cpu' ? '?backend=cpu' : '');
    await page.click('#train-open');
    await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 180_000 });
    // Small batches and many epochs: the run never finishes during the test.
    await page.fill('#t-batch', '16');
    await page.fill('#t-epochs', '50');
    const steps = () => page.evaluate(() => Number(document.body.dataset.trainSteps ?? 0));
    const training = () => page.waitForFunction(() => document.querySelector('#t-start').textContent === 'Pause', null, { timeout: 180_000 });
    await page.click('#t-start');
    await training();
    await page.waitForFunction(() => Number(document.body.dataset.trainSteps ?? 0) > 0, null, { timeout: 180_000 });

    // A fixed rhythm of clicks 0–60 ms apart: Pause → Resume pairs within one task (the chunk
    // that was running is still running when Resume comes), single toggles, and resets followed
    // at once by Start clicks (repeated clicks while the session is being made do nothing).
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const click = (ids) => page.evaluate((ids) => { for (const id of ids) document.getElementById(id).click(); }, ids);
    for (let i = 0; i < 60; i++) {
      if (i % 20 === 19) await click(['t-reset', 't-start', 't-start', 't-start']);
      else if (i % 3 === 0) await click(['t-start', 't-start']);
      else await click(['t-start']);
      await page.waitForTimeout(Math.floor(random() * 60));
    }

    // Whatever state that left: make sure it trains, and that it really does.
    await page.waitForFunction(() => !document.querySelector('#t-start').disabled, null, { timeout: 180_000 });
    if ((await page.textContent('#t-start')) !== 'Pause') await page.click('#t-start');
    await training();
    const before = await steps();
    await page.waitForFunction((b) => Number(document.body.dataset.trainSteps ?? 0) > b, before, { timeout: 180_000 });
    // Paused, it stops (after the chunk that was running).
    await page.click('#t-start');
    assert.equal(await page.textContent('#t-start'), 'Resume');
    // The loop ends after the chunk (or evaluation) it was running.
    await page.waitForFunction(() => document.body.dataset.trainLoops === '0', null, { timeout: 180_000 });
    const paused = await steps();
    await page.waitForTimeout(1000);
    assert.equal(await steps(), paused, 'paused training does not advance');
    // Reset, then a fresh run trains.
    await page.click('#t-reset');
    assert.equal(await page.textContent('#t-start'), 'Start');
    await page.click('#t-start');
    await training();
    await page.waitForFunction((p) => Number(document.body.dataset.trainSteps ?? 0) !== p, paused, { timeout: 180_000 });

    assert.equal(await page.evaluate(() => document.body.dataset.trainLoopsMax), '1', 'never two training loops at once');
    assert.equal(await page.isVisible('#error'), false, `no error shown: ${await page.textContent('#error')}`);
    assert.deepEqual(errors, [], 'no errors on the page');
    await page.close();
  });
}

test('hints clear after a success, the denoiser note is computed, the lower half uses the width (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');

  // "Use my drawing" with an empty pad: a hint; once there is a drawing, using it clears it.
  await page.click('#denoise-drawing');
  assert.match(await page.textContent('#error'), /draw a digit first/);
  assert.equal(await page.isVisible('#error'), true);
  await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  const noisy = await canvasHash(page, 'dn-noisy');
  await page.click('#denoise-drawing');
  await page.waitForFunction((n) => document.getElementById('dn-noisy').toDataURL() !== n, noisy, { timeout: 60_000 });
  await page.waitForFunction(() => document.getElementById('error').hidden, null, { timeout: 60_000 });
  // The same for the interpolation's ends.
  await page.click('#clear');
  await page.click('#set-a');
  assert.match(await page.textContent('#error'), /draw a digit first/);
  await predictionAfter(page, [[[70, 60], [210, 60], [120, 240]]]);
  await page.click('#set-a');
  assert.equal(await page.isVisible('#error'), false, 'the hint is gone after the drawing was used');

  // The paper's DAE at noise 0.10 on a test digit: the page says whether its output is worse
  // than its noisy input, from the PSNRs it computed.
  await page.click('#denoise-random');
  await page.selectOption('#denoiser', 'dae');
  await page.evaluate(() => {
    const slider = document.getElementById('noise');
    slider.value = '0.1';
    slider.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(() => /^PSNR at noise 0\.10/.test(document.getElementById('dn-psnr').textContent)
    && /^The paper's DAE/.test(document.getElementById('dn-note').textContent), null, { timeout: 60_000 });
  const line = await page.textContent('#dn-psnr');
  const psnr = await page.evaluate(() => ({ ...document.getElementById('dn-psnr').dataset }));
  const worse = Number(psnr.denoised) < Number(psnr.noisy);
  assert.equal(/worse than the noisy input/.test(line), worse, line);
  const note = await page.textContent('#dn-note');
  const worseAt = (await page.getAttribute('#dn-note', 'data-worse-at')).split(',').filter(Boolean);
  assert.equal(worseAt.includes('0.10'), worse, `${line} / ${note}`);
  assert.equal(/worse than its noisy input/.test(note), worseAt.length > 0, note);
  console.log(`denoiser at noise 0.10: ${line}; note: ${note}`);

  // On a 1400-px screen every row of panels spans the page's full width.
  await page.setViewportSize({ width: 1400, height: 900 });
  const layout = await page.evaluate(() => {
    const main = document.querySelector('main').getBoundingClientRect();
    const rows = new Map();
    for (const panel of document.querySelectorAll('main > .panel')) {
      const r = panel.getBoundingClientRect();
      if (r.width === 0) continue;
      const row = rows.get(Math.round(r.top)) ?? { left: Infinity, right: -Infinity, panels: [] };
      row.left = Math.min(row.left, r.left);
      row.right = Math.max(row.right, r.right);
      row.panels.push(panel.id);
      rows.set(Math.round(r.top), row);
    }
    return { main: { left: main.left, right: main.right }, rows: [...rows.values()] };
  });
  assert.ok(layout.main.right - layout.main.left >= 1300, `main is ${layout.main.right - layout.main.left} px wide`);
  for (const row of layout.rows) {
    assert.ok(Math.abs(row.left - layout.main.left) <= 1 && Math.abs(row.right - layout.main.right) <= 1,
      `row ${row.panels.join(', ')} spans ${row.left}–${row.right}, the page ${layout.main.left}–${layout.main.right}`);
  }
  console.log(`layout at 1400 px: ${layout.rows.map((r) => r.panels.join(' + ')).join(' / ')}`);
  await page.screenshot({ path: join(shots, 'page-1400.png'), fullPage: true });
  assert.deepEqual(errors.filter((e) => !/draw a digit first/.test(e)), [], 'no errors on the page');
  await page.close();
});
