// Runs www/bench.html in headless Chromium on both backends and prints the latencies as JSON.
// Run: scripts/bench-web (builds the bundle first).
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
  for (const query of ['', '?backend=cpu']) {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/bench.html${query}`);
    await page.waitForFunction(() => document.body.dataset.done, null, { timeout: 600_000 });
    console.log(await page.textContent('#out'));
    await page.close();
  }
} finally {
  await browser.close();
  server.kill();
}
