// The page with the keyboard alone: Tab reaches every control in the page's reading order with a
// visible focus ring, the arrow keys move the latent point (and the decoded digit follows), a
// key press puts a test digit on the pad and its prediction is announced, and training starts
// and pauses from the keyboard.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServedPage, openPage, canvasHash } from './harness.js';

useServedPage();

/** The element with the focus: its id (or tag and text), its panel, and whether its focus
 * ring shows (an outline of 2 px or more). */
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    key: el.id || `${el.tagName.toLowerCase()}:${el.dataset.map ?? el.name ?? el.textContent.trim()}`,
    panel: el.closest('section')?.id ?? el.closest('header, footer')?.tagName.toLowerCase() ?? null,
    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
  };
});

/** Every control Tab should reach, in the DOM's order: visible, enabled, and for each radio
 * group only its checked button. */
const reachable = (page) => page.evaluate(() => [...document.querySelectorAll('button, input, select, [tabindex="0"]')]
  .filter((el) => el.checkVisibility() && !el.disabled && !(el.type === 'radio' && !el.checked))
  .map((el) => el.id || `${el.tagName.toLowerCase()}:${el.dataset.map ?? el.name ?? el.textContent.trim()}`));

/** Presses Tab until `key` has the focus (at most `limit` times). */
async function tabTo(page, key, limit = 80) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if ((await focused(page)).key === key) return;
  }
  assert.fail(`Tab never reached ${key}`);
}

const announced = (page, pattern) => page.waitForFunction((source) => new RegExp(source).test(document.getElementById('announcer').textContent),
  pattern.source, { timeout: 60_000 });

test('Tab reaches every control once, in reading order, each with a visible focus ring (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  const expected = await reachable(page);
  const order = (await page.$$eval('main > section', (s) => s.map((el) => el.id)));
  const seen = [];
  for (let i = 0; i < expected.length + 5 && seen.length < expected.length; i++) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    assert.ok(now.ring, `${now.key} shows no focus ring`);
    if (now.panel && order.includes(now.panel)) {
      const last = seen.at(-1);
      assert.ok(!last || order.indexOf(now.panel) >= order.indexOf(last.panel), `Tab went back from ${last?.key} (${last?.panel}) to ${now.key} (${now.panel})`);
    }
    seen.push(now);
  }
  assert.deepEqual(seen.map((s) => s.key), expected, 'every control, in the order of the page');
  console.log(`keyboard: ${expected.length} controls in Tab order: ${expected.join(' ')}`);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

test('keys alone: a test digit on the pad is predicted and announced; the arrows move the latent point (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  // A test digit on the pad: its prediction is spoken once the answer is there.
  await tabTo(page, 'pad-random');
  let right = 0;
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press(i % 2 ? 'Space' : 'Enter');
    await page.waitForFunction(() => {
      const pad = document.querySelector('#pad').dataset.version;
      return pad && document.querySelector('#prediction').dataset.version === pad;
    }, null, { timeout: 60_000 });
    const label = await page.getAttribute('#pad', 'data-test-label');
    await announced(page, new RegExp(`^Test digit labelled ${label}\\. Prediction: `));
    const spoken = await page.textContent('#announcer');
    assert.match(spoken, /^Test digit labelled \d\. Prediction: (\d \(\d+ %\)|not sure: looks most like a \d \(\d+ %\)|that doesn't look like a digit)\.$/);
    assert.match(await page.getAttribute('#pad', 'aria-label'), /Drawing pad with a drawing\. Prediction: /);
    if (spoken.includes(`Prediction: ${label} (`)) right++;
    console.log(`keyboard: "${spoken}"`);
  }
  // The bundled classifier reads MNIST test digits right 99 % of the time.
  assert.ok(right >= 2, `${right} of 3 test digits read right`);

  // The latent point: 2 % of the VAE's range (−4…4) a press, 20 % with Shift.
  await tabTo(page, 'latent-pad');
  const before = await canvasHash(page, 'lat-vae');
  for (const key of ['ArrowRight', 'ArrowRight', 'ArrowRight', 'Shift+ArrowUp']) await page.keyboard.press(key);
  assert.deepEqual([await page.textContent('#z1v'), await page.textContent('#z2v')], ['0.48', '1.60']);
  await page.waitForFunction((b) => document.getElementById('lat-vae').toDataURL() !== b, before, { timeout: 60_000 });
  await page.waitForFunction(() => /decodes at z = \(0\.48, 1\.60\)/.test(document.getElementById('lat-vae').getAttribute('aria-label')), null, { timeout: 60_000 });
  await announced(page, /^Point at z = \(0\.48, 1\.60\)$/);
  assert.match(await page.getAttribute('#latent-pad', 'aria-label'), /the point decoded is at z = \(0\.48, 1\.60\)/);
  // Down past the edge stops at it; Home brings the point back to the centre.
  for (let i = 0; i < 8; i++) await page.keyboard.press('Shift+ArrowDown');
  assert.equal(await page.textContent('#z2v'), '-4.00');
  await page.keyboard.press('Home');
  assert.deepEqual([await page.textContent('#z1v'), await page.textContent('#z2v')], ['0.00', '0.00']);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

test('keys alone: training opens, starts, announces its epochs and pauses (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  await tabTo(page, 'train-open');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  assert.equal((await focused(page)).key, 't-model', 'the focus moves on to the settings');
  await tabTo(page, 't-epochs', 4);
  await page.keyboard.press('Control+A');
  await page.keyboard.type('3');
  await tabTo(page, 't-start', 4);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#t-start').textContent === 'Pause', null, { timeout: 120_000 });
  assert.equal((await focused(page)).key, 't-start', 'the focus stays on the button while the run is made');
  assert.equal(await page.textContent('#t-status'), 'Training…');
  await announced(page, /^Epoch 1 of 3 done, train loss \d\.\d{4}\.$/);
  await page.keyboard.press('Space');
  assert.equal(await page.textContent('#t-start'), 'Resume');
  assert.match(await page.textContent('#t-status'), /^Paused/);
  await page.waitForTimeout(400);
  const pausedAt = await page.textContent('#t-epoch');
  await page.waitForTimeout(800);
  assert.equal(await page.textContent('#t-epoch'), pausedAt, 'paused training does not advance');
  assert.match(await page.getAttribute('#t-loss', 'aria-label'), /latest train loss \d\.\d{4}, validation loss \d\.\d{4}/);
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});
