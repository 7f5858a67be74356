// Runs www/bench.html (inference latency) or, with the argument `train`, www/bench-train.html
// (in-browser training speed) in headless Chromium on both backends; prints JSON.
// Run: scripts/bench-web [train] (builds the bundles first).
import { spawn } from 'node:child_process';
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
try {
  const train = process.argv[2] === 'train';
  // WebGPU here is SwiftShader (a CPU rasteriser): time its training speed only, not 5 epochs.
  const queries = train ? ['?epochs=0', '?backend=cpu'] : ['', '?backend=cpu'];
  for (const query of queries) {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/${train ? 'bench-train' : 'bench'}.html${query}`);
    await page.waitForFunction(() => document.body.dataset.done, null, { timeout: 1_200_000 });
    console.log(await page.textContent('#out'));
    await page.close();
  }
} finally {
  await browser.close();
  server.kill();
}
