// Page entry: loads the wasm module and the models, shows the backend, wires the panels.
// All model work goes through the wasm API (DigitLab); the panels only move pixels around.
// The first load is the small CPU-only bundle (www/pkg), so the first result comes quickly;
// where the browser has WebGPU, the full bundle (www/pkg-full) follows and takes over.

import './offline.js';
import init, { DigitLab } from '../pkg/digit_lab.js';
import { requestedBackend } from './adapter.js';
import { showError, clearError } from './errors.js';
import { showBackend, upgradeToWebGpu } from './routing.js';
import { setupDrawing } from './draw-panel.js';
import { setupDenoiser } from './denoise-panel.js';
import { latentExplorer } from './latent-explorer.js';
import { latentMaps } from './maps-panel.js';
import { setupManifold, setupSamples, setupInterpolation } from './generate-panels.js';
import { setupTraining } from './training.js';
import { setupModels } from './models.js';
import { startBatchWorker } from './worker-client.js';

const timings = (window.digitLabTimings = { start: performance.now() });

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

/**
 * The CPU bundle's lab and the maps; `routes` says which lab runs each kind of operation: the
 * CPU one until WebGPU has proven faster, and many digits in one call (the grid, samples) in a
 * worker, off the main thread.
 */
async function startLabs(prefer, upgradeToGpu) {
  await init();
  const [cpuLab, maps] = await Promise.all([DigitLab.create('cpu'), loadMaps()]);
  const routes = { classify: cpuLab, decode: cpuLab, grid: startBatchWorker() };
  timings.ready = performance.now();
  showBackend({
    kind: 'cpu',
    reason: prefer === 'cpu' ? 'CPU backend requested (?backend=cpu)'
      : upgradeToGpu ? 'loading the WebGPU bundle…' : 'this browser has no WebGPU (navigator.gpu is missing)',
  });
  return { cpuLab, maps, routes };
}

/** Every panel, in the page's order; returns what the WebGPU upgrade redraws. */
async function setupPanels(prefer, maps, labFor) {
  const drawing = setupDrawing({ labFor, timings });
  drawing.setTestDigits(maps?.digits, maps?.digit_labels);
  await setupDenoiser({ labFor, maps, currentDrawing: drawing.currentDrawing });
  const latent = latentExplorer(() => labFor('decode'), maps, drawing.drawnCode);
  drawing.setExplorer(latent);
  latentMaps(maps);
  const manifold = setupManifold({ labFor, timings });
  setupSamples({ labFor, aeGaussian: maps?.ae_gaussian });
  setupInterpolation({ labFor, currentDrawing: drawing.currentDrawing });
  // Models brought in from files or trained here (kept in IndexedDB), and the training mode
  // (loaded on demand).
  const useClassifier = drawing.useClassifier;
  const models = setupModels({ showError, clearError, maps, explorer: latent, useClassifier });
  drawing.setTraining(setupTraining({
    prefer,
    showError,
    clearError,
    getDrawing: drawing.currentDrawing,
    clearPad: drawing.clearPad,
    explorer: latent,
    useClassifier,
    models,
  }));
  return { classify: drawing.classify, grid: manifold, decode: latent.refresh };
}

async function main() {
  // "auto": each kind of operation runs where it measured faster; "cpu" or "webgpu": forced.
  const prefer = requestedBackend(location.search);
  const upgradeToGpu = prefer !== 'cpu' && Boolean(navigator.gpu);
  const { cpuLab, maps, routes } = await startLabs(prefer, upgradeToGpu);
  const redo = await setupPanels(prefer, maps, (kind) => routes[kind]);
  timings.interactive = performance.now();
  // WebGPU: the full bundle takes over once it has loaded and its device works.
  if (upgradeToGpu) await upgradeToWebGpu({ prefer, routes, cpuLab, maps, redo, timings });
  document.body.dataset.backendSettled = 'true';
}

main().catch(showError);
