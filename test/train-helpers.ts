// Running the ganforge command in a child process, for tests of the whole program.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { scope } from '../src/torch/index.js';
import { loadCheckpoint, listCheckpoints } from '../src/io/checkpoint.js';
import { fromRoot } from './helpers.js';
import { PhaseRunner, type StepContext } from '../src/train/phase.js';
import type { Recipe } from '../src/train/recipe.js';
import { openDataset, Loader, toTensorBatch, type TensorBatch } from '../src/data/index.js';
import { loadRun } from '../src/families/load.js';
import type { Options } from '../src/config/options.js';
import { scheduleOptions, type ProgressiveOptions } from '../src/families/progressive/loop.js';
import type { ScheduleOptions } from '../src/families/progressive/schedule.js';

export const BIN = fromRoot('bin/ganforge.js');

/** A tiny DCGAN that trains in well under a second per step on 2 cores. */
export const TINY = ['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--batch', '8', '--nz', '16', '--ngf', '8', '--ndf', '8', '--workers', '1', '--log_every', '1', '--sample_kimg', '0', '--n_samples', '4'];

export function tempDir(prefix = 'gf-train-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliAsync(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves when `pattern` appears in the child's stderr (or rejects when it exits first). */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; stderr so far:\n${buf}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (pattern.test(buf)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(buf);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!pattern.test(buf)) reject(new Error(`exited (${code}) before ${pattern}; stderr:\n${buf}`));
    });
  });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  let stderr = '', stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr, stdout })));
}

/**
 * Runs the ganforge command in this process (its `run` entry point, which returns the exit
 * code bin/ganforge.js sets) and captures its stderr: the same answer as `cli` for a
 * mistake, without a second of process start and libtorch load per call. stdout is left
 * alone (the test runner reports there), so use it for commands that print nothing there.
 */
export async function cliErrorInProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const { run } = await import('../src/cli/main.js');
  let stderr = '';
  const original = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    return { status: await run(args), stderr };
  } finally {
    process.stderr.write = original;
  }
}

/**
 * Two checkpoints hold the same training state bit for bit: every network and optimiser
 * tensor, the extra tensors (image pools), and the counters, loader, RNG, recipe, schedule
 * and optimiser hyper-parameters of state.json. How exact resume is proven.
 */
export function assertSameCheckpoint(a: string, b: string): void {
  scope(() => {
    const x = loadCheckpoint(a), y = loadCheckpoint(b);
    for (const group of ['networks', 'optimizers', 'extra'] as const) {
      const gx = group === 'extra' ? { extra: x.extra ?? {} } : x[group];
      const gy = group === 'extra' ? { extra: y.extra ?? {} } : y[group];
      assert.deepEqual(Object.keys(gx).sort(), Object.keys(gy).sort(), group);
      for (const [net, sd] of Object.entries(gx)) {
        assert.deepEqual(Object.keys(sd).sort(), Object.keys(gy[net]).sort(), `${group}.${net} keys`);
        for (const [k, t] of Object.entries(sd)) assert.ok(t.equal(gy[net][k]), `${group}.${net}.${k} differs`);
      }
    }
    for (const k of ['step', 'imagesSeen', 'epoch', 'loader', 'rng', 'recipe', 'schedule', 'optimizers'] as const) {
      assert.deepEqual(x.state[k], y.state[k], `state.${k}`);
    }
  });
}

/** The newest checkpoint of a run folder. */
export function latestCheckpoint(run: string): string {
  const names = listCheckpoints(join(run, 'checkpoints'));
  return join(run, 'checkpoints', names[names.length - 1]);
}

/**
 * Trains `args` (a `train` command line without --kimg and --out) for `kimg` into
 * `straight`, and for `splitKimg` then resumed to `kimg` into `split`; the resume must say
 * where it continues (`resumedAt`) and end in the checkpoint of the straight run, bit for bit.
 */
export function assertResumesExactly(args: string[], o: { straight: string; split: string; kimg: number; splitKimg: number; resumedAt: RegExp }): void {
  const model = args[args.indexOf('--model') + 1];
  for (const [out, kimg] of [[o.straight, o.kimg], [o.split, o.splitKimg]] as const) {
    const r = cli([...args, '--kimg', String(kimg), '--out', out]);
    assert.equal(r.status, 0, r.stderr);
  }
  const r = cli(['train', '--model', model, '--resume', '--out', o.split, '--kimg', String(o.kimg)]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, o.resumedAt);
  assertSameCheckpoint(latestCheckpoint(o.straight), latestCheckpoint(o.split));
}

const runners = new WeakMap<Recipe, PhaseRunner>();

/**
 * One training iteration of `recipe` as the trainer runs it (its phases, in order): the
 * one place tests step a recipe.
 */
export function trainStep(recipe: Recipe, batch: TensorBatch, ctx: StepContext): Record<string, number> {
  let runner = runners.get(recipe);
  if (!runner) runners.set(recipe, (runner = new PhaseRunner(recipe)));
  return runner.run(batch, ctx);
}

/** A progressive family's schedule from a whole run's options (untyped, as tests build them). */
export function scheduleOptionsOf(o: Options): ScheduleOptions {
  return scheduleOptions(o as unknown as ProgressiveOptions, Number(o.resolution));
}

/** The recipe's networks and optimiser state in float64 (its optimisers allocate their moments at construction). */
export function toFloat64(recipe: Recipe, names: string[]): void {
  for (const n of names) recipe.networks()[n].to('float64');
  torch.noGrad(() => {
    for (const opt of Object.values(recipe.optimizers())) {
      for (const t of Object.values(opt.stateDict().tensors)) {
        const moved = t.to({ dtype: 'float64' });
        t.setData(moved);
        moved.dispose();
      }
    }
  });
}

/**
 * Colour statistics of a batch: per channel, the mean, the spread over all pixels, and the
 * spread of the per-image mean colour (shapes has a differently coloured ground per image).
 */
function colourStats(images: torch.Tensor): number[] {
  return torch.scope(() => {
    const perImage = images.mean([2, 3]);
    return [images.mean([0, 2, 3]), images.std([0, 2, 3]), perImage.std(0)].flatMap((t) => Array.from(t.toTypedArray() as Float32Array));
  });
}

/**
 * How far the colour statistics of 256 samples of an unconditional `shapes` run lie from
 * the data's, from its first checkpoint (untrained) and from its last: a run that learns
 * brings them closer.
 */
export async function colourDistances(runDir: string, resolution: number): Promise<{ before: number; after: number }> {
  const ds = await openDataset('shapes', { resolution, seed: 123 });
  const loader = new Loader(ds, { batchSize: 256, workers: 0, seed: 5 });
  const batch = await loader.next();
  await loader.close();
  const real = colourStats(toTensorBatch(batch).a);
  const dist = (checkpoint?: string): number => torch.scope(() => {
    const r = loadRun(runDir, checkpoint ? { checkpoint } : {});
    const images = torch.noGrad(() => r.recipe.generate(torch.withSeed(9, () => r.recipe.sampleInputs(256, null))));
    return Math.hypot(...colourStats(images).map((v, i) => v - real[i]));
  });
  return { before: dist('000000.000'), after: dist() };
}
