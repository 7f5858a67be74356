// The batch worker: the CPU bundle's models (www/pkg) in a dedicated module worker, for the
// operations that decode many digits in one call (the manifold grid, sampling), so that on the
// CPU backend a 30×30 grid (~0.2 s of wasm) never blocks the page's main thread. Requests are
// {id, method, args}; answers {id, ok: true, value: Float32Array} or {id, ok: false, error}.
// The wasm API checks every argument, as on the main thread.

import init, { DigitLab } from '../pkg/digit_lab.js';

/** The methods this worker runs: each resolves to pixels. */
const METHODS = new Set(['decode_grid', 'sample']);

let loading = null;
/** The lab, made once; a load that fails is tried again by the next request. */
function lab() {
  loading ??= (async () => {
    await init();
    return DigitLab.create('cpu');
  })().catch((e) => {
    loading = null;
    throw e;
  });
  return loading;
}
lab().catch(() => {}); // start loading now; a failure is reported to the request that meets it

self.onmessage = async ({ data }) => {
  const { id, method, args } = data ?? {};
  try {
    if (!METHODS.has(method)) throw new Error(`unknown method ${JSON.stringify(method)}`);
    if (!Array.isArray(args)) throw new Error(`${method}(): the arguments must be an array`);
    const value = Float32Array.from(await (await lab())[method](...args));
    self.postMessage({ id, ok: true, value }, [value.buffer]);
  } catch (e) {
    self.postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
