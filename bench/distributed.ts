// Data-parallel overhead on one machine:
//  1. all-reduce bandwidth (float32, 1, 16 and 64 MB, 2 ranks over 127.0.0.1) through our
//     c10d binding beside PyTorch's torch.distributed Gloo (/usr/bin/python3,
//     bench/distributed_ref.py), each rank on 1 thread;
//  2. DCGAN training img/s (32 px, batch 64, the recipe's defaults, procedural shapes) as
//     `ganforge train --nproc 2` (1 thread each) beside one process with 2 threads: the
//     run's own metrics (img_per_s), the first logged window (warm-up) left out.
// On a 2-core machine there is no speed-up to expect: the figures show the overhead.
// Run: npx tsc -p . && node dist/bench/distributed.js [--iters-scale S] [--kimg K]
// (S scales the all-reduce repetitions, default 1: 20, 5 and 3; K the DCGAN runs' length,
// default 0.96 = 15 steps of 64.)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { packageRoot } from '../src/root.js';
import { freePort } from '../src/distributed/index.js';

const SIZES_MB = [1, 16, 64];
const ITERS = [20, 5, 3];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** One rank of our all-reduce timing (this script run with --rank). */
function rankMain(): void {
  const [rank, port] = [arg('--rank', 0), arg('--port', 0)];
  const specs = process.argv.slice(process.argv.indexOf('--sizes') + 1).map((s) => s.split(':').map(Number));
  torch.setNumThreads(1);
  const pg = new torch.ProcessGroup({ rank, size: 2, timeoutMs: 120_000, store: { kind: 'tcp', host: '127.0.0.1', port } });
  for (const [mb, iters] of specs) {
    const t = torch.ones([(mb << 20) / 4]);
    pg.allReduce(t);
    pg.barrier();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) pg.allReduce(t);
    const sec = (performance.now() - t0) / 1000 / iters;
    if (rank === 0) process.stdout.write(JSON.stringify({ mb, iters, sec_per_op: sec }) + '\n');
    t.dispose();
  }
  pg.destroy();
}

/** Runs two ranks of `cmd` (args get RANK as the first extra) and returns rank 0's JSON lines. */
async function twoRanks(cmd: string, args: (rank: number, port: number) => string[]): Promise<{ mb: number; sec_per_op: number }[]> {
  const port = await freePort();
  const runs = [0, 1].map((rank) => new Promise<string>((resolve, reject) => {
    const p = spawn(cmd, args(rank, port), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, GANFORGE_NUM_THREADS: '1', OMP_NUM_THREADS: '1' } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} rank ${rank} exited ${code}`))));
  }));
  const [out0] = await Promise.all(runs);
  return out0.trim().split('\n').map((l) => JSON.parse(l));
}

/** Mean img_per_s of a DCGAN run's logged windows after the first. */
function dcganImgPerSec(nproc: number, threads: number, kimg: number): { imgPerSec: number; command: string } {
  const out = mkdtempSync(join(tmpdir(), 'gf-bench-dist-'));
  const args = ['train', '--model', 'dcgan', '--data', 'shapes', '--kimg', String(kimg), '--log_every', '3', '--sample_kimg', '0', '--snapshot_kimg', '0', '--out', join(out, 'run'), ...(nproc > 1 ? ['--nproc', String(nproc)] : [])];
  const bin = join(packageRoot(), 'bin', 'ganforge.js');
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, GANFORGE_NUM_THREADS: String(threads) }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ganforge ${args.join(' ')} failed: ${r.stderr}`);
  const rows = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { img_per_s: number }).slice(1);
  rmSync(out, { recursive: true, force: true });
  return { imgPerSec: rows.reduce((s, x) => s + x.img_per_s, 0) / rows.length, command: `GANFORGE_NUM_THREADS=${threads} ganforge ${args.join(' ').replace(/--out \S+/, '--out DIR')}` };
}

async function main(): Promise<void> {
  const scale = arg('--iters-scale', 1);
  const specs = SIZES_MB.map((mb, i) => `${mb}:${Math.max(1, Math.round(ITERS[i] * scale))}`);
  const self = fileURLToPath(import.meta.url);
  console.log(`all-reduce, float32, 2 ranks on 127.0.0.1, 1 thread each (${specs.join(' ')} = MB:repetitions)`);
  console.log(`  command: node dist/bench/distributed.js${scale !== 1 ? ` --iters-scale ${scale}` : ''}`);
  const ours = await twoRanks(process.execPath, (rank, port) => [self, '--rank', String(rank), '--port', String(port), '--sizes', ...specs]);
  const py = '/usr/bin/python3';
  const ref = existsSync(py) ? await twoRanks(py, (rank, port) => [join(packageRoot(), 'bench', 'distributed_ref.py'), String(rank), '2', String(port), ...specs]).catch((e) => (console.log(`  (PyTorch side failed: ${e.message})`), null)) : null;
  // Bus bandwidth as nccl-tests count it: each rank sends and receives 2(n−1)/n of the buffer.
  const busGBs = (mb: number, sec: number): string => ((2 * (2 - 1) / 2) * mb * 2 ** 20 / sec / 1e9).toFixed(2);
  console.log('  size    ganforge ms   GB/s (bus)   torch.distributed ms   GB/s (bus)');
  ours.forEach((o, i) => {
    const r = ref?.[i];
    console.log(`  ${String(o.mb).padStart(3)} MB  ${(o.sec_per_op * 1000).toFixed(2).padStart(11)}   ${busGBs(o.mb, o.sec_per_op).padStart(10)}   ${r ? (r.sec_per_op * 1000).toFixed(2).padStart(20) : 'n/a'.padStart(20)}   ${r ? busGBs(r.mb, r.sec_per_op).padStart(10) : ''}`);
  });
  const kimg = arg('--kimg', 0.96);
  console.log(`\nDCGAN training (32 px, batch 64 global), img/s from the run's metrics, warm-up window left out`);
  for (const [nproc, threads] of [[1, 2], [2, 1]]) {
    const r = dcganImgPerSec(nproc, threads, kimg);
    console.log(`  ${nproc === 1 ? '1 process, 2 threads  ' : '--nproc 2, 1 thread each'}  ${r.imgPerSec.toFixed(1).padStart(7)} img/s   ${r.command}`);
  }
}

if (process.argv.includes('--rank')) rankMain();
else await main();
