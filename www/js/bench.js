// Latency of the wasm API calls, readback included: median and p90 over repeated calls after
// warm-up, and the time from module start to the first classification. The CPU backend runs
// the page's first-load bundle (www/pkg), WebGPU the full bundle (www/pkg-full), as in the page.

const out = document.getElementById('out');
const quantile = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// Warm-up runs for at least `warmupMs` (and 3 calls): Chromium first runs wasm in its baseline
// compiler and optimises hot functions in the background, so early calls are not steady state.
async function time(fn, repeats, warmupMs = 2000) {
  const start = performance.now();
  for (let i = 0; i < 3 || performance.now() - start < warmupMs; i++) await fn(i);
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { median_ms: quantile(ms, 0.5), p90_ms: quantile(ms, 0.9), calls: repeats };
}

async function main() {
  const params = new URLSearchParams(location.search);
  const prefer = params.get('backend') === 'cpu' ? 'cpu' : 'auto';
  const repeats = Number(params.get('repeats') ?? 50);
  const t0 = performance.now();
  // The CPU bundle carries the weights; the full bundle is handed them, as in the page.
  const cpu = await import('../pkg/digit_lab.js');
  await cpu.default();
  const module = prefer === 'cpu' ? cpu : await import('../pkg-full/digit_lab_full.js');
  if (module !== cpu) await module.default();
  const lab = await module.DigitLab.create(prefer, prefer === 'cpu' ? undefined : cpu.bundledWeights());
  const image = new Float32Array(784);
  for (let y = 6; y < 22; y++) image[y * 28 + 14] = 1; // a "1"
  await lab.classify(image, 'best');
  const firstResultMs = performance.now() - t0;
  const result = {
    backend: lab.backend,
    first_result_ms: firstResultMs,
    // The ConvAE decoder is the model of the speed goals (PROTOCOL.md's paper model); the VAE's
    // decoder does about ten times the arithmetic.
    decode_ae: await time((i) => lab.decode('ae', (i % 7) - 3, 1.5), repeats),
    decode_vae: await time((i) => lab.decode('vae', (i % 7) / 3 - 1, 0.5), repeats),
    classify: await time(() => lab.classify(image, 'best'), repeats),
    grid_20x20_ae: await time(() => lab.decode_grid('ae', 20, -20, 20, -20, 20), Math.max(5, repeats / 5)),
    grid_20x20_vae: await time(() => lab.decode_grid('vae', 20, -2, 2, -2, 2), Math.max(5, repeats / 5)),
    denoise_wide: await time((i) => lab.denoise(image, 0.3, i, 'dae_wide'), Math.max(5, repeats / 5)),
  };
  out.textContent = JSON.stringify(result, null, 2);
  document.body.dataset.done = 'true';
}

main().catch((e) => { out.textContent = `error: ${e?.message ?? e}`; document.body.dataset.done = 'error'; });
