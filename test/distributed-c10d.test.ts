// c10d through the addon, with real processes: the collectives, a differentiable
// all-reduce, a collective that times out, and data-parallel DCGAN steps (float64,
// synchronised batch norm) that equal one process with the whole batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../src/distributed/index.js';
import { ProcessGroup, c10dBackends } from '../src/torch/index.js';
import { fromRoot } from './helpers.js';
import { tempDir } from './train-helpers.js';
import { Loader, openDataset } from '../src/data/index.js';

const WORKER = fromRoot('dist/test/distributed-worker.js');

/** Runs `world` ranks of a worker mode (world 1: one process, no job); resolves to rank 0's result. */
async function ranks(mode: string, world: number, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const port = await freePort();
  const out = join(tempDir('gf-c10d-'), 'out.json');
  const runs = Array.from({ length: world }, (_, r) => new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, mode, String(r), String(world), String(port), out], { env: { ...process.env, GANFORGE_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rank ${r} of ${mode} exited ${code}: ${err}`))));
  }));
  await Promise.all(runs);
  return JSON.parse(readFileSync(out, 'utf8'));
}

test('this addon was built with c10d Gloo', () => {
  assert.equal(c10dBackends().gloo, true);
});

test('all-reduce (sum, avg, max), broadcast, all-gather, barrier and the differentiable sum on 2 ranks', async () => {
  const r = await ranks('collectives', 2);
  assert.deepEqual(r.sum, [3, 3, 3, 3, 3]);
  assert.deepEqual(r.avg, [1.5, 1.5, 1.5]);
  assert.deepEqual(r.max, [1, 0]);
  assert.deepEqual(r.broadcast, [[11, 11], [11, 11]], 'rank 1 is the root');
  assert.deepEqual(r.gathered, [[0, 0], [1, 1]]);
  assert.deepEqual(r.numbers, [[0.5], [1.5]]);
  // y = 1·x0 + 2·x1 = 3; losses 1·Σy and 2·Σy: rank 0's x gets 1·(1 + 2) = 3.
  assert.deepEqual(r.y, [3, 3, 3]);
  assert.deepEqual(r.grad, [3, 3, 3]);
});

test('a collective whose peer never comes fails after the timeout with an error naming it', async () => {
  const r = await ranks('timeout', 2, { TEST_TIMEOUT_MS: '1500' });
  assert.match(String(r.error), /c10d barrier failed on rank 0 of 2 \(timeout 1\.5 s\)/);
  assert.ok((r.ms as number) >= 1400 && (r.ms as number) < 6000, `failed after ${r.ms} ms`);
});

test('joining a job whose other ranks never come fails after the timeout', () => {
  const t0 = Date.now();
  // A FileStore of a fresh path: rank 0 waits for a rank 1 that does not exist.
  assert.throws(() => new ProcessGroup({ rank: 0, size: 2, timeoutMs: 1000, store: { kind: 'file', path: join(tempDir('gf-c10d-'), 'store') } }), /time|Timeout/i);
  assert.ok(Date.now() - t0 < 10_000);
});

type Steps = { leaked: number; losses: Record<string, number>[]; firstGrads: Record<string, number[][]>; weights: Record<string, number[][]>; buffers: Record<string, number[][]>; lr: number };

/** Largest |a − b| over every element, each tensor scaled by `scale(tensor)`. */
function worst(a: number[][], b: number[][], scale: (t: number[]) => number = () => 1): number {
  assert.equal(a.length, b.length);
  let w = 0;
  a.forEach((t, i) => {
    const s = scale(t);
    t.forEach((x, j) => (w = Math.max(w, Math.abs(x - b[i][j]) / s)));
  });
  return w;
}

test('DCGAN: 2 ranks × 4 images with --sync_bn train as 1 process × 8 (float64: losses, first gradients, weights in lr, statistics)', async () => {
  const one = (await ranks('dcgan', 1)) as unknown as Steps;
  const two = (await ranks('dcgan', 2)) as unknown as Steps;
  one.losses.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) assert.ok(Math.abs(two.losses[i][k] - v) <= 1e-12 * Math.abs(v), `step ${i + 1} ${k}: ${two.losses[i][k]} vs ${v}`);
  });
  for (const net of ['G', 'D']) {
    const g = worst(two.firstGrads[net], one.firstGrads[net], (t) => Math.max(...t.map(Math.abs)));
    assert.ok(g < 1e-9, `${net}: first-step gradients within 1e-9 of each tensor's scale (worst ${g})`);
    const w = worst(two.weights[net], one.weights[net]) / one.lr;
    assert.ok(w < 1e-6, `${net}: weights after 3 steps within 1e-6 lr (worst ${w} lr)`);
    const s = worst(two.buffers[net], one.buffers[net]);
    assert.ok(s < 1e-12, `${net}: batch-norm running statistics (worst ${s})`);
  }
  assert.equal(two.leaked, 0, 'a data-parallel step in scope() leaves liveTensors() as it was');
});

test('DCGAN: without --sync_bn the 2-rank steps differ (each rank normalises its own half)', async () => {
  const one = (await ranks('dcgan', 1)) as unknown as Steps;
  const two = (await ranks('dcgan', 2, { TEST_SYNC_BN: '0' })) as unknown as Steps;
  assert.ok(worst(two.firstGrads.D, one.firstGrads.D, (t) => Math.max(...t.map(Math.abs))) > 1e-3);
});

test('a sharded loader: the parts of 2 ranks, side by side, are the unsharded batches (across an epoch, and after a restore)', async () => {
  const ds = await openDataset('shapes', { resolution: 8, maxDatasetSize: 12 });
  const opts = { batchSize: 4, seed: 3, workers: 0, dropLast: true };
  const whole = new Loader(ds, opts);
  const parts = [0, 1].map((index) => new Loader(ds, { ...opts, shard: { index, count: 2 } }));
  try {
    for (let i = 0; i < 5; i++) {
      if (i === 2) {
        // Resume in the middle of the second epoch's stream, from the whole loader's state.
        const st = whole.state();
        for (const p of parts) p.restore(st);
      }
      const w = await whole.next();
      const [p0, p1] = await Promise.all(parts.map((p) => p.next()));
      assert.equal(p0.size, 2);
      assert.deepEqual([...p0.a, ...p1.a], [...w.a], `batch ${i}: the images`);
      assert.deepEqual(parts.map((p) => [p.epoch, p.position]), [[whole.epoch, whole.position], [whole.epoch, whole.position]], 'every rank is at the global position');
    }
  } finally {
    await Promise.all([whole, ...parts].map((l) => l.close()));
  }
  assert.throws(() => new Loader(ds, { ...opts, batchSize: 3, shard: { index: 0, count: 2 } }), /a batch of 3 does not split into 2 equal parts/);
  assert.throws(() => new Loader(ds, { ...opts, batchSize: 8, dropLast: false, shard: { index: 0, count: 2 } }), /last batch of 4/);
});
