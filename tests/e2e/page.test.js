// Drives the served page in headless Chromium: draws digits with mouse strokes, drags the
// latent point, switches maps, checks the backend badge, and saves screenshots.
// Run: scripts/test-web (builds the bundles, serves www/, installs playwright-core).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { root, shots, useServedPage, openPage, draw, canvasHash, predictionAfter, FULL_WASM, asset, logical } from './harness.js';

useServedPage();

/** Clicks the latent pad at (fx, fy) of its size; the "mine" decoder's picture must change. */
async function clickRedrawsMine(page, fx, fy) {
  const mine = await canvasHash(page, 'lat-mine');
  const box = await page.locator('#latent-pad').boundingBox();
  await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
  await page.waitForFunction((b) => document.getElementById('lat-mine').toDataURL() !== b, mine, { timeout: 60_000 });
}

/**
 * 256 bytes of `bytes` from its middle on with no run of 4 zero bytes in or across its ends:
 * wasm-opt drops long zero runs from data segments (memory packing), so a stretch holding or
 * starting inside one is not contiguous there.
 */
function stretchOf(bytes) {
  for (let start = (bytes.length >> 1) + 3; start + 259 <= bytes.length; start++) {
    const around = bytes.subarray(start - 3, start + 259);
    if (!/\0{4}/.test(around.toString('latin1'))) return bytes.subarray(start, start + 256);
  }
  throw new Error('no stretch without zero runs');
}

/**
 * The weights come down once, in the first-load bundle: the full bundle is handed them. A stretch
 * of every committed weights file is in the first bundle and in no full-bundle file.
 * (startup.test.js counts what the page downloads.)
 */
function checkWeightsOnce() {
  const manifest = JSON.parse(readFileSync(join(root, 'weights/manifest.json'), 'utf8'));
  const first = readFileSync(join(root, 'www/pkg/digit_lab_bg.wasm'));
  const full = readFileSync(join(root, 'www/pkg-full/digit_lab_full_bg.wasm'));
  for (const { file } of Object.values(manifest.models)) {
    const bytes = readFileSync(join(root, 'weights', file));
    const stretch = stretchOf(bytes);
    assert.ok(first.includes(stretch), `${file} is in the first-load bundle`);
    assert.ok(!full.includes(stretch), `${file} is not downloaded a second time with the full bundle`);
  }
  console.log(`full bundle: ${full.length} bytes raw, ${gzipSync(full, { level: 9 }).length} gzip, without the ${Object.keys(manifest.models).length} weights files (handed over by the first bundle)`);
}

test('auto: a software WebGPU adapter is not used and its bundle not fetched; the full bundle carries no weights', async () => {
  const { page, errors } = await openPage('');
  checkWeightsOnce();
  const badge = await page.textContent('#backend');
  const why = await page.textContent('#backend-why');
  const { timings, entries } = await page.evaluate(() => ({
    timings: window.digitLabTimings,
    entries: performance.getEntriesByType('resource').map((e) => e.name),
  }));
  console.log(`auto backend: badge "${badge}"${why}; first answer ${Math.round(timings.firstAnswer)} ms after navigation, CPU lab ready at ${Math.round(timings.ready)} ms`);
  // Headless Chromium's WebGPU here is SwiftShader, a software adapter (startup.test.js makes
  // the page see a hardware one, and tests the measured routes).
  const software = await page.evaluate(async (url) => (await (await import(url)).describeAdapter())?.software, asset('js/adapter.js'));
  if (software) {
    assert.match(badge, /^CPU/);
    assert.match(why, /is a software adapter, not used/);
    assert.equal(await page.evaluate(() => document.body.dataset.routes), undefined, 'nothing routed to WebGPU');
    assert.deepEqual(entries.filter((u) => u.includes('/pkg-full/')), [], 'the WebGPU bundle is not fetched');
  } else {
    assert.deepEqual(Object.keys(JSON.parse(await page.evaluate(() => document.body.dataset.routes))).sort(), ['classify', 'decode', 'grid']);
  }
  const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  assert.match(one, /^1 /, `drew a 1, got "${one}"`);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

for (const backend of ['webgpu', 'cpu']) {
  test(`page works on the ${backend === 'webgpu' ? 'WebGPU' : 'CPU'} backend`, async () => {
    const { page, errors } = await openPage(`?backend=${backend}`);
    const badge = await page.textContent('#backend');
    if (backend === 'webgpu') assert.match(badge, /^WebGPU · .+/, 'headless Chromium here has WebGPU');
    else assert.match(badge, /CPU/);
    if (backend === 'webgpu') {
      assert.equal(await page.evaluate(() => document.body.dataset.routes), JSON.stringify({ classify: 'webgpu', decode: 'webgpu', grid: 'webgpu' }));
      // Forced, WebGPU still had to give the CPU's answers first (routing.js's TOLERANCE).
      const compared = await page.evaluate(() => window.digitLabTimings.compared);
      console.log(`WebGPU (${badge}) vs the CPU: largest differences ${JSON.stringify(compared)}`);
      for (const [kind, difference] of Object.entries(compared)) assert.ok(difference <= 1e-3, `${kind}: ${difference}`);
    }
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
    // Not digits: a dot, a dash and a zigzag get "that doesn't look like a digit".
    for (const [what, strokes] of [
      ['dot', [[[140, 140], [141, 141]]]],
      ['dash', [[[70, 140], [210, 143]]]],
      ['zigzag', [[[50, 90], [230, 100], [50, 130], [230, 150], [50, 180], [230, 200]]]],
    ]) {
      const answer = await predictionAfter(page, strokes);
      assert.equal(answer, "that doesn't look like a digit", `drew a ${what}, got "${answer}"`);
      assert.equal(await page.getAttribute('#prediction', 'data-not-digit'), 'true');
    }

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
  const { page, errors } = await openPage('?backend=webgpu', { fullBundleFails: true });
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

test('a failed load of the full bundle is tried again, and the failed attempt leaves no worker running', async () => {
  const { page, errors } = await openPage('?backend=webgpu', { fullWasmFails: true });
  assert.match(await page.textContent('#backend-why'), /the WebGPU bundle failed to load/);
  const trainingWorkers = () => page.workers().filter((w) => logical(w.url()).includes('train-worker.js')).length;
  // The training mode cannot load either: its worker is stopped, and the button is back.
  await page.click('#train-open');
  await page.waitForFunction(() => !document.getElementById('train-open').disabled, null, { timeout: 120_000 });
  assert.equal(await page.isVisible('#error'), true, 'the failure is shown');
  console.log(`training mode without its wasm: "${await page.textContent('#error')}"`);
  const deadline = Date.now() + 10_000;
  while (trainingWorkers() > 0 && Date.now() < deadline) await page.waitForTimeout(100);
  assert.equal(trainingWorkers(), 0, 'the worker whose load failed was stopped');
  // The network is back: both loads are tried again, and work.
  await page.context().unroute(FULL_WASM);
  const loaded = await page.evaluate(async (url) => {
    const { loadFullBundle } = await import(url);
    try { return typeof (await loadFullBundle()).DigitLab.create; } catch (e) { return `failed again: ${e.message}`; }
  }, asset('js/full-bundle.js'));
  assert.equal(loaded, 'function', 'the full bundle loads on the next request');
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 180_000 });
  assert.equal(trainingWorkers(), 1, 'one training worker');
  assert.deepEqual(errors.filter((e) => !/ERR_CONNECTION_FAILED|Failed to fetch|WebAssembly|wasm/i.test(e)), [], 'no other errors');
  await page.close();
});

test('changing the fine-tuned layers during a fine-tuning drops it: nothing of it to use or save (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  // Test-side instrumentation: when the page asks the worker to fit, the layers change at once.
  await page.evaluate(() => {
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, transfer) {
      if (message?.op === 'fit') document.body.dataset.fitPosted = String(Number(document.body.dataset.fitPosted ?? 0) + 1);
      return post.call(this, message, transfer);
    };
  });
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  const one = [[[140, 40], [142, 120], [143, 240]]];
  for (let i = 0; i < 2; i++) {
    await predictionAfter(page, one.map((s) => s.map(([x, y]) => [x + 12 * i, y])));
    await page.click('#teach-digits [data-digit="1"]');
  }
  await page.fill('#teach-steps', '1000');
  await page.click('#teach-fit');
  await page.waitForFunction(() => document.body.dataset.fitPosted === '1', null, { timeout: 60_000 });
  await page.selectOption('#teach-layers', 'dense');
  // The fine-tuning of the last layer ends: it is not offered for use or saving.
  await page.waitForFunction(() => !document.getElementById('teach-fit').disabled, null, { timeout: 180_000 });
  for (const id of ['#teach-use', '#teach-download', '#teach-keep']) {
    assert.equal(await page.isDisabled(id), true, `${id} stays off: the model fitted is not the one the layers now say`);
  }
  assert.match(await page.textContent('#teach-result'), /layers changed during the fine-tuning/);
  assert.equal(await page.evaluate(() => document.body.dataset.teachDone), undefined);
  // A fine-tuning of the dense layers is offered.
  await page.fill('#teach-steps', '10');
  await page.click('#teach-fit');
  await page.waitForFunction(() => document.body.dataset.teachDone === '1', null, { timeout: 120_000 });
  assert.equal(await page.isDisabled('#teach-use'), false);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

test('training mode: trains in the page, feeds the explorer, learns the user\'s handwriting (CPU backend)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  const requests = [];
  page.on('request', (r) => requests.push(logical(r.url())));
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
  await clickRedrawsMine(page, 0.3, 0.3);

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

  // The fine-tuned classifier downloads as a weights directory's two files, which the native
  // trainer loads and scores: its validation accuracy agrees with the page's figure.
  const dir = await downloadModel(page, '#teach-download', '#teach-saved', 'classifier_best');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const entry = manifest.models.classifier_best;
  assert.ok(existsSync(join(dir, entry.file)), `${entry.file} saved`);
  assert.equal(entry.hyperparameters.drawings, 4);
  assert.equal(entry.hyperparameters.steps, 20);
  const run = spawnSync(nativeBinary(), ['eval', '--weights', dir], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `digit-lab eval failed: ${run.stderr}`);
  const line = run.stdout.split('\n').find((l) => l.startsWith('classifier_best '));
  assert.ok(line, `no classifier_best line in: ${run.stdout}`);
  const native = JSON.parse(line.slice(line.indexOf('{')));
  console.log(`fine-tuned classifier (4 drawings, 20 steps): page validation accuracy ${entry.hyperparameters.valid_accuracy} on 1,000 digits; native \`digit-lab eval --weights ${dir}\`: ${line.trim()}`);
  assert.ok(Math.abs(native.valid_accuracy - entry.hyperparameters.valid_accuracy) < 0.02,
    `native validation accuracy ${native.valid_accuracy} vs the page's ${entry.hyperparameters.valid_accuracy}`);

  // Kept in this browser: under Your models after a reload, and usable for the predictions.
  await page.click('#teach-keep');
  await page.waitForFunction(() => document.body.dataset.importedModels === '1', null, { timeout: 60_000 });
  assert.match(await page.textContent('#teach-saved'), /Kept classifier_best-[0-9a-f]{16}\.bpk in this browser/);
  await page.click('#teach-clear');
  assert.match(await page.textContent('#teach-counts'), /No drawings yet/);
  assert.equal(await page.isDisabled('#teach-download'), true, 'nothing fine-tuned to save after a clear');
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 120_000 });
  await page.waitForFunction(() => document.body.dataset.importedModels === '1', null, { timeout: 60_000 });
  assert.match(await page.textContent('#models-list li[data-kind=classifier_best]'),
    new RegExp(`${entry.file.replace('.', '\\.')} .*fine-tuned from classifier_best-[0-9a-f]{16}\\.bpk on 4 drawings \\(20 steps, last layer\\)`));
  await page.check('#models-list li[data-kind=classifier_best] input[data-use]');
  const kept = await predictionAfter(page, one);
  assert.match(kept, /^1 /, `kept fine-tuned classifier on a 1: "${kept}"`);
  assert.equal(await page.evaluate(() => document.body.dataset.customClassifier), `classifier_best from ${entry.file}`);
  await page.click(`#models-list button[data-forget="${await page.getAttribute('#models-list li[data-kind=classifier_best] input[data-use]', 'data-use')}"]`);
  await page.waitForFunction(() => document.body.dataset.importedModels === '0', null, { timeout: 60_000 });

  await page.screenshot({ path: join(shots, 'page-training-cpu.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

for (const backend of ['webgpu', 'cpu']) {
  test(`training mode: rapid Pause/Resume/Reset runs one loop and keeps working (${backend === 'webgpu' ? 'WebGPU' : 'CPU'} backend)`, async () => {
    const { page, errors } = await openPage(`?backend=${backend}`);
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
    // The worker trains on the backend asked for (WebGPU: headless Chromium's software adapter).
    assert.match(await page.textContent('#t-backend'), backend === 'webgpu' ? /^WebGPU · .+ \(in a worker\)$/ : /^CPU .*in a worker/);

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

/**
 * Installs in the page: a sampler of the main thread's event-loop lag (a 10-ms timer chain; lag
 * = how late each tick fires) and a recorder of drawing latency (from the pen lifting off the
 * pad to the prediction of that drawing on screen).
 */
async function instrument(page) {
  await page.evaluate(() => {
    const probe = (window.responsiveness = { lags: [], latencies: [], sampling: false, upAt: null });
    const pad = document.getElementById('pad');
    pad.addEventListener('pointerup', () => { probe.upAt = performance.now(); probe.upVersion = pad.dataset.version; });
    new MutationObserver(() => {
      const shown = document.getElementById('prediction').dataset.version;
      if (probe.upAt !== null && shown === pad.dataset.version && shown === probe.upVersion) {
        probe.latencies.push(performance.now() - probe.upAt);
        probe.upAt = null;
      }
    }).observe(document.getElementById('prediction'), { attributes: true, attributeFilter: ['data-version'] });
    probe.start = () => {
      probe.lags = [];
      probe.sampling = true;
      let expected = performance.now() + 10;
      const tick = () => {
        if (!probe.sampling) return;
        const now = performance.now();
        probe.lags.push(Math.max(0, now - expected));
        expected = now + 10;
        setTimeout(tick, 10);
      };
      setTimeout(tick, 10);
    };
    probe.stop = () => { probe.sampling = false; return probe.lags; };
  });
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

/**
 * Draws `rounds` digits (a 1 and a 7 in turn, shifted a little) at a hand's pace (two segments
 * of 200 ms) and returns each one's latency.
 */
async function drawingLatencies(page, rounds) {
  await page.evaluate(() => { window.responsiveness.latencies = []; });
  const one = [[[140, 40], [142, 120], [143, 240]]];
  const seven = [[[70, 60], [210, 60], [120, 240]]];
  for (let i = 0; i < rounds; i++) {
    const strokes = (i % 2 ? seven : one).map((s) => s.map(([x, y]) => [x + 6 * (i % 3) - 6, y]));
    const answer = await predictionAfter(page, strokes, { segmentMs: 200 });
    assert.match(answer, i % 2 ? /^7 / : /^1 /, `drew a ${i % 2 ? 7 : 1}, got "${answer}"`);
  }
  const latencies = await page.evaluate(() => window.responsiveness.latencies);
  assert.equal(latencies.length, rounds, 'every drawing got its prediction');
  return latencies;
}

for (const backend of ['auto', 'cpu', 'webgpu']) {
  test(`training runs in a worker: the main thread stays responsive while a model trains (?backend=${backend})`, async () => {
    const { page, errors } = await openPage(`?backend=${backend}`);
    await instrument(page);
    await page.click('#train-open');
    await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 180_000 });
    assert.ok(page.workers().some((w) => logical(w.url()).endsWith('/js/train-worker.js')), 'the training worker runs');
    // Warm up (wasm tier-up, shader compilation), then drawings without training.
    await drawingLatencies(page, 2);
    await page.evaluate(() => window.responsiveness.start());
    const idle = await drawingLatencies(page, 6);
    await page.waitForTimeout(1000);
    const idleLags = await page.evaluate(() => window.responsiveness.stop());

    // A long run: it trains through the whole measurement.
    await page.fill('#t-epochs', '50');
    await page.click('#t-start');
    await page.waitForFunction(() => Number(document.body.dataset.trainSteps ?? 0) > 0, null, { timeout: 180_000 });
    const stepsBefore = await page.evaluate(() => Number(document.body.dataset.trainSteps));
    const evalsBefore = await page.evaluate(() => Number(document.body.dataset.trainEvals ?? 0));
    await page.evaluate(() => window.responsiveness.start());
    const t0 = Date.now();
    const busy = await drawingLatencies(page, 6);
    // At least 8 s of training under the sampler, evaluations (map, curves) drawn meanwhile.
    await page.waitForTimeout(Math.max(0, 8000 - (Date.now() - t0)));
    const lags = await page.evaluate(() => window.responsiveness.stop());
    const stepsAfter = await page.evaluate(() => Number(document.body.dataset.trainSteps));
    const evalsAfter = await page.evaluate(() => Number(document.body.dataset.trainEvals ?? 0));
    assert.equal(await page.textContent('#t-start'), 'Pause', 'still training');
    assert.ok(stepsAfter > stepsBefore, `training advanced during the measurement (${stepsBefore} → ${stepsAfter} steps)`);

    const ms = (v) => `${v.toFixed(1)} ms`;
    const median = (v) => quantile(v, 0.5);
    const name = `?backend=${backend} (page on ${await page.textContent('#backend')})`;
    console.log(`${name}, training on ${await page.textContent('#t-backend')} at ${await page.textContent('#t-rate')} `
      + `(${stepsAfter - stepsBefore} steps, ${evalsAfter - evalsBefore} evaluations in ${((Date.now() - t0) / 1000).toFixed(1)} s): `
      + `main-thread event-loop lag p50 ${ms(median(lags))}, p95 ${ms(quantile(lags, 0.95))}, max ${ms(Math.max(...lags))} `
      + `over ${lags.length} ticks (without training: p95 ${ms(quantile(idleLags, 0.95))}, max ${ms(Math.max(...idleLags))}); `
      + `drawing → prediction: median ${ms(median(busy))} (max ${ms(Math.max(...busy))}) during training, `
      + `${ms(median(idle))} (max ${ms(Math.max(...idle))}) without`);
    assert.ok(lags.length >= 200, `the sampler ran (${lags.length} ticks)`);
    assert.ok(quantile(lags, 0.95) <= 50, `event-loop lag p95 ${ms(quantile(lags, 0.95))} > 50 ms during training`);
    const software = await page.evaluate(async (url) => (await (await import(url)).describeAdapter())?.software, asset('js/adapter.js'));
    if (backend === 'auto' && software) {
      // Headless Chromium's WebGPU is a software adapter: training runs on the CPU in the worker.
      assert.match(await page.textContent('#t-backend'), /^CPU \(burn flex, wasm, in a worker\): the WebGPU adapter \(.+\) is a software one/);
    }
    // As fast as without training, up to scheduling noise on a loaded 2-core machine. Forced
    // onto one (software) WebGPU device, that is because the worker holds training while the
    // user draws; a drawing that lands during an evaluation still waits for it (the max).
    assert.ok(median(busy) <= Math.max(2 * median(idle), median(idle) + 60),
      `drawing answered in ${ms(median(busy))} during training vs ${ms(median(idle))} without`);
    await page.click('#t-start');
    assert.deepEqual(errors, [], 'no errors on the page');
    await page.close();
  });
}

test('auto: a few training steps are timed on each backend and the faster trains (?measure=all times a software adapter too)', async () => {
  const { page, errors } = await openPage('?measure=all');
  const software = await page.evaluate(async (url) => (await (await import(url)).describeAdapter())?.software, asset('js/adapter.js'));
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 180_000 });
  await page.fill('#t-epochs', '1');
  await page.click('#t-start');
  await page.waitForFunction(() => document.body.dataset.trainMeasured, null, { timeout: 300_000 });
  const measured = JSON.parse(await page.evaluate(() => document.body.dataset.trainMeasured));
  const where = await page.textContent('#t-backend');
  console.log(`training timed at its start: CPU ${Math.round(measured.cpu)} samples/s, WebGPU ${Math.round(measured.webgpu)} samples/s (${software ? 'software' : 'hardware'} adapter); training on ${where}`);
  assert.ok(measured.cpu > 0 && measured.webgpu > 0, JSON.stringify(measured));
  const chosen = await page.evaluate(() => document.body.dataset.trainBackend);
  if (software) {
    assert.equal(chosen, 'cpu');
    assert.match(where, /^CPU \(burn flex, wasm, in a worker\): the WebGPU adapter \(.+\) is a software one \(measured CPU [\d,]+ samples\/s, WebGPU [\d,]+ samples\/s\)$/);
  } else {
    assert.equal(chosen, measured.webgpu > measured.cpu ? 'webgpu' : 'cpu');
  }
  await page.waitForFunction(() => Number(document.body.dataset.trainSteps ?? 0) > 0, null, { timeout: 180_000 });
  await page.click('#t-start');
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

test('grids and samples are computed in a worker: dragging the grid slider leaves the main thread responsive (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  await instrument(page);
  assert.ok(page.workers().some((w) => logical(w.url()).endsWith('/js/batch-worker.js')), 'the batch worker runs');
  const before = await canvasHash(page, 'manifold');
  await page.evaluate(() => window.responsiveness.start());
  // 40 slider moves 25 ms apart between 24×24 and 30×30 (VAE grids of 576–900 digits).
  const t0 = Date.now();
  for (let i = 0; i < 40; i++) {
    await page.evaluate((n) => {
      const slider = document.getElementById('grid');
      slider.value = String(n);
      slider.dispatchEvent(new Event('input'));
    }, 24 + (i % 7));
    await page.waitForTimeout(25);
  }
  // The last move asks for 28×28 (24 + 39 % 7); then the grids in flight finish.
  await page.waitForFunction(() => document.getElementById('grid-value').textContent === '28', null, { timeout: 60_000 });
  await page.waitForTimeout(1500);
  const lags = await page.evaluate(() => window.responsiveness.stop());
  assert.notEqual(await canvasHash(page, 'manifold'), before, 'the manifold was redrawn');
  const grids = await page.evaluate(() => window.digitLabTimings.lastGridMs);
  console.log(`grid slider dragged for ${((Date.now() - t0) / 1000).toFixed(1)} s (last grid ${Math.round(grids)} ms, in the batch worker): main-thread event-loop lag p50 ${quantile(lags, 0.5).toFixed(1)} ms, p95 ${quantile(lags, 0.95).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms over ${lags.length} ticks`);
  assert.ok(quantile(lags, 0.95) <= 50, `event-loop lag p95 ${quantile(lags, 0.95).toFixed(1)} ms > 50 ms while grids were computed`);
  // Bad arguments still come back as the wasm API's errors, through the worker.
  const message = await page.evaluate(async (url) => {
    const { startBatchWorker } = await import(url);
    try { await startBatchWorker().decode_grid('vae', 2 ** 32 + 5, -2, 2, -2, 2); return 'no error'; } catch (e) { return e.message; }
  }, asset('js/worker-client.js'));
  assert.match(message, /^decode_grid\(\): n must be an integer from 1 to 40, got 4294967301$/);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

/** The committed weights directory's manifest and the files of `keys`, as file-picker payloads. */
function weightsFiles(keys, edit = {}) {
  const manifest = JSON.parse(readFileSync(join(root, 'weights/manifest.json'), 'utf8'));
  const files = keys.map((key) => {
    const name = manifest.models[key].file;
    const buffer = readFileSync(join(root, 'weights', name));
    return { name, mimeType: 'application/octet-stream', buffer: edit[key]?.(Buffer.from(buffer)) ?? buffer };
  });
  const text = JSON.stringify(edit.manifest ? edit.manifest(manifest) : manifest);
  return [{ name: 'manifest.json', mimeType: 'application/json', buffer: Buffer.from(text) }, ...files];
}

test('models trained natively load into the page from their files, are checked, kept across reloads and forgotten (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.importedModels), '0', 'a fresh profile keeps no models');
  const imported = (n) => page.waitForFunction((n) => document.body.dataset.importedModels === String(n), n, { timeout: 60_000 });
  const importRound = async (files) => {
    const before = await page.evaluate(() => Number(document.body.dataset.importDone ?? 0));
    await page.setInputFiles('#model-files', files);
    await page.waitForFunction((b) => Number(document.body.dataset.importDone ?? 0) > b, before, { timeout: 60_000 });
  };

  // Wrong files first: each is one clear line in the error box, and nothing is loaded.
  const bad = [
    [weightsFiles(['classifier_best'], { classifier_best: (b) => { b[b.length >> 1] ^= 0x55; return b; } }), /is corrupt or not the file manifest\.json describes/],
    [weightsFiles(['classifier_best'], { manifest: (m) => { m.models.classifier_best.hyperparameters.model.encoder.fc = 96; return m; } }), /cannot be loaded: .*weights do not fit this model's architecture/],
    [weightsFiles(['classifier_best'], { manifest: (m) => { m.models.classifier_best.file = 'other.bpk'; return m; } }), /manifest\.json does not list the file "classifier_best-/],
    [[{ name: 'manifest.json', mimeType: 'application/json', buffer: Buffer.from('{"models": 3}') }, weightsFiles(['vae'])[1]], /manifest\.json is not a weights manifest/],
  ];
  for (const [files, expected] of bad) {
    await importRound(files);
    const message = await page.textContent('#error');
    assert.match(message, expected);
    assert.doesNotMatch(message, /\n/, 'one line');
    assert.equal(await page.evaluate(() => document.body.dataset.importedModels), '0');
  }
  // A weights file without its manifest is not even tried.
  await page.setInputFiles('#model-files', [weightsFiles(['vae'])[1]]);
  await page.waitForFunction(() => /pick the manifest\.json/.test(document.getElementById('error').textContent));

  // The committed weights/ files: the best classifier and the VAE.
  await importRound(weightsFiles(['classifier_best', 'vae']));
  await imported(2);
  assert.equal(await page.isVisible('#error'), false, 'a good import clears the error');
  assert.match(await page.textContent('#models-status'), /Loaded and kept in this browser: classifier_best, vae\./);
  // The imported classifier answers the drawing.
  await page.check('#models-list li[data-kind=classifier_best] input[data-use]');
  assert.match(await page.evaluate(() => document.body.dataset.customClassifier), /^classifier_best from classifier_best-/);
  const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  assert.match(one, /^1 /, `the imported classifier on a 1: "${one}"`);
  const seven = await predictionAfter(page, [[[70, 60], [210, 60], [120, 240]]]);
  assert.match(seven, /^7 /, `the imported classifier on a 7: "${seven}"`);
  // The imported VAE in the latent explorer: its map, and it decodes the point clicked.
  await page.check('#models-list li[data-kind=vae] input[data-explore]');
  await page.check('input[name=latent-model][value=mine]');
  await clickRedrawsMine(page, 0.7, 0.3);

  // Kept across a reload; forgetting one removes it for good.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 120_000 });
  await imported(2);
  assert.match(await page.textContent('#models-status'), /2 models kept from an earlier visit/);
  await page.click('#models-list li[data-kind=vae] button[data-forget]');
  await imported(1);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 120_000 });
  await imported(1);
  assert.deepEqual(await page.$$eval('#models-list li', (rows) => rows.map((r) => r.dataset.kind)), ['classifier_best']);
  await page.click('#models-list li[data-kind=classifier_best] button[data-forget]');
  await imported(0);
  await page.screenshot({ path: join(shots, 'models-cpu.png'), fullPage: true });
  assert.deepEqual(errors.filter((e) => !/is corrupt|cannot be loaded|does not list|not a weights manifest|pick the manifest/.test(e)), [], 'no other errors on the page');
  await page.close();
});

/**
 * Clicks a model's Download button and saves the two files it downloads (manifest.json and the
 * content-named `<key>-<hash>.bpk`, as the status line `status` says) into a fresh folder.
 */
async function downloadModel(page, button, status, key) {
  const dir = mkdtempSync(join(tmpdir(), `digit-lab-page-${key}-`));
  const downloads = [];
  page.on('download', (d) => downloads.push(d));
  await page.click(button);
  await page.waitForFunction(([id, key]) => new RegExp(`Saved manifest\\.json and ${key}-[0-9a-f]{16}\\.bpk`).test(document.querySelector(id).textContent),
    [status, key], { timeout: 60_000 });
  const deadline = Date.now() + 30_000;
  while (downloads.length < 2 && Date.now() < deadline) await page.waitForTimeout(100);
  assert.equal(downloads.length, 2, 'two files downloaded');
  for (const d of downloads) await d.saveAs(join(dir, d.suggestedFilename()));
  return dir;
}

/** The native trainer's binary: `DIGIT_LAB_BIN` (scripts/test-web builds it and sets it), else
 * where `source scripts/env.sh && cargo build --release` puts it. */
function nativeBinary() {
  const binary = process.env.DIGIT_LAB_BIN ?? join(homedir(), '.cache/digit-lab/target/release/digit-lab');
  assert.ok(existsSync(binary), `${binary} is missing: build it with \`source scripts/env.sh && cargo build --release\``);
  return binary;
}

test('a model trained in the page is saved as files that the native trainer evaluates, and is kept across reloads (CPU)', async () => {
  const binary = nativeBinary();
  const { page, errors } = await openPage('?backend=cpu');
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  await page.fill('#t-epochs', '2');
  await page.click('#t-start');
  await page.waitForFunction(() => document.querySelector('#t-start').textContent === 'Done', null, { timeout: 180_000 });
  const pageValid = Number(await page.textContent('#t-valid'));

  // Download: manifest.json and the content-named weights file, into a fresh folder.
  const dir = await downloadModel(page, '#t-download', '#t-status', 'ae');
  const names = readdirSync(dir).sort();
  assert.equal(names.length, 2);
  assert.equal(names[1], 'manifest.json');
  assert.match(names[0], /^ae-[0-9a-f]{16}\.bpk$/);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.models.ae.file, names[0]);
  assert.equal(manifest.models.ae.hyperparameters.model.code, 2);

  // The native trainer loads and evaluates them (test-set MSE of the page's model).
  const run = spawnSync(binary, ['eval', '--weights', dir], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `digit-lab eval failed: ${run.stderr}`);
  const line = run.stdout.split('\n').find((l) => l.startsWith('ae '));
  assert.ok(line, `no ae line in: ${run.stdout}`);
  const mse = Number(/mse[^\d]*([\d.]+)/i.exec(line)?.[1]);
  console.log(`page-trained ConvAE (2 epochs): page validation MSE ${pageValid}; native \`digit-lab eval --weights ${dir}\`: ${line.trim()}`);
  assert.ok(mse > 0 && mse < 0.1, `native test MSE ${mse}`);
  assert.ok(Math.abs(mse - pageValid) < 0.02, `native test MSE ${mse} near the page's validation MSE ${pageValid}`);

  // Kept in this browser: it is under Your models, checked again after a reload.
  await page.click('#t-keep');
  await page.waitForFunction(() => document.body.dataset.importedModels === '1', null, { timeout: 60_000 });
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 120_000 });
  await page.waitForFunction(() => document.body.dataset.importedModels === '1', null, { timeout: 60_000 });
  assert.match(await page.textContent('#models-list li[data-kind=ae]'), new RegExp(names[0].replace('.', '\\.')));
  await page.check('#models-list li[data-kind=ae] input[data-explore]');
  await page.check('input[name=latent-model][value=mine]');
  await clickRedrawsMine(page, 0.7, 0.3);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

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
