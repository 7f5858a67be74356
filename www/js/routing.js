// Where the page's models run. The CPU bundle's lab (in the lab worker) answers first. The
// adapter is asked before anything else is fetched: only for a hardware one (or with
// ?backend=webgpu) does the lab worker load the full bundle (www/pkg-full) and make a WebGPU lab.
// Trust, then use: that lab's answers are compared with the CPU's, and no operation moves to it
// unless they agree within TOLERANCE (not even when forced); then each kind moves to WebGPU if
// it measured faster there (or every one, with ?backend=webgpu). The badge says what runs where,
// and why.

import { webGpuLab, workerAdapter } from './lab-client.js';

const $ = (id) => document.getElementById(id);

/**
 * The largest difference accepted between the backends' answers (pixels in [0, 1] and class
 * probabilities). SwiftShader's WebGPU differs from burn's CPU backend by at most 1.5e-6 on the
 * bundled models (float rounding: another order of summation); 1e-3 is a quarter of one grey
 * level (1/255), so answers within it look the same, while a kernel gone wrong (a shader that
 * failed validation returns zeros or stale data) is off by 0.1 or more.
 */
export const TOLERANCE = 1e-3;

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
 * Whether to try WebGPU, asked of the adapter before anything is fetched for it: `{ upgrade,
 * badge }`, the badge being what to show while the CPU answers (and for good, without upgrade).
 */
export async function chooseBackend(prefer) {
  const cpu = (reason) => ({ upgrade: false, badge: { kind: 'cpu', reason } });
  if (prefer === 'cpu') return cpu('CPU backend requested (?backend=cpu)');
  if (!navigator.gpu) return cpu('this browser has no WebGPU (navigator.gpu is missing)');
  // Asked where the models run (the lab worker), off the main thread.
  const adapter = await workerAdapter();
  if (!adapter) return cpu('this browser offers no WebGPU adapter');
  if (adapter.software && prefer !== 'webgpu') {
    return cpu(`WebGPU (${adapter.name}) is a software adapter, not used (?backend=webgpu forces it)`);
  }
  return { upgrade: true, badge: { kind: 'cpu', reason: 'loading the WebGPU bundle…' } };
}

/**
 * Loads the WebGPU lab, checks its answers and moves to it what runs faster there (`routes`,
 * changed in place); `redo[kind]()` redraws what is on screen for each kind that moved. A
 * failure or a disagreement leaves the page on the CPU, with the reason in the badge.
 */
export async function upgradeToWebGpu({ prefer, routes, cpuLab, redo, timings }) {
  try {
    timings.upgradeStart = performance.now();
    const gpuLab = await webGpuLab();
    if (gpuLab.backend.kind !== 'webgpu') {
      showBackend(gpuLab.backend);
      return;
    }
    showBackend({ kind: 'cpu', reason: `comparing the answers of WebGPU (${gpuLab.backend.adapter}) with the CPU's…` });
    const digit = await cpuLab.decode('vae', 0.3, -0.2);
    const trust = await compareAnswers(cpuLab, gpuLab, digit);
    timings.compared = trust.differences;
    if (!trust.agree) {
      showBackend({ kind: 'cpu', reason: trust.why, detail: `${trust.why}; largest difference per operation: ${JSON.stringify(trust.differences)} (tolerance ${TOLERANCE})` });
      return;
    }
    const moved = prefer === 'webgpu'
      ? forceWebGpu(routes, gpuLab)
      : await routeByMeasurement(routes, cpuLab, gpuLab, digit);
    timings.upgraded = performance.now();
    // Redo what is on screen where it now runs.
    for (const kind of ['classify', 'grid', 'decode']) if (moved.includes(kind)) redo[kind]();
  } catch (e) {
    // The browser's message (long, with the URL) goes to the tooltip and the console.
    showBackend({ kind: 'cpu', reason: 'the WebGPU bundle failed to load', detail: String(e?.message ?? e) });
    console.warn(e);
  }
}

/** The largest absolute difference between two lists of numbers (Infinity if their lengths
 * differ or a value is not a number). */
function maxDifference(a, b) {
  if (a?.length !== b?.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

const argmax = (values) => values.indexOf(Math.max(...values));

/** What the comparison runs on both labs, and how far apart each answer is. */
const PROBES = {
  decode: async (cpu, gpu) => maxDifference(await cpu.decode('vae', 0.3, -0.2), await gpu.decode('vae', 0.3, -0.2)),
  classify: async (cpu, gpu, digit) => {
    const [a, b] = [await cpu.classify(digit, 'best'), await gpu.classify(digit, 'best')];
    return argmax(a) === argmax(b) ? maxDifference(a, b) : Infinity;
  },
  reconstruct: async (cpu, gpu, digit) => {
    const [a, b] = [await cpu.reconstruct(digit), await gpu.reconstruct(digit)];
    return Math.max(maxDifference(a.ae, b.ae), maxDifference(a.vae, b.vae));
  },
  grid: async (cpu, gpu) => maxDifference(await cpu.decode_grid('vae', 10, -2, 2, -2, 2), await gpu.decode_grid('vae', 10, -2, 2, -2, 2)),
};

/**
 * Runs the same decode, classification, reconstruction and grid on both labs: `{ agree,
 * differences, why }`, `agree` when every answer is within TOLERANCE of the CPU's (and the
 * classes agree).
 */
async function compareAnswers(cpuLab, gpuLab, digit) {
  const differences = {};
  for (const [kind, probe] of Object.entries(PROBES)) differences[kind] = await probe(cpuLab, gpuLab, digit);
  const [kind, worst] = Object.entries(differences).reduce((a, b) => (b[1] > a[1] ? b : a));
  const how = Number.isFinite(worst) ? `max |Δ| = ${worst.toPrecision(2)}, in ${kind}` : `in ${kind}: another class, length or a non-number`;
  return { agree: worst <= TOLERANCE, differences, why: `WebGPU answers differ from the CPU's (${how}): not used` };
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
 * Times each kind of operation as the page runs it (through its worker) on both backends and
 * routes it to the faster. The badge says what runs where. Returns the kinds that moved to WebGPU.
 */
async function routeByMeasurement(routes, cpuLab, gpuLab, digit) {
  const ops = {
    decode: (lab) => lab.decode('vae', 0.3, -0.2),
    classify: (lab) => lab.classify(digit, 'best'),
    grid: (lab) => lab.decode_grid('vae', 10, -2, 2, -2, 2),
  };
  const onCpu = { decode: cpuLab, classify: cpuLab, grid: routes.grid };
  const measured = {};
  for (const [kind, fn] of Object.entries(ops)) {
    measured[kind] = { cpu: await time(() => fn(onCpu[kind]), 5), webgpu: await time(() => fn(gpuLab), 3) };
  }
  const moved = [];
  const chosen = {};
  for (const [kind, m] of Object.entries(measured)) {
    chosen[kind] = m.webgpu < m.cpu ? 'webgpu' : 'cpu';
    if (chosen[kind] === 'webgpu') { routes[kind] = gpuLab; moved.push(kind); }
  }
  showRoutes(measured, chosen, gpuLab.backend.adapter);
  return moved;
}

/** The badge after the measurement: each kind's backend and time, the other's in the tooltip. */
function showRoutes(measured, chosen, adapterName) {
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
  $('backend-why').textContent = ` — WebGPU · ${adapterName}; ${onOther} on the other; answers within ${TOLERANCE} of the CPU's`;
  const backends = new Set(Object.values(chosen));
  document.body.dataset.backend = backends.size === 2 ? 'mixed' : [...backends][0];
  document.body.dataset.routes = JSON.stringify(chosen);
  window.digitLabTimings.measured = measured;
}
