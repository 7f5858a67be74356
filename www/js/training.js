// The training mode: trains a ConvAE or VAE on 5,000 MNIST digits, and fine-tunes the classifier
// on the user's own drawings. Both run in a dedicated module worker (train-worker.js) that loads
// the training bundle (www/pkg-full) and the digits only when the user opens this mode, so the
// page's main thread stays free for drawing while a model trains. This file keeps the panels and
// sends the worker what the user asks for; the worker owns the one training loop, so pause,
// resume and reset in any rhythm never start a second one.

import { PIXELS, drawGrid, drawCurves, drawScatter, scaler, boundsOf, showDigit } from './plot.js';
import { startTrainingWorker } from './worker-client.js';
import { bundledWeights } from '../pkg/digit_lab.js';

const $ = (id) => document.getElementById(id);

/**
 * Wires the training panel and the handwriting panel.
 * `page`: { prefer, showError(error, source), clearError(source), getDrawing(), clearPad(), explorer,
 *   useClassifier(fn | null) }.
 */
export function setupTraining(page) {
  let worker = null;
  const listeners = [];
  const train = trainingPanel(page);
  const teach = teachPanel(page);
  listeners.push(train.onEvent);
  $('train-open').onclick = async () => {
    $('train-open').disabled = true;
    $('train-open').textContent = 'Loading the training code and 5,000 digits…';
    try {
      worker ??= startTrainingWorker((message) => { for (const l of listeners) l(message); });
      // The handwriting tuner starts from the bundled classifier: the worker's training bundle
      // carries no weights, so it gets the first-load bundle's.
      const { loadMs } = await worker.request('load', { weights: bundledWeights() });
      $('train-ui').hidden = false;
      $('teach-ui').hidden = false;
      $('train-open').hidden = true;
      $('train-loaded').textContent = `Training code and digits loaded in ${(loadMs / 1000).toFixed(1)} s, in a worker: the page stays responsive while a model trains.`;
      document.body.dataset.training = 'open';
      train.ready(worker);
      teach.ready(worker);
    } catch (e) {
      worker = null;
      $('train-open').disabled = false;
      $('train-open').textContent = 'Open training mode';
      page.showError(e, 'train');
    }
  };
  const quietly = (op, args) => worker?.request(op, args).catch((e) => console.warn(e));
  return {
    /** The user started drawing and the page answers on `device`: the worker yields its WebGPU
     * device to the page's answer (up to 5 s, or until `release`) when it trains on it too. */
    hold: (device) => quietly('hold', { ms: 5000, device }),
    release: () => quietly('release'),
  };
}

function trainingPanel(page) {
  let worker = null;
  /** Counts resets: news from the worker about an older run is dropped. */
  let generation = 0;
  /** Whether the worker holds a run of this generation, and whether one is being made. */
  let created = false;
  let creating = false;
  /** Whether the user wants training to run (Start/Resume pressed, not paused). */
  let running = false;
  let config = null;
  let labels = null;
  /** Training time of the run so far, for the saved manifest. */
  let trainMs = 0;
  let history = { train: [], valid: [] };
  const inputs = ['t-model', 't-lr', 't-batch', 't-epochs', 't-code', 't-seed'];

  const settings = () => {
    const model = $('t-model').value;
    return {
      model,
      learningRate: Number($('t-lr').value),
      batchSize: Number($('t-batch').value),
      epochs: Number($('t-epochs').value),
      code: model === 'ae' ? Number($('t-code').value) : 2,
      seed: Number($('t-seed').value),
    };
  };
  const setButton = (label) => { $('t-start').textContent = label; };
  const status = (text) => { $('t-status').textContent = text; };
  const digits = () => (config?.model === 'vae' ? 1 : 4);

  function drawLoss() {
    const unit = config?.model === 'vae' ? '−ELBO (nats)' : 'MSE per pixel';
    drawCurves($('t-loss'), [
      { label: 'train', color: '#0072b2', points: history.train },
      { label: 'validation', color: '#d55e00', points: history.valid },
    ], { yLabel: unit });
  }

  function showBackend(backend) {
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

  function showEvaluation(m) {
    const gen = m.gen;
    history.valid.push([m.progress.epoch + m.progress.epochFraction, m.valid]);
    drawLoss();
    const bounds = boundsOf(m.xy);
    const canvas = $('t-map');
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawScatter(ctx, m.xy, labels, scaler(bounds, canvas), 1.6, 0.7);
    $('t-map-caption').textContent = `1,000 validation digits${m.projected ? ' (first 2 principal components of the code)' : ''} · 5-NN accuracy ${(m.knn5 * 100).toFixed(1)}%`;
    drawGrid($('t-recon'), m.recon, 16, 8);
    $('t-valid').textContent = m.valid.toFixed(digits());
    // The freshly trained model can be explored next to the bundled ones, and saved.
    $('t-explorer').disabled = false;
    $('t-download').disabled = false;
    $('t-keep').disabled = false;
    page.explorer.setCustom({
      name: config.model === 'vae' ? 'your VAE' : 'your ConvAE',
      xy: m.xy,
      labels,
      bounds,
      decode: (x, y) => worker.request('decode', { gen, x, y }),
    }, $('t-explorer').checked);
    document.body.dataset.trainEvals = String(Number(document.body.dataset.trainEvals ?? 0) + 1);
  }

  function onEvent(m) {
    if (m.event === 'loops') {
      // Test hooks: loops running now, and the most that ever ran at once (must stay 1).
      document.body.dataset.trainLoops = String(m.loops);
      document.body.dataset.trainLoopsMax = String(m.loopsMax);
      return;
    }
    // The worker itself failed: nothing of it works any more.
    if (m.event === 'error' && m.gen === null) {
      running = false;
      creating = false;
      $('t-start').disabled = true;
      status('');
      page.showError(m.message, 'train');
      return;
    }
    if (m.gen !== generation) return; // news of a run that was reset meanwhile
    switch (m.event) {
      case 'created':
        config = m.config;
        labels = m.validLabels;
        history = { train: [], valid: [] };
        showBackend(m.backend);
        break;
      case 'eval':
        showEvaluation(m);
        break;
      case 'progress': {
        const r = m.report;
        if (r.loss != null) history.train.push([r.epoch + r.epochFraction, r.loss]);
        $('t-rate').textContent = `${Math.round(m.rate).toLocaleString('en')} samples/s`;
        $('t-epoch').textContent = `${(r.epoch + r.epochFraction).toFixed(2)} / ${config.epochs}`;
        $('t-train').textContent = r.loss?.toFixed(digits()) ?? '–';
        trainMs = m.trainMs;
        document.body.dataset.trainRate = String(Math.round(m.rate));
        document.body.dataset.trainSteps = String(r.steps);
        drawLoss();
        break;
      }
      case 'done':
        running = false;
        setButton('Done');
        $('t-start').disabled = true;
        status('Finished. Explore your model in the latent explorer, or reset to train again.');
        break;
      case 'error':
        running = false;
        setButton('Resume');
        status('');
        page.showError(m.message, 'train');
        break;
      default:
        break;
    }
  }

  function start() {
    if (created) {
      running = true;
      setButton('Pause');
      status('Training…');
      page.clearError('train');
      const gen = generation;
      worker.request('resume').then((r) => {
        if (gen === generation && r.done) onEvent({ event: 'done', gen });
      }, (e) => { if (gen === generation) page.showError(e, 'train'); });
      return;
    }
    if (creating) return;
    const gen = generation;
    creating = true;
    status(page.prefer === 'auto' ? 'Preparing (the first run of each model times a few steps on each backend)…' : 'Preparing…');
    // No second run while this one is being made.
    $('t-start').disabled = true;
    for (const id of inputs) $(id).disabled = true;
    // `?measure=all`: time training on a software WebGPU adapter too (it is still not chosen).
    const measureSoftware = new URLSearchParams(location.search).get('measure') === 'all';
    worker.request('create', { gen, prefer: page.prefer, config: settings(), measureSoftware }).then((info) => {
      if (gen !== generation || info.stale) return; // reset while it was being made
      creating = false;
      created = true;
      running = true;
      page.clearError('train');
      $('t-start').disabled = false;
      setButton('Pause');
      status('Training…');
    }, (e) => {
      if (gen !== generation) return;
      creating = false;
      status('');
      $('t-start').disabled = false;
      for (const id of inputs) $(id).disabled = false;
      $('t-code').disabled = $('t-model').value !== 'ae';
      page.showError(e, 'train');
    });
  }

  function pause() {
    running = false;
    setButton('Resume');
    status('Paused: the model keeps its state; resume to continue.');
    worker.request('pause').catch((e) => page.showError(e, 'train'));
  }

  function reset() {
    running = false;
    created = false;
    creating = false;
    generation++;
    worker?.request('reset', { gen: generation }).catch((e) => page.showError(e, 'train'));
    history = { train: [], valid: [] };
    config = null;
    drawLoss();
    for (const id of inputs) $(id).disabled = false;
    $('t-code').disabled = $('t-model').value !== 'ae';
    $('t-start').disabled = false;
    setButton('Start');
    status('');
    page.clearError('train');
    for (const id of ['t-rate', 't-epoch', 't-train', 't-valid']) $(id).textContent = '–';
    for (const id of ['t-map', 't-recon']) {
      const c = $(id);
      c.getContext('2d').clearRect(0, 0, c.width, c.height);
    }
    $('t-explorer').disabled = true;
    $('t-explorer').checked = false;
    $('t-download').disabled = true;
    $('t-keep').disabled = true;
    trainMs = 0;
    page.explorer.setCustom(null, false);
  }

  /** The run's model as weights-directory files (a paused or running run: between chunks). */
  const exportFiles = () => worker.request('exportFiles', { gen: generation, trainSeconds: trainMs / 1000 });

  async function download() {
    const { file } = saveFiles(await exportFiles());
    status(`Saved manifest.json and ${file}: put both in one folder, then run digit-lab eval --weights FOLDER.`);
  }

  async function keep() {
    const files = await exportFiles();
    await page.models.keep(files);
    status(`Kept ${files.file} in this browser: it is under Your models, also after a reload.`);
  }

  $('t-start').onclick = () => (running ? pause() : start());
  $('t-reset').onclick = reset;
  $('t-download').onclick = () => download().catch((e) => page.showError(e, 'train'));
  $('t-keep').onclick = () => keep().catch((e) => page.showError(e, 'train'));
  $('t-model').onchange = () => {
    $('t-code').disabled = $('t-model').value !== 'ae';
    // Sensible starting points for each model.
    $('t-lr').value = $('t-model').value === 'vae' ? '0.003' : '0.005';
  };
  $('t-explorer').onchange = () => page.explorer.showCustom($('t-explorer').checked);
  drawLoss();
  return { ready: (w) => { worker = w; }, onEvent };
}

/** Saves a model's weights-directory files ({manifest, file, bytes}) as two downloads. */
function saveFiles(files) {
  const { manifest, file, bytes } = files;
  for (const [name, blob] of [['manifest.json', new Blob([manifest], { type: 'application/json' })], [file, new Blob([bytes])]]) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }
  return files;
}

/** Examples of the user's digits: every third drawing of a digit is held out for testing. */
function teachPanel(page) {
  let worker = null;
  /** Whether the worker's tuner has learnt something (since the last clear or change of layers). */
  let tuned = false;
  /** Milliseconds spent fine-tuning since then (the exported manifest's train_seconds). */
  let tunedMs = 0;
  const examples = []; // { pixels: Float32Array, label, heldOut }

  const split = () => ({
    train: examples.filter((e) => !e.heldOut),
    test: examples.filter((e) => e.heldOut),
  });
  const stack = (list) => {
    const pixels = new Float32Array(list.length * PIXELS);
    list.forEach((e, i) => pixels.set(e.pixels, i * PIXELS));
    return pixels;
  };
  const accuracy = (probs, list) => list.filter((e, i) => {
    const row = Array.from(probs.slice(i * 10, i * 10 + 10));
    return row.indexOf(Math.max(...row)) === e.label;
  }).length;
  /** The tuner in the worker: which backend and layers it is made with. */
  const tunerArgs = () => ({ prefer: page.prefer, layers: $('teach-layers').value });

  function render() {
    const { train, test } = split();
    $('teach-counts').textContent = examples.length
      ? `${examples.length} drawings: ${train.length} to learn from, ${test.length} held out to test (every third of each digit).`
      : 'No drawings yet: draw a digit above, then press its number here.';
    const box = $('teach-examples');
    box.replaceChildren(...examples.map((e) => {
      const figure = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 28;
      canvas.className = `pixel${e.heldOut ? ' held-out' : ''}`;
      canvas.title = e.heldOut ? `held-out ${e.label}` : `${e.label}`;
      showDigit(canvas, e.pixels);
      const caption = document.createElement('figcaption');
      caption.textContent = e.heldOut ? `${e.label} · test` : String(e.label);
      figure.append(canvas, caption);
      return figure;
    }));
    $('teach-fit').disabled = !worker || train.length === 0;
    $('teach-clear').disabled = examples.length === 0;
  }

  async function fit() {
    const { train, test } = split();
    $('teach-fit').disabled = true;
    $('teach-result').textContent = 'Fine-tuning…';
    try {
      const score = async (list, bundled) => (list.length
        ? accuracy(await worker.request('probabilities', { ...tunerArgs(), images: stack(list), bundled }), list) : 0);
      const before = { train: await score(train, true), test: await score(test, true) };
      const { loss, steps, ms } = await worker.request('fit', {
        ...tunerArgs(),
        images: stack(train),
        labels: Uint8Array.from(train.map((e) => e.label)),
        steps: Number($('teach-steps').value),
        learningRate: 0.003,
      });
      tuned = true;
      tunedMs += ms;
      const after = { train: await score(train, false), test: await score(test, false) };
      const line = (name, list, key) => (list.length ? `${name}: ${before[key]}/${list.length} → ${after[key]}/${list.length}` : `${name}: none yet`);
      $('teach-result').textContent = `Bundled → fine-tuned classifier. ${line('Held-out drawings', test, 'test')} · ${line('drawings learnt from', train, 'train')} · ${steps} steps so far (last cross-entropy ${loss.toPrecision(2)}, ${Math.round(ms)} ms).`;
      $('teach-use').disabled = false;
      $('teach-download').disabled = false;
      $('teach-keep').disabled = false;
      document.body.dataset.teachDone = String(Number(document.body.dataset.teachDone ?? 0) + 1);
      page.clearError('teach');
    } catch (e) {
      $('teach-result').textContent = '';
      page.showError(e, 'teach');
    }
    render();
  }

  /** Back to the bundled classifier for the predictions (and nothing fine-tuned to save). */
  function stopUsing() {
    $('teach-use').checked = false;
    $('teach-use').disabled = true;
    $('teach-download').disabled = true;
    $('teach-keep').disabled = true;
    tunedMs = 0;
    page.useClassifier(null);
  }

  /** The fine-tuned classifier as weights-directory files, with its MNIST validation figures. */
  const exportTuned = () => worker.request('tunerExport', { ...tunerArgs(), trainSeconds: tunedMs / 1000 });
  const validation = (files) => {
    const entry = JSON.parse(files.manifest).models.classifier_best;
    const h = entry.hyperparameters;
    return `on ${h.valid_digits} MNIST validation digits it reads ${(100 * h.valid_accuracy).toFixed(1)} % right (cross-entropy ${entry.best_valid_loss.toFixed(3)})`;
  };
  async function downloadTuned() {
    const files = saveFiles(await exportTuned());
    $('teach-saved').textContent = `Saved manifest.json and ${files.file}; ${validation(files)}. Put both in one folder, then run digit-lab predict --model classifier-best --weights FOLDER --images FILE.`;
    page.clearError('teach');
  }
  async function keepTuned() {
    const files = await exportTuned();
    await page.models.keep(files);
    $('teach-saved').textContent = `Kept ${files.file} in this browser (under Your models, also after a reload); ${validation(files)}.`;
    page.clearError('teach');
  }
  $('teach-download').onclick = () => downloadTuned().catch((e) => page.showError(e, 'teach'));
  $('teach-keep').onclick = () => keepTuned().catch((e) => page.showError(e, 'teach'));

  for (let d = 0; d <= 9; d++) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = String(d);
    button.dataset.digit = String(d);
    button.title = `Add the current drawing as an example of ${d}`;
    button.onclick = () => {
      const pixels = page.getDrawing();
      if (!pixels) { page.showError('draw a digit first, then press its number', 'teach'); return; }
      page.clearError('teach');
      const sameDigit = examples.filter((e) => e.label === d).length;
      examples.push({ pixels: Float32Array.from(pixels), label: d, heldOut: sameDigit % 3 === 2 });
      page.clearPad();
      render();
    };
    $('teach-digits').append(button);
  }
  $('teach-fit').onclick = fit;
  $('teach-clear').onclick = () => {
    examples.length = 0;
    // The worker runs this after a fine-tuning still running (the tuner refuses overlaps).
    if (tuned) worker.request('tunerReset').catch((e) => page.showError(e, 'teach'));
    tuned = false;
    stopUsing();
    $('teach-result').textContent = 'Your drawings are gone and the classifier is back to the bundled one.';
    render();
  };
  $('teach-layers').onchange = () => {
    // Another choice of layers is another fine-tuning run.
    worker?.request('tunerDrop').catch((e) => console.warn(e));
    tuned = false;
    stopUsing();
  };
  $('teach-use').onchange = () => {
    page.useClassifier($('teach-use').checked && tuned
      ? (pixels) => worker.request('probabilities', { ...tunerArgs(), images: Float32Array.from(pixels), bundled: false }).then((p) => Array.from(p))
      : null);
  };
  render();
  return { ready: (w) => { worker = w; render(); } };
}
