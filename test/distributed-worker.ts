// One rank of the distributed tests (test/distributed-*.test.ts), run as its own process:
//   node distributed-worker.js MODE RANK WORLD PORT OUT.json
// It joins a job over a TCPStore on 127.0.0.1:PORT (WORLD 1: no job) and writes what it
// saw to OUT.json (rank 0, or every rank with -RANK in the name).
import { writeFileSync } from 'node:fs';
import * as torch from '../src/torch/index.js';
import { DataParallel } from '../src/distributed/index.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema } from '../src/train/options.js';
import { PhaseRunner } from '../src/train/phase.js';
import type { Recipe } from '../src/train/recipe.js';
import type { TensorBatch } from '../src/data/index.js';
import { toFloat64 } from './train-helpers.js';

const [mode, rankArg, worldArg, portArg, out] = process.argv.slice(2);
const rank = Number(rankArg), world = Number(worldArg), port = Number(portArg);
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 20_000);
const join = (): torch.ProcessGroup => new torch.ProcessGroup({ rank, size: world, timeoutMs, joinTimeoutMs: 60_000, store: { kind: 'tcp', host: '127.0.0.1', port } });

function collectives(): unknown {
  const pg = join();
  const sum = torch.full([5], rank + 1);
  pg.allReduce(sum, 'sum');
  const avg = torch.full([3], rank + 1, { dtype: 'float64' });
  pg.allReduce(avg, 'avg');
  const max = torch.tensor([rank, -rank]);
  pg.allReduce(max, 'max');
  const b = torch.full([2, 2], 10 + rank);
  pg.broadcast(b, world - 1);
  const gathered = pg.allGather(torch.tensor([rank, rank * rank])).map((t) => t.toArray());
  const numbers = pg.allGatherNumbers([rank + 0.5]);
  pg.barrier();
  // y = Σ_r (r+1)·x_r; this rank's loss is (rank+1)·Σy, so d(Σ losses)/dx_r = (r+1)·Σ_q (q+1).
  const x = torch.full([3], 1, { dtype: 'float64' }).requiresGrad_(true);
  const y = pg.allReduceSumGrad(x.mul(rank + 1));
  y.mul(rank + 1).sum().backward();
  const res = { sum: sum.toArray(), avg: avg.toArray(), max: max.toArray(), broadcast: b.toArray(), gathered, numbers, y: y.toArray(), grad: x.grad!.toArray() };
  pg.destroy();
  return res;
}

/** Rank 0 waits in a barrier that rank 1 never enters. */
function timeout(): unknown {
  const pg = join();
  pg.barrier();
  if (rank !== 0) {
    const until = Date.now() + timeoutMs * 2;
    while (Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    return null;
  }
  const t0 = Date.now();
  try {
    pg.barrier();
    return { error: null, ms: Date.now() - t0 };
  } catch (e) {
    return { error: (e as Error).message, ms: Date.now() - t0 };
  }
}

/**
 * DCGAN steps in float64 on WORLD ranks × a share of a global batch of 2·B images. The
 * images and latents of each step are drawn globally from fixed seeds and each rank takes
 * its rows, so 2 ranks × B and 1 process × 2B train on the same data and noise.
 */
function dcgan(): unknown {
  const B = 2 * Number(process.env.TEST_B ?? 4);
  const steps = 3;
  const def = RECIPES.dcgan;
  const o = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { resolution: 16, nz: 8, ngf: 4, ndf: 4 });
  torch.manualSeed(rank === 0 ? 7 : 99); // rank 1 starts from other weights: the broadcast must fix them
  const r = def.create(o, { resolution: 16, channels: 3, outputChannels: 3, numClasses: 0, batchSize: B, device: 'cpu' }) as Recipe & { G: { forward(z: torch.Tensor, l: null): torch.Tensor } };
  const nets = r.networks();
  toFloat64(r, Object.keys(nets));
  const pg = world > 1 ? join() : null;
  const dp = pg ? new DataParallel(pg, { bucketBytes: 4096 }) : null;
  if (dp) {
    dp.broadcastFromRoot([nets.G, nets.D]);
    if (process.env.TEST_SYNC_BN !== '0') dp.syncBatchNorm([nets.G, nets.D]);
  }
  const firstGrads: Record<string, number[][]> = {};
  const runner = new PhaseRunner(r, {
    gradientHook: (params, phase) => {
      dp?.gradientHook(params);
      if (!firstGrads[phase]) firstGrads[phase] = params.map((p) => Array.from(p.grad!.toTypedArray() as Float64Array));
    },
  });
  const share = B / world;
  const losses: Record<string, number>[] = [];
  let live = 0;
  for (let i = 0; i < steps; i++) {
    if (i === 1) live = torch.liveTensors();
    torch.scope(() => {
      const a = torch.withSeed(100 + i, () => torch.randn([B, 3, 16, 16], { dtype: 'float64' }).tanh()).narrow(0, rank * share, share);
      const z = torch.withSeed(200 + i, () => torch.randn([B, 8], { dtype: 'float64' })).narrow(0, rank * share, share);
      (r as unknown as { prepare: () => unknown }).prepare = () => ({ fake: r.G.forward(z, null) });
      const batch: TensorBatch = { a, b: null, labels: null } as unknown as TensorBatch;
      const m = runner.run(batch, { step: i, imagesSeen: B * i });
      const keys = Object.keys(m).sort();
      const all = pg ? pg.allGatherNumbers(keys.map((k) => m[k])) : [keys.map((k) => m[k])];
      losses.push(Object.fromEntries(keys.map((k, j) => [k, all.reduce((s, row) => s + row[j], 0) / all.length])));
    });
  }
  const leaked = torch.liveTensors() - live;
  const weights = Object.fromEntries(['G', 'D'].map((k) => [k, nets[k].parameters().map((p) => Array.from(p.toTypedArray() as Float64Array))]));
  const buffers = Object.fromEntries(['G', 'D'].map((k) => [k, nets[k].buffers().filter((t) => t.isFloatingPoint).map((t) => Array.from(t.toTypedArray() as Float64Array))]));
  pg?.destroy();
  return { leaked, losses, firstGrads, weights, buffers, lr: 2e-4 };
}

const modes: Record<string, () => unknown> = { collectives, timeout, dcgan };
// Without arguments (the test runner runs every file of dist/test/) there is nothing to do.
if (mode !== undefined) {
  const result = modes[mode]();
  if (result !== null && (rank === 0 || out.includes('RANK'))) writeFileSync(out.replace('RANK', String(rank)), JSON.stringify(result));
}
