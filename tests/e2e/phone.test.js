// The page on a phone: a 390×844 touch screen (isMobile, hasTouch), digits drawn with a finger
// (touch events through the DevTools protocol, as a touch screen sends them), the latent point
// dragged by touch, and nothing wider than the screen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useServedPage, browserOf, origin, shots, canvasHash } from './harness.js';

useServedPage();

/** Opens the page in a phone-sized touch context and waits until its backend has settled. */
async function openPhonePage(query = '') {
  const context = await browserOf().newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${origin}/${query}`);
  await page.waitForFunction(() => document.body.dataset.backendSettled === 'true', null, { timeout: 180_000 });
  return { page, errors, cdp: await context.newCDPSession(page) };
}

/** One finger along `points` (fractions of the element's box), in small steps. */
async function swipe(page, cdp, selector, points) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  const at = ([fx, fy]) => [{ x: box.x + fx * box.width, y: box.y + fy * box.height, id: 1 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(points[0]) });
  for (let i = 1; i < points.length; i++) {
    const [[x0, y0], [x1, y1]] = [points[i - 1], points[i]];
    for (let s = 1; s <= 4; s++) {
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at([x0 + ((x1 - x0) * s) / 4, y0 + ((y1 - y0) * s) / 4]) });
    }
  }
  // The finger rests before it lifts: a lift at speed starts a fling, and Chromium takes the next
  // tap for one that stops the fling, which clicks nothing.
  await page.waitForTimeout(100);
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(points.at(-1)) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
}

/** Clears the pad (a tap), draws `strokes` (in the pad's 280×280 coordinates) with a finger and
 * returns the prediction of the finished drawing. */
async function touchPrediction(page, cdp, strokes) {
  await page.tap('#clear');
  await page.waitForFunction(() => document.getElementById('prediction').textContent === 'draw a digit', null, { timeout: 10_000 });
  for (const stroke of strokes) await swipe(page, cdp, '#pad', stroke.map(([x, y]) => [x / 280, y / 280]));
  await page.waitForFunction(() => {
    const pad = document.querySelector('#pad').dataset.version;
    return pad && document.querySelector('#prediction').dataset.version === pad;
  }, null, { timeout: 60_000 });
  return page.textContent('#prediction');
}

const loop = [];
for (let a = 0; a <= 2 * Math.PI + 0.2; a += 0.2) loop.push([140 + 60 * Math.sin(a), 140 - 95 * Math.cos(a)]);
const DIGITS = [
  ['3', [[[80, 60], [140, 38], [195, 70], [185, 115], [135, 140], [195, 170], [200, 215], [140, 245], [80, 225]]]],
  ['7', [[[70, 60], [210, 60], [120, 240]]]],
  ['0', [loop]],
];

test('on a phone: a 3, a 7 and a 0 drawn with a finger are read right; the latent point follows a finger', async () => {
  const { page, errors, cdp } = await openPhonePage();
  // Nothing wider than the screen: no sideways scrolling.
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: innerWidth, pad: document.getElementById('pad').getBoundingClientRect().width }));
  assert.ok(widths.page <= widths.screen, `the page is ${widths.page} px wide on a ${widths.screen} px screen`);
  assert.ok(widths.pad >= 250, `the pad is ${widths.pad} px wide`);
  for (const [digit, strokes] of DIGITS) {
    const answer = await touchPrediction(page, cdp, strokes);
    assert.match(answer, new RegExp(`^${digit} `), `drew a ${digit} with a finger, got "${answer}"`);
  }
  await page.locator('#draw-panel').screenshot({ path: join(shots, 'phone-draw.png') });

  // The latent point: a finger from the centre to the upper right moves it and the decoded digit.
  const before = await canvasHash(page, 'lat-vae');
  await swipe(page, cdp, '#latent-pad', [[0.5, 0.5], [0.7, 0.35], [0.85, 0.2]]);
  await page.waitForFunction((b) => document.getElementById('lat-vae').toDataURL() !== b, before, { timeout: 60_000 });
  const [z1, z2] = [Number(await page.textContent('#z1v')), Number(await page.textContent('#z2v'))];
  assert.ok(z1 > 2 && z2 > 2, `the point followed the finger to the upper right: z = (${z1}, ${z2})`);
  assert.equal(await page.evaluate(() => scrollX), 0, 'dragging did not scroll the page sideways');
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.context().close();
});
