// Metrics during training: the trainer calls an evaluation hook (it knows no family) every
// --metrics_kimg / --metrics_epoch_freq and at the end, logs each result to metrics.jsonl,
// keeps the best --keep_best checkpoints through pruning and names them in best.json; the
// CLI's hook measures with the stand-in feature network; training itself is unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { RECIPES } from '../src/families/registry.js';
import { train, type EvaluationContext } from '../src/train/trainer.js';
import { fullSchema } from '../src/train/options.js';
import { cli, tempDir } from './train-helpers.js';
import { fromRoot } from './helpers.js';

const NET = fromRoot('test/fixtures/metrics/features_net.pt');

function tinyOptions(out: string, extra: Record<string, unknown> = {}) {
  const o = Object.fromEntries(Object.entries(fullSchema(RECIPES.dcgan)).map(([k, s]) => [k, s.default]));
  return Object.assign(o, { model: 'dcgan', data: 'shapes', resolution: 16, batch: 4, kimg: 0.032, ngf: 4, ndf: 4, nz: 4, workers: 0, out, n_samples: 4, log_every: 1, sample_kimg: 0 }, extra);
}

const rows = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const checkpoints = (run: string) => readdirSync(join(run, 'checkpoints')).sort();

test('the hook is called every --metrics_kimg and at the end; the best --keep_best survive --keep pruning', async () => {
  const run = join(tempDir(), 'r');
  // A made-up score per call: the 2nd and 4th measurements are the best two, both old by the end.
  const scores = [5, 1, 4, 2, 6, 7, 8, 9];
  const seen: EvaluationContext[] = [];
  await train(RECIPES.dcgan, tinyOptions(run, { metrics: 'fid10', metrics_kimg: 0.004, snapshot_kimg: 0.004, keep: 2, keep_best: 2 }), new Set(), {
    log: () => {},
    evaluate: async (ctx) => {
      seen.push(ctx);
      assert.ok(existsSync(join(ctx.checkpoint, 'state.json')), 'the measured state is in a checkpoint');
      return { fid10: scores[seen.length - 1] };
    },
  });
  assert.deepEqual(seen.map((c) => c.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  const measured = rows(run).filter((r) => 'fid10' in r);
  assert.deepEqual(measured.map((r) => [r.step, r.fid10, r.checkpoint]), seen.map((c, i) => [c.step, scores[i], c.checkpoint.split('/').pop()]));
  const best = JSON.parse(readFileSync(join(run, 'best.json'), 'utf8'));
  assert.equal(best.metric, 'fid10');
  assert.equal(best.lower_is_better, true);
  assert.deepEqual(best.best.map((e: { value: number; step: number }) => [e.value, e.step]), [[1, 2], [2, 4]]);
  // The two latest (--keep 2) and the two best, nothing else.
  const names = (steps: number[]) => steps.map((s) => seen[s - 1].checkpoint.split('/').pop()!).sort();
  assert.deepEqual(checkpoints(run), names([2, 4, 7, 8]));
});

test('higher is better for IS; without --keep_best nothing is protected', async () => {
  const run = join(tempDir(), 'r');
  const scores = [3, 9, 1, 2];
  let i = 0;
  await train(RECIPES.dcgan, tinyOptions(run, { kimg: 0.016, metrics: 'is10', metrics_kimg: 0.004, keep: 1, keep_best: 1 }), new Set(), {
    log: () => {},
    evaluate: async () => ({ is10_mean: scores[i++], is10_std: 0 }),
  });
  const best = JSON.parse(readFileSync(join(run, 'best.json'), 'utf8'));
  assert.deepEqual(best.best.map((e: { value: number; step: number }) => [e.value, e.step]), [[9, 2]]);
  assert.equal(checkpoints(run).length, 2);
  const run2 = join(tempDir(), 'r');
  i = 0;
  await train(RECIPES.dcgan, tinyOptions(run2, { kimg: 0.016, metrics: 'is10', metrics_kimg: 0.004, keep: 1, keep_best: 0 }), new Set(), {
    log: () => {},
    evaluate: async () => ({ is10_mean: scores[i++], is10_std: 0 }),
  });
  assert.equal(existsSync(join(run2, 'best.json')), false);
  assert.equal(checkpoints(run2).length, 1);
});

test('--metrics without a hook, or with an unknown name, is refused before a run folder exists', async () => {
  const run = join(tempDir(), 'r');
  await assert.rejects(train(RECIPES.dcgan, tinyOptions(run, { metrics: 'fid10' }), new Set(), { log: () => {} }), /--metrics needs an evaluation hook/);
  await assert.rejects(train(RECIPES.dcgan, tinyOptions(run, { metrics: 'fidd10' }), new Set(), { log: () => {}, evaluate: async () => ({}) }), /unknown metric 'fidd10'/);
  assert.equal(existsSync(run), false);
});

test('ganforge train --metrics measures with the feature network, leaves training unchanged, and continues on --resume', () => {
  const root = tempDir();
  const env = { GANFORGE_CACHE: join(root, 'cache') };
  const base = ['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--nz', '4', '--ngf', '4', '--ndf', '4', '--workers', '0', '--n_samples', '4', '--sample_kimg', '0', '--log_every', '1'];
  const measuredRun = join(root, 'm');
  const plainRun = join(root, 'p');
  const m = cli([...base, '--kimg', '0.016', '--metrics', 'fid16,kid16', '--metrics_kimg', '0.008', '--features', NET, '--out', measuredRun], env);
  assert.equal(m.status, 0, m.stderr);
  assert.match(m.stderr, /metrics at step 2, 0\.008 kimg: fid16 [\d.]+ {2}kid16 [-\d.e]+ {2}\(best so far\)/);
  const p = cli([...base, '--kimg', '0.016', '--out', plainRun], env);
  assert.equal(p.status, 0, p.stderr);
  // Measuring draws its own randomness: the weights are those of a run without --metrics.
  const state = (run: string) => JSON.parse(readFileSync(join(run, 'checkpoints', '000000.016', 'state.json'), 'utf8'));
  assert.equal(state(measuredRun).files['model.safetensors'].sha256, state(plainRun).files['model.safetensors'].sha256);
  assert.deepEqual(rows(measuredRun).filter((r) => 'fid16' in r).map((r) => r.step), [2, 4]);
  // --resume keeps measuring as config.json says, and best.json ranks across both parts.
  const r = cli(['train', '--model', 'dcgan', '--resume', '--out', measuredRun, '--kimg', '0.024'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(rows(measuredRun).filter((x) => 'fid16' in x).map((x) => x.step), [2, 4, 6]);
  const best = JSON.parse(readFileSync(join(measuredRun, 'best.json'), 'utf8'));
  const fids = rows(measuredRun).filter((x) => 'fid16' in x).map((x) => x.fid16 as number);
  assert.equal(best.best[0].value, Math.min(...fids));
  assert.ok(existsSync(join(measuredRun, 'checkpoints', best.best[0].checkpoint, 'state.json')));
});

test('a pix2pix run is measured at the end of every --metrics_epoch_freq epochs on its test split', () => {
  const root = tempDir();
  const run = join(root, 'p2p');
  const r = cli(['train', '--model', 'pix2pix', '--data', 'shapes-pairs', '--netG', 'unet_32', '--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '2', '--n_epochs_decay', '0',
    '--max_dataset_size', '4', '--batch', '2', '--workers', '0', '--metrics', 'fid12', '--metrics_epoch_freq', '1', '--features', NET, '--out', run], { GANFORGE_CACHE: join(root, 'cache') });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(rows(run).filter((x) => 'fid12' in x).map((x) => x.step), [2, 4]);
  assert.match(r.stderr, /metrics at epoch 2\/2, step 4: fid12 [\d.]+/);
});
