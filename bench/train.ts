// Training benchmark per recipe: images/s of a training step and of sampling, on
// synthetic data (no loader in the way), beside a PyTorch implementation of the same
// configuration run by /usr/bin/python3 in the same process tree, and beside the figure
// in ../shared/reference-baselines.md where one exists.
// Run: npx tsc -p . && node dist/bench/train.js [dcgan] [--iters N]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { packageRoot } from '../src/root.js';
import { RECIPES } from '../src/recipes/registry.js';
import { fullSchema, recipeEnv } from '../src/recipes/trainer.js';
import type { Options } from '../src/config/options.js';

interface Case {
  model: string;
  label: string;
  resolution: number;
  batch: number;
  options: Options;
  /** PyTorch driver in bench/, and what reference-baselines.md says (train, sample img/s). */
  ref?: { script: string; args: string[] };
  baseline?: { train: number; sample: number; what: string };
}

const CASES: Case[] = [
  {
    model: 'dcgan', label: 'DCGAN 64×64 (nz 100, ngf=ndf 64, BCE, Adam 2e-4)', resolution: 64, batch: 16, options: {},
    ref: { script: 'train_ref_dcgan.py', args: ['64', '16'] },
    baseline: { train: 20.2, sample: 184, what: 'GAN zoo dcgan_config, batch 16, 64×64' },
  },
];

const args = process.argv.slice(2);
const itersAt = args.indexOf('--iters');
const ITERS = itersAt >= 0 ? Number(args[itersAt + 1]) : 10;
const wanted = args.filter((a, i) => !a.startsWith('--') && (itersAt < 0 || i !== itersAt + 1));
const threads = torch.getNumThreads();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function timeIt(fn: () => void, n: number): number {
  for (let i = 0; i < 2; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

function runOurs(c: Case): { train: number; sample: number } {
  const def = RECIPES[c.model];
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: c.model, resolution: c.resolution, batch: c.batch }, c.options);
  torch.manualSeed(0);
  const recipe = def.create(o, recipeEnv(o, 0, 'cpu'));
  const real = torch.rand([c.batch, 3, c.resolution, c.resolution]).mul(2).sub(1).keep();
  let step = 0;
  const train = timeIt(() => torch.scope(() => { recipe.step({ a: real, b: null, labels: null }, { step: step++, imagesSeen: step * c.batch }); }), ITERS);
  const inputs = recipe.sampleInputs(c.batch, null);
  inputs.z?.keep();
  for (const m of Object.values(recipe.networks())) m.eval();
  const sample = timeIt(() => torch.scope(() => { torch.noGrad(() => recipe.generate(inputs)); }), ITERS);
  return { train: c.batch / train, sample: c.batch / sample };
}

function runRef(c: Case): { train: number; sample: number } | null {
  if (!c.ref || !existsSync('/usr/bin/python3')) return null;
  try {
    const out = execFileSync('/usr/bin/python3', [join(packageRoot(), 'bench', c.ref.script), String(threads), ...c.ref.args, String(ITERS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const j = JSON.parse(out.trim().split('\n').pop()!);
    return { train: j.train_img_per_s, sample: j.sample_img_per_s };
  } catch {
    return null;
  }
}

console.log(`ganforge training benchmark — libtorch ${torch.buildInfo().torchVersion}, ${threads} threads, float32, CPU, median of ${ITERS} iterations, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY} (PyTorch runs with the same)`);
for (const c of CASES.filter((x) => wanted.length === 0 || wanted.includes(x.model))) {
  // Alternate ours and PyTorch's twice and keep each side's best: the machine is noisy.
  let ours = { train: 0, sample: 0 };
  let ref = null as { train: number; sample: number } | null;
  for (let r = 0; r < 2; r++) {
    const o = runOurs(c);
    ours = { train: Math.max(ours.train, o.train), sample: Math.max(ours.sample, o.sample) };
    const p = runRef(c);
    if (p) ref = { train: Math.max(ref?.train ?? 0, p.train), sample: Math.max(ref?.sample ?? 0, p.sample) };
  }
  console.log(`\n${c.label}, batch ${c.batch}`);
  console.log(`  train : ${ours.train.toFixed(2)} img/s` + (ref ? `   PyTorch (same config): ${ref.train.toFixed(2)} img/s   ratio ${(ours.train / ref.train).toFixed(3)}` : ''));
  console.log(`  sample: ${ours.sample.toFixed(1)} img/s` + (ref ? `   PyTorch (same config): ${ref.sample.toFixed(1)} img/s   ratio ${(ours.sample / ref.sample).toFixed(3)}` : ''));
  if (c.baseline) {
    console.log(`  reference-baselines.md (${c.baseline.what}): train ${c.baseline.train} img/s, sample ${c.baseline.sample} img/s` +
      ` → ratios ${(ours.train / c.baseline.train).toFixed(2)}, ${(ours.sample / c.baseline.sample).toFixed(2)}`);
  }
}
console.log(`\nrepeat: npx tsc -p . && node dist/bench/train.js ${wanted.join(' ')} --iters ${ITERS}`);
