// Other people's handwriting on the page (issue 28): drawings from tests/e2e/fixtures/
// handwriting.json (written by `digit-lab handwriting --strokes-out`: MNIST validation digits
// traced and drawn again with pens 10 and 20, font digits traced, digits by other people (optdigits
// traced, pendigits' own pen trajectories, handwriting fonts traced), non-digits of every kind a
// mouse can draw (hand-drawn letters, hearts, arrows, polygons, walks, tangles and partial digits;
// the generator's scribbles, hatching, stars, smileys, arrows, spirals and squiggles; the page
// tests' dot, dash and zigzag) and a drawing the check is unsure of) are drawn with the mouse, and
// the page's three states are checked: our digits are read and never refused, other people's get
// the native answer (what share of them is read is measured natively on the whole sets: `digit-lab
// handwriting --optdigits --pendigits --hand-fonts`), the sure refusals and the unsure answer are
// what the native check says, and the page's pad makes of the strokes the image the Rust pipeline
// makes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, useServedPage, openPage, draw, asset } from './harness.js';

useServedPage();

const { drawings } = JSON.parse(readFileSync(join(root, 'tests/e2e/fixtures/handwriting.json'), 'utf8'));
const byPeople = (d) => /^(optdigits|pendigits|hand_font)/.test(d.source);
const digits = drawings.filter((d) => d.label !== null && !byPeople(d));
const peoplesDigits = drawings.filter((d) => d.label !== null && byPeople(d));
const nonDigits = drawings.filter((d) => d.label === null);

/** Sets the pen slider as a user would (the pad reads it on input). */
async function setPen(page, width) {
  await page.locator('#pen').evaluate((el, w) => {
    el.value = String(w);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, width);
}

/** Clears the pad, draws `drawing` with its pen and returns the finished drawing's answer. */
async function answerTo(page, drawing) {
  await page.click('#clear');
  await setPen(page, drawing.strokes[0].width);
  await draw(page, drawing.strokes.map((s) => s.points));
  await page.waitForFunction(() => {
    const pad = document.querySelector('#pad').dataset.version;
    return pad && document.querySelector('#prediction').dataset.version === pad;
  }, null, { timeout: 60_000 });
  return page.locator('#prediction').evaluate((el) => ({
    text: el.textContent, state: el.dataset.state, digit: Number(el.dataset.digit), notDigit: el.dataset.notDigit,
  }));
}

test("the page's pad makes of the strokes the 28x28 image the Rust pipeline makes", async () => {
  const { page, errors } = await openPage();
  const sample = drawings.filter((_, i) => i % 3 === 0);
  const diffs = await page.evaluate(async ({ url, sample }) => {
    const { DrawingPad } = await import(url);
    return sample.map((d) => {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 280;
      const pad = new DrawingPad(canvas, () => {});
      pad.strokes = d.strokes.map((s) => ({ width: s.width, points: s.points }));
      pad.redraw();
      const image = pad.toMnist();
      let sum = 0;
      for (let i = 0; i < 784; i++) sum += Math.abs(image[i] - d.image[i] / 255);
      return sum / 784;
    });
  }, { url: new URL(asset('js/draw.js'), page.url()).href, sample });
  // The browser's anti-aliasing and downscaling differ from Rust's in the last grey levels, and
  // the centre of mass may round to the next pixel: measured 0.018 per pixel on average, 0.053
  // at most. Every drawing shifted by one pixel would be 0.06 on average: the mean bound sees it.
  for (const [i, diff] of diffs.entries()) assert.ok(diff < 0.08, `${sample[i].source}: mean difference ${diff.toFixed(3)}`);
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  assert.ok(mean < 0.03, `mean difference ${mean.toFixed(3)} over ${diffs.length} drawings`);
  console.log(`handwriting: the page and Rust images differ by ${mean.toFixed(4)} per pixel on average (largest ${Math.max(...diffs).toFixed(4)})`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('digits of every source are read and never refused; each kind of non-digit gets the native answer', async () => {
  const { page, errors } = await openPage();
  const agree = [];
  let read = 0;
  for (const d of digits) {
    const answer = await answerTo(page, d);
    assert.notEqual(answer.state, 'not-digit', `${d.source} ${d.label} refused: "${answer.text}"`);
    assert.match(answer.text, answer.state === 'digit' ? /^\d \(\d+%\)$/ : /^not sure: looks most like a \d \(\d+%\)$/);
    if (answer.digit === d.label) read++;
    agree.push(answer.state === d.expected.state && answer.digit === d.expected.best);
  }
  // The goal is 96 % of other handwriting read; a small sample allows one miss in twenty.
  assert.ok(read >= 0.9 * digits.length, `${read} of ${digits.length} digits read correctly`);
  let peopleRead = 0;
  for (const d of peoplesDigits) {
    const answer = await answerTo(page, d);
    const format = { digit: /^\d \(\d+%\)$/, unsure: /^not sure: looks most like a \d \(\d+%\)$/ };
    assert.match(answer.text, format[answer.state] ?? /^that doesn't look like a digit$/);
    if (answer.state !== 'not-digit' && answer.digit === d.label) peopleRead++;
    agree.push(answer.state === d.expected.state && (answer.state === 'not-digit' || answer.digit === d.expected.best));
    console.log(`handwriting: ${d.source} ${d.label}: "${answer.text}" (native: ${d.expected.state} ${d.expected.best})`);
  }
  console.log(`handwriting: other people's digits: ${peopleRead} of ${peoplesDigits.length} read`);
  for (const d of nonDigits) {
    const answer = await answerTo(page, d);
    if (['dot', 'dash', 'zigzag'].includes(d.source)) {
      assert.equal(answer.state, 'not-digit', `${d.source}: "${answer.text}"`);
      assert.equal(answer.text, "that doesn't look like a digit");
    }
    // The drawing the native answer is clearly unsure of (best class under 40 %, inside the
    // check's acceptance): the third state, with the best guess and its probability.
    if (d.source.endsWith('(unsure)')) {
      assert.equal(answer.state, 'unsure', `${d.source}: "${answer.text}"`);
      assert.match(answer.text, /^not sure: looks most like a \d \(\d+%\)$/);
    }
    assert.equal(answer.notDigit, String(answer.state === 'not-digit'));
    agree.push(answer.state === d.expected.state);
    console.log(`handwriting: ${d.source}: "${answer.text}" (native: ${d.expected.state})`);
  }
  // The page runs the same models and check as the native code on nearly the same image: a
  // drawing close to a threshold may fall on the other side of it.
  const same = agree.filter(Boolean).length;
  assert.ok(same >= 0.85 * agree.length, `the page agrees with the native answer on ${same} of ${agree.length} drawings`);
  assert.deepEqual(errors, []);
  await page.close();
});
