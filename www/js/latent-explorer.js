// The latent explorer: a draggable point over the map of test codes, decoded live by the AE and
// the VAE (each in its own space), with the drawing's code marked; a model trained in the page
// or brought in from files can join as a third ("mine").

import { showDigit, drawScatter, drawClassLabels, scaler, whenSeen } from './plot.js';
import { latestOnly } from './errors.js';
import { announce } from './announce.js';

const $ = (id) => document.getElementById(id);

/** A point in words: "z = (0.30, −0.20)". */
const inWords = ([x, y]) => `z = (${[x, y].map((v) => Number(v).toFixed(2).replace('-', '−')).join(', ')})`;
const modelName = (state, model) => (model === 'mine' ? (state.custom?.name ?? 'your model') : model === 'vae' ? 'the VAE' : 'the ConvAE');

/** Shows a decoded point and says in the image's text alternative what it is. */
function showDecoded(state, model, pixels) {
  const canvas = $(`lat-${model}`);
  showDigit(canvas, pixels);
  canvas.setAttribute('aria-label', `the digit ${modelName(state, model)} decodes at ${inWords(state.point[model])}`);
}

/** Decodes the point of the model shown; the other bundled model decodes its own last point. */
async function decodePoint(state, lab) {
  const [x, y] = state.point[state.model];
  if (state.model === 'mine') {
    showDecoded(state, 'mine', await state.custom.decode(x, y));
    return;
  }
  const t0 = performance.now();
  const pixels = await lab.decode(state.model, x, y);
  window.digitLabTimings.lastDecodeMs = performance.now() - t0;
  showDecoded(state, state.model, pixels);
  const other = state.model === 'vae' ? 'ae' : 'vae';
  showDecoded(state, other, await lab.decode(other, ...state.point[other]));
}

/** The drawing's code: the VAE's 2σ ellipse of q(z|x), or the AE's code as a ring. */
function drawCodeMark(ctx, scale, model, code) {
  const c = model === 'vae' ? code.vae_mu : code.ae;
  const [px, py] = scale.toPx(c[0], c[1]);
  ctx.strokeStyle = '#d00';
  ctx.lineWidth = 2;
  ctx.beginPath();
  if (model === 'vae') {
    const [sx, sy] = code.vae_logvar.map((v) => 2 * Math.exp(v / 2));
    const [ex] = scale.toPx(c[0] + sx, c[1]);
    const [, ey] = scale.toPx(c[0], c[1] + sy);
    ctx.ellipse(px, py, Math.max(3, Math.abs(ex - px)), Math.max(3, Math.abs(py - ey)), 0, 0, 2 * Math.PI);
  } else {
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
  }
  ctx.stroke();
  ctx.lineWidth = 1;
}

/**
 * The map under the point: the digits at their codes and each class's numeral at its centre
 * (readable without colour), drawn once per model, points and bounds and kept, as the point
 * moves at every pointer or key event. Nothing until the pad first comes into sight.
 */
function mapLayer(canvas, state, points, bounds) {
  if (!points || !state.seen) return null;
  const key = [state.model, points.xy, ...bounds];
  if (state.layer?.key.every((v, i) => v === key[i])) return state.layer.canvas;
  const layer = new OffscreenCanvas(canvas.width, canvas.height);
  const ctx = layer.getContext('2d');
  const scale = scaler(bounds, canvas);
  const mine = state.model === 'mine';
  drawScatter(ctx, points.xy, points.labels, scale, mine ? 1.6 : 1.3, mine ? 0.6 : 0.55);
  drawClassLabels(ctx, points.xy, points.labels, scale);
  state.layer = { key, canvas: layer };
  return layer;
}

/** The pad: the map, the axes, the drawing's code, the point; the sliders follow the point. */
function drawExplorer(canvas, state, maps, code) {
  const { model } = state;
  const b = state.bounds[model];
  const scale = scaler(b, canvas);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const points = model === 'mine' ? state.custom : maps?.[model] && { xy: maps[model].xy, labels: maps.labels };
  const layer = mapLayer(canvas, state, points, b);
  if (layer) ctx.drawImage(layer, 0, 0);
  // Axes through the origin.
  ctx.strokeStyle = '#ccc';
  ctx.beginPath();
  const [ox, oy] = scale.toPx(0, 0);
  ctx.moveTo(0, oy); ctx.lineTo(canvas.width, oy); ctx.moveTo(ox, 0); ctx.lineTo(ox, canvas.height);
  ctx.stroke();
  if (code && model !== 'mine') drawCodeMark(ctx, scale, model, code);
  const [px, py] = scale.toPx(...state.point[model]);
  ctx.fillStyle = '#111';
  ctx.beginPath();
  ctx.arc(px, py, 6, 0, 2 * Math.PI);
  ctx.fill();
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  canvas.setAttribute('aria-label', `Latent space of ${modelName(state, model)}: the digits at their codes, each class's numeral at its centre${code && model !== 'mine' ? ', a ring at your drawing' : ''}; the point decoded is at ${inWords(state.point[model])}`);
  [$('z1'), $('z2')].forEach((s, i) => {
    s.min = b[i * 2]; s.max = b[i * 2 + 1];
    s.value = state.point[model][i];
    $(`z${i + 1}v`).textContent = Number(state.point[model][i]).toFixed(2);
  });
}

/** Dragging on the pad, the two sliders and the model radio buttons move what is decoded. */
function wireControls(canvas, state, moveTo, switched) {
  let dragging = false;
  const fromEvent = (e) => {
    const r = canvas.getBoundingClientRect();
    return scaler(state.bounds[state.model], canvas).toData((e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height));
  };
  canvas.style.touchAction = 'none';
  canvas.addEventListener('pointerdown', (e) => { dragging = true; canvas.setPointerCapture(e.pointerId); moveTo(...fromEvent(e)); });
  canvas.addEventListener('pointermove', (e) => { if (dragging) moveTo(...fromEvent(e)); });
  for (const t of ['pointerup', 'pointercancel']) canvas.addEventListener(t, () => { dragging = false; });
  [$('z1'), $('z2')].forEach((s, i) => {
    s.oninput = () => {
      const p = [...state.point[state.model]];
      p[i] = Number(s.value);
      moveTo(...p);
    };
  });
  for (const r of document.querySelectorAll('input[name=latent-model]')) {
    r.onchange = () => { state.model = r.value; switched(); };
  }
  canvas.addEventListener('keydown', (e) => {
    const moved = keyMove(state, e);
    if (!moved) return;
    e.preventDefault();
    moveTo(...moved);
    announce(`Point at ${inWords(state.point[state.model])}`, 500);
  });
}

/** Where an arrow key (a step of 2 % of the range, 20 % with Shift) or Home (the centre) moves the
 * point; null for other keys. */
function keyMove(state, e) {
  if (e.ctrlKey || e.altKey || e.metaKey) return null;
  const b = state.bounds[state.model];
  const [x, y] = state.point[state.model];
  const step = e.shiftKey ? 0.2 : 0.02;
  const dx = step * (b[1] - b[0]);
  const dy = step * (b[3] - b[2]);
  switch (e.key) {
    case 'ArrowLeft': return [x - dx, y];
    case 'ArrowRight': return [x + dx, y];
    case 'ArrowUp': return [x, y + dy];
    case 'ArrowDown': return [x, y - dy];
    case 'Home': return [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2];
    default: return null;
  }
}

/** The third model ("mine"): `setCustom({ name, xy, labels, bounds, decode(x, y) } | null, show)`
 * and `showCustom(show)` (its radio button and its decoded image). */
function customModel(state, switched) {
  function showCustom(show) {
    const visible = Boolean(show && state.custom);
    $('latent-mine').hidden = !visible;
    $('lat-mine-figure').hidden = !visible;
    if (!visible && state.model === 'mine') {
      document.querySelector('input[name=latent-model][value=vae]').checked = true;
      state.model = 'vae';
      switched();
    }
  }
  function setCustom(custom, show) {
    state.custom = custom;
    if (custom) {
      const b = custom.bounds;
      state.bounds.mine = b;
      const p = state.point.mine;
      if (!p || p[0] < b[0] || p[0] > b[1] || p[1] < b[2] || p[1] > b[3]) {
        state.point.mine = [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2];
      }
      $('latent-mine-name').textContent = custom.name;
      $('lat-mine-caption').textContent = custom.name;
    } else {
      delete state.point.mine;
    }
    showCustom(show);
    if (custom && state.model === 'mine') switched();
  }
  return { showCustom, setCustom };
}

/**
 * Wires the explorer. `currentLab()` is the lab that decodes now, `maps` the bundled maps (or
 * null until `setMaps(maps)`), `drawnCode()` the drawing's codes or null. Returns { redraw,
 * refresh, setCustom, showCustom, setMaps }.
 */
export function latentExplorer(currentLab, maps, drawnCode) {
  const canvas = $('latent-pad');
  const aeBounds = maps?.ae?.bounds ?? [-10, 10, -10, 10];
  const state = {
    model: 'vae',
    bounds: { vae: [-4, 4, -4, 4], ae: aeBounds },
    point: { vae: [0, 0], ae: [(aeBounds[0] + aeBounds[1]) / 2, (aeBounds[2] + aeBounds[3]) / 2] },
    // A model trained in this page or brought in from files: set by training.js and models.js.
    custom: null,
    // Whether the pad has come into sight, and its map layer (mapLayer).
    seen: false,
    layer: null,
  };
  const decode = latestOnly(() => decodePoint(state, currentLab()), 'latent');
  const redraw = () => drawExplorer(canvas, state, maps, drawnCode());
  const switched = () => { redraw(); decode(); };
  const moveTo = (x, y) => {
    const b = state.bounds[state.model];
    state.point[state.model] = [Math.min(b[1], Math.max(b[0], x)), Math.min(b[3], Math.max(b[2], y))];
    switched();
  };
  wireControls(canvas, state, moveTo, switched);
  whenSeen(canvas, () => { state.seen = true; redraw(); });
  const { showCustom, setCustom } = customModel(state, switched);
  switched();
  // The maps load after the page's first answer: the AE's range and the scatter follow them.
  const setMaps = (loaded) => {
    maps = loaded;
    const b = loaded?.ae?.bounds;
    if (b) [state.bounds.ae, state.point.ae] = [b, [(b[0] + b[1]) / 2, (b[2] + b[3]) / 2]];
    switched();
  };
  return { redraw, refresh: decode, setCustom, showCustom, setMaps };
}
