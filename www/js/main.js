// Page entry: starts the lab worker (lab-worker.js: the wasm and the models, off the main thread)
// at once, so that its download and start overlap the loading of the panels' code; then wires the
// panels, fetches the latent maps after the first answer, and settles the backend (routing.js).
// The main thread only draws. The first load is the small CPU-only bundle (www/pkg); the
// WebGPU/training bundle (www/pkg-full) is fetched only for a hardware WebGPU adapter (or with
// ?backend=webgpu), and by the training mode when it opens.

// Its static imports import nothing themselves: the lab worker starts as soon as they are here.
import { registerWhenIdle } from './offline.js';
import { startLabWorker, cpuLab, loadMaps } from './lab-client.js';
import { requestedBackend } from './adapter.js';

/** The error box (errors.js, loaded with the panels). */
const showError = async (error) => (await import('./errors.js')).showError(error);

const timings = (window.digitLabTimings = { start: performance.now() });
let firstAnswer;
const answered = new Promise((resolve) => { firstAnswer = resolve; });
startLabWorker({ firstAnswer: (ms) => { timings.firstAnswer = ms; firstAnswer(); } });

/**
 * The batch worker (grids and samples: many digits in one call) as a lab, started once the page
 * has its first answer: its copy of the CPU bundle then comes from the HTTP cache instead of
 * competing with the lab worker's download and start.
 */
function batchWorkerAfter(ready) {
  let lab = null;
  const get = async () => {
    await ready;
    const { startBatchWorker } = await import('./worker-client.js');
    return (lab ??= startBatchWorker());
  };
  const call = (method) => async (...args) => (await get())[method](...args);
  return { decode_grid: call('decode_grid'), sample: call('sample'), inWorker: true };
}

async function loadMapsOrNull() {
  try {
    return await loadMaps();
  } catch (e) {
    console.warn('latent maps unavailable', e);
    return null;
  }
}

async function main() {
  // "auto": each kind of operation runs where it measured faster; "cpu" or "webgpu": forced.
  const prefer = requestedBackend(location.search);
  const lab = cpuLab();
  // Which lab runs each kind of operation: the CPU one until WebGPU has proven faster (and
  // right), and many digits in one call (the grid, samples) in a worker of their own.
  // The batch worker starts after the first answer (or at once if the lab failed: its own
  // error then names what failed in the panels it serves).
  const started = lab.ready.then(() => answered, () => {});
  const routes = { classify: lab, decode: lab, grid: batchWorkerAfter(started) };
  const [{ setupPanels }, routing] = await Promise.all([import('./panels.js'), import('./routing.js')]);
  const choice = routing.chooseBackend(prefer);
  lab.ready.then(() => { timings.ready = performance.now(); return choice; })
    .then(({ badge }) => routing.showBackend(badge), showError);
  const page = setupPanels({ prefer, labFor: (kind) => routes[kind], timings });
  timings.interactive = performance.now();
  await answered;
  await page.withMaps(await loadMapsOrNull());
  const { upgrade } = await choice;
  if (upgrade) await routing.upgradeToWebGpu({ prefer, routes, cpuLab: lab, redo: page.redo, timings });
  document.body.dataset.backendSettled = 'true';
}

// Offline use is set up once the page has settled, whether or not its models loaded.
main().catch(showError).finally(registerWhenIdle);
