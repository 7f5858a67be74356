// The page's side of the lab worker (lab-worker.js): labs with the DigitLab methods the panels
// call (each resolves to what the wasm API returns), the imported models, the latent maps and the
// bundled weights, all computed off the main thread. One lab worker per page, started by main.js
// before the panels' code loads, so that its download and instantiation overlap theirs (this
// module imports nothing, so that main.js can start it one round trip sooner).

/** What the panels call on a lab; each checks its arguments in Rust, in the worker. */
const LAB_METHODS = ['classify', 'checkDigit', 'reconstruct', 'encode', 'decode', 'decode_grid', 'denoise', 'sample', 'interpolate'];
const IMPORTED_METHODS = ['classify', 'encode', 'decode', 'reconstruct'];

/**
 * Requests to a worker that answers {id, ok, value | error}: `request(message, transfer)`
 * resolves to the worker's value; a message without an id is news for `onEvent`. A worker that
 * fails (its script does not load, it throws at the top level, or a message cannot be read)
 * refuses what is pending and every later request with an error naming it (`name`), also told to
 * `onEvent`; so does a message that cannot be sent. `request.stop(error)` does the same without
 * the news (the worker was stopped on purpose).
 */
export function connect(worker, name, { onEvent = null } = {}) {
  const pending = new Map();
  let nextId = 1;
  let broken = null;
  const stop = (error) => {
    broken ??= error;
    for (const { reject } of pending.values()) reject(broken);
    pending.clear();
  };
  const fail = (error) => {
    stop(error);
    onEvent?.({ event: 'error', gen: null, message: error.message });
  };
  worker.onmessage = ({ data }) => {
    if (onEvent && data?.id === undefined) { onEvent(data); return; }
    const request = pending.get(data?.id);
    if (!request) return;
    pending.delete(data.id);
    if (data.ok) request.resolve(data.value);
    else request.reject(new Error(data.error));
  };
  worker.onerror = (e) => { e.preventDefault?.(); fail(new Error(`the ${name} failed: ${e.message ?? 'it could not start'}`)); };
  worker.onmessageerror = () => fail(new Error(`the ${name} sent a message that cannot be read`));
  const request = (message, transfer = []) => {
    if (broken) return Promise.reject(broken);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ ...message, id }, transfer);
      } catch (e) {
        // An argument the browser cannot copy to a worker (a function, a DOM object…).
        pending.delete(id);
        reject(new Error(`${message.method ?? message.op}(): ${e?.message ?? e}`));
      }
    });
  };
  request.stop = stop;
  return request;
}

let request = null;
let answered = null;
/** Called once, with the time, when the first answer of a model reaches the page. */
let onFirstAnswer = () => {};

/** Starts the page's lab worker (once); `firstAnswer(ms)` hears of the first model answer. */
export function startLabWorker({ firstAnswer } = {}) {
  if (firstAnswer) onFirstAnswer = firstAnswer;
  if (!request) {
    const worker = new Worker(new URL('./lab-worker.js', import.meta.url), { type: 'module', name: 'digit-lab-models' });
    request = connect(worker, 'lab worker');
  }
  return request;
}

const send = (message) => startLabWorker()(message);

/** A call of `method` on the worker's `lab` ('cpu', 'webgpu' or an imported model's handle). */
async function call(lab, method, args) {
  const value = await send({ op: 'call', lab, method, args });
  if (!answered) {
    answered = performance.now();
    onFirstAnswer(answered);
  }
  return value;
}

/** A lab whose methods run in the worker: `which` is 'cpu' or 'webgpu'; `backend` is set once
 * the worker has made it. */
function workerLab(which, backend = null) {
  const lab = { backend, inWorker: true };
  for (const method of LAB_METHODS) lab[method] = (...args) => call(which, method, args);
  return lab;
}

/** The CPU bundle's lab, at once: its calls wait in the worker until it is made (`ready`). */
export function cpuLab() {
  const lab = workerLab('cpu');
  lab.ready = send({ op: 'start' }).then((backend) => { lab.backend = backend; return lab; });
  return lab;
}

/** Loads the full bundle in the worker; resolves to its lab on WebGPU, or to `{ backend }` saying
 * why not (the full bundle fell back to its CPU backend). */
export async function webGpuLab() {
  const backend = await send({ op: 'webgpu' });
  return backend.kind === 'webgpu' ? workerLab('webgpu', backend) : { backend };
}

/** The WebGPU adapter, asked in the worker: `null` or `{ software, name }` (adapter.js). */
export const workerAdapter = () => send({ op: 'adapter' });

/** The bundled latent maps (maps.json), with typed arrays for its points, labels and digits. */
export const loadMaps = () => send({ op: 'maps' });

/** The weights compiled into the CPU bundle, `{manifest, files}`, for the training bundle. */
export const bundledWeights = () => send({ op: 'weights' });

/**
 * Models brought in from files, checked and run in the worker, with the wasm API's
 * ImportedModel's shape: `create(backend, manifest, file, bytes)` resolves to a model with its
 * `summary`, `classify`, `encode`, `decode`, `reconstruct` and `free()`.
 */
export const ImportedModel = {
  async create(...args) {
    const { handle, summary } = await send({ op: 'import', args });
    const model = { summary };
    for (const method of IMPORTED_METHODS) model[method] = (...a) => call(handle, method, a);
    model.free = () => { send({ op: 'free', handle }).catch((e) => console.warn(e)); };
    return model;
  },
};
