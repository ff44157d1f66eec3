// Training checkpoints: one folder per snapshot,
//   checkpoints/<name>/model.safetensors   every network but the EMA copy, keys "<net>.<key>"
//   checkpoints/<name>/ema.safetensors     the EMA generator's own state dict (loadable alone)
//   checkpoints/<name>/optim.safetensors   optimiser state tensors, keys "<opt>.<index>.<slot>"
//   checkpoints/<name>/extra.safetensors   other tensors a resume needs (CycleGAN's image pools), if any
//   checkpoints/<name>/state.json          counters, RNG and loader state, optimiser hyper-parameters
// The folder is written under a hidden temporary name and renamed into place, so a crash
// at any moment leaves either the complete snapshot or none, never a torn one.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomicSync, syncDirectorySync } from './atomic.js';
import { saveSafetensors, loadSafetensors } from './tensors.js';

export const EMA_NETWORK = 'G_ema';

export interface CheckpointData {
  /** Network name → state dict (the EMA generator under EMA_NETWORK). */
  networks: Record<string, Record<string, Tensor>>;
  /** Optimiser name → its state tensors (Optimizer.stateDict().tensors). */
  optimizers: Record<string, Record<string, Tensor>>;
  /** Other tensors the training state holds (image pools); omitted when there are none. */
  extra?: Record<string, Tensor>;
  /** Everything else, JSON-safe. */
  state: Record<string, unknown>;
}

const PARTIAL = '.partial-';

/** Snapshot names sort in training order: kimg with fixed width, e.g. 000012.800. */
export function checkpointName(kimg: number): string {
  return kimg.toFixed(3).padStart(10, '0');
}

function split(prefixed: Record<string, Tensor>, what: string): Record<string, Record<string, Tensor>> {
  const out: Record<string, Record<string, Tensor>> = {};
  for (const [k, t] of Object.entries(prefixed)) {
    const dot = k.indexOf('.');
    if (dot <= 0) throw new Error(`${what}: key '${k}' has no '<name>.' prefix`);
    (out[k.slice(0, dot)] ??= {})[k.slice(dot + 1)] = t;
  }
  return out;
}

function join2(groups: Record<string, Record<string, Tensor>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [g, sd] of Object.entries(groups)) for (const [k, t] of Object.entries(sd)) out[`${g}.${k}`] = t;
  return out;
}

/**
 * Writes a snapshot to `<dir>/<name>` (dir = the run's checkpoints folder) and keeps only
 * the newest `keep` snapshots (0 = keep all). Returns the snapshot's path. A snapshot of
 * the same name already complete is left as it is: it holds the same training state.
 */
export function saveCheckpoint(dir: string, name: string, data: CheckpointData, keep = 0): string {
  mkdirSync(dir, { recursive: true });
  const final = join(dir, name);
  if (existsSync(join(final, 'state.json'))) return final;
  const tmp = join(dir, `${PARTIAL}${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const { [EMA_NETWORK]: ema, ...nets } = data.networks;
  saveSafetensors(join(tmp, 'model.safetensors'), join2(nets), { format: 'pt', networks: Object.keys(nets).join(',') });
  if (ema) saveSafetensors(join(tmp, 'ema.safetensors'), ema, { format: 'pt' });
  saveSafetensors(join(tmp, 'optim.safetensors'), join2(data.optimizers), { optimizers: Object.keys(data.optimizers).join(',') });
  if (data.extra && Object.keys(data.extra).length) saveSafetensors(join(tmp, 'extra.safetensors'), data.extra);
  // Tests of crash safety stop the process here, between the weights and state.json.
  if (process.env.GANFORGE_TEST_CHECKPOINT_PAUSE_MS) pauseForCrashTest(tmp, Number(process.env.GANFORGE_TEST_CHECKPOINT_PAUSE_MS));
  // state.json last: a folder is a snapshot only once it is there.
  writeFileAtomicSync(join(tmp, 'state.json'), new TextEncoder().encode(JSON.stringify(data.state, null, 2) + '\n'));
  syncDirectorySync(tmp);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  syncDirectorySync(dir);
  if (keep > 0) for (const old of listCheckpoints(dir).slice(0, -keep)) rmSync(join(dir, old), { recursive: true, force: true });
  return final;
}

function pauseForCrashTest(dir: string, ms: number): void {
  process.stderr.write(`checkpoint-midway ${dir}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Complete snapshots in training order (partial folders of a crashed write are skipped). */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && existsSync(join(dir, n, 'state.json')) && statSync(join(dir, n)).isDirectory())
    .sort();
}

/** Removes folders left by a write that was killed midway. */
export function removePartialCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const partial = readdirSync(dir).filter((n) => n.startsWith(PARTIAL));
  for (const n of partial) rmSync(join(dir, n), { recursive: true, force: true });
  return partial;
}

/** Reads a snapshot folder back; tensors are new CPU tensors owned by the caller's scope. */
export function loadCheckpoint(path: string): CheckpointData {
  const stateFile = join(path, 'state.json');
  if (!existsSync(stateFile)) throw new Error(`${path} is not a complete checkpoint (no state.json)`);
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (e) {
    throw new Error(`${stateFile}: ${(e as Error).message}`);
  }
  const networks = split(loadSafetensors(join(path, 'model.safetensors')).tensors, join(path, 'model.safetensors'));
  const emaFile = join(path, 'ema.safetensors');
  if (existsSync(emaFile)) networks[EMA_NETWORK] = loadSafetensors(emaFile).tensors;
  const optimizers = split(loadSafetensors(join(path, 'optim.safetensors')).tensors, join(path, 'optim.safetensors'));
  const extraFile = join(path, 'extra.safetensors');
  const extra = existsSync(extraFile) ? loadSafetensors(extraFile).tensors : {};
  return { networks, optimizers, extra, state };
}
