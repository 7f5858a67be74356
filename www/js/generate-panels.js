// The panels that make digits from the decoders: the VAE's manifold (a grid over its latent
// space), new samples from either model, and the interpolation between two drawings.

import { drawGrid, whenSeen } from './plot.js';
import { latestOnly, showError, clearError } from './errors.js';

const $ = (id) => document.getElementById(id);

/** The manifold grid, redrawn as its slider moves; returns the redraw. */
export function setupManifold({ labFor, timings }) {
  const manifold = latestOnly(async () => {
    const n = Number($('grid').value);
    $('grid-value').textContent = n;
    $('grid-value2').textContent = n;
    // Inner quantiles of the prior, as in Kingma & Welling's figure: ±1.65 covers 90% per axis.
    const t0 = performance.now();
    const pixels = await labFor('grid').decode_grid('vae', n, -2.0, 2.0, -2.0, 2.0);
    timings.lastGridMs = performance.now() - t0;
    drawGrid($('manifold'), pixels, n * n, n);
    $('manifold').setAttribute('aria-label', `${n}×${n} digits decoded by the VAE on a grid of latent points, z₁ and z₂ from −2 to 2`);
  }, 'manifold');
  $('grid').oninput = () => manifold();
  // 225 digits decoded and drawn when the panel comes into sight, not at the page's start.
  whenSeen($('manifold'), () => manifold());
  return manifold;
}

/** Sixteen new digits from the VAE's prior, or from the Gaussian fitted to the AE's codes
 * (`aeGaussian`, {mean, chol}; the AE's button is off without it). */
export function setupSamples({ labFor, aeGaussian }) {
  const sample = latestOnly(async (model) => {
    const seed = Math.floor(Math.random() * 1e9);
    const lab = labFor('grid');
    const pixels = model === 'ae'
      ? await lab.sample('ae', 16, seed, aeGaussian.mean, aeGaussian.chol)
      : await lab.sample('vae', 16, seed, [], []);
    drawGrid($('samples'), pixels, 16, 16);
    $('samples').setAttribute('aria-label', model === 'ae' ? '16 digits sampled from the Gaussian fitted to the ConvAE\'s codes' : '16 digits sampled from the VAE\'s prior');
  }, 'samples');
  $('sample-vae').onclick = () => sample('vae');
  $('sample-ae').onclick = () => sample('ae');
  $('sample-ae').disabled = !aeGaussian;
  sample('vae');
}

/** Ten steps from drawing A to drawing B, in the chosen model's code space. */
export function setupInterpolation({ labFor, currentDrawing }) {
  const ends = { a: null, b: null };
  const interpolate = latestOnly(async () => {
    if (!ends.a || !ends.b) return;
    const model = document.querySelector('input[name=interp-model]:checked').value;
    const pixels = await labFor('decode').interpolate(model, ends.a, ends.b, 10);
    drawGrid($('interp'), pixels, 10, 10);
    $('interp').setAttribute('aria-label', `10 digits from drawing A to drawing B, decoded along a straight line in the ${model === 'vae' ? 'VAE' : 'ConvAE'}'s code space`);
  }, 'interp');
  for (const key of ['a', 'b']) {
    $(`set-${key}`).onclick = () => {
      const now = currentDrawing();
      if (!now) { showError('draw a digit first', 'interp'); return; }
      ends[key] = now;
      clearError('interp');
      interpolate();
    };
  }
  for (const r of document.querySelectorAll('input[name=interp-model]')) r.onchange = () => interpolate();
}
