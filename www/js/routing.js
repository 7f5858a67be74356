// Where the page's models run: the CPU bundle (www/pkg) first; where the browser has WebGPU, the
// full bundle (www/pkg-full) follows, and each kind of operation moves to WebGPU if it measured
// faster there (or every one, with ?backend=webgpu). The backend badge says what runs where.

import { bundledWeights } from '../pkg/digit_lab.js';
import { loadFullBundle } from './full-bundle.js';
import { describeAdapter } from './adapter.js';
import { PIXELS } from './plot.js';

const $ = (id) => document.getElementById(id);

/** The badge: WebGPU and its adapter, or the CPU backend and why. */
export function showBackend(backend) {
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

/**
 * Loads the full bundle and moves to WebGPU what runs faster there (`routes`, changed in place);
 * `redo[kind]()` redraws what is on screen for each kind that moved. A failure leaves the page
 * on the CPU, with the reason in the badge. Resolves once the backend is settled.
 */
export async function upgradeToWebGpu({ prefer, routes, cpuLab, maps, redo, timings }) {
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
      for (const kind of ['classify', 'grid', 'decode']) if (moved.includes(kind)) redo[kind]();
    }
  } catch (e) {
    // The browser's message (long, with the URL) goes to the tooltip and the console.
    showBackend({ kind: 'cpu', reason: 'the WebGPU bundle failed to load', detail: String(e?.message ?? e) });
    console.warn(e);
  }
}

/** `?backend=webgpu`: every operation on WebGPU, whatever the adapter. */
function forceWebGpu(routes, gpuLab) {
  for (const kind of Object.keys(routes)) routes[kind] = gpuLab;
  showBackend(gpuLab.backend);
  document.body.dataset.routes = JSON.stringify({ classify: 'webgpu', decode: 'webgpu', grid: 'webgpu' });
  return Object.keys(routes);
}

/** Median milliseconds of `runs` calls of `fn`, after a warm-up call (which on WebGPU compiles
 * the shaders). */
async function time(fn, runs) {
  await fn();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

/**
 * Times each kind of operation the page runs on both labs and routes it to the faster; a
 * software adapter never gets one. The badge says what runs where. Returns the kinds that moved
 * to WebGPU.
 */
async function routeByMeasurement(routes, cpuLab, gpuLab, maps) {
  const digit = maps?.digits?.length ? Float32Array.from(maps.digits[0], (v) => v / 255) : new Float32Array(PIXELS);
  const ops = {
    decode: (lab) => lab.decode('vae', 0.3, -0.2),
    classify: (lab) => lab.classify(digit, 'best'),
    grid: (lab) => lab.decode_grid('vae', 10, -2, 2, -2, 2),
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
  showRoutes(measured, chosen, software, gpuLab.backend.adapter);
  return moved;
}

/** The badge after the measurement: each kind's backend and time, the other's in the tooltip. */
function showRoutes(measured, chosen, software, adapterName) {
  const ms = (v) => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
  const name = { cpu: 'CPU', webgpu: 'WebGPU' };
  const kinds = Object.keys(measured);
  const other = (kind) => (chosen[kind] === 'cpu' ? 'webgpu' : 'cpu');
  const onOther = kinds.map((k) => `${k} ${name[other(k)]} ${ms(measured[k][other(k)])}`).join(', ');
  const badge = $('backend');
  badge.classList.remove('badge-pending', 'badge-gpu', 'badge-cpu');
  badge.classList.add(Object.values(chosen).includes('webgpu') ? 'badge-gpu' : 'badge-cpu');
  badge.textContent = kinds.map((kind) => `${kind}: ${name[chosen[kind]]} ${ms(measured[kind][chosen[kind]])}`).join(' · ');
  badge.title = `measured at start-up: ${onOther} on the other backend`;
  $('backend-why').textContent = software
    ? ` — WebGPU (${adapterName}) is a software adapter, not used: ${kinds.map((k) => `${k} ${ms(measured[k].webgpu)}`).join(', ')} there`
    : ` — WebGPU · ${adapterName}; ${onOther} on the other`;
  const backends = new Set(Object.values(chosen));
  document.body.dataset.backend = backends.size === 2 ? 'mixed' : [...backends][0];
  document.body.dataset.routes = JSON.stringify(chosen);
  window.digitLabTimings.measured = measured;
}
