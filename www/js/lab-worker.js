// The lab worker: the page's models in a dedicated module worker, so that instantiating the wasm,
// loading the models and running them never block the page's main thread (it only draws).
// It holds the CPU bundle's lab (www/pkg, weights compiled in) from its start, the models brought
// in from files (ImportedModel), and, when the page asks for it (a hardware WebGPU adapter, which
// it asks for the page, or ?backend=webgpu), the full bundle's lab on WebGPU (www/pkg-full:
// fetched only then). It also fetches the latent maps when the page asks (after its first
// answer) and hands them over as typed arrays, so that neither their parsing nor their copy
// weighs on the page.
// Requests {id, op, ...}; answers {id, ok: true, value} or {id, ok: false, error}.

/**
 * The CPU bundle, initialised once: its wasm is requested at once, alongside its JS glue, rather
 * than by the glue once it has loaded (one round trip fewer before the first answer; this module
 * imports nothing statically for the same reason). A load that fails is tried again, both files,
 * by the next request.
 */
const CPU_WASM = new URL('../pkg/digit_lab_bg.wasm', import.meta.url);
let wasmRequest = fetch(CPU_WASM);
wasmRequest.catch(() => {}); // a failure is reported by cpuBundle(), which awaits it
let loadingBundle = null;
function cpuBundle() {
  loadingBundle ??= (async () => {
    const bundle = await import('../pkg/digit_lab.js');
    await bundle.default({ module_or_path: wasmRequest ?? fetch(CPU_WASM) });
    return bundle;
  })().catch((e) => {
    loadingBundle = null;
    wasmRequest = null;
    throw e;
  });
  return loadingBundle;
}

/** The lab methods the page may call; each checks its own arguments in Rust. */
const LAB_METHODS = new Set(['classify', 'checkDigit', 'reconstruct', 'encode', 'decode', 'decode_grid', 'denoise', 'sample', 'interpolate']);
const IMPORTED_METHODS = new Set(['classify', 'encode', 'decode', 'reconstruct']);

/** 'cpu' → the CPU bundle's lab; 'webgpu' → the full bundle's, once made. */
const labs = new Map();
/** Imported models by the handle the page holds. */
const imported = new Map();
let nextHandle = 1;

let starting = null;
/** The CPU bundle and its lab, made once; a start that fails is tried again by the next request. */
function cpuLab() {
  starting ??= (async () => {
    const lab = await (await cpuBundle()).DigitLab.create('cpu');
    labs.set('cpu', lab);
    return lab;
  })().catch((e) => {
    starting = null;
    throw e;
  });
  return starting;
}
cpuLab().catch(() => {}); // start now; a failure is reported to the request that meets it

let makingGpu = null;
/** The full bundle's lab ("auto": WebGPU where burn's runtime comes up, else its CPU fallback),
 * handed the CPU bundle's weights (they are downloaded once). A failed load is tried again. */
function gpuLab() {
  makingGpu ??= (async () => {
    const { loadFullBundle } = await import('./full-bundle.js');
    const [module] = await Promise.all([loadFullBundle(), cpuLab()]);
    const lab = await module.DigitLab.create('auto', (await cpuBundle()).bundledWeights());
    labs.set('webgpu', lab);
    return lab;
  })().catch((e) => {
    makingGpu = null;
    throw e;
  });
  return makingGpu;
}

/** The object a message names: 'cpu', 'webgpu' (once made) or an imported model's handle. */
async function target(lab) {
  if (lab === 'cpu') return cpuLab();
  if (lab === 'webgpu' && labs.has('webgpu')) return labs.get('webgpu');
  if (imported.has(lab)) return imported.get(lab);
  throw new Error(`no lab ${JSON.stringify(lab)} in the lab worker`);
}

/** Plain arrays of numbers as typed arrays (a copy of 10,000 points is then one memcpy). */
function compactMaps(maps) {
  for (const key of ['ae', 'vae', 'pca', 'tsne']) if (Array.isArray(maps[key]?.xy)) maps[key].xy = Float32Array.from(maps[key].xy);
  if (Array.isArray(maps.labels)) maps.labels = Uint8Array.from(maps.labels);
  if (Array.isArray(maps.digits)) maps.digits = maps.digits.map((d) => Uint8Array.from(d));
  return maps;
}

const ops = {
  /** The CPU lab's backend, once it is made. */
  async start() {
    return (await cpuLab()).backend;
  },
  async call({ lab, method, args }) {
    const methods = lab === 'cpu' || lab === 'webgpu' ? LAB_METHODS : IMPORTED_METHODS;
    if (!methods.has(method)) throw new Error(`unknown method ${JSON.stringify(method)}`);
    if (!Array.isArray(args)) throw new Error(`${method}(): the arguments must be an array`);
    const object = await target(lab);
    return object[method](...args);
  },
  /** The WebGPU adapter this worker would get (asking costs the page's main thread ~10 ms). */
  adapter: async () => (await import('./adapter.js')).describeAdapter(),
  /** Makes the full bundle's lab; its backend (WebGPU, or the CPU and why). */
  async webgpu() {
    const lab = await gpuLab();
    if (lab.backend.kind === 'webgpu') return lab.backend;
    // The full bundle fell back to the CPU: nothing here for WebGPU calls.
    labs.delete('webgpu');
    lab.free();
    makingGpu = null;
    return lab.backend;
  },
  async maps() {
    const url = new URL('../pkg/maps.json', import.meta.url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url.pathname}: ${response.status} ${response.statusText}`);
    return compactMaps(await response.json());
  },
  async weights() {
    return (await cpuBundle()).bundledWeights();
  },
  async import({ args }) {
    if (!Array.isArray(args)) throw new Error('ImportedModel.create(): the arguments must be an array');
    const model = await (await cpuBundle()).ImportedModel.create(...args);
    const handle = `imported-${nextHandle++}`;
    imported.set(handle, model);
    return { handle, summary: model.summary };
  },
  free({ handle }) {
    imported.get(handle)?.free();
    imported.delete(handle);
  },
};

/** The buffers of the typed arrays in `value` (itself or its fields) that own them whole, to move
 * rather than copy; a view into wasm memory is copied. */
function transferables(value) {
  const out = [];
  const add = (v) => {
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.push(v.buffer);
  };
  add(value);
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) Object.values(value).forEach(add);
  return [...new Set(out)];
}

self.onmessage = async ({ data }) => {
  const { id, op } = data ?? {};
  try {
    if (!Object.hasOwn(ops, op)) throw new Error(`unknown request ${JSON.stringify(op)}`);
    const value = await ops[op](data);
    self.postMessage({ id, ok: true, value }, transferables(value));
  } catch (e) {
    self.postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
