// The training mode: trains a ConvAE or VAE on 5,000 MNIST digits (training-panel.js), and
// fine-tunes the classifier on the user's own drawings (teach-panel.js). Both run in a dedicated
// module worker (train-worker.js) that loads the training bundle (www/pkg-full) and the digits
// only when the user opens this mode, so the page's main thread stays free for drawing while a
// model trains. The worker owns the one training loop, so pause, resume and reset in any rhythm
// never start a second one.

import { startTrainingWorker } from './worker-client.js';
import { bundledWeights } from './lab-client.js';
import { trainingPanel } from './training-panel.js';
import { teachPanel } from './teach-panel.js';

const $ = (id) => document.getElementById(id);

/**
 * Wires the training panel and the handwriting panel.
 * `page`: { prefer, showError(error, source), clearError(source), getDrawing(), clearPad(), explorer,
 *   useClassifier(fn | null), models }.
 */
export function setupTraining(page) {
  let worker = null;
  const train = trainingPanel(page);
  const teach = teachPanel(page);
  $('train-open').onclick = async () => {
    $('train-open').disabled = true;
    $('train-open').textContent = 'Loading the training code and 5,000 digits…';
    try {
      worker ??= startTrainingWorker(train.onEvent);
      // The handwriting tuner starts from the bundled classifier: the worker's training bundle
      // carries no weights, so it gets the first-load bundle's (from the lab worker).
      const { loadMs } = await worker.request('load', { weights: await bundledWeights() });
      $('train-ui').hidden = false;
      $('teach-ui').hidden = false;
      $('train-open').hidden = true;
      $('train-loaded').textContent = `Training code and digits loaded in ${(loadMs / 1000).toFixed(1)} s, in a worker: the page stays responsive while a model trains.`;
      document.body.dataset.training = 'open';
      train.ready(worker);
      teach.ready(worker);
    } catch (e) {
      // The next press starts afresh: a worker whose load failed is stopped, not left running.
      worker?.terminate();
      worker = null;
      $('train-open').disabled = false;
      $('train-open').textContent = 'Open training mode';
      page.showError(e, 'train');
    }
  };
  const quietly = (op, args) => worker?.request(op, args).catch((e) => console.warn(e));
  return {
    /** The user started drawing and the page answers on `device`: the worker yields its WebGPU
     * device to the page's answer (up to 5 s, or until `release`) when it trains on it too. */
    hold: (device) => quietly('hold', { ms: 5000, device }),
    release: () => quietly('release'),
  };
}
