// What kind of WebGPU adapter this browser offers, asked of navigator.gpu directly (in the page
// or in a worker): a software adapter (SwiftShader, llvmpipe, WARP: a CPU rasteriser) runs the
// models tens of times slower than burn's CPU backend, so the page never routes work to it
// unless `?backend=webgpu` forces it.

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b|software/i;

/**
 * `null` without WebGPU, else `{ software, name }`: `software` when the adapter says it is a
 * fallback adapter or names a software rasteriser.
 */
export async function describeAdapter() {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return null;
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const software = Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter) || SOFTWARE.test(name);
  return { software, name };
}

/** The page's `?backend=`: "cpu", "webgpu" (forced, even a software adapter) or "auto". */
export function requestedBackend(search) {
  const value = new URLSearchParams(search).get('backend');
  return value === 'cpu' || value === 'webgpu' ? value : 'auto';
}
