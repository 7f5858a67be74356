// Page entry: loads the wasm module and the models, shows the backend, wires the panels.
// All model work goes through the wasm API (DigitLab); this file only moves pixels around.
// The first load is the small CPU-only bundle (www/pkg), so the first result comes quickly;
// where the browser has WebGPU, the full bundle (www/pkg-full) follows and takes over.

import init, { DigitLab, bundledWeights } from '../pkg/digit_lab.js';
import { loadFullBundle } from './full-bundle.js';
import { describeAdapter, requestedBackend } from './adapter.js';
import { DrawingPad } from './draw.js';
import { PIXELS, showDigit, drawBars, drawGrid, drawScatter, scaler, legend } from './plot.js';
import { setupTraining } from './training.js';
import { setupModels } from './models.js';
import { startBatchWorker } from './worker-client.js';

const $ = (id) => document.getElementById(id);
const timings = (window.digitLabTimings = { start: performance.now() });

/**
 * The error box shows the latest error of each panel (`source`) until that panel next succeeds:
 * a hint such as "draw a digit first" goes away once the action works.
 */
const errors = new Map();

function renderErrors() {
  const box = $('error');
  const latest = [...errors.values()].pop();
  box.textContent = latest ?? '';
  box.hidden = latest === undefined;
}

function showError(error, source = 'page') {
  const badge = $('backend');
  if (badge.classList.contains('badge-pending')) {
    badge.textContent = 'failed to start';
    badge.classList.replace('badge-pending', 'badge-cpu');
  }
  errors.delete(source); // re-inserted last: the newest error is the one shown
  errors.set(source, `Error: ${error?.message ?? error}`);
  renderErrors();
  if (typeof error === 'string') console.warn(error);
  else console.error(error);
}

function clearError(source) {
  if (errors.delete(source)) renderErrors();
}

/**
 * Runs `task` so that at most one call is in flight and only the latest request is kept; its
 * errors go to the error box under `source`, and a success clears them.
 */
function latestOnly(task, source) {
  let running = false;
  let pending = null;
  const run = async (...args) => {
    if (running) { pending = args; return; }
    running = true;
    try {
      await task(...args);
      clearError(source);
    } catch (e) {
      showError(e, source);
    }
    running = false;
    if (pending) { const next = pending; pending = null; run(...next); }
  };
  return run;
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

async function loadMaps() {
  try {
    const response = await fetch('pkg/maps.json');
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return await response.json();
  } catch (e) {
    console.warn('latent maps unavailable', e);
    return null;
  }
}

/** The badge: WebGPU and its adapter, or the CPU backend and why. */
function showBackend(backend) {
  const badge = $('backend');
  badge.classList.remove('badge-pending', 'badge-gpu', 'badge-cpu');
  if (backend.kind === 'webgpu') {
    badge.textContent = `WebGPU · ${backend.adapter}`;
    badge.title = '';
    badge.classList.add('badge-gpu');
    $('backend-why').textContent = '';
  } else {
    badge.textContent = 'CPU (burn flex, wasm)';
    badge.title = backend.detail ?? backend.reason;
    badge.classList.add('badge-cpu');
    $('backend-why').textContent = ` — ${backend.reason}`;
  }
  document.body.dataset.backend = backend.kind;
}

async function main() {
  // "auto": each kind of operation runs where it measured faster; "cpu" or "webgpu": forced.
  const prefer = requestedBackend(location.search);
  const upgradeToGpu = prefer !== 'cpu' && Boolean(navigator.gpu);
  await init();
  const [cpuLab, maps] = await Promise.all([DigitLab.create('cpu'), loadMaps()]);
  // Many digits in one call (the grid, samples) on the CPU: in a worker, off the main thread.
  const batchLab = startBatchWorker();
  /** Which lab runs each kind of operation: the CPU one until WebGPU has proven faster. */
  const routes = { classify: cpuLab, decode: cpuLab, grid: batchLab };
  const labFor = (kind) => routes[kind];
  timings.ready = performance.now();
  showBackend({
    kind: 'cpu',
    reason: prefer === 'cpu' ? 'CPU backend requested (?backend=cpu)'
      : upgradeToGpu ? 'loading the WebGPU bundle…' : 'this browser has no WebGPU (navigator.gpu is missing)',
  });

  // --- drawing, prediction, reconstructions -------------------------------------------------
  let drawing = null;
  let drawnCode = null;
  let customClassifier = null; // the classifier fine-tuned on the user's drawings, when chosen
  let latent = null; // the latent explorer, created below; it marks the drawing's code

  const classify = latestOnly(async () => {
    const version = pad.version;
    drawing = pad.toMnist();
    showDigit($('input28'), drawing ?? new Float32Array(PIXELS));
    if (!drawing) {
      $('prediction').textContent = 'draw a digit';
      $('prediction').dataset.notDigit = 'false';
      drawBars($('bars'), null);
      for (const id of ['rec-input', 'rec-ae', 'rec-vae']) showDigit($(id), new Float32Array(PIXELS));
      $('codes').textContent = '';
      drawnCode = null;
      latent?.redraw();
      $('prediction').dataset.version = String(version);
      return;
    }
    const which = $('paper-classifier').checked ? 'paper' : 'best';
    const lab = labFor('classify');
    const probs = customClassifier ? await customClassifier(drawing) : await lab.classify(drawing, which);
    if (!timings.firstResult) timings.firstResult = performance.now();
    const best = probs.indexOf(Math.max(...probs));
    // "That's not a digit": the check runs on the page's own models (VAE, best classifier).
    const verdict = await lab.checkDigit(drawing);
    $('prediction').dataset.notDigit = String(!verdict.isDigit);
    $('prediction').textContent = !verdict.isDigit
      ? "that doesn't look like a digit"
      : probs[best] < 0.5 ? `maybe ${best}? (${Math.round(probs[best] * 100)}%)` : `${best} (${Math.round(probs[best] * 100)}%)`;
    drawBars($('bars'), probs);
    const [rec, enc] = [await lab.reconstruct(drawing), await lab.encode(drawing)];
    showDigit($('rec-input'), drawing);
    showDigit($('rec-ae'), rec.ae);
    showDigit($('rec-vae'), rec.vae);
    drawnCode = enc;
    latent?.redraw();
    $('prediction').dataset.version = String(version);
    // The drawing is answered: training may have the device back.
    if (!pad.active && version === pad.version) training?.release();
    $('codes').textContent = `ConvAE code (${enc.ae.map((v) => v.toFixed(2)).join(', ')}) · VAE μ (${enc.vae_mu.map((v) => v.toFixed(2)).join(', ')}), σ (${enc.vae_logvar.map((v) => Math.exp(v / 2).toFixed(2)).join(', ')})`;
  }, 'classify');
  const pad = new DrawingPad($('pad'), debounce(() => classify(), 40));
  // While the user draws, training in the worker yields a WebGPU device it shares with the page.
  let training = null;
  $('pad').addEventListener('pointerdown', () => training?.hold(labFor('classify').backend?.kind === 'webgpu' ? 'webgpu' : 'cpu'));
  // What the pad holds now: `drawing` lags behind by the classification's debounce, so a button
  // pressed right after Clear would still have used the cleared drawing.
  const currentDrawing = () => pad.toMnist();
  $('undo').onclick = () => pad.undo();
  $('clear').onclick = () => pad.clear();
  $('pen').oninput = (e) => { pad.penWidth = Number(e.target.value); };
  $('paper-classifier').onchange = () => classify();
  classify();

  // --- denoiser -------------------------------------------------------------------------------
  let clean = null;
  let noiseSeed = 1;
  let sweptFor = null; // the digit, seed and model the note below was computed for
  // PSNR = 10·log10(1 / MSE) against the clean digit, as in the report.
  const psnr = (img) => {
    let sum = 0;
    for (let i = 0; i < clean.length; i++) sum += (img[i] - clean[i]) ** 2;
    return sum > 0 ? 10 * Math.log10(clean.length / sum) : Infinity;
  };
  const dB = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : '∞');
  // The slider's noise levels above 0 (at 0 the noisy input is the clean digit itself).
  const levels = Array.from({ length: 16 }, (_, i) => (i + 1) * 5 / 100);
  /** Noise levels (of the slider's) at which the denoiser's output is further from the clean
   * digit than its noisy input, as ranges: "0.05–0.25, 0.40". */
  const ranges = (hits) => {
    const out = [];
    for (const a of hits) {
      const last = out.at(-1);
      if (last && Math.abs(a - last[1] - 0.05) < 1e-6) last[1] = a;
      else out.push([a, a]);
    }
    return out.map(([a, b]) => (a === b ? a.toFixed(2) : `${a.toFixed(2)}–${b.toFixed(2)}`)).join(', ');
  };
  /** Says, for the digit shown, at which noise levels the chosen denoiser loses to its input. */
  const explainDenoiser = latestOnly(async () => {
    const model = $('denoiser').value;
    const key = [clean, noiseSeed, model];
    if (sweptFor && key.every((v, i) => v === sweptFor[i])) return;
    const worse = [];
    for (const amount of levels) {
      const out = await labFor('classify').denoise(clean, amount, noiseSeed, model);
      if (psnr(out.cleaned) < psnr(out.noisy)) worse.push(amount);
    }
    if (key.some((v, i) => v !== [clean, noiseSeed, $('denoiser').value][i])) return;
    sweptFor = key;
    const name = model === 'dae' ? "The paper's DAE (2-D code)" : 'The wide-code denoiser';
    const note = $('dn-note');
    note.dataset.worseAt = worse.map((a) => a.toFixed(2)).join(',');
    note.textContent = worse.length
      ? `${name} makes this digit worse than its noisy input (lower PSNR) at noise ${ranges(worse)}${model === 'dae' ? ': its code is two numbers, so it redraws a typical digit of that shape, and under light noise that loses more detail than the noise did' : ''}.`
      : `${name} improves on the noisy input at every noise level from 0.05 to 0.80 for this digit.`;
  }, 'denoise');
  const denoise = latestOnly(async () => {
    if (!clean) return;
    const amount = Number($('noise').value);
    $('noise-value').textContent = amount.toFixed(2);
    const out = await labFor('classify').denoise(clean, amount, noiseSeed, $('denoiser').value);
    showDigit($('dn-clean'), clean);
    showDigit($('dn-noisy'), out.noisy);
    showDigit($('dn-out'), out.cleaned);
    const [noisy, cleaned] = [psnr(out.noisy), psnr(out.cleaned)];
    Object.assign($('dn-psnr').dataset, { noisy: String(noisy), denoised: String(cleaned) });
    $('dn-psnr').textContent = `PSNR at noise ${amount.toFixed(2)}: noisy ${dB(noisy)}, denoised ${dB(cleaned)}${cleaned < noisy ? ' — worse than the noisy input' : ''}`;
    explainDenoiser();
  }, 'denoise');
  $('noise').oninput = () => denoise();
  $('denoiser').onchange = () => denoise();
  // Real MNIST test digits bundled with the maps (the VAE's samples stand in without them).
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
  clean = await randomTestDigit();
  denoise();

  // --- latent explorer ------------------------------------------------------------------------
  latent = latentExplorer(() => labFor('decode'), maps, () => drawnCode);

  // --- latent maps ----------------------------------------------------------------------------
  latentMaps(maps);

  // --- manifold -------------------------------------------------------------------------------
  const manifold = latestOnly(async () => {
    const n = Number($('grid').value);
    $('grid-value').textContent = n;
    $('grid-value2').textContent = n;
    // Inner quantiles of the prior, as in Kingma & Welling's figure: ±1.65 covers 90% per axis.
    const t0 = performance.now();
    const pixels = await labFor('grid').decode_grid('vae', n, -2.0, 2.0, -2.0, 2.0);
    timings.lastGridMs = performance.now() - t0;
    drawGrid($('manifold'), pixels, n * n, n);
  }, 'manifold');
  $('grid').oninput = () => manifold();
  manifold();

  // --- samples --------------------------------------------------------------------------------
  const aeGaussian = maps?.ae_gaussian;
  const sample = latestOnly(async (model) => {
    const seed = Math.floor(Math.random() * 1e9);
    const lab = labFor('grid');
    const pixels = model === 'ae'
      ? await lab.sample('ae', 16, seed, aeGaussian.mean, aeGaussian.chol)
      : await lab.sample('vae', 16, seed, [], []);
    drawGrid($('samples'), pixels, 16, 16);
  }, 'samples');
  $('sample-vae').onclick = () => sample('vae');
  $('sample-ae').onclick = () => sample('ae');
  $('sample-ae').disabled = !aeGaussian;
  sample('vae');

  // --- interpolation --------------------------------------------------------------------------
  const ends = { a: null, b: null };
  const interpolate = latestOnly(async () => {
    if (!ends.a || !ends.b) return;
    const model = document.querySelector('input[name=interp-model]:checked').value;
    const pixels = await labFor('decode').interpolate(model, ends.a, ends.b, 10);
    drawGrid($('interp'), pixels, 10, 10);
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

  // --- training mode (loaded on demand) -------------------------------------------------------
  const useClassifier = (fn, name = null) => {
    customClassifier = fn;
    document.body.dataset.customClassifier = fn ? (name ?? 'fine-tuned') : '';
    $('paper-classifier').disabled = Boolean(fn);
    classify();
  };
  // --- models brought in from files or trained here (kept in IndexedDB) -----------------------
  const models = setupModels({ showError, clearError, maps, explorer: latent, useClassifier });
  training = setupTraining({
    prefer,
    showError,
    clearError,
    getDrawing: currentDrawing,
    clearPad: () => pad.clear(),
    explorer: latent,
    useClassifier,
    models,
  });
  timings.interactive = performance.now();

  // --- WebGPU: the full bundle takes over once it has loaded and its device works -------------
  const settle = () => { document.body.dataset.backendSettled = 'true'; };
  if (!upgradeToGpu) { settle(); return; }
  try {
    timings.upgradeStart = performance.now();
    // The full bundle carries no weights: it is handed this bundle's (one download of them).
    const gpuLab = await (await loadFullBundle()).DigitLab.create('auto', bundledWeights());
    if (gpuLab.backend.kind !== 'webgpu') {
      showBackend(gpuLab.backend);
      gpuLab.free();
    } else {
      const moved = prefer === 'webgpu'
        ? forceWebGpu(routes, gpuLab)
        : await routeByMeasurement(routes, cpuLab, gpuLab, maps);
      timings.upgraded = performance.now();
      // Redo what is on screen where it now runs.
      if (moved.includes('classify')) classify();
      if (moved.includes('grid')) manifold();
      if (moved.includes('decode')) latent.refresh();
    }
  } catch (e) {
    // The browser's message (long, with the URL) goes to the tooltip and the console.
    showBackend({ kind: 'cpu', reason: 'the WebGPU bundle failed to load', detail: String(e?.message ?? e) });
    console.warn(e);
  }
  settle();
}

/** `?backend=webgpu`: every operation on WebGPU, whatever the adapter. */
function forceWebGpu(routes, gpuLab) {
  for (const kind of Object.keys(routes)) routes[kind] = gpuLab;
  showBackend(gpuLab.backend);
  document.body.dataset.routes = JSON.stringify({ classify: 'webgpu', decode: 'webgpu', grid: 'webgpu' });
  return Object.keys(routes);
}

/**
 * Times each kind of operation the page runs on both labs (after a warm-up call, which on WebGPU
 * compiles the shaders) and routes it to the faster; a software adapter never gets one. The
 * badge says what runs where. Returns the kinds that moved to WebGPU.
 */
async function routeByMeasurement(routes, cpuLab, gpuLab, maps) {
  const digit = maps?.digits?.length ? Float32Array.from(maps.digits[0], (v) => v / 255) : new Float32Array(PIXELS);
  const ops = {
    decode: (lab) => lab.decode('vae', 0.3, -0.2),
    classify: (lab) => lab.classify(digit, 'best'),
    grid: (lab) => lab.decode_grid('vae', 10, -2, 2, -2, 2),
  };
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const time = async (fn, runs) => {
    await fn();
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await fn();
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  const adapter = await describeAdapter();
  const software = adapter?.software ?? false;
  const measured = {};
  for (const [kind, fn] of Object.entries(ops)) {
    measured[kind] = { cpu: await time(() => fn(cpuLab), 5), webgpu: await time(() => fn(gpuLab), 3) };
  }
  const moved = [];
  const chosen = {};
  for (const [kind, m] of Object.entries(measured)) {
    chosen[kind] = !software && m.webgpu < m.cpu ? 'webgpu' : 'cpu';
    if (chosen[kind] === 'webgpu') { routes[kind] = gpuLab; moved.push(kind); }
  }
  const ms = (v) => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
  const name = { cpu: 'CPU', webgpu: 'WebGPU' };
  const badge = $('backend');
  badge.classList.remove('badge-pending', 'badge-gpu', 'badge-cpu');
  badge.classList.add(moved.length ? 'badge-gpu' : 'badge-cpu');
  badge.textContent = Object.entries(chosen).map(([kind, where]) => `${kind}: ${name[where]} ${ms(measured[kind][where])}`).join(' · ');
  const other = (kind) => (chosen[kind] === 'cpu' ? 'webgpu' : 'cpu');
  badge.title = `measured at start-up: ${Object.keys(measured).map((k) => `${k} ${name[other(k)]} ${ms(measured[k][other(k)])}`).join(', ')} on the other backend`;
  const adapterName = gpuLab.backend.adapter;
  $('backend-why').textContent = software
    ? ` — WebGPU (${adapterName}) is a software adapter, not used: ${Object.keys(measured).map((k) => `${k} ${ms(measured[k].webgpu)}`).join(', ')} there`
    : ` — WebGPU · ${adapterName}; ${Object.keys(measured).map((k) => `${k} ${name[other(k)]} ${ms(measured[k][other(k)])}`).join(', ')} on the other`;
  const kinds = new Set(Object.values(chosen));
  document.body.dataset.backend = kinds.size === 2 ? 'mixed' : [...kinds][0];
  document.body.dataset.routes = JSON.stringify(chosen);
  window.digitLabTimings.measured = measured;
  return moved;
}

/** The latent pad: a draggable point decoded live by both models, over the map of test codes. */
function latentExplorer(currentLab, maps, drawnCode) {
  const canvas = $('latent-pad');
  const ctx = canvas.getContext('2d');
  const bounds = { vae: [-4, 4, -4, 4], ae: maps?.ae?.bounds ?? [-10, 10, -10, 10] };
  let model = 'vae';
  const point = { vae: [0, 0], ae: [(bounds.ae[0] + bounds.ae[1]) / 2, (bounds.ae[2] + bounds.ae[3]) / 2] };
  // A model trained in this page: { name, xy, labels, bounds, decode(x, y) }, set by training.js.
  let custom = null;
  const sliders = [$('z1'), $('z2')];

  const decode = latestOnly(async () => {
    const [x, y] = point[model];
    if (model === 'mine') {
      showDigit($('lat-mine'), await custom.decode(x, y));
      return;
    }
    // Each model decodes the point in its own space; the other keeps its last point.
    const lab = currentLab();
    const t0 = performance.now();
    const pixels = await lab.decode(model, x, y);
    window.digitLabTimings.lastDecodeMs = performance.now() - t0;
    showDigit($(model === 'vae' ? 'lat-vae' : 'lat-ae'), pixels);
    const other = model === 'vae' ? 'ae' : 'vae';
    showDigit($(`lat-${other}`), await lab.decode(other, ...point[other]));
  }, 'latent');

  function redraw() {
    const b = bounds[model];
    const scale = scaler(b, canvas);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (model === 'mine') drawScatter(ctx, custom.xy, custom.labels, scale, 1.6, 0.6);
    const map = maps?.[model];
    if (map) drawScatter(ctx, map.xy, maps.labels, scale);
    // Axes through the origin.
    ctx.strokeStyle = '#ccc';
    ctx.beginPath();
    const [ox, oy] = scale.toPx(0, 0);
    ctx.moveTo(0, oy); ctx.lineTo(canvas.width, oy); ctx.moveTo(ox, 0); ctx.lineTo(ox, canvas.height);
    ctx.stroke();
    const code = model === 'mine' ? null : drawnCode();
    if (code) {
      const c = model === 'vae' ? code.vae_mu : code.ae;
      const [px, py] = scale.toPx(c[0], c[1]);
      ctx.strokeStyle = '#d00';
      ctx.lineWidth = 2;
      ctx.beginPath();
      if (model === 'vae') {
        // 2σ ellipse of the posterior q(z|x).
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
    const [px, py] = scale.toPx(...point[model]);
    ctx.fillStyle = '#111';
    ctx.beginPath();
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.stroke();
    sliders.forEach((s, i) => {
      s.min = b[i * 2]; s.max = b[i * 2 + 1];
      s.value = point[model][i];
      $(`z${i + 1}v`).textContent = Number(point[model][i]).toFixed(2);
    });
  }

  function moveTo(x, y) {
    const b = bounds[model];
    point[model] = [Math.min(b[1], Math.max(b[0], x)), Math.min(b[3], Math.max(b[2], y))];
    redraw();
    decode();
  }

  let dragging = false;
  const fromEvent = (e) => {
    const r = canvas.getBoundingClientRect();
    return scaler(bounds[model], canvas).toData((e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height));
  };
  canvas.style.touchAction = 'none';
  canvas.addEventListener('pointerdown', (e) => { dragging = true; canvas.setPointerCapture(e.pointerId); moveTo(...fromEvent(e)); });
  canvas.addEventListener('pointermove', (e) => { if (dragging) moveTo(...fromEvent(e)); });
  for (const t of ['pointerup', 'pointercancel']) canvas.addEventListener(t, () => { dragging = false; });
  sliders.forEach((s, i) => {
    s.oninput = () => {
      const p = [...point[model]];
      p[i] = Number(s.value);
      moveTo(...p);
    };
  });
  for (const r of document.querySelectorAll('input[name=latent-model]')) {
    r.onchange = () => { model = r.value; redraw(); decode(); };
  }
  /** Shows or hides the page-trained model (a radio button and a third decoded image). */
  function showCustom(show) {
    const visible = Boolean(show && custom);
    $('latent-mine').hidden = !visible;
    $('lat-mine-figure').hidden = !visible;
    if (!visible && model === 'mine') {
      document.querySelector('input[name=latent-model][value=vae]').checked = true;
      model = 'vae';
      redraw();
      decode();
    }
  }

  function setCustom(next, show) {
    custom = next;
    if (custom) {
      bounds.mine = custom.bounds;
      const p = point.mine;
      if (!p || p[0] < custom.bounds[0] || p[0] > custom.bounds[1] || p[1] < custom.bounds[2] || p[1] > custom.bounds[3]) {
        point.mine = [(custom.bounds[0] + custom.bounds[1]) / 2, (custom.bounds[2] + custom.bounds[3]) / 2];
      }
      $('latent-mine-name').textContent = custom.name;
      $('lat-mine-caption').textContent = custom.name;
    } else {
      delete point.mine;
    }
    showCustom(show);
    if (custom && model === 'mine') { redraw(); decode(); }
  }

  redraw();
  decode();
  return { redraw, refresh: decode, setCustom, showCustom };
}

/** The four maps of the test digits (ConvAE, VAE, PCA, t-SNE) with a legend and k-NN accuracy. */
function latentMaps(maps) {
  const canvas = $('map');
  legend($('map-legend'));
  if (!maps) {
    $('map-info').textContent = 'Latent maps are missing: run `digit-lab export-maps` and rebuild.';
    return;
  }
  const names = { ae: 'ConvAE code', vae: 'VAE mean μ', pca: 'PCA (2 components)', tsne: 't-SNE (perplexity 30)' };
  const show = (key) => {
    const map = maps[key];
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawScatter(ctx, map.xy, maps.labels, scaler(map.bounds, canvas), 1.4, 0.5);
    $('map-info').textContent = `${names[key]} of the 10,000 test digits · leave-one-out 5-NN accuracy ${(map.knn5 * 100).toFixed(2)}%`;
    for (const b of document.querySelectorAll('[data-map]')) b.setAttribute('aria-pressed', String(b.dataset.map === key));
    document.body.dataset.activeMap = key;
  };
  for (const b of document.querySelectorAll('[data-map]')) b.onclick = () => show(b.dataset.map);
  show('tsne');
}

main().catch(showError);
