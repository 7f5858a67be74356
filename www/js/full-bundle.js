// The page's second wasm bundle (www/pkg-full): the same API on WebGPU with the CPU fallback,
// plus the training mode. The first load is the small CPU-only bundle (www/pkg); the lab worker
// fetches this one after the first answer, only for a hardware WebGPU adapter (or with
// ?backend=webgpu); the training worker loads its own copy when the training mode opens. Within
// a worker every user shares one module instance, so it creates one WebGPU device (burn's wgpu
// runtime refuses a second).

let loading = null;

/**
 * The initialised module of www/pkg-full; later calls share the same promise. A load that
 * fails is forgotten, so the next call tries again (a network error need not be the last word).
 */
export function loadFullBundle() {
  loading ??= (async () => {
    const module = await import('../pkg-full/digit_lab_full.js');
    await module.default();
    return module;
  })().catch((e) => {
    loading = null;
    throw e;
  });
  return loading;
}
