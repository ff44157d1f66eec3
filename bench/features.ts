// Feature extraction for the metrics: images/s of a TorchScript feature network through
// our addon (torch::jit::load, the call `ganforge eval` makes) beside /usr/bin/python3
// running the same file with the same threads. The file: BENCH_NET (e.g. NVIDIA's
// inception-2015-12-05.pt), else an Inception-sized stand-in that bench/features_ref.py
// scripts into .bench/ (random weights, NVIDIA's call convention and resize).
// (The profiling executor optimises a graph over its first calls: three warm-up calls each side.)
// Run: npx tsc -p . && node dist/bench/features.js
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { Detector } from '../src/metrics/index.js';
import { packageRoot } from '../src/root.js';

if (!process.env.GANFORGE_SYSTEM_MALLOC || process.env.GANFORGE_SYSTEM_MALLOC === '0') torch.tuneMalloc();

const ITERS = Number(process.env.BENCH_ITERS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const threads = torch.getNumThreads();
const py = '/usr/bin/python3';
const script = join(packageRoot(), 'bench', 'features_ref.py');

function networkFile(): string {
  if (process.env.BENCH_NET) return process.env.BENCH_NET;
  const file = join(packageRoot(), '.bench', 'inception_sized.pt');
  if (!existsSync(file)) {
    mkdirSync(join(packageRoot(), '.bench'), { recursive: true });
    execFileSync(py, [script, 'make', file], { stdio: 'inherit' });
  }
  return file;
}

async function ours(file: string): Promise<number> {
  const det = await Detector.open(file);
  try {
    const img = torch.withSeed(0, () => torch.randint(0, 256, [BATCH, 3, 256, 256]).to('uint8')).keep();
    const times: number[] = [];
    for (let i = 0; i < ITERS + 3; i++) {
      const t0 = performance.now();
      torch.scope(() => det.features(img));
      if (i >= 3) times.push(performance.now() - t0);
    }
    img.dispose();
    times.sort((a, b) => a - b);
    return BATCH / (times[times.length >> 1] / 1000);
  } finally {
    det.dispose();
  }
}

function reference(file: string): { torch: string; img_per_s: number } | null {
  if (!existsSync(py)) return null;
  try {
    const out = execFileSync(py, [script, 'time', file, String(threads), String(BATCH), String(ITERS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').pop()!);
  } catch {
    return null;
  }
}

const file = networkFile();
// Alternate the sides and keep each one's best median: this machine's load comes in bursts.
let mine = 0;
let ref: { torch: string; img_per_s: number } | null = null;
for (let r = 0; r < ROUNDS; r++) {
  mine = Math.max(mine, await ours(file));
  const rr = reference(file);
  if (rr && (!ref || rr.img_per_s > ref.img_per_s)) ref = rr;
}
console.log(`feature extraction, ${file}: uint8 [${BATCH}, 3, 256, 256] → features, ${threads} threads, libtorch ${torch.buildInfo().torchVersion}`);
console.log(`  ganforge (torch::jit through the addon): ${mine.toFixed(1)} images/s`);
console.log(ref ? `  PyTorch ${ref.torch} (same file, same threads): ${ref.img_per_s.toFixed(1)} images/s  ratio ours/PyTorch ${(mine / ref.img_per_s).toFixed(3)}` : '  (no /usr/bin/python3 with torch: PyTorch side skipped)');
console.log(`repeat: npx tsc -p . && node dist/bench/features.js   (BENCH_NET=${process.env.BENCH_NET ?? ''} BENCH_BATCH=${BATCH} BENCH_ITERS=${ITERS} BENCH_ROUNDS=${ROUNDS}; best median of ${ROUNDS} alternating rounds)`);
