// The training mode: trains a ConvAE or VAE on 5,000 MNIST digits in the page, and fine-tunes
// the classifier on the user's own drawings. The training code (autodiff + optimiser, in the
// full bundle) and the digits are fetched only when the user opens this mode (or, for the
// bundle, after the first result on a WebGPU browser), never with the first load.
// Training runs in short chunks of steps with a yield to the event loop after each, so the page
// stays responsive; all model work goes through the wasm API (LiveTraining, HandwritingTuner).
// One training loop at most: pause, resume and reset in any rhythm never start a second one
// while a chunk is still running (the wasm objects also refuse overlapping calls as "busy").

import { PIXELS, drawGrid, drawCurves, drawScatter, scaler, boundsOf, showDigit } from './plot.js';
import { loadFullBundle } from './full-bundle.js';

const $ = (id) => document.getElementById(id);
const TRAIN_DIGITS = 5000;
/** Aim for chunks of about this many milliseconds between yields to the page. */
const CHUNK_MS = 120;
/** Evaluate (validation loss, map, reconstructions) at most this often while training. */
const EVAL_EVERY_MS = 1500;

let bundle = null;
/** Loads the training bundle and the subset once; later calls share the same promise. */
function loadBundle(prefer) {
  bundle ??= (async () => {
    const t0 = performance.now();
    const [module, images, labels] = await Promise.all([
      loadFullBundle(),
      fetchBytes('data/mnist-subset-images.idx.gz'),
      fetchBytes('data/mnist-subset-labels.idx.gz'),
    ]);
    return { module, images, labels, prefer, loadMs: performance.now() - t0 };
  })();
  return bundle;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Calls on a wasm training object must not overlap (the object refuses a call while another is
 * pending, as "busy"): returns a function that runs tasks one after another.
 */
function serial() {
  let tail = Promise.resolve();
  return (task) => {
    const result = tail.then(task);
    tail = result.catch(() => {});
    return result;
  };
}

/**
 * Wires the training panel and the handwriting panel.
 * `page`: { prefer, showError(error, source), clearError(source), getDrawing(), clearPad(), explorer,
 *   useClassifier(fn | null) }.
 */
export function setupTraining(page) {
  const train = trainingPanel(page);
  const teach = teachPanel(page);
  $('train-open').onclick = async () => {
    $('train-open').disabled = true;
    $('train-open').textContent = 'Loading the training code and 5,000 digits…';
    try {
      const b = await loadBundle(page.prefer);
      $('train-ui').hidden = false;
      $('teach-ui').hidden = false;
      $('train-open').hidden = true;
      $('train-loaded').textContent = `Training code and digits loaded in ${(b.loadMs / 1000).toFixed(1)} s.`;
      document.body.dataset.training = 'open';
      train.ready(b);
      teach.ready(b);
    } catch (e) {
      $('train-open').disabled = false;
      $('train-open').textContent = 'Open training mode';
      page.showError(e, 'train');
    }
  };
}

function trainingPanel(page) {
  let b = null;
  let session = null;
  let queue = serial();
  /** Whether the user wants training to run (Start/Resume pressed, not paused). */
  let running = false;
  /** The training loop's promise while one runs: there is never a second. */
  let loopDone = null;
  /** Counts resets (and starts): work begun for an older session is dropped. */
  let generation = 0;
  let loops = 0;
  let history = { train: [], valid: [] };
  let lastEval = 0;
  let lastEpoch = 0;
  let chunk = 2;
  let throughput = { samples: 0, ms: 0 };
  let labels = null;

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

  function drawLoss() {
    const unit = session?.config.model === 'vae' ? '−ELBO (nats)' : 'MSE per pixel';
    drawCurves($('t-loss'), [
      { label: 'train', color: '#0072b2', points: history.train },
      { label: 'validation', color: '#d55e00', points: history.valid },
    ], { yLabel: unit });
  }

  async function evaluate() {
    const s = session;
    const q = queue;
    const [valid, map, recon] = await q(async () => [await s.validate(), await s.latentMap(), await s.reconstructions()]);
    if (s !== session) return;
    const p = s.progress;
    history.valid.push([p.epoch + p.epochFraction, valid]);
    drawLoss();
    const bounds = boundsOf(map.xy);
    const canvas = $('t-map');
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawScatter(ctx, map.xy, labels, scaler(bounds, canvas), 1.6, 0.7);
    $('t-map-caption').textContent = `1,000 validation digits${map.projected ? ' (first 2 principal components of the code)' : ''} · 5-NN accuracy ${(map.knn5 * 100).toFixed(1)}%`;
    drawGrid($('t-recon'), recon, 16, 8);
    $('t-valid').textContent = valid.toFixed(s.config.model === 'vae' ? 1 : 4);
    // The freshly trained model can be explored next to the bundled ones.
    $('t-explorer').disabled = false;
    page.explorer.setCustom({
      name: s.config.model === 'vae' ? 'your VAE' : 'your ConvAE',
      xy: map.xy,
      labels,
      bounds,
      decode: (x, y) => q(() => s.decode(x, y)),
    }, $('t-explorer').checked);
    document.body.dataset.trainEvals = String(Number(document.body.dataset.trainEvals ?? 0) + 1);
  }

  async function loop() {
    // A test hook: how many loops ever ran at once (must stay 1).
    loops++;
    document.body.dataset.trainLoops = String(loops);
    document.body.dataset.trainLoopsMax = String(Math.max(loops, Number(document.body.dataset.trainLoopsMax ?? 0)));
    try {
      while (running && session && !session.progress.done) {
        const s = session;
        const q = queue;
        const t0 = performance.now();
        const report = await q(() => s.train(chunk));
        const ms = performance.now() - t0;
        if (s !== session) return;
        throughput = { samples: throughput.samples + report.ran * s.config.batchSize, ms: throughput.ms + ms };
        // Keep each chunk near CHUNK_MS so the page stays responsive on slow backends.
        chunk = Math.max(1, Math.min(200, Math.round(chunk * Math.min(2, Math.max(0.5, CHUNK_MS / Math.max(ms, 1))))));
        if (report.loss != null) history.train.push([report.epoch + report.epochFraction, report.loss]);
        const rate = throughput.samples / (throughput.ms / 1000);
        $('t-rate').textContent = `${Math.round(rate).toLocaleString('en')} samples/s`;
        $('t-epoch').textContent = `${(report.epoch + report.epochFraction).toFixed(2)} / ${s.config.epochs}`;
        $('t-train').textContent = report.loss?.toFixed(s.config.model === 'vae' ? 1 : 4) ?? '–';
        document.body.dataset.trainRate = String(Math.round(rate));
        document.body.dataset.trainSteps = String(report.steps);
        // Evaluate at every epoch's end (the validation curve's points) and every so often.
        const epochEnded = report.epoch !== lastEpoch;
        lastEpoch = report.epoch;
        if (report.done || epochEnded || performance.now() - lastEval > EVAL_EVERY_MS) {
          lastEval = performance.now();
          await evaluate();
          if (s !== session) return;
        } else {
          drawLoss();
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      if (session?.progress.done) {
        running = false;
        setButton('Done');
        $('t-start').disabled = true;
        status('Finished. Explore your model in the latent explorer, or reset to train again.');
      }
    } finally {
      loops--;
      document.body.dataset.trainLoops = String(loops);
    }
  }

  /** Starts the loop unless one is running: a running loop sees `running` and carries on. */
  function ensureLoop() {
    if (loopDone) return;
    const gen = generation;
    loopDone = loop()
      .catch((e) => {
        if (gen !== generation) return; // an error of a session that was reset meanwhile
        running = false;
        setButton('Resume');
        status('');
        page.showError(e, 'train');
      })
      .finally(() => {
        loopDone = null;
        // Resumed (or restarted after a reset) just as the previous loop was ending.
        if (running && session && !session.progress.done) ensureLoop();
      });
  }

  async function start() {
    if (!session) {
      const gen = ++generation;
      const config = settings();
      status('Preparing…');
      // No second session while this one is being made.
      $('t-start').disabled = true;
      let created;
      try {
        created = await b.module.LiveTraining.create(b.prefer, b.images, b.labels, config);
      } catch (e) {
        if (gen === generation) {
          status('');
          $('t-start').disabled = false;
          page.showError(e, 'train');
        }
        return;
      }
      if (gen !== generation) { created.free(); return; } // reset while it was being made
      page.clearError('train');
      session = created;
      queue = serial();
      labels = session.validLabels;
      history = { train: [], valid: [] };
      throughput = { samples: 0, ms: 0 };
      lastEpoch = 0;
      chunk = 2;
      const backend = session.backend;
      $('t-backend').textContent = backend.kind === 'webgpu' ? `WebGPU · ${backend.adapter}` : 'CPU (burn flex, wasm)';
      for (const id of ['t-model', 't-lr', 't-batch', 't-epochs', 't-code', 't-seed']) $(id).disabled = true;
      try {
        await evaluate(); // the untrained model: the curves start at epoch 0
      } catch (e) {
        if (gen === generation) page.showError(e, 'train');
      }
      if (gen !== generation) return;
      $('t-start').disabled = false;
    }
    running = true;
    setButton('Pause');
    status('Training…');
    ensureLoop();
  }

  function pause() {
    running = false;
    setButton('Resume');
    status('Paused: the model keeps its state; resume to continue.');
  }

  function reset() {
    running = false;
    generation++;
    const old = session;
    session = null;
    // Freed after the calls already queued on it (a running chunk finishes first).
    if (old) queue(() => old.free()).catch((e) => console.warn(e));
    history = { train: [], valid: [] };
    drawLoss();
    for (const id of ['t-model', 't-lr', 't-batch', 't-epochs', 't-code', 't-seed']) $(id).disabled = false;
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
    page.explorer.setCustom(null, false);
  }

  $('t-start').onclick = () => (running ? pause() : start());
  $('t-reset').onclick = reset;
  $('t-model').onchange = () => {
    $('t-code').disabled = $('t-model').value !== 'ae';
    // Sensible starting points for each model.
    $('t-lr').value = $('t-model').value === 'vae' ? '0.003' : '0.005';
  };
  $('t-explorer').onchange = () => page.explorer.showCustom($('t-explorer').checked);
  drawLoss();
  return { ready: (loaded) => { b = loaded; } };
}

/** Examples of the user's digits: every third drawing of a digit is held out for testing. */
function teachPanel(page) {
  let b = null;
  let tuner = null;
  const queue = serial();
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
    const row = probs.slice(i * 10, i * 10 + 10);
    return row.indexOf(Math.max(...row)) === e.label;
  }).length;

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
    $('teach-fit').disabled = !b || train.length === 0;
    $('teach-clear').disabled = examples.length === 0;
  }

  async function ensureTuner() {
    tuner ??= await b.module.HandwritingTuner.create(b.prefer, $('teach-layers').value);
    return tuner;
  }

  async function fit() {
    const { train, test } = split();
    $('teach-fit').disabled = true;
    $('teach-result').textContent = 'Fine-tuning…';
    try {
      const t = await ensureTuner();
      const score = async (list, bundled) => (list.length ? accuracy(await queue(() => t.probabilities(stack(list), bundled)), list) : 0);
      const before = { train: await score(train, true), test: await score(test, true) };
      const t0 = performance.now();
      const loss = await queue(() => t.fit(stack(train), Uint8Array.from(train.map((e) => e.label)), Number($('teach-steps').value), 0.003));
      const ms = performance.now() - t0;
      const after = { train: await score(train, false), test: await score(test, false) };
      const line = (name, list, key) => (list.length ? `${name}: ${before[key]}/${list.length} → ${after[key]}/${list.length}` : `${name}: none yet`);
      $('teach-result').textContent = `Bundled → fine-tuned classifier. ${line('Held-out drawings', test, 'test')} · ${line('drawings learnt from', train, 'train')} · ${t.steps} steps so far (last cross-entropy ${loss.toPrecision(2)}, ${Math.round(ms)} ms).`;
      $('teach-use').disabled = false;
      document.body.dataset.teachDone = String(Number(document.body.dataset.teachDone ?? 0) + 1);
      page.clearError('teach');
    } catch (e) {
      $('teach-result').textContent = '';
      page.showError(e, 'teach');
    }
    render();
  }

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
    const t = tuner;
    // After a fine-tuning still running: the tuner refuses overlapping calls.
    if (t) queue(() => t.reset()).catch((e) => page.showError(e, 'teach'));
    $('teach-use').checked = false;
    $('teach-use').disabled = true;
    page.useClassifier(null);
    $('teach-result').textContent = 'Your drawings are gone and the classifier is back to the bundled one.';
    render();
  };
  $('teach-layers').onchange = () => {
    // Another choice of layers is another fine-tuning run.
    const old = tuner;
    tuner = null;
    if (old) queue(() => old.free()).catch((e) => console.warn(e));
    $('teach-use').checked = false;
    $('teach-use').disabled = true;
    page.useClassifier(null);
  };
  $('teach-use').onchange = () => {
    page.useClassifier($('teach-use').checked && tuner ? (pixels) => queue(() => tuner.probabilities(pixels, false)) : null);
  };
  render();
  return { ready: (loaded) => { b = loaded; render(); } };
}
