// The trainer as a library: it takes an AbortSignal and a logger, and leaves the process
// alone (no signal handlers, no exit); the command line decides those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { RECIPES } from '../src/families/registry.js';
import { train } from '../src/train/trainer.js';
import { fullSchema } from '../src/train/options.js';
import { tempDir } from './train-helpers.js';

function tinyOptions(out: string) {
  const o = Object.fromEntries(Object.entries(fullSchema(RECIPES.dcgan)).map(([k, s]) => [k, s.default]));
  return Object.assign(o, { model: 'dcgan', data: 'shapes', resolution: 16, batch: 8, kimg: 1, ngf: 8, ndf: 8, nz: 8, workers: 0, out, n_samples: 4, log_every: 1 });
}

test('aborting the signal stops after the step in progress: a checkpoint is written and train() returns interrupted; no signal handler is installed', async () => {
  const run = join(tempDir(), 'r');
  const stop = new AbortController();
  const lines: string[] = [];
  const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
  let during = { int: -1, term: -1 };
  const res = await train(RECIPES.dcgan, tinyOptions(run), new Set(), {
    log: (l) => lines.push(l),
    signal: stop.signal,
    afterStep: (step) => {
      during = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
      if (step === 3) stop.abort();
      return false;
    },
  });
  assert.deepEqual(during, before, 'training installs no SIGINT/SIGTERM handler');
  assert.equal(res.interrupted, true);
  assert.equal(res.steps, 3);
  const state = JSON.parse(readFileSync(join(res.checkpoint, 'state.json'), 'utf8'));
  assert.equal(state.step, 3, 'the stop checkpoint holds the last step');
  assert.ok(lines.some((l) => /stopped at step 3/.test(l)), lines.join('\n'));
});

test('a signal aborted before training starts trains no step but leaves a resumable run', async () => {
  const run = join(tempDir(), 'r');
  const res = await train(RECIPES.dcgan, tinyOptions(run), new Set(), { log: () => {}, signal: AbortSignal.abort() });
  assert.equal(res.interrupted, true);
  assert.equal(res.steps, 0);
  const resumed = await train(RECIPES.dcgan, { ...tinyOptions(run), resume: true, kimg: 0.016 }, new Set(['resume', 'kimg', 'out']), { log: () => {} });
  assert.equal(resumed.steps, 2);
});
