// Opening the page: what it downloads before its first answer (compressed, as served), that the
// WebGPU/training bundle (pkg-full) is fetched only for a hardware adapter or a mode that needs
// it, that the main thread has no long task while the models start (they start in a worker),
// and that a WebGPU backend whose answers differ from the CPU's is never used ("trust, then use").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { origin, useServedPage, browserOf, settled, logical, predictionAfter, siteDir } from './harness.js';

useServedPage();

/** The goal: at most this much transferred (headers and compressed bodies) before the
 * first answer where there is no hardware WebGPU. */
const FIRST_ANSWER_BYTES = 2_000_000;
/**
 * No start-up task of the page's main thread may take more CPU time than this: the models start
 * in a worker, and the page's own tasks (drawing) take up to ~30 ms. CPU time, not wall time: on
 * a loaded 2-core machine a task of 30 ms of CPU can last 400 ms (the wall-clock long tasks are
 * printed).
 */
const LONGEST_TASK_CPU_MS = 100;

/** The pages' main threads' tasks in a Chromium trace of categories ['toplevel']: wall and CPU
 * ms (the browser's own WebUI renderer left out). */
function mainThreadTasks(trace) {
  const events = JSON.parse(trace.toString()).traceEvents;
  const named = (name, value) => events.filter((e) => e.ph === 'M' && e.name === name && e.args?.name === value);
  const renderers = new Set(named('process_name', 'Renderer').map((e) => e.pid));
  const mains = new Set(named('thread_name', 'CrRendererMain').filter((e) => renderers.has(e.pid)).map((e) => `${e.pid}:${e.tid}`));
  return events.filter((e) => e.ph === 'X' && /RunTask$/.test(e.name) && mains.has(`${e.pid}:${e.tid}`))
    .map((e) => ({ ms: e.dur / 1000, cpuMs: (e.tdur ?? e.dur) / 1000 }));
}

/** The bytes the server sends for `path` to a browser that accepts brotli. */
function servedSize(path) {
  const file = join(siteDir(), path === '/' ? 'index.html' : path);
  return statSync(existsSync(`${file}.br`) ? `${file}.br` : file).size;
}

/** `promise`, or an error naming `what` after `ms`: a test here never hangs on the browser. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens the page with `setup(page)` run first (init scripts, routes), recording every request of
 * the page, its workers and (`serviceWorkers: 'allow'`, as deployed) its service worker: URL,
 * start, bytes on the wire (none for what the service worker answers from its cache); and the
 * main thread's tasks. Playwright's routes do not see what a service worker answers: the tests
 * that route block it.
 */
async function openRecorded(query, setup = async () => {}, { serviceWorkers = 'block' } = {}) {
  const page = await browserOf().newPage({ viewport: { width: 1280, height: 1800 }, serviceWorkers });
  await page.addInitScript(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push({ start: Math.round(e.startTime), ms: Math.round(e.duration) });
    }).observe({ type: 'longtask', buffered: true });
  });
  await setup(page);
  const sized = [];
  page.context().on('requestfinished', (r) => sized.push((async () => {
    // Playwright may never give the response or the sizes of the service worker's script: then
    // the size of the brotli copy that the server sends.
    const [response, sizes] = await Promise.all([r.response(), r.sizes()].map((p) => within(10_000, r.url(), p).catch(() => null)));
    const sent = sizes ? sizes.responseBodySize + sizes.responseHeadersSize : servedSize(new URL(r.url()).pathname);
    const bytes = response?.fromServiceWorker() ? 0 : sent;
    return { path: logical(new URL(r.url()).pathname), start: r.timing().startTime, bytes, byServiceWorker: Boolean(r.serviceWorker()) };
  })()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await browserOf().startTracing(page, { categories: ['toplevel'] });
  let tasks = null;
  const stopTracing = async () => (tasks ??= mainThreadTasks(await within(60_000, 'the trace', browserOf().stopTracing())));
  try {
    await page.goto(`${origin}/${query}`);
    await settled(page);
  } finally {
    await stopTracing();
  }
  const transfers = async () => Promise.all(sized);
  /** The files that came over the network (not from a cache), by their www/ paths. */
  const downloaded = async () => (await transfers()).filter((t) => t.bytes > 0).map((t) => t.path);
  return { page, downloaded, transfers, errors, tasks };
}

/** What came down before the first answer (requests started before it), and the start-up figures. */
async function startupFigures(page, transfers, tasks) {
  const { firstAnswer, timeOrigin, longTasks } = await page.evaluate(() => ({
    firstAnswer: window.digitLabTimings.firstAnswer,
    timeOrigin: performance.timeOrigin,
    longTasks: window.longTasks,
  }));
  assert.ok(firstAnswer > 0, 'the first answer was recorded');
  const before = (await transfers()).filter((t) => t.start < timeOrigin + firstAnswer);
  const bytes = before.reduce((sum, t) => sum + t.bytes, 0);
  const cpuMs = tasks.map((t) => t.cpuMs).sort((a, b) => b - a);
  // The page asks for the maps after its first answer (the service worker, registered at the
  // page's load event, may fetch them for offline use earlier: counted above).
  const maps = (await transfers()).find((t) => t.path.endsWith('/pkg/maps.json') && !t.byServiceWorker);
  assert.ok(maps, 'the page fetches the maps');
  assert.ok(maps.start >= timeOrigin + firstAnswer, 'the page requests the maps after its first answer');
  return { firstAnswer, bytes, files: before.length, longTasks, longestCpu: cpuMs[0] ?? 0, cpuMs: cpuMs.slice(0, 5).map(Math.round) };
}

const pkgFull = (paths) => paths.filter((p) => p.includes('/pkg-full/'));

for (const [name, query, withoutWebGpu] of [['a software WebGPU adapter', '', false], ['no WebGPU', '', true]]) {
  test(`with ${name}: at most 2 MB before the first answer, no WebGPU bundle, no long task on the main thread`, { timeout: 300_000 }, async () => {
    const { page, downloaded, transfers, errors, tasks } = await openRecorded(query, async (p) => {
      if (withoutWebGpu) await p.addInitScript(() => { delete Object.getPrototypeOf(navigator).gpu; });
    }, { serviceWorkers: 'allow' });
    const why = await page.textContent('#backend-why');
    if (withoutWebGpu) assert.match(why, /this browser has no WebGPU/);
    else assert.match(why, /^ — WebGPU \(.+\) is a software adapter, not used \(\?backend=webgpu forces it\)$/);
    assert.match(await page.textContent('#backend'), /^CPU/);
    const figures = await startupFigures(page, transfers, tasks);
    console.log(`${name}: first answer ${Math.round(figures.firstAnswer)} ms after navigation, ${figures.bytes} bytes in ${figures.files} files before it; `
      + `main-thread tasks until settled: the longest ${figures.cpuMs.join(', ')} ms of CPU; long tasks (wall clock) ${JSON.stringify(figures.longTasks)}`);
    assert.ok(figures.bytes <= FIRST_ANSWER_BYTES, `${figures.bytes} bytes before the first answer`);
    assert.ok(tasks.length > 100, `the trace holds the main thread's tasks (${tasks.length})`);
    assert.ok(figures.longestCpu <= LONGEST_TASK_CPU_MS, `a main-thread task of ${figures.longestCpu} ms of CPU during start-up`);
    assert.deepEqual(pkgFull(await downloaded()), [], 'nothing of the WebGPU bundle is downloaded');

    // The training mode needs the full bundle: it is fetched when the mode opens (in its worker).
    await page.click('#train-open');
    await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 180_000 });
    assert.ok(pkgFull(await downloaded()).some((p) => p.endsWith('/pkg-full/digit_lab_full_bg.wasm')), 'the training mode fetched the full bundle');
    assert.deepEqual(errors, [], 'no errors on the page');
    await page.close();
  });
}

/**
 * Makes the page see a hardware WebGPU adapter (SwiftShader under other names): the lab worker
 * asks the adapter through adapter.js, served here with the adapters' info and fallback flag
 * overridden wherever it runs (the WebGPU device itself is untouched).
 */
const fakeHardwareAdapter = (page) => page.context().route('**/js/adapter.*js', async (route) => {
  const override = `
const fakeInfo = { vendor: 'test-vendor', architecture: 'test', device: 'a hardware GPU (test)', description: '', isFallbackAdapter: false };
for (const proto of [globalThis.GPUAdapterInfo?.prototype, globalThis.GPUAdapter?.prototype].filter(Boolean)) {
  for (const [key, value] of Object.entries(fakeInfo)) if (key in proto) Object.defineProperty(proto, key, { get: () => value, configurable: true });
}`;
  const response = await route.fetch();
  route.fulfill({ status: 200, contentType: 'text/javascript', body: `${await response.text()}\n${override}\n` });
});

/** Serves the full bundle's JS glue with its WebGPU answers (decodes, grids, probabilities)
 * shifted by `delta`: a backend that computes quietly wrong. */
async function perturbWebGpuAnswers(page, delta) {
  const perturbation = `
for (const method of ['decode', 'decode_grid', 'classify']) {
  const original = DigitLab.prototype[method];
  DigitLab.prototype[method] = async function (...args) {
    const answer = await original.apply(this, args);
    return this.backend.kind === 'webgpu' ? answer.map((v) => v + ${delta}) : answer;
  };
}`;
  await page.context().route('**/pkg-full/*.js', async (route) => {
    const response = await route.fetch();
    route.fulfill({ status: 200, contentType: 'text/javascript', body: `${await response.text()}\n${perturbation}\n` });
  });
}

for (const [query, how] of [['', 'a hardware adapter'], ['?backend=webgpu', 'forced with ?backend=webgpu']]) {
  test(`trust, then use: WebGPU answers that differ from the CPU's are not used (${how})`, { timeout: 300_000 }, async () => {
    const { page, downloaded, errors } = await openRecorded(query, async (p) => {
      if (!query) await fakeHardwareAdapter(p);
      await perturbWebGpuAnswers(p, 0.01);
    });
    assert.ok(pkgFull(await downloaded()).length > 0, 'the full bundle was fetched');
    const why = await page.textContent('#backend-why');
    console.log(`perturbed WebGPU (${how}): badge "${await page.textContent('#backend')}"${why}`);
    assert.match(await page.textContent('#backend'), /^CPU/);
    assert.match(why, /^ — WebGPU answers differ from the CPU's \(max \|Δ\| = 0\.010, in \w+\): not used$/);
    assert.equal(await page.evaluate(() => document.body.dataset.routes), undefined, 'nothing was routed to WebGPU');
    const compared = await page.evaluate(() => window.digitLabTimings.compared);
    for (const kind of ['decode', 'classify', 'grid']) assert.ok(Math.abs(compared[kind] - 0.01) < 1e-4, `${kind}: ${compared[kind]}`);
    assert.ok(compared.reconstruct <= 1e-3, 'reconstructions were left alone and agree');
    // The page answers, on the CPU.
    const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
    assert.match(one, /^1 /, `drew a 1, got "${one}"`);
    assert.deepEqual(errors, [], 'no errors on the page');
    await page.close();
  });
}

test('trust, then use: an honest WebGPU on a hardware adapter passes the comparison and each kind runs where it measured faster', { timeout: 300_000 }, async () => {
  const { page, errors } = await openRecorded('', fakeHardwareAdapter);
  const compared = await page.evaluate(() => window.digitLabTimings.compared);
  const measured = await page.evaluate(() => window.digitLabTimings.measured);
  const routes = JSON.parse(await page.evaluate(() => document.body.dataset.routes));
  console.log(`honest WebGPU: largest differences from the CPU ${JSON.stringify(compared)}; measured (ms) ${JSON.stringify(measured)}; badge "${await page.textContent('#backend')}"${await page.textContent('#backend-why')}`);
  for (const [kind, difference] of Object.entries(compared)) assert.ok(difference <= 1e-3, `${kind}: ${difference}`);
  assert.match(await page.textContent('#backend'), /^decode: (CPU|WebGPU) [\d.]+ ms · classify: (CPU|WebGPU) [\d.]+ ms · grid: (CPU|WebGPU) [\d.]+ ms$/);
  for (const [kind, where] of Object.entries(routes)) {
    const m = measured[kind];
    assert.ok(m.cpu > 0 && m.webgpu > 0, `${kind} measured on both`);
    assert.equal(where, m.webgpu < m.cpu ? 'webgpu' : 'cpu', `${kind} runs on ${where}, measured ${JSON.stringify(m)}`);
  }
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});
