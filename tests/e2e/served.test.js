// The page as deployed: the packaged folder (scripts/package-web.mjs) and how scripts/serve.py
// serves it (encodings, caching, CSP, refusals); every reference in it resolves; with the service
// worker, a second visit works with the network off (drawing, training, a kept model), and a new
// version is announced and taken on when the user asks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { referencesOf } from '../../scripts/package-web-refs.mjs';
import { root, port, useServedPage, siteDir, asset, packageSite, startServer, browserOf, settled, predictionAfter } from './harness.js';

useServedPage();

const ONE = [[[140, 40], [142, 120], [143, 240]]];
const manifest = () => JSON.parse(readFileSync(join(siteDir(), 'asset-manifest.json'), 'utf8'));

/** A raw HTTP exchange with the test server (no decompression): { status, headers, body }. */
function fetchRaw(path, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('served with the encoding the browser accepts, a year of caching for hashed files, none for the HTML, and the CSP', async () => {
  const wasm = asset('pkg/digit_lab_bg.wasm').slice(1);
  const identity = readFileSync(join(root, 'www/pkg/digit_lab_bg.wasm'));
  const cases = [['br, gzip', 'br', brotliDecompressSync], ['gzip', 'gzip', gunzipSync], ['', undefined, (b) => b],
    ['br;q=0, gzip', 'gzip', gunzipSync], ['identity', undefined, (b) => b]];
  for (const [accept, encoding, decode] of cases) {
    const { status, headers, body } = await fetchRaw(wasm, { headers: accept ? { 'Accept-Encoding': accept } : {} });
    assert.equal(status, 200);
    assert.equal(headers['content-encoding'], encoding, `Accept-Encoding "${accept}"`);
    assert.equal(headers['content-type'], 'application/wasm');
    assert.equal(headers.vary, 'Accept-Encoding');
    assert.equal(Number(headers['content-length']), body.length);
    assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.ok(decode(body).equals(identity), `the ${encoding ?? 'identity'} bytes are the bundle's`);
  }
  // The training digits are gzip files themselves: sent as they are, never with a Content-Encoding.
  const digits = await fetchRaw(asset('data/mnist-subset-labels.idx.gz').slice(1), { headers: { 'Accept-Encoding': 'br, gzip' } });
  assert.equal(digits.headers['content-type'], 'application/gzip');
  assert.equal(digits.headers['content-encoding'], undefined);
  assert.ok(digits.body.equals(readFileSync(join(root, 'www/data/mnist-subset-labels.idx.gz'))));
  const brotli = (await fetchRaw(wasm, { headers: { 'Accept-Encoding': 'br' } })).body.length;
  console.log(`CPU bundle wasm: ${identity.length} bytes raw, ${brotli} brotli, ${manifest().files['pkg/digit_lab_bg.wasm'].gzip} gzip`);
  for (const [path, type] of [['/', 'text/html; charset=utf-8'], ['/index.html', 'text/html; charset=utf-8'],
    ['/sw.js', 'text/javascript; charset=utf-8'], ['/app.webmanifest', 'application/manifest+json']]) {
    const { status, headers } = await fetchRaw(path, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(status, 200, path);
    assert.equal(headers['content-type'], type, path);
    assert.equal(headers['cache-control'], 'no-cache', `${path} is revalidated on every visit`);
    assert.match(headers['content-security-policy'], /default-src 'none'; script-src 'self' 'wasm-unsafe-eval';.*worker-src 'self'; manifest-src 'self';.*frame-ancestors 'none'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
  }
  const js = asset('js/main.js').slice(1);
  const head = await fetchRaw(js, { method: 'HEAD', headers: { 'Accept-Encoding': 'br' } });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0, 'HEAD has no body');
  assert.equal(Number(head.headers['content-length']), manifest().files['js/main.js'].br);
});

test('paths that name no file, or leave the served folder, get one-line refusals', async () => {
  for (const [path, status, message] of [['/js/main.js', 404, /^\/js\/main\.js: not found\n$/],
    ['/../../etc/passwd', 403, /outside the served folder\n$/], ['/%2e%2e/%2e%2e/etc/passwd', 403, /outside the served folder\n$/],
    ['/pkg/../../README.md', 403, /outside the served folder\n$/]]) {
    const { status: got, body } = await fetchRaw(path);
    assert.equal(got, status, path);
    assert.match(body.toString(), message, path);
  }
});

test('every reference in the packaged site names a file of it, and every compressed copy is its file', () => {
  const { files } = manifest();
  const known = new Set(Object.values(files).map((f) => f.path));
  for (const [logical, entry] of Object.entries(files)) {
    const bytes = readFileSync(join(siteDir(), entry.path));
    const { error, refs } = referencesOf(entry.path, bytes, known);
    assert.equal(error, undefined, `${entry.path} (from ${logical})`);
    // Only the pages, the service worker and the manifests keep their names.
    if (entry.path === logical) assert.match(logical, /\.html$|^app\.webmanifest$/);
    else assert.match(entry.path, /\.[0-9a-f]{10}\.[a-z0-9]+$/);
    for (const ref of refs) assert.ok(known.has(ref.target), `${entry.path} -> ${ref.target}`);
    if (entry.br === undefined) continue;
    assert.ok(brotliDecompressSync(readFileSync(join(siteDir(), `${entry.path}.br`))).equals(bytes), `${entry.path}.br`);
    assert.ok(gunzipSync(readFileSync(join(siteDir(), `${entry.path}.gz`))).equals(bytes), `${entry.path}.gz`);
  }
  // The page's core (precached) is what the first visit needs, not the WebGPU/training bundle or the digits.
  const core = Object.keys(files).filter((l) => files[l].core);
  assert.ok(core.includes('index.html') && core.includes('pkg/digit_lab_bg.wasm') && core.includes('js/main.js'));
  assert.deepEqual(core.filter((l) => /^(pkg-full|data)\//.test(l)), []);
});

/** Packages a small made-up www/ (`files`: path -> text), removed after test `t`; returns the packager's run. */
function packageMadeUp(t, files) {
  const dir = mkdtempSync(join(tmpdir(), 'digit-lab-madeup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, 'www', path, '..'), { recursive: true });
    writeFileSync(join(dir, 'www', path), text);
  }
  const run = spawnSync('node', [join(root, 'scripts/package-web.mjs'), '--from', join(dir, 'www'), '--out', join(dir, 'site')], { encoding: 'utf8' });
  return { dir, run };
}

test('packaging fails on a reference that names no file, and hashes modules that import each other', (t) => {
  const page = '<!doctype html><title>t</title><link rel="stylesheet" href="style.css"><script type="module" src="js/a.js"></script>';
  const broken = packageMadeUp(t, { 'index.html': page, 'style.css': 'body{}', 'js/a.js': "import { b } from './b.js';\nfetch('data/missing.bin');\n", 'js/b.js': 'export const b = 1;\n' });
  assert.equal(broken.run.status, 1);
  assert.equal(broken.run.stderr.trim().split('\n').length, 1, broken.run.stderr);
  assert.match(broken.run.stderr, /js\/a\.js: 'data\/missing\.bin' names no file/);

  const cycle = packageMadeUp(t, { 'index.html': page, 'style.css': '/* url(no.png) in a comment */ body{}',
    'js/a.js': "// 'not/a/reference.js' in a comment\nimport { b } from './b.js';\nexport const a = () => b;\nconst keys = { './x/y.js': 1 };\n",
    'js/b.js': "import { a } from './a.js';\nexport const b = 2;\nexport const later = () => import('./a.js');\nconst r = /'/;\n",
    'js/w.js': "export const again = () => new Worker(new URL('./w.js', import.meta.url), { type: 'module' });\n" });
  assert.equal(cycle.run.status, 0, cycle.run.stderr);
  const { files } = JSON.parse(readFileSync(join(cycle.dir, 'site/asset-manifest.json'), 'utf8'));
  const [a, b] = [files['js/a.js'].path, files['js/b.js'].path];
  assert.match(readFileSync(join(cycle.dir, 'site', a), 'utf8'), new RegExp(`from './${b.slice(3).replace(/\./g, '\\.')}'`));
  assert.match(readFileSync(join(cycle.dir, 'site', b), 'utf8'), new RegExp(`import\\('./${a.slice(3).replace(/\./g, '\\.')}'\\)`));
  assert.match(readFileSync(join(cycle.dir, 'site/index.html'), 'utf8'), new RegExp(files['js/a.js'].path.replace(/\./g, '\\.')));
  const w = files['js/w.js'].path;
  assert.match(w, /^js\/w\.[0-9a-f]{10}\.js$/);
  assert.ok(readFileSync(join(cycle.dir, 'site', w), 'utf8').includes(`new URL('./${w.slice(3)}', import.meta.url)`), 'a module that names itself');
});

/** A browser context where the page's service worker runs, with the page's errors collected. */
async function contextWithServiceWorker() {
  const context = await browserOf().newContext({ viewport: { width: 1280, height: 1800 }, serviceWorkers: 'allow' });
  const errors = [];
  // The service worker's own errors count too (a failed install, a cache that refused a file).
  context.on('serviceworker', (worker) => worker.on('console', (m) => m.type() === 'error' && errors.push(`service worker: ${m.text()}`)));
  const open = async (url) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(url);
    await settled(page);
    return page;
  };
  return { context, errors, open };
}

/** Waits until the service worker controls `page` (it has cached the page's core); its cached paths. */
async function controlled(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
  return page.evaluate(async () => {
    const names = (await caches.keys()).filter((n) => n.startsWith('digit-lab-'));
    const paths = [];
    for (const name of names) for (const r of await (await caches.open(name)).keys()) paths.push(new URL(r.url).pathname.slice(1));
    return { names, paths };
  });
}

/** Opens the training mode and trains until `evals` evaluations have been shown. */
async function train(page, { epochs, evals }) {
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  await page.fill('#t-epochs', String(epochs));
  const before = Number(await page.evaluate(() => document.body.dataset.trainEvals ?? 0));
  await page.click('#t-start');
  await page.waitForFunction((n) => Number(document.body.dataset.trainEvals ?? 0) >= n, before + evals, { timeout: 180_000 });
}

test('offline: after one visit that opened the training mode, the page, training and a kept model work with the network off', async () => {
  const offlinePort = port + 1000;
  const at = `http://127.0.0.1:${offlinePort}/`;
  const server = await startServer(siteDir(), offlinePort);
  const { context, errors, open } = await contextWithServiceWorker();
  try {
    const first = await open(at);
    const cached = await controlled(first);
    const files = manifest().files;
    assert.equal(cached.names.length, 1, 'one version cached');
    assert.ok(cached.paths.includes(files['pkg/digit_lab_bg.wasm'].path) && cached.paths.includes('index.html'), cached.paths.join(' '));
    assert.ok(!cached.paths.includes(files['pkg-full/digit_lab_full_bg.wasm'].path), 'the training bundle waits until training opens');
    // Installable: Chromium finds nothing missing in the manifest (a test browser's profile is incognito-like).
    const cdp = await context.newCDPSession(first);
    const { errors: manifestErrors } = await cdp.send('Page.getAppManifest');
    assert.deepEqual(manifestErrors, []);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'), []);
    // Training opened once online: its bundle and digits are cached as they are fetched.
    await train(first, { epochs: 1, evals: 1 });
    await first.waitForFunction(() => document.querySelector('#t-start').textContent === 'Done', null, { timeout: 180_000 });
    await first.click('#t-keep');
    await first.waitForFunction(() => document.body.dataset.importedModels === '1', null, { timeout: 60_000 });
    const after = await controlled(first);
    for (const lazy of ['pkg-full/digit_lab_full_bg.wasm', 'data/mnist-subset-images.idx.gz']) assert.ok(after.paths.includes(files[lazy].path), `${lazy} cached`);
    await first.close();

    // A network that hangs (held here until the page has opened): the cached page opens anyway.
    const held = [];
    await context.route(at, (route) => held.push(route));
    const meanwhile = await open(at);
    assert.equal(held.length, 1, 'the page was asked of the network first');
    assert.match(await predictionAfter(meanwhile, ONE), /^1 /);
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    for (const route of held) await route.abort().catch(() => {});
    await meanwhile.close();

    // The network is gone: the server stopped, and the browser offline.
    server.kill();
    await context.setOffline(true);
    const second = await open(at);
    assert.match(await predictionAfter(second, ONE), /^1 /);
    await second.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 120_000 });
    assert.equal(await second.evaluate(() => document.body.dataset.importedModels), '1', 'the kept model is still there');
    await train(second, { epochs: 2, evals: 2 });
    assert.match(await second.textContent('#t-valid'), /^0\.\d{4}$/);
    await second.click('#t-start'); // pause
    assert.deepEqual(errors, [], 'no errors on the page, online or offline');
  } finally {
    server.kill();
    await context.close();
  }
});

/** The same-origin files the page has loaded, as paths in the site. */
const loadedPaths = (page) => page.evaluate(() => performance.getEntriesByType('resource')
  .filter((e) => new URL(e.name).origin === location.origin).map((e) => new URL(e.name).pathname.slice(1)));

/** Every path is a file of the version `assets` (never one of another version). */
function checkAllOf(paths, assets, when) {
  const files = new Set(Object.values(assets.files).map((f) => f.path));
  assert.ok(paths.length > 5, `${when}: ${paths.length} files loaded`);
  assert.deepEqual(paths.filter((p) => !files.has(p)), [], `${when}: files of another version`);
}

test('a new version: the page says one is ready, keeps running the old one, and Reload brings the new one', async () => {
  const updatePort = port + 1100;
  const served = mkdtempSync(join(tmpdir(), 'digit-lab-served-'));
  const changed = mkdtempSync(join(tmpdir(), 'digit-lab-www-'));
  cpSync(siteDir(), served, { recursive: true });
  const server = await startServer(served, updatePort);
  const { context, errors, open } = await contextWithServiceWorker();
  try {
    const page = await open(`http://127.0.0.1:${updatePort}/`);
    const old = await controlled(page);
    assert.equal(await page.textContent('#update'), '', 'no notice for the version the page runs');
    // A new build is deployed: one file changed.
    cpSync(join(root, 'www'), changed, { recursive: true });
    appendFileSync(join(changed, 'style.css'), '\n/* the next version */\n');
    const next = packageSite(served, changed);
    // The browser looks for a new version (it does so on navigations, and the page when shown again).
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    await page.waitForSelector('#update-reload', { timeout: 60_000 });
    assert.match(await page.textContent('#update'), /A new version of Digit Lab is ready/);
    assert.equal(await page.getAttribute('#update', 'role'), 'status');
    const css = () => page.evaluate(() => document.querySelector('link[rel=stylesheet]').getAttribute('href'));
    assert.equal(await css(), manifest().files['style.css'].path, 'still the old version until the user asks');
    checkAllOf(await loadedPaths(page), manifest(), 'before the reload');
    await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.click('#update-reload')]);
    await settled(page);
    assert.equal(await css(), next.files['style.css'].path);
    checkAllOf(await loadedPaths(page), next, 'after the reload');
    const now = await controlled(page);
    assert.deepEqual(now.names, [`digit-lab-${next.version}`], `the old version's cache (${old.names}) is gone`);
    assert.deepEqual(errors, []);
  } finally {
    server.kill();
    await context.close();
    rmSync(served, { recursive: true, force: true });
    rmSync(changed, { recursive: true, force: true });
  }
});
