// The drawing panel: the pad, the live prediction with its "not a digit" check, the AE and VAE
// reconstructions of the drawing and its codes (which the latent explorer marks).

import { DrawingPad } from './draw.js';
import { PIXELS, showDigit, drawBars } from './plot.js';
import { latestOnly, debounce, showError } from './errors.js';
import { announce, hush } from './announce.js';
import { showVerdict } from './verdict.js';

const $ = (id) => document.getElementById(id);

const EMPTY_PAD = 'Drawing pad, empty: draw a digit with the mouse, a pen or a finger, or press Random test digit';

/** An empty pad: no guess, blank reconstructions. At start-up (`drawn` false) the images and
 * the chart are blank already: they are left alone, and the start costs the main thread less
 * (a canvas's first text costs tens of milliseconds on a phone). */
function showNoDrawing(drawn) {
  $('prediction').textContent = 'draw a digit';
  $('pad').setAttribute('aria-label', EMPTY_PAD);
  $('bars').setAttribute('aria-label', 'Class probabilities: none yet');
  $('prediction').dataset.notDigit = 'false';
  $('codes').textContent = '';
  if (!drawn) return;
  drawBars($('bars'), null);
  for (const id of ['input28', 'rec-input', 'rec-ae', 'rec-vae']) showDigit($(id), new Float32Array(PIXELS));
}

/** The three likeliest classes in words: "7 98 %, 9 1 %, 1 0 %". */
const likeliest = (probs) => [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 3)
  .map((k) => `${k} ${Math.round(probs[k] * 100)} %`).join(', ');

/** The guess: the most likely digit, not sure which, or that the drawing is not one. */
function showPrediction(probs, verdict) {
  showVerdict($('prediction'), probs, verdict);
  drawBars($('bars'), probs);
  $('bars').setAttribute('aria-label', `Class probabilities, likeliest first: ${likeliest(probs)}`);
  $('pad').setAttribute('aria-label', `Drawing pad with a drawing. ${spokenPrediction()}`);
}

/** The prediction shown, as a sentence to be spoken. */
const spokenPrediction = () => `Prediction: ${$('prediction').textContent.replace('%', ' %')}.`;

function showCodes(enc) {
  const list = (values, f = (v) => v) => values.map((v) => f(v).toFixed(2)).join(', ');
  $('codes').textContent = `ConvAE code (${list(enc.ae)}) · VAE μ (${list(enc.vae_mu)}), σ (${list(enc.vae_logvar, (v) => Math.exp(v / 2))})`;
}

/**
 * The keyboard's way to a drawing: `put()` puts one of the bundled MNIST test digits on the pad
 * (a VAE sample until they have loaded, or without them); `set(digits, labels)` hands them over.
 */
function testDigitSource(pad, labFor) {
  let bundled = { digits: null, labels: null };
  async function put() {
    const { digits, labels } = bundled;
    if (digits?.length) {
      const i = Math.floor(Math.random() * digits.length);
      $('pad').dataset.testLabel = labels ? String(labels[i]) : '';
      pad.putDigit(Float32Array.from(digits[i], (v) => v / 255), labels ? `Test digit labelled ${labels[i]}. ` : 'Test digit. ');
    } else {
      $('pad').dataset.testLabel = '';
      pad.putDigit(await labFor('grid').sample('vae', 1, Math.floor(Math.random() * 1e9), [], []), 'A digit sampled from the VAE. ');
    }
  }
  return { put, set: (digits, labels) => { bundled = { digits, labels }; } };
}

/**
 * Wires the panel. `labFor(kind)` is the lab that runs `kind` now; `timings` gets the first
 * result's time. Returns the drawing's hooks for the other panels.
 */
export function setupDrawing({ labFor, timings }) {
  let drawnCode = null;
  let customClassifier = null; // the classifier fine-tuned on the user's drawings, when chosen
  let latent = null; // the latent explorer: it marks the drawing's code
  let training = null; // the training mode: it yields its WebGPU device while the user draws

  const classify = latestOnly(async () => {
    const version = pad.version;
    const drawing = pad.toMnist();
    if (!drawing) {
      showNoDrawing(version > 0);
      drawnCode = null;
      latent?.redraw();
      $('prediction').dataset.version = String(version);
      if (version > 0) announce('The pad is empty.');
      return;
    }
    showDigit($('input28'), drawing);
    const which = $('paper-classifier').checked ? 'paper' : 'best';
    const lab = labFor('classify');
    const probs = customClassifier ? await customClassifier(drawing) : await lab.classify(drawing, which);
    if (!timings.firstResult) timings.firstResult = performance.now();
    // "That's not a digit": the check runs on the page's own models (VAE, best classifier).
    showPrediction(probs, await lab.checkDigit(drawing));
    // Spoken for the finished drawing only, not for every stroke's live guess.
    if (!pad.active && version === pad.version) announce(`${pad.caption}${spokenPrediction()}`, 600);
    const [rec, enc] = [await lab.reconstruct(drawing), await lab.encode(drawing)];
    showDigit($('rec-input'), drawing);
    showDigit($('rec-ae'), rec.ae);
    showDigit($('rec-vae'), rec.vae);
    drawnCode = enc;
    latent?.redraw();
    $('prediction').dataset.version = String(version);
    // The drawing is answered: training may have the device back.
    if (!pad.active && version === pad.version) training?.release();
    showCodes(enc);
  }, 'classify');
  const pad = new DrawingPad($('pad'), debounce(() => classify(), 40));
  // A new stroke: the guess for the drawing so far is not spoken after all.
  $('pad').addEventListener('pointerdown', hush);
  $('pad').addEventListener('pointerdown', () => training?.hold(labFor('classify').backend?.kind === 'webgpu' ? 'webgpu' : 'cpu'));
  const testDigits = testDigitSource(pad, labFor);
  $('pad-random').onclick = () => testDigits.put().catch((e) => showError(e, 'pad'));
  $('undo').onclick = () => pad.undo();
  $('clear').onclick = () => pad.clear();
  $('pen').oninput = (e) => { pad.penWidth = Number(e.target.value); };
  $('paper-classifier').onchange = () => classify();
  classify();

  return {
    classify,
    /** What the pad holds now: the prediction lags behind by its debounce, so a button pressed
     * right after Clear would otherwise still use the cleared drawing. */
    currentDrawing: () => pad.toMnist(),
    drawnCode: () => drawnCode,
    clearPad: () => pad.clear(),
    /** Predictions with `fn` (pixels → probabilities), or the bundled classifiers (`null`). */
    useClassifier(fn, name = null) {
      customClassifier = fn;
      document.body.dataset.customClassifier = fn ? (name ?? 'fine-tuned') : '';
      $('paper-classifier').disabled = Boolean(fn);
      classify();
    },
    setExplorer(explorer) { latent = explorer; },
    /** The bundled MNIST test digits (maps.json's `digits`, 0–255, and `digit_labels`). */
    setTestDigits: testDigits.set,
    setTraining(mode) { training = mode; },
  };
}
