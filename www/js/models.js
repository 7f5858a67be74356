// "Your models": models trained natively (`digit-lab train`/`publish`) brought into the page from
// their files: a weights directory's manifest.json and the .bpk weights files it lists, picked or
// dropped. The wasm API (ImportedModel) checks each one in Rust before it is used (manifest,
// SHA-256, architecture, weights); a model that loads is kept in IndexedDB, so it is there after
// a reload, until the user forgets it. Nothing leaves the browser.

import { ImportedModel } from './lab-client.js';
import { boundsOf } from './plot.js';

const $ = (id) => document.getElementById(id);
const DB = 'digit-lab';
const STORE = 'models';

/** The models' store, opened once. */
let opening = null;
function database() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'id' });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB cannot be opened'));
  });
  return opening;
}

/** Runs `work(store)` in one transaction; resolves to the request's result when it completes. */
async function transact(mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

const kept = {
  all: () => transact('readonly', (s) => s.getAll()),
  put: (record) => transact('readwrite', (s) => s.put(record)),
  remove: (id) => transact('readwrite', (s) => s.delete(id)),
};

/** The test metric of a published model, as the manifest records it. */
function metric(summary) {
  const test = summary.test;
  if (!test || typeof test !== 'object') return 'no test metrics (not published)';
  const parts = Object.entries(test)
    .filter(([, v]) => typeof v === 'number')
    .slice(0, 3)
    .map(([k, v]) => `${k} ${Math.abs(v) < 1 ? v.toFixed(4) : v.toFixed(1)}`);
  return parts.length ? `test ${parts.join(', ')}` : 'no test metrics';
}

const status = (text) => { $('models-status').textContent = text; };

function render(models) {
  $('models-empty').hidden = models.loaded.size > 0;
  document.body.dataset.importedModels = String(models.loaded.size);
}

function useForPredictions(page, models, id, on) {
  models.usedClassifier = on ? id : null;
  for (const [other, entry] of models.loaded) {
    const box = entry.row.querySelector('input[data-use]');
    if (box) box.checked = other === models.usedClassifier;
  }
  const entry = models.loaded.get(models.usedClassifier);
  page.useClassifier(entry ? (pixels) => entry.model.classify(pixels) : null, entry ? `${entry.summary.kind} from ${entry.summary.file}` : null);
}

/** A model with a 2-D code in the latent explorer: its codes of the bundled test digits as the
 * map, and it decodes the point clicked. */
async function showInExplorer(page, models, id, on) {
  const entry = models.loaded.get(id);
  for (const [other, e] of models.loaded) {
    const box = e.row.querySelector('input[data-explore]');
    if (box) box.checked = on && other === id;
  }
  if (!on || !entry) {
    if (models.shownInExplorer === id) { models.shownInExplorer = null; page.explorer.setCustom(null, false); }
    return;
  }
  const digits = page.maps?.digits ?? [];
  if (!digits.length) throw new Error('the bundled test digits (maps.json) are missing: the map cannot be drawn');
  const pixels = new Float32Array(digits.length * 784);
  digits.forEach((d, i) => pixels.set(Float32Array.from(d, (v) => v / 255), i * 784));
  const xy = Float32Array.from(await entry.model.encode(pixels));
  models.shownInExplorer = id;
  page.explorer.setCustom({
    name: `${entry.summary.kind} (${entry.summary.file})`,
    xy,
    labels: page.maps.digit_labels,
    bounds: boundsOf(xy),
    decode: (x, y) => entry.model.decode(x, y),
  }, true);
}

/** One line about a model: what it is, how it was trained, its test metric. */
function describeModel(summary) {
  const code = summary.code ? `, ${summary.code}-value code` : '';
  const h = summary.hyperparameters ?? {};
  const how = h.fine_tuned_from
    ? `fine-tuned from ${h.fine_tuned_from} on ${h.drawings} drawings (${h.steps} steps, ${h.layers === 'dense' ? 'dense layers' : 'last layer'}), ${(100 * Number(h.valid_accuracy)).toFixed(1)} % of ${h.valid_digits} validation digits`
    : `${metric(summary)}; trained ${summary.epochs} epochs`;
  return `${summary.kind} · ${summary.file} (${summary.family}${code}; ${how} on ${summary.backend || 'unknown backend'})`;
}

/** The model's row: its line, "use"/"explore" boxes where they apply, and Forget. */
function addRow(page, models, id, entry) {
  const { summary } = entry;
  const row = document.createElement('li');
  row.dataset.kind = summary.kind;
  const text = document.createElement('span');
  text.className = 'small';
  text.textContent = describeModel(summary);
  // Each row's box and button say which model they act on (every row has a "Forget").
  text.id = `model-${id}`;
  row.append(text);
  const option = (attr, label, onChange) => {
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset[attr] = id;
    box.setAttribute('aria-describedby', text.id);
    const wrap = document.createElement('label');
    wrap.className = 'small check';
    wrap.append(box, ` ${label}`);
    box.onchange = () => Promise.resolve(onChange(box.checked)).catch((e) => page.showError(e, 'models'));
    row.append(wrap);
  };
  if (summary.family === 'classifier') option('use', 'use for the prediction above', (on) => useForPredictions(page, models, id, on));
  if (summary.code === 2) option('explore', 'show in the latent explorer', (on) => showInExplorer(page, models, id, on));
  const forget = document.createElement('button');
  forget.type = 'button';
  forget.textContent = 'Forget';
  forget.dataset.forget = id;
  forget.setAttribute('aria-describedby', text.id);
  forget.onclick = () => forgetModel(page, models, id).catch((e) => page.showError(e, 'models'));
  row.append(forget);
  entry.row = row;
  $('models-list').append(row);
}

async function forgetModel(page, models, id) {
  const entry = models.loaded.get(id);
  if (!entry) return;
  if (models.usedClassifier === id) useForPredictions(page, models, id, false);
  if (models.shownInExplorer === id) await showInExplorer(page, models, id, false);
  models.loaded.delete(id);
  entry.row.remove();
  entry.model.free();
  await kept.remove(id);
  status(`Forgot ${entry.summary.kind} (${entry.summary.file}): it is no longer kept in this browser.`);
  render(models);
}

/** Checks and loads one model (in Rust); keeps it unless `keep` is false (already kept). */
async function load(page, models, record, keep) {
  const model = await ImportedModel.create('cpu', record.manifest, record.file, record.bytes);
  const summary = model.summary;
  const id = summary.sha256;
  if (models.loaded.has(id)) { model.free(); return { summary, again: true }; }
  const entry = { model, summary };
  models.loaded.set(id, entry);
  addRow(page, models, id, entry);
  if (keep) await kept.put({ ...record, id, kind: summary.kind, savedAt: new Date().toISOString() });
  render(models);
  return { summary, again: false };
}

/** The manifest.json and the .bpk files among files picked or dropped, or why they do not do. */
function sortFiles(files) {
  const list = [...files];
  const manifests = list.filter((f) => f.name.endsWith('.json'));
  const weights = list.filter((f) => f.name.endsWith('.bpk'));
  const other = list.filter((f) => !f.name.endsWith('.json') && !f.name.endsWith('.bpk'));
  if (other.length) throw new Error(`${other.map((f) => f.name).join(', ')}: not a manifest.json or a .bpk weights file`);
  if (manifests.length !== 1) {
    throw new Error(manifests.length
      ? `pick one manifest.json at a time, got ${manifests.map((f) => f.name).join(', ')}`
      : 'pick the manifest.json of the weights directory together with its .bpk file(s)');
  }
  if (!weights.length) throw new Error('pick the .bpk weights file(s) that manifest.json lists, together with it');
  return { manifest: manifests[0], weights };
}

/** Files picked or dropped: one manifest.json and the weights files it lists. */
async function importFiles(page, models, files) {
  const sorted = sortFiles(files);
  const manifest = await sorted.manifest.text();
  const done = [];
  const failed = [];
  for (const file of sorted.weights) {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const { summary, again } = await load(page, models, { manifest, file: file.name, bytes }, true);
      done.push(`${summary.kind}${again ? ' (already loaded)' : ''}`);
    } catch (e) {
      failed.push(e?.message ?? String(e));
    }
  }
  status(done.length ? `Loaded and kept in this browser: ${done.join(', ')}.` : '');
  document.body.dataset.importDone = String(Number(document.body.dataset.importDone ?? 0) + 1);
  if (failed.length) throw new Error(failed.join(' · '));
}

/** The file picker and dropping files on the panel. */
function wireImport(page, models) {
  const run = (files) => importFiles(page, models, files)
    .then(() => page.clearError('models'))
    .catch((e) => page.showError(e, 'models'));
  $('model-files').onchange = (e) => { run(e.target.files).finally(() => { e.target.value = ''; }); };
  const zone = $('models-panel');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dropping'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('dropping'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dropping');
    if (e.dataTransfer?.files?.length) run(e.dataTransfer.files);
  });
}

/** The models kept from earlier visits, checked again as they load. */
async function restoreKept(page, models) {
  let records = [];
  try {
    records = await kept.all();
  } catch (e) {
    status(`Models cannot be kept in this browser (IndexedDB: ${e?.message ?? e}).`);
    return;
  }
  for (const record of records) {
    try {
      await load(page, models, record, false);
    } catch (e) {
      page.showError(`a kept model (${record.file}) no longer loads and was forgotten: ${e?.message ?? e}`, 'models');
      await kept.remove(record.id).catch(() => {});
    }
  }
  if (records.length) status(`${records.length} model${records.length > 1 ? 's' : ''} kept from an earlier visit.`);
  document.body.dataset.modelsRestored = 'true';
  render(models);
}

/**
 * Wires the panel. `page`: { showError(error, source), clearError(source), maps, explorer,
 * useClassifier(fn | null) }.
 */
export function setupModels(page) {
  const models = {
    /** Loaded models by id (the weights' SHA-256): { model, summary, row }. */
    loaded: new Map(),
    usedClassifier: null,
    shownInExplorer: null,
  };
  wireImport(page, models);
  restoreKept(page, models);
  render(models);
  return {
    /** Checks, loads and keeps a model given as weights-directory files ({manifest, file, bytes}). */
    keep: async ({ manifest, file, bytes }) => {
      await load(page, models, { manifest, file, bytes }, true);
      page.clearError('models');
    },
  };
}
