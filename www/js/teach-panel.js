// The handwriting panel: the user's drawings as examples of digits (every third of each digit
// held out for testing), the bundled classifier fine-tuned on them in the training worker, its
// before/after scores, and the fine-tuned classifier used for the predictions, saved or kept.

import { PIXELS, showDigit } from './plot.js';
import { saveFiles } from './save-files.js';

const $ = (id) => document.getElementById(id);

const split = (examples) => ({
  train: examples.filter((e) => !e.heldOut),
  test: examples.filter((e) => e.heldOut),
});

/** The examples' pixels, one after another. */
function stack(list) {
  const pixels = new Float32Array(list.length * PIXELS);
  list.forEach((e, i) => pixels.set(e.pixels, i * PIXELS));
  return pixels;
}

/** How many of `list` the probabilities (`list.length`·10) get right. */
const accuracy = (probs, list) => list.filter((e, i) => {
  const row = Array.from(probs.slice(i * 10, i * 10 + 10));
  return row.indexOf(Math.max(...row)) === e.label;
}).length;

/** The tuner in the worker: which backend and layers it is made with. */
const tunerArgs = (page) => ({ prefer: page.prefer, layers: $('teach-layers').value });

function exampleFigure(e) {
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 28;
  canvas.className = `pixel${e.heldOut ? ' held-out' : ''}`;
  canvas.title = e.heldOut ? `held-out ${e.label}` : `${e.label}`;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `your drawing of ${e.label}${e.heldOut ? ', held out to test' : ''}`);
  showDigit(canvas, e.pixels);
  const caption = document.createElement('figcaption');
  caption.textContent = e.heldOut ? `${e.label} · test` : String(e.label);
  figure.append(canvas, caption);
  return figure;
}

function render(teach) {
  const { examples } = teach;
  const { train, test } = split(examples);
  $('teach-counts').textContent = examples.length
    ? `${examples.length} drawings: ${train.length} to learn from, ${test.length} held out to test (every third of each digit).`
    : 'No drawings yet: draw a digit above, then press its number here.';
  $('teach-examples').replaceChildren(...examples.map(exampleFigure));
  $('teach-fit').disabled = !teach.worker || train.length === 0;
  $('teach-clear').disabled = examples.length === 0;
}

/**
 * Scores the tuner (`args`) on the examples before and after `steps` fine-tuning steps. Resolves
 * to null when the tuner the page means changed meanwhile (other layers, or the drawings
 * cleared): what was fitted is not the model the page would then use or save.
 */
async function fineTune(teach, args, steps) {
  const gen = teach.generation;
  const { train, test } = split(teach.examples);
  const score = async (list, bundled) => (list.length
    ? accuracy(await teach.worker.request('probabilities', { ...args, images: stack(list), bundled }), list) : 0);
  const before = { train: await score(train, true), test: await score(test, true) };
  const fitted = await teach.worker.request('fit', {
    ...args,
    images: stack(train),
    labels: Uint8Array.from(train.map((e) => e.label)),
    steps,
    learningRate: 0.003,
  });
  if (gen !== teach.generation) return null;
  const after = { train: await score(train, false), test: await score(test, false) };
  if (gen !== teach.generation) return null;
  return { ...fitted, before, after, train, test };
}

async function fit(page, teach) {
  $('teach-fit').disabled = true;
  $('teach-result').textContent = 'Fine-tuning…';
  teach.fitting = true;
  try {
    const result = await fineTune(teach, tunerArgs(page), Number($('teach-steps').value));
    if (result) {
      const { loss, steps, ms, before, after, train, test } = result;
      teach.tuned = true;
      teach.tunedMs += ms;
      const line = (name, list, key) => (list.length ? `${name}: ${before[key]}/${list.length} → ${after[key]}/${list.length}` : `${name}: none yet`);
      $('teach-result').textContent = `Bundled → fine-tuned classifier. ${line('Held-out drawings', test, 'test')} · ${line('drawings learnt from', train, 'train')} · ${steps} steps so far (last cross-entropy ${loss.toPrecision(2)}, ${Math.round(ms)} ms).`;
      for (const id of ['teach-use', 'teach-download', 'teach-keep']) $(id).disabled = false;
      document.body.dataset.teachDone = String(Number(document.body.dataset.teachDone ?? 0) + 1);
      page.clearError('teach');
    }
  } catch (e) {
    $('teach-result').textContent = '';
    page.showError(e, 'teach');
  } finally {
    teach.fitting = false;
    // Test hook: fine-tunings finished, whether they succeeded, failed or were dropped.
    document.body.dataset.teachSettled = String(Number(document.body.dataset.teachSettled ?? 0) + 1);
  }
  render(teach);
}

/** Back to the bundled classifier for the predictions (and nothing fine-tuned to save). */
function stopUsing(page, teach) {
  $('teach-use').checked = false;
  for (const id of ['teach-use', 'teach-download', 'teach-keep']) $(id).disabled = true;
  teach.tunedMs = 0;
  page.useClassifier(null);
}

/** The tuner the page means changes (other layers, or the drawings cleared): what it learnt so
 * far, and any fine-tuning still running, is not the model the page uses or saves. */
function forgetTuning(page, teach) {
  teach.generation++;
  teach.tuned = false;
  stopUsing(page, teach);
}

/** Saving the fine-tuned classifier as weights-directory files, with its MNIST validation
 * figures, or keeping it in the browser. */
function wireExport(page, teach) {
  const exportTuned = () => teach.worker.request('tunerExport', { ...tunerArgs(page), trainSeconds: teach.tunedMs / 1000 });
  const validation = (files) => {
    const entry = JSON.parse(files.manifest).models.classifier_best;
    const h = entry.hyperparameters;
    return `on ${h.valid_digits} MNIST validation digits it reads ${(100 * h.valid_accuracy).toFixed(1)} % right (cross-entropy ${entry.best_valid_loss.toFixed(3)})`;
  };
  const downloadTuned = async () => {
    const files = saveFiles(await exportTuned());
    $('teach-saved').textContent = `Saved manifest.json and ${files.file}; ${validation(files)}. Put both in one folder, then run digit-lab predict --model classifier-best --weights FOLDER --images FILE.`;
    page.clearError('teach');
  };
  const keepTuned = async () => {
    const files = await exportTuned();
    await page.models.keep(files);
    $('teach-saved').textContent = `Kept ${files.file} in this browser (under Your models, also after a reload); ${validation(files)}.`;
    page.clearError('teach');
  };
  $('teach-download').onclick = () => downloadTuned().catch((e) => page.showError(e, 'teach'));
  $('teach-keep').onclick = () => keepTuned().catch((e) => page.showError(e, 'teach'));
}

/** One button per digit: adds the current drawing as an example of it. */
function wireDigitButtons(page, teach) {
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
      const sameDigit = teach.examples.filter((e) => e.label === d).length;
      teach.examples.push({ pixels: Float32Array.from(pixels), label: d, heldOut: sameDigit % 3 === 2 });
      page.clearPad();
      render(teach);
    };
    $('teach-digits').append(button);
  }
}

/**
 * Wires the panel. `page`: { prefer, showError, clearError, getDrawing(), clearPad(),
 * useClassifier(fn | null), models }. Returns { ready(worker) }.
 */
export function teachPanel(page) {
  const teach = {
    worker: null,
    examples: [], // { pixels: Float32Array, label, heldOut }
    /** Whether the worker's tuner has learnt something (since the last clear or change of layers). */
    tuned: false,
    fitting: false,
    /** Counts changes of the tuner the page means (layers, clear): a fine-tuning that was
     * running meanwhile is dropped. */
    generation: 0,
    /** Milliseconds spent fine-tuning since then (the exported manifest's train_seconds). */
    tunedMs: 0,
  };
  wireExport(page, teach);
  wireDigitButtons(page, teach);
  $('teach-fit').onclick = () => fit(page, teach);
  $('teach-clear').onclick = () => {
    teach.examples.length = 0;
    // The worker runs this after a fine-tuning still running (the tuner refuses overlaps).
    if (teach.tuned || teach.fitting) teach.worker.request('tunerReset').catch((e) => page.showError(e, 'teach'));
    forgetTuning(page, teach);
    $('teach-result').textContent = 'Your drawings are gone and the classifier is back to the bundled one.';
    render(teach);
  };
  $('teach-layers').onchange = () => {
    // Another choice of layers is another fine-tuning run.
    teach.worker?.request('tunerDrop').catch((e) => console.warn(e));
    if (teach.fitting) $('teach-result').textContent = 'The layers changed during the fine-tuning, which is dropped: fine-tune again to train these.';
    forgetTuning(page, teach);
  };
  $('teach-use').onchange = () => {
    page.useClassifier($('teach-use').checked && teach.tuned
      ? (pixels) => teach.worker.request('probabilities', { ...tunerArgs(page), images: Float32Array.from(pixels), bundled: false }).then((p) => Array.from(p))
      : null);
  };
  render(teach);
  return { ready: (w) => { teach.worker = w; render(teach); } };
}
