// Runs www/bench.html (inference latency) or, with the argument `train`, www/bench-train.html
// (in-browser training speed) in headless Chromium on both backends; prints JSON.
// Run: scripts/bench-web [train] (builds the bundles first).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const root = new URL('../../', import.meta.url).pathname;
const port = 8900 + Math.floor(Math.random() * 90);
const server = spawn('python3', ['scripts/serve.py', String(port)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => server.stdout.on('data', (d) => String(d).includes('http://') && resolve()));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const regressions = [];

/** Figures more than 20 % below the recorded baseline (samples/s per backend and model). */
function compareWithBaseline(result) {
  const baseline = JSON.parse(readFileSync(`${root}docs/bench/web-train-baseline.json`, 'utf8'));
  const lines = [];
  for (const model of ['ae', 'vae']) {
    const run = result[model];
    if (!run) continue;
    const backend = run.backend.kind === 'cpu' ? 'cpu' : 'webgpu';
    const recorded = baseline[backend]?.[model];
    if (recorded && run.samples_per_s < 0.8 * recorded) {
      lines.push(`${model} on ${backend}: ${run.samples_per_s} samples/s vs ${recorded} recorded (${Math.round(100 * (1 - run.samples_per_s / recorded))} % lower)`);
    }
  }
  return lines;
}

try {
  const train = process.argv[2] === 'train';
  // WebGPU here is SwiftShader (a CPU rasteriser): time its training speed only, not 5 epochs.
  const queries = train ? ['?epochs=0', '?backend=cpu'] : ['', '?backend=cpu'];
  for (const query of queries) {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/${train ? 'bench-train' : 'bench'}.html${query}`);
    await page.waitForFunction(() => document.body.dataset.done, null, { timeout: 1_200_000 });
    const out = await page.textContent('#out');
    console.log(out);
    if (train) regressions.push(...compareWithBaseline(JSON.parse(out)));
    await page.close();
  }
  for (const line of regressions) console.log(`REGRESSION: ${line}`);
  if (train) console.log(regressions.length ? `${regressions.length} figure(s) dropped by more than 20 %` : 'no figure dropped by more than 20 % from docs/bench/web-train-baseline.json');
} finally {
  await browser.close();
  server.kill();
}
if (regressions.length) process.exitCode = 1;
