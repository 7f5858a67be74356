// The denoiser panel: seeded noise on a test digit (or the drawing), the chosen denoiser's output,
// both PSNRs, and a note on the noise levels at which the denoiser loses to its noisy input.

import { showDigit, whenSeen } from './plot.js';
import { latestOnly, showError } from './errors.js';

const $ = (id) => document.getElementById(id);

/** PSNR = 10·log10(1 / MSE) of `img` against `clean`, as in the report. */
function psnr(img, clean) {
  let sum = 0;
  for (let i = 0; i < clean.length; i++) sum += (img[i] - clean[i]) ** 2;
  return sum > 0 ? 10 * Math.log10(clean.length / sum) : Infinity;
}

const dB = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : '∞');

/** The slider's noise levels above 0 (at 0 the noisy input is the clean digit itself). */
const LEVELS = Array.from({ length: 16 }, (_, i) => (i + 1) * 5 / 100);

/** Noise levels as ranges: "0.05–0.25, 0.40". */
function ranges(hits) {
  const out = [];
  for (const a of hits) {
    const last = out.at(-1);
    if (last && Math.abs(a - last[1] - 0.05) < 1e-6) last[1] = a;
    else out.push([a, a]);
  }
  return out.map(([a, b]) => (a === b ? a.toFixed(2) : `${a.toFixed(2)}–${b.toFixed(2)}`)).join(', ');
}

/** The note under the panel: where `model` made the digit worse than its noisy input. */
function showNote(model, worse) {
  const name = model === 'dae' ? "The paper's DAE (2-D code)" : 'The wide-code denoiser';
  const note = $('dn-note');
  note.dataset.worseAt = worse.map((a) => a.toFixed(2)).join(',');
  note.textContent = worse.length
    ? `${name} makes this digit worse than its noisy input (lower PSNR) at noise ${ranges(worse)}${model === 'dae' ? ': its code is two numbers, so it redraws a typical digit of that shape, and under light noise that loses more detail than the noise did' : ''}.`
    : `${name} improves on the noisy input at every noise level from 0.05 to 0.80 for this digit.`;
}

/** Both PSNRs of one denoising, and the images. */
function showDenoised(clean, out, amount) {
  showDigit($('dn-clean'), clean);
  showDigit($('dn-noisy'), out.noisy);
  showDigit($('dn-out'), out.cleaned);
  const [noisy, cleaned] = [psnr(out.noisy, clean), psnr(out.cleaned, clean)];
  Object.assign($('dn-psnr').dataset, { noisy: String(noisy), denoised: String(cleaned) });
  $('dn-psnr').textContent = `PSNR at noise ${amount.toFixed(2)}: noisy ${dB(noisy)}, denoised ${dB(cleaned)}${cleaned < noisy ? ' — worse than the noisy input' : ''}`;
}

/**
 * Wires the panel at once, so that its buttons answer before the maps arrive. Returns
 * `setMaps(maps)`, which resolves once the first digit is shown: `maps` holds real MNIST test
 * digits (the VAE's samples stand in without them, or before them); `currentDrawing()` is the
 * pad's drawing or null.
 */
export function setupDenoiser({ labFor, currentDrawing }) {
  let maps = null;
  let clean = null;
  let noiseSeed = 1;
  let sweptFor = null; // the digit, seed and model the note was computed for
  const explain = latestOnly(async () => {
    if (!clean) return;
    const model = $('denoiser').value;
    const key = [clean, noiseSeed, model];
    if (sweptFor && key.every((v, i) => v === sweptFor[i])) return;
    const worse = [];
    for (const amount of LEVELS) {
      const out = await labFor('classify').denoise(clean, amount, noiseSeed, model);
      if (psnr(out.cleaned, clean) < psnr(out.noisy, clean)) worse.push(amount);
    }
    if (key.some((v, i) => v !== [clean, noiseSeed, $('denoiser').value][i])) return;
    sweptFor = key;
    showNote(model, worse);
  }, 'denoise');
  const denoise = latestOnly(async () => {
    if (!clean) return;
    const amount = Number($('noise').value);
    $('noise-value').textContent = amount.toFixed(2);
    const out = await labFor('classify').denoise(clean, amount, noiseSeed, $('denoiser').value);
    showDenoised(clean, out, amount);
    if (seen) explain();
  }, 'denoise');
  // The note's sweep (16 denoisings) waits until the panel is in sight: not at the page's start.
  let seen = false;
  whenSeen($('dn-note'), () => { seen = true; explain(); });
  $('noise').oninput = () => denoise();
  $('denoiser').onchange = () => denoise();
  const randomTestDigit = async () => {
    if (maps?.digits?.length) {
      const d = maps.digits[Math.floor(Math.random() * maps.digits.length)];
      return Float32Array.from(d, (v) => v / 255);
    }
    return Float32Array.from(await labFor('grid').sample('vae', 1, Math.floor(Math.random() * 1e9), [], []));
  };
  $('denoise-random').onclick = async () => { clean = await randomTestDigit(); noiseSeed++; denoise(); };
  $('denoise-drawing').onclick = () => {
    const now = currentDrawing();
    if (!now) { showError('draw a digit first', 'denoise'); return; }
    clean = now; noiseSeed++; denoise();
  };
  return {
    async setMaps(loaded) {
      maps = loaded;
      if (clean) return; // the user chose a digit already
      const first = await randomTestDigit();
      if (!clean) { clean = first; denoise(); }
    },
  };
}
