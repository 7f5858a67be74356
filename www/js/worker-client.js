// The page's side of its training worker (train-worker.js: requests that resolve to the worker's
// answer, and a listener for what the training loop reports) and of its batch worker
// (batch-worker.js, through the lab worker's request channel: lab-client.js's connect).

import { connect } from './lab-client.js';

/** Starts the worker; `onEvent(message)` gets the training loop's news. */
export function startTrainingWorker(onEvent) {
  const worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module', name: 'digit-lab-training' });
  const send = connect(worker, 'training worker', { onEvent });
  /** Sends request `op` with `args`; resolves to the worker's answer. */
  const request = (op, args = {}, transfer = []) => send({ op, ...args }, transfer);
  /** Stops the worker (a failed load's): what is pending is refused, and no more news comes. */
  function terminate() {
    worker.terminate();
    send.stop(new Error('the training worker was stopped'));
  }
  return { request, terminate };
}

/**
 * The batch worker (batch-worker.js) as a lab with the methods it runs (`decode_grid`, `sample`):
 * the same arguments and results as the CPU DigitLab's, computed off the main thread.
 */
export function startBatchWorker() {
  const worker = new Worker(new URL('./batch-worker.js', import.meta.url), { type: 'module', name: 'digit-lab-batch' });
  const request = connect(worker, 'batch worker');
  const call = (method) => (...args) => request({ method, args });
  return { decode_grid: call('decode_grid'), sample: call('sample'), inWorker: true };
}
