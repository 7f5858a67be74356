// axe-core (pinned in package.json) on the served page in the states a user meets: loaded with a
// drawing answered and an error shown, with models imported from files, and while a model
// trains. Zero violations of WCAG 2.0–2.2 A/AA and axe's best practices in each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { root, useServedPage, openPage, predictionAfter, draw } from './harness.js';

useServedPage();

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/**
 * axe's violations on the page now, one line each (rule, impact, the elements). The page's CSP
 * forbids inline scripts, so axe goes in through the DevTools protocol (page.evaluate of its
 * source), which a CSP does not govern.
 */
async function violations(page) {
  await page.evaluate(axeSource);
  const found = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }).then((r) => r.violations
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(', ')}`)), TAGS);
  return found;
}

/** A weights directory's manifest.json and the committed .bpk files of `keys`, as picked files. */
function weightsFiles(keys) {
  const manifest = readFileSync(join(root, 'weights/manifest.json'));
  const models = JSON.parse(manifest).models;
  return [{ name: 'manifest.json', mimeType: 'application/json', buffer: manifest },
    ...keys.map((key) => ({ name: models[key].file, mimeType: 'application/octet-stream', buffer: readFileSync(join(root, 'weights', models[key].file)) }))];
}

test('axe: no violations on the loaded page, with a drawing answered and with an error shown', async () => {
  const { page, errors } = await openPage('');
  assert.deepEqual(await violations(page), [], 'the page as loaded');
  // A screen reader hears the finished drawing's prediction once, not the live guesses while
  // it is drawn (the pad is answered at every move), nor the guess after its first stroke.
  await page.evaluate(() => {
    window.spoken = [];
    new MutationObserver(() => { const t = document.getElementById('announcer').textContent; if (t) window.spoken.push(t); })
      .observe(document.getElementById('announcer'), { childList: true, characterData: true, subtree: true });
  });
  // A 7 in two strokes, with the pause of a hand between them (in which the first is answered).
  await page.click('#clear');
  await draw(page, [[[70, 60], [210, 60]]], { segmentMs: 400 });
  await page.waitForTimeout(300);
  await draw(page, [[[210, 60], [120, 240]]], { segmentMs: 400 });
  await page.waitForFunction(() => {
    const pad = document.querySelector('#pad').dataset.version;
    return pad && document.querySelector('#prediction').dataset.version === pad;
  }, null, { timeout: 60_000 });
  const seven = await page.textContent('#prediction');
  assert.match(seven, /^7 /);
  await page.waitForFunction(() => window.spoken.length > 0, null, { timeout: 10_000 });
  await page.waitForTimeout(1000);
  // (Clear, pressed first, is answered too: "The pad is empty.")
  assert.deepEqual(await page.evaluate(() => window.spoken.filter((t) => t.startsWith('Prediction'))), [`Prediction: ${seven.replace('%', ' %')}.`], 'one announcement per drawing');
  const dash = await predictionAfter(page, [[[70, 140], [210, 143]]]);
  assert.equal(dash, "that doesn't look like a digit");
  await page.waitForFunction(() => window.spoken.at(-1) === "Prediction: that doesn't look like a digit.", null, { timeout: 10_000 });
  // An error in the box, and spoken: "Use my drawing" with an empty pad, pressed at once after
  // Clear (whose own message, "The pad is empty.", may come from the worker later: the error is
  // still spoken, then the routine message).
  await page.click('#clear');
  await page.click('#denoise-drawing');
  await page.waitForFunction(() => !document.getElementById('error').hidden);
  await page.waitForFunction(() => window.spoken.some((t) => t.startsWith('Error: draw a digit first')), null, { timeout: 10_000 });
  assert.deepEqual(await violations(page), [], 'with a prediction made and an error shown');
  // The audit does find what it looks for: an unlabelled text box is one violation.
  await page.evaluate(() => document.querySelector('main').append(Object.assign(document.createElement('input'), { id: 'unlabelled' })));
  assert.match((await violations(page)).join('\n'), /^label \(critical\).*#unlabelled/);
  assert.deepEqual(errors.filter((e) => !/draw a digit first/.test(e)), [], 'no errors on the page');
  await page.close();
});

test('axe: no violations with models imported from files and used (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  await page.waitForFunction(() => document.body.dataset.modelsRestored === 'true', null, { timeout: 60_000 });
  await page.setInputFiles('#model-files', weightsFiles(['classifier_best', 'vae']));
  await page.waitForFunction(() => document.body.dataset.importedModels === '2', null, { timeout: 60_000 });
  await page.check('#models-list li[data-kind=classifier_best] input[data-use]');
  await page.check('#models-list li[data-kind=vae] input[data-explore]');
  await page.check('input[name=latent-model][value=mine]');
  await page.waitForFunction(() => /decodes at z = /.test(document.getElementById('lat-mine').getAttribute('aria-label')), null, { timeout: 60_000 });
  assert.deepEqual(await violations(page), [], 'with two models imported, one predicting, one in the explorer');
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});

test('axe: no violations while a model trains (CPU)', async () => {
  const { page, errors } = await openPage('?backend=cpu');
  await page.click('#train-open');
  await page.waitForFunction(() => document.body.dataset.training === 'open', null, { timeout: 120_000 });
  await page.fill('#t-epochs', '50');
  await page.click('#t-start');
  await page.waitForFunction(() => Number(document.body.dataset.trainEvals ?? 0) >= 2, null, { timeout: 120_000 });
  await page.check('#t-explorer');
  assert.equal(await page.textContent('#t-start'), 'Pause', 'still training');
  assert.deepEqual(await violations(page), [], 'during training');
  await page.click('#t-start');
  assert.deepEqual(errors, [], 'no errors on the page');
  await page.close();
});
