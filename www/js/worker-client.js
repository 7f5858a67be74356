// The page's side of its training worker (train-worker.js: requests that resolve to the worker's
// answer, and a listener for what the training loop reports) and of its batch worker
// (batch-worker.js, through the lab worker's request channel: lab-client.js's connect).

import { connect } from './lab-client.js';

/** Starts the worker; `onEvent(message)` gets the training loop's news. */
export function startTrainingWorker(onEvent) {
  const worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module', name: 'digit-lab-training' });
  const pending = new Map();
  let nextId = 1;
  let broken = null;
  const fail = (error) => {
    broken = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    onEvent({ event: 'error', gen: null, message: error.message });
  };
  worker.onmessage = ({ data }) => {
    if (data.id === undefined) { onEvent(data); return; }
    const request = pending.get(data.id);
    if (!request) return;
    pending.delete(data.id);
    if (data.ok) request.resolve(data.value);
    else request.reject(new Error(data.error));
  };
  // A worker script that fails to load or throws at the top level (e.g. no module workers).
  worker.onerror = (e) => { e.preventDefault?.(); fail(new Error(`the training worker failed: ${e.message ?? 'it could not start'}`)); };
  worker.onmessageerror = () => fail(new Error('the training worker sent a message that cannot be read'));

  /** Sends request `op` with `args`; resolves to the worker's answer. */
  function request(op, args = {}, transfer = []) {
    if (broken) return Promise.reject(broken);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, op, ...args }, transfer);
    });
  }
  /** Stops the worker (a failed load's): what is pending is refused, and no more news comes. */
  function terminate() {
    worker.terminate();
    broken ??= new Error('the training worker was stopped');
    for (const { reject } of pending.values()) reject(broken);
    pending.clear();
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
