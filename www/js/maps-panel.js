// The four maps of the test digits (ConvAE, VAE, PCA, t-SNE) with a legend and k-NN accuracy.

import { drawScatter, drawClassLabels, scaler, legend, whenSeen } from './plot.js';

const $ = (id) => document.getElementById(id);

const NAMES = { ae: 'ConvAE code', vae: 'VAE mean μ', pca: 'PCA (2 components)', tsne: 't-SNE (perplexity 30)' };

/** Wires the map buttons; `maps` is the bundled maps.json (null when missing). */
export function latentMaps(maps) {
  const canvas = $('map');
  legend($('map-legend'));
  if (!maps) {
    $('map-info').textContent = 'Latent maps are missing: run `digit-lab export-maps` and rebuild.';
    return;
  }
  let shown = 'tsne';
  const draw = (key) => {
    const map = maps[key];
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const scale = scaler(map.bounds, canvas);
    drawScatter(ctx, map.xy, maps.labels, scale, 1.4, 0.5);
    drawClassLabels(ctx, map.xy, maps.labels, scale);
  };
  // The buttons draw at once; the first map when the panel first comes into sight.
  const show = (key, now = true) => {
    const map = maps[key];
    shown = key;
    if (now) draw(key);
    $('map-info').textContent = `${NAMES[key]} of the 10,000 test digits · leave-one-out 5-NN accuracy ${(map.knn5 * 100).toFixed(2)}%`;
    canvas.setAttribute('aria-label', `Scatter plot: the ${NAMES[key]} of the 10,000 test digits, a dot per digit coloured by its label, each class's numeral at its centre`);
    for (const b of document.querySelectorAll('[data-map]')) b.setAttribute('aria-pressed', String(b.dataset.map === key));
    document.body.dataset.activeMap = key;
  };
  for (const b of document.querySelectorAll('[data-map]')) b.onclick = () => show(b.dataset.map);
  show('tsne', false);
  whenSeen(canvas, () => draw(shown));
}
