// axe-core (pinned in package.json) on the served page in the states a user meets: loaded with a
// drawing answered and an error shown, with models imported from files, and while a model
// trains. Zero violations of WCAG 2.0–2.2 A/AA and axe's best practices in each.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { root, useServedPage, openPage, predictionAfter } from './harness.js';

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
  const one = await predictionAfter(page, [[[140, 40], [142, 120], [143, 240]]]);
  assert.match(one, /^1 /);
  // An error in the box: "Use my drawing" with an empty pad.
  await page.click('#clear');
  await page.click('#denoise-drawing');
  await page.waitForFunction(() => !document.getElementById('error').hidden);
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
