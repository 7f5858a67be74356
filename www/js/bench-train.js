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
  const settings = (model, lr, runEpochs = Math.max(epochs, 1) + 1) => ({ model, learningRate: lr, batchSize: 64, epochs: runEpochs, code: 2, seed: 1 });

  // Steady-state speed, run as the page's training worker runs it: chunks of steps sized to
  // take ~100 ms, the loss read back after each. Warm-up until two consecutive 1-s windows
  // agree within 5 % (at most 12 s): shader compilation, and the browser's optimising compiler,
  // which works through a large module in the background for seconds. Then `seconds` timed.
  async function speed(model, lr) {
    let chunk = 1;
    // Enough epochs (the most a run may have) that the timed steps never reach the end.
    const run = await LiveTraining.create(prefer, images, labels, settings(model, lr, 100));
    const window = async (ms) => {
      let samples = 0;
      const t = performance.now();
      while (performance.now() - t < ms) {
        const t0 = performance.now();
        samples += (await run.train(chunk)).ran * 64;
        const took = performance.now() - t0;
        chunk = Math.max(1, Math.min(64, Math.round(chunk * Math.min(2, Math.max(0.5, 100 / Math.max(took, 1))))));
      }
      return samples / ((performance.now() - t) / 1000);
    };
    const start = performance.now();
    let previous = await window(1000);
    for (;;) {
      const rate = await window(1000);
      if (Math.abs(rate - previous) <= 0.05 * previous || performance.now() - start > 12_000) break;
      previous = rate;
    }
    const warmup_s = (performance.now() - start) / 1000;
    const rate = await window(seconds * 1000);
    const backend = run.backend;
    run.free();
    return { samples_per_s: Math.round(rate), warmup_s: Math.round(warmup_s * 10) / 10, backend };
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
