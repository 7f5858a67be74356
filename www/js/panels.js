// Every panel of the page, wired in two steps: what answers at once (the drawing, the latent
// explorer, the manifold, the interpolation, the denoiser's buttons), then, once the latent maps
// have arrived (they load after the first answer), what needs them (the denoiser's first test
// digit, the maps, the AE's samples, the models brought in from files) and the training mode.

import { showError, clearError } from './errors.js';
import { setupDrawing } from './draw-panel.js';
import { setupDenoiser } from './denoise-panel.js';
import { latentExplorer } from './latent-explorer.js';
import { latentMaps } from './maps-panel.js';
import { setupManifold, setupSamples, setupInterpolation } from './generate-panels.js';
import { setupTraining } from './training.js';
import { setupModels } from './models.js';

/** Enables the controls (disabled in the HTML) whose panel has just been wired. */
function enable(selector) {
  for (const control of document.querySelectorAll(selector)) control.disabled = false;
}

/** Lets the browser paint and handle input between two pieces of set-up (each its own task). */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The panels that need no maps. `labFor(kind)` is the lab that runs `kind` now. Returns
 * `withMaps(maps)`, which wires the rest (`maps` null where they failed to load), and `redo`:
 * what the WebGPU upgrade redraws for each kind of operation that moved.
 */
export function setupPanels({ prefer, labFor, timings }) {
  const drawing = setupDrawing({ labFor, timings });
  const latent = latentExplorer(() => labFor('decode'), null, drawing.drawnCode);
  drawing.setExplorer(latent);
  const manifold = setupManifold({ labFor, timings });
  setupInterpolation({ labFor, currentDrawing: drawing.currentDrawing });
  const denoiser = setupDenoiser({ labFor, currentDrawing: drawing.currentDrawing });

  async function withMaps(maps) {
    await nextTask();
    drawing.setTestDigits(maps?.digits, maps?.digit_labels);
    latent.setMaps(maps);
    await nextTask();
    latentMaps(maps);
    enable('[data-map]');
    await nextTask();
    setupSamples({ labFor, aeGaussian: maps?.ae_gaussian });
    enable('#sample-vae');
    await denoiser.setMaps(maps);
    // Models brought in from files or trained here (kept in IndexedDB), and the training mode
    // (its code loads when it opens).
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
    enable('#train-open, #model-files');
  }
  return { withMaps, redo: { classify: drawing.classify, grid: manifold, decode: latent.refresh } };
}
