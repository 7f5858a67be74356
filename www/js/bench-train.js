// In-browser training speed: samples/s of the ConvAE and the VAE at batch 64 (steady state,
// after a warm-up), and the ConvAE's validation loss after 1 and 5 epochs of the subset.
import init, { LiveTraining } from '../pkg-full/digit_lab_full.js';

const out = document.getElementById('out');
const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

async function main() {
  const params = new URLSearchParams(location.search);
  const prefer = params.get('backend') === 'cpu' ? 'cpu' : 'auto';
  const epochs = Number(params.get('epochs') ?? 5);
  const seconds = Number(params.get('seconds') ?? 6);
  await init();
  const [images, labels] = await Promise.all([bytes('data/mnist-subset-images.idx.gz'), bytes('data/mnist-subset-labels.idx.gz')]);
  const settings = (model, lr) => ({ model, learningRate: lr, batchSize: 64, epochs: Math.max(epochs, 1) + 1, code: 2, seed: 1 });

  // Steady-state speed: warm up (shader compilation, wasm tier-up) for 2 s, then time chunks
  // of steps for `seconds`, readback of the loss included.
  async function speed(model, lr) {
    const run = await LiveTraining.create(prefer, images, labels, settings(model, lr));
    let t = performance.now();
    while (performance.now() - t < 2000) await run.train(1);
    let samples = 0;
    t = performance.now();
    while (performance.now() - t < seconds * 1000) samples += (await run.train(4)).ran * 64;
    const rate = samples / ((performance.now() - t) / 1000);
    const backend = run.backend;
    run.free();
    return { samples_per_s: Math.round(rate), backend };
  }
  const result = { ae: await speed('ae', 5e-3), vae: await speed('vae', 3e-3) };

  // Validation loss (MSE per pixel) after 1 and `epochs` epochs, wall time included.
  if (epochs > 0) {
    const run = await LiveTraining.create(prefer, images, labels, settings('ae', 5e-3));
    const curve = [{ epoch: 0, valid_mse: await run.validate() }];
    const t = performance.now();
    for (const target of [1, epochs]) {
      while (run.progress.epoch < target) await run.train(20);
      curve.push({ epoch: target, valid_mse: await run.validate(), seconds: (performance.now() - t) / 1000 });
    }
    result.ae_validation = curve;
    result.ae_learning_rate = 5e-3;
    run.free();
  }
  out.textContent = JSON.stringify(result, null, 2);
  document.body.dataset.done = 'true';
}

main().catch((e) => { out.textContent = `error: ${e?.message ?? e}`; document.body.dataset.done = 'error'; });
