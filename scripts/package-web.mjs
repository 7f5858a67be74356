#!/usr/bin/env node
// Packages www/ as deployed (scripts/build-web runs it last; scripts/serve and the e2e tests run it
// before serving): every asset under a content-hashed name, so it can be cached for a year, with
// every reference to it rewritten; the HTML pages, the service worker and the web app manifest keep
// stable names. Each compressible file gets brotli (quality 11) and gzip (-9) copies next to it,
// cached by content hash. asset-manifest.json maps logical names to hashed ones; the service worker
// gets the same list, so any change to any file is a new version of the page.
//
// Usage: node scripts/package-web.mjs [--from www] [--out site]

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { referencesOf } from './package-web-refs.mjs';

const STABLE = new Set(['sw.js', 'app.webmanifest', 'asset-manifest.json']);
/** Fetched only when a mode needs them: cached by the service worker when first used, not at install. */
const LAZY_DIRS = ['pkg-full/', 'data/'];
const COMPRESSIBLE = /\.(js|mjs|wasm|json|css|html|svg|webmanifest|txt)$/;
const HASH_CHARS = 10;
const SERVICE_WORKER = 'sw.js';
const BUILD_LINE = /^const BUILD = null;.*$/m;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const isStable = (logical) => logical.endsWith('.html') || STABLE.has(logical);

function fail(message) {
  console.error(`package-web: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { from: 'www', out: 'site' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in options) || argv[i + 1] === undefined) fail(`unknown or incomplete argument ${argv[i]} (use --from DIR --out DIR)`);
    options[key] = argv[i + 1];
  }
  return options;
}

/** Every file under `dir`, as '/'-separated paths relative to it; dotfiles (wasm-pack's .gitignore) left out. */
function listFiles(dir, prefix = '') {
  const files = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...listFiles(dir, path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/** The hashed name of `logical`: the hash goes before the last extension (js/main.js -> js/main.0123456789.js). */
function hashedName(logical, hash) {
  const dot = logical.lastIndexOf('.');
  const slash = logical.lastIndexOf('/');
  if (dot <= slash + 1) return `${logical}.${hash}`;
  return `${logical.slice(0, dot)}.${hash}${logical.slice(dot)}`;
}

/** Strongly connected components of the reference graph, each after every component it refers to (Tarjan). */
function componentsInDependencyOrder(nodes, edgesOf) {
  const index = new Map(), low = new Map(), onStack = new Set(), stack = [], order = [];
  let next = 0;
  const visit = (node) => {
    index.set(node, next); low.set(node, next); next++;
    stack.push(node); onStack.add(node);
    for (const target of edgesOf(node)) {
      if (!index.has(target)) { visit(target); low.set(node, Math.min(low.get(node), low.get(target))); }
      else if (onStack.has(target)) low.set(node, Math.min(low.get(node), index.get(target)));
    }
    if (low.get(node) !== index.get(node)) return;
    const component = [];
    let member;
    do { member = stack.pop(); onStack.delete(member); component.push(member); } while (member !== node);
    order.push(component.sort());
  };
  for (const node of nodes) if (!index.has(node)) visit(node);
  return order;
}

/** `file`'s text with each reference's last path segment replaced by its target's output name. */
function rewrite(file, names) {
  if (!file.refs.length) return file.bytes;
  let text = '', at = 0;
  for (const ref of file.refs) {
    const name = names.get(ref.target) ?? ref.target;
    text += file.text.slice(at, ref.start) + ref.literal.replace(/[^/]*$/, posix.basename(name));
    at = ref.end;
  }
  return Buffer.from(text + file.text.slice(at));
}

/**
 * Output names and contents: files in dependency order, so that a file's hash covers the hashed
 * names it refers to. Files in a reference cycle share one hash of all their contents.
 */
function hashAll(files) {
  const names = new Map(), outputs = new Map();
  const hashedTargets = (logical) => files.get(logical).refs.map((r) => r.target).filter((t) => !isStable(t));
  for (const component of componentsInDependencyOrder([...files.keys()], hashedTargets)) {
    const cyclic = component.length > 1 || hashedTargets(component[0]).includes(component[0]);
    const group = cyclic ? sha256(component.map((l) => `${l}\0${rewrite(files.get(l), names)}`).join('\0')) : '';
    for (const logical of component) {
      if (!isStable(logical)) names.set(logical, hashedName(logical, cyclic ? sha256(group + logical).slice(0, HASH_CHARS) : ''));
    }
    for (const logical of component) {
      const bytes = rewrite(files.get(logical), names);
      if (!isStable(logical) && !cyclic) names.set(logical, hashedName(logical, sha256(bytes).slice(0, HASH_CHARS)));
      outputs.set(logical, bytes);
    }
  }
  return { names, outputs };
}

/** Files reachable from the page (index.html), not through the lazily fetched folders: precached at install. */
function coreOf(files) {
  const core = new Set();
  const visit = (logical) => {
    if (core.has(logical) || LAZY_DIRS.some((d) => logical.startsWith(d))) return;
    core.add(logical);
    for (const ref of files.get(logical).refs) visit(ref.target);
  };
  visit('index.html');
  return core;
}

const compressors = {
  br: (bytes, logical) => promisify(brotliCompress)(bytes, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: 11,
      [zlib.BROTLI_PARAM_LGWIN]: 24,
      [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      [zlib.BROTLI_PARAM_MODE]: logical.endsWith('.wasm') ? zlib.BROTLI_MODE_GENERIC : zlib.BROTLI_MODE_TEXT,
    },
  }),
  gz: (bytes) => promisify(gzip)(bytes, { level: 9 }),
};

/** brotli and gzip copies of `bytes`, from the cache when this content was compressed before. */
async function compressed(bytes, logical, cacheDir) {
  const key = sha256(bytes);
  const result = {};
  for (const [encoding, compress] of Object.entries(compressors)) {
    const cached = join(cacheDir, `${key}.${encoding}`);
    if (existsSync(cached)) {
      const now = new Date();
      utimesSync(cached, now, now);
      result[encoding] = readFileSync(cached);
      continue;
    }
    if (bytes.length > 4_000_000) console.log(`package-web: compressing ${logical} (${encoding}, ${bytes.length} bytes; cached afterwards)`);
    result[encoding] = await compress(bytes, logical);
    writeFileSync(`${cached}.${process.pid}.tmp`, result[encoding]);
    renameSync(`${cached}.${process.pid}.tmp`, cached);
  }
  return result;
}

/** Compressed copies of every compressible output, at most two compressions at a time (two cores). */
async function compressAll(outputs, cacheDir) {
  mkdirSync(cacheDir, { recursive: true });
  const todo = [...outputs.keys()].filter((l) => COMPRESSIBLE.test(l));
  const copies = new Map();
  const worker = async () => {
    for (let logical = todo.shift(); logical; logical = todo.shift()) {
      copies.set(logical, await compressed(outputs.get(logical), logical, cacheDir));
    }
  };
  await Promise.all([worker(), worker()]);
  return copies;
}

/** Drops cached compressions nobody used for 30 days (each use refreshes an entry's time). */
function pruneCache(cacheDir) {
  const old = Date.now() - 30 * 86_400_000;
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    // Another packaging may have pruned it already.
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < old) rmSync(path, { force: true });
  }
}

function assetManifest(files, names, outputs, copies) {
  const core = coreOf(files);
  const entries = {};
  for (const logical of [...outputs.keys()].sort()) {
    if (logical === SERVICE_WORKER) continue;
    const bytes = outputs.get(logical);
    const entry = { path: names.get(logical) ?? logical, bytes: bytes.length, sha256: sha256(bytes), core: core.has(logical) };
    if (copies.has(logical)) Object.assign(entry, { br: copies.get(logical).br.length, gzip: copies.get(logical).gz.length });
    entries[logical] = entry;
  }
  // The service worker's own code is part of the version too (its file list is filled in below).
  const worker = outputs.has(SERVICE_WORKER) ? sha256(outputs.get(SERVICE_WORKER)) : '';
  const version = sha256(JSON.stringify(entries) + worker).slice(0, HASH_CHARS);
  return { version, files: entries };
}

/** The service worker with its build's file list in place of its `const BUILD = null;` line. */
function serviceWorker(source, manifest) {
  if (!BUILD_LINE.test(source)) fail(`${SERVICE_WORKER}: no "const BUILD = null;" line to put the build's file list in`);
  const entries = Object.entries(manifest.files);
  const build = {
    version: manifest.version,
    core: entries.filter(([, f]) => f.core).map(([, f]) => [f.path, f.sha256]),
    // Hashed files never change: cached when first fetched, kept while a version lists them.
    lazy: entries.filter(([logical, f]) => !f.core && f.path !== logical).map(([, f]) => f.path),
  };
  return Buffer.from(source.replace(BUILD_LINE, `const BUILD = ${JSON.stringify(build)};`));
}

/** The folder's current contents match `manifest` (same version, every file present). */
function upToDate(out, manifest) {
  try {
    const current = JSON.parse(readFileSync(join(out, 'asset-manifest.json'), 'utf8'));
    return current.version === manifest.version
      && Object.values(manifest.files).every((f) => statSync(join(out, f.path)).size === f.bytes);
  } catch {
    return false;
  }
}

/** Writes everything to a fresh folder next to `out`, then swaps it in. */
function writeSite(out, outputs, names, copies) {
  const staging = `${out}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  for (const [logical, bytes] of outputs) {
    const path = join(staging, names.get(logical) ?? logical);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    if (!copies.has(logical)) continue;
    writeFileSync(`${path}.br`, copies.get(logical).br);
    writeFileSync(`${path}.gz`, copies.get(logical).gz);
  }
  // Another packaging may swap its folder in at the same moment: the last one to swap wins.
  const old = `${out}.old-${process.pid}`;
  for (let attempt = 1; ; attempt++) {
    try {
      if (existsSync(out)) renameSync(out, old);
      renameSync(staging, out);
      break;
    } catch (error) {
      if (attempt === 3 || !['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(error.code)) fail(`could not put ${out} in place: ${error.message}`);
    }
    rmSync(old, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
}

async function main() {
  const { from, out } = parseArgs(process.argv.slice(2));
  if (!existsSync(join(from, 'index.html'))) fail(`${from}/index.html not found`);
  const started = performance.now();
  const files = new Map();
  const all = listFiles(from);
  for (const logical of all) files.set(logical, { bytes: readFileSync(join(from, logical)) });
  const known = new Set(all);
  for (const [logical, file] of files) {
    const scanned = referencesOf(logical, file.bytes, known);
    if (scanned.error) fail(`${from}/${logical}: ${scanned.error}`);
    Object.assign(file, scanned);
  }
  const { names, outputs } = hashAll(files);
  const cacheDir = join(process.env.DIGIT_LAB_CACHE ?? join(homedir(), '.cache/digit-lab'), 'compressed');
  const copies = await compressAll(outputs, cacheDir);
  const manifest = assetManifest(files, names, outputs, copies);
  outputs.set('asset-manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
  if (outputs.has(SERVICE_WORKER)) outputs.set(SERVICE_WORKER, serviceWorker(outputs.get(SERVICE_WORKER).toString(), manifest));
  for (const logical of ['asset-manifest.json', SERVICE_WORKER]) {
    if (outputs.has(logical)) copies.set(logical, await compressed(outputs.get(logical), logical, cacheDir));
  }
  pruneCache(cacheDir);
  const ms = Math.round(performance.now() - started);
  if (upToDate(out, manifest)) {
    console.log(`package-web: ${out}/ is up to date (version ${manifest.version}, ${ms} ms)`);
    return;
  }
  writeSite(resolve(out), outputs, names, copies);
  const total = Object.values(manifest.files).reduce((s, f) => s + f.bytes, 0);
  console.log(`package-web: ${out}/ version ${manifest.version}: ${outputs.size} files, ${total} bytes, in ${Math.round(performance.now() - started)} ms`);
}

await main();
