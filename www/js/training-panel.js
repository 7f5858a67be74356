// The training panel: a ConvAE or VAE trained on 5,000 MNIST digits in the training worker, with
// its loss curves, latent map and reconstructions as they come, pause/resume/reset, and the
// model saved as weights-directory files or kept in the browser.

import { drawGrid, drawCurves, drawScatter, drawClassLabels, scaler, boundsOf } from './plot.js';
import { saveFiles } from './save-files.js';
import { announce } from './announce.js';

const $ = (id) => document.getElementById(id);

/** The settings' inputs, locked while a run exists. */
const INPUTS = ['t-model', 't-lr', 't-batch', 't-epochs', 't-code', 't-seed'];

function settingsFromForm() {
  const model = $('t-model').value;
  return {
    model,
    learningRate: Number($('t-lr').value),
    batchSize: Number($('t-batch').value),
    epochs: Number($('t-epochs').value),
    code: model === 'ae' ? Number($('t-code').value) : 2,
    seed: Number($('t-seed').value),
  };
}

const setButton = (label) => { $('t-start').textContent = label; };
const status = (text) => { $('t-status').textContent = text; };

function unlockSettings() {
  for (const id of INPUTS) $(id).disabled = false;
  $('t-code').disabled = $('t-model').value !== 'ae';
}

/** Significant digits of the losses: the VAE's −ELBO is in nats, the AE's MSE per pixel. */
const digits = (run) => (run.config?.model === 'vae' ? 1 : 4);

function drawLoss(run) {
  const unit = run.config?.model === 'vae' ? '−ELBO (nats)' : 'MSE per pixel';
  drawCurves($('t-loss'), [
    { label: 'train', color: '#0072b2', points: run.history.train },
    { label: 'validation', color: '#d55e00', points: run.history.valid },
  ], { yLabel: unit });
  const last = (points) => (points.length ? points.at(-1)[1].toFixed(digits(run)) : 'none yet');
  $('t-loss').setAttribute('aria-label', run.history.train.length
    ? `Loss curves (${unit}, log scale) by epoch: latest train loss ${last(run.history.train)}, validation loss ${last(run.history.valid)}`
    : 'Training and validation loss: none yet');
}

/** Where the worker trains, and why not on WebGPU when it does not. */
function showTrainingBackend(page, backend) {
  const where = 'in a worker';
  document.body.dataset.trainMeasured = backend.measured ? JSON.stringify(backend.measured) : '';
  if (backend.kind === 'webgpu') {
    $('t-backend').textContent = `WebGPU · ${backend.adapter} (${where}${backend.passedOver ? `; ${backend.passedOver}` : ''})`;
    $('t-backend').title = '';
  } else {
    // Not on WebGPU although the browser may have it: say why (a software adapter passed
    // over, or WebGPU failing to start in the worker).
    const reason = backend.passedOver ?? (page.prefer !== 'cpu' ? backend.reason : null);
    $('t-backend').textContent = `CPU (burn flex, wasm, ${where})${reason ? `: ${reason}` : ''}`;
    $('t-backend').title = backend.reason ?? '';
  }
  document.body.dataset.trainBackend = backend.kind;
}

/** An evaluation: the validation loss, the latent map, the reconstructions; the model can then
 * be explored and saved. */
function showEvaluation(page, run, m) {
  const gen = m.gen;
  run.history.valid.push([m.progress.epoch + m.progress.epochFraction, m.valid]);
  drawLoss(run);
  const bounds = boundsOf(m.xy);
  const canvas = $('t-map');
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const scale = scaler(bounds, canvas);
  drawScatter(ctx, m.xy, run.labels, scale, 1.6, 0.7);
  drawClassLabels(ctx, m.xy, run.labels, scale);
  $('t-map-caption').textContent = `1,000 validation digits${m.projected ? ' (first 2 principal components of the code)' : ''} · 5-NN accuracy ${(m.knn5 * 100).toFixed(1)}%`;
  canvas.setAttribute('aria-label', `Latent map: ${$('t-map-caption').textContent}, a dot per digit coloured by its label, each class's numeral at its centre`);
  drawGrid($('t-recon'), m.recon, 16, 8);
  $('t-valid').textContent = m.valid.toFixed(digits(run));
  // The freshly trained model can be explored next to the bundled ones, and saved.
  for (const id of ['t-explorer', 't-download', 't-keep']) $(id).disabled = false;
  page.explorer.setCustom({
    name: run.config.model === 'vae' ? 'your VAE' : 'your ConvAE',
    xy: m.xy,
    labels: run.labels,
    bounds,
    decode: (x, y) => run.worker.request('decode', { gen, x, y }),
  }, $('t-explorer').checked);
  document.body.dataset.trainEvals = String(Number(document.body.dataset.trainEvals ?? 0) + 1);
}

function showProgress(run, m) {
  const r = m.report;
  if (r.loss != null) run.history.train.push([r.epoch + r.epochFraction, r.loss]);
  $('t-rate').textContent = `${Math.round(m.rate).toLocaleString('en')} samples/s`;
  $('t-epoch').textContent = `${(r.epoch + r.epochFraction).toFixed(2)} / ${run.config.epochs}`;
  $('t-train').textContent = r.loss?.toFixed(digits(run)) ?? '–';
  // A screen reader hears each finished epoch, not every progress report.
  if (r.epoch > (run.epochSpoken ?? 0) && r.epoch < run.config.epochs) {
    run.epochSpoken = r.epoch;
    announce(`Epoch ${r.epoch} of ${run.config.epochs} done${r.loss != null ? `, train loss ${r.loss.toFixed(digits(run))}` : ''}.`);
  }
  run.trainMs = m.trainMs;
  document.body.dataset.trainRate = String(Math.round(m.rate));
  document.body.dataset.trainSteps = String(r.steps);
  drawLoss(run);
}

/** What the worker's training loop reports. */
function onEvent(page, run, m) {
  if (m.event === 'loops') {
    // Test hooks: loops running now, and the most that ever ran at once (must stay 1).
    document.body.dataset.trainLoops = String(m.loops);
    document.body.dataset.trainLoopsMax = String(m.loopsMax);
    return;
  }
  // The worker itself failed: nothing of it works any more.
  if (m.event === 'error' && m.gen === null) {
    run.running = false;
    run.creating = false;
    $('t-start').disabled = true;
    status('');
    page.showError(m.message, 'train');
    return;
  }
  if (m.gen !== run.generation) return; // news of a run that was reset meanwhile
  if (m.event === 'created') {
    run.config = m.config;
    run.labels = m.validLabels;
    run.history = { train: [], valid: [] };
    showTrainingBackend(page, m.backend);
  } else if (m.event === 'eval') {
    showEvaluation(page, run, m);
  } else if (m.event === 'progress') {
    showProgress(run, m);
  } else if (m.event === 'done') {
    run.running = false;
    setButton('Done');
    $('t-start').disabled = true;
    status('Finished. Explore your model in the latent explorer, or reset to train again.');
  } else if (m.event === 'error') {
    run.running = false;
    setButton('Resume');
    status('');
    page.showError(m.message, 'train');
  }
}

/** Start: a new run in the worker (the settings locked meanwhile), or the paused one resumed. */
function start(page, run) {
  if (run.created) {
    run.running = true;
    setButton('Pause');
    status('Training…');
    page.clearError('train');
    const gen = run.generation;
    run.worker.request('resume').then((r) => {
      if (gen === run.generation && r.done) onEvent(page, run, { event: 'done', gen });
    }, (e) => { if (gen === run.generation) page.showError(e, 'train'); });
    return;
  }
  if (run.creating) return;
  const gen = run.generation;
  run.creating = true;
  // The button is off while the run is made, which drops the keyboard's focus: it comes back.
  const focused = document.activeElement === $('t-start');
  status(page.prefer === 'auto' ? 'Preparing (the first run of each model times a few steps on each backend)…' : 'Preparing…');
  // No second run while this one is being made.
  $('t-start').disabled = true;
  for (const id of INPUTS) $(id).disabled = true;
  // `?measure=all`: time training on a software WebGPU adapter too (it is still not chosen).
  const measureSoftware = new URLSearchParams(location.search).get('measure') === 'all';
  run.worker.request('create', { gen, prefer: page.prefer, config: settingsFromForm(), measureSoftware }).then((info) => {
    if (gen !== run.generation || info.stale) return; // reset while it was being made
    run.creating = false;
    run.created = true;
    run.running = true;
    page.clearError('train');
    $('t-start').disabled = false;
    if (focused && document.activeElement === document.body) $('t-start').focus();
    setButton('Pause');
    status('Training…');
  }, (e) => {
    if (gen !== run.generation) return;
    run.creating = false;
    status('');
    $('t-start').disabled = false;
    unlockSettings();
    page.showError(e, 'train');
  });
}

function pause(page, run) {
  run.running = false;
  setButton('Resume');
  status('Paused: the model keeps its state; resume to continue.');
  run.worker.request('pause').catch((e) => page.showError(e, 'train'));
}

/** Forgets the run: a new generation, whose news alone the panel takes. */
function reset(page, run) {
  run.running = false;
  run.created = false;
  run.creating = false;
  run.generation++;
  run.worker?.request('reset', { gen: run.generation }).catch((e) => page.showError(e, 'train'));
  run.history = { train: [], valid: [] };
  run.config = null;
  run.epochSpoken = 0;
  drawLoss(run);
  unlockSettings();
  $('t-start').disabled = false;
  setButton('Start');
  status('');
  page.clearError('train');
  for (const id of ['t-rate', 't-epoch', 't-train', 't-valid']) $(id).textContent = '–';
  for (const id of ['t-map', 't-recon']) {
    const c = $(id);
    c.getContext('2d').clearRect(0, 0, c.width, c.height);
  }
  $('t-map').setAttribute('aria-label', 'Latent map of the validation digits: none yet');
  for (const id of ['t-explorer', 't-download', 't-keep']) $(id).disabled = true;
  $('t-explorer').checked = false;
  run.trainMs = 0;
  page.explorer.setCustom(null, false);
}

/** The run's model as weights-directory files (a paused or running run: between chunks). */
const exportFiles = (run) => run.worker.request('exportFiles', { gen: run.generation, trainSeconds: run.trainMs / 1000 });

async function download(run) {
  const { file } = saveFiles(await exportFiles(run));
  status(`Saved manifest.json and ${file}: put both in one folder, then run digit-lab eval --weights FOLDER.`);
}

async function keep(page, run) {
  const files = await exportFiles(run);
  await page.models.keep(files);
  status(`Kept ${files.file} in this browser: it is under Your models, also after a reload.`);
}

/**
 * Wires the panel. `page`: { prefer, showError, clearError, explorer, models }. Returns
 * { ready(worker), onEvent(message) }: the panel works once the training worker is ready.
 */
export function trainingPanel(page) {
  const run = {
    worker: null,
    /** Counts resets: news from the worker about an older run is dropped. */
    generation: 0,
    /** Whether the worker holds a run of this generation, and whether one is being made. */
    created: false,
    creating: false,
    /** Whether the user wants training to run (Start/Resume pressed, not paused). */
    running: false,
    config: null,
    labels: null,
    /** Training time of the run so far, for the saved manifest. */
    trainMs: 0,
    history: { train: [], valid: [] },
  };
  $('t-start').onclick = () => (run.running ? pause(page, run) : start(page, run));
  $('t-reset').onclick = () => reset(page, run);
  $('t-download').onclick = () => download(run).catch((e) => page.showError(e, 'train'));
  $('t-keep').onclick = () => keep(page, run).catch((e) => page.showError(e, 'train'));
  $('t-model').onchange = () => {
    $('t-code').disabled = $('t-model').value !== 'ae';
    // Sensible starting points for each model.
    $('t-lr').value = $('t-model').value === 'vae' ? '0.003' : '0.005';
  };
  $('t-explorer').onchange = () => page.explorer.showCustom($('t-explorer').checked);
  // The (empty) loss chart is drawn when the panel opens, not at the page's start.
  const ready = (w) => {
    run.worker = w;
    drawLoss(run);
    // The open button is hidden now, which dropped the keyboard's focus: on to the settings.
    if (document.activeElement === document.body) $('t-model').focus();
  };
  return { ready, onEvent: (m) => onEvent(page, run, m) };
}
