// Training checkpoints: one folder per snapshot,
//   checkpoints/<name>/model.safetensors   every network but the EMA copy, keys "<net>.<key>"
//   checkpoints/<name>/ema.safetensors     the EMA generator's own state dict (loadable alone)
//   checkpoints/<name>/optim.safetensors   optimiser state tensors, keys "<opt>.<index>.<slot>"
//   checkpoints/<name>/extra.safetensors   other tensors a resume needs (CycleGAN's image pools), if any
//   checkpoints/<name>/state.json          counters, RNG and loader state, optimiser hyper-parameters
// The folder is written under a hidden temporary name and renamed into place, so a crash
// at any moment leaves either the complete snapshot or none, never a torn one.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomicSync, syncDirectorySync } from './atomic.js';
import { saveSafetensors, loadSafetensors, type WrittenFile } from './tensors.js';

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
 * the newest `keep` snapshots (0 = keep all) and those in `protect`. Returns the snapshot's
 * path. A snapshot of the same name already complete is left as it is: it holds the same
 * training state.
 */
export function saveCheckpoint(dir: string, name: string, data: CheckpointData, keep = 0, protect: ReadonlySet<string> = new Set()): string {
  mkdirSync(dir, { recursive: true });
  const final = join(dir, name);
  if (existsSync(join(final, 'state.json'))) return final;
  const tmp = join(dir, `${PARTIAL}${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const { [EMA_NETWORK]: ema, ...nets } = data.networks;
  // The size and SHA-256 of every file go into state.json, so a reader can prove the
  // snapshot whole (a disk error or a careless copy can damage it after it was written).
  const files: Record<string, WrittenFile> = {};
  files['model.safetensors'] = saveSafetensors(join(tmp, 'model.safetensors'), join2(nets), { format: 'pt', networks: Object.keys(nets).join(',') });
  if (ema) files['ema.safetensors'] = saveSafetensors(join(tmp, 'ema.safetensors'), ema, { format: 'pt' });
  files['optim.safetensors'] = saveSafetensors(join(tmp, 'optim.safetensors'), join2(data.optimizers), { optimizers: Object.keys(data.optimizers).join(',') });
  if (data.extra && Object.keys(data.extra).length) files['extra.safetensors'] = saveSafetensors(join(tmp, 'extra.safetensors'), data.extra);
  // Tests of crash safety stop the process here, between the weights and state.json.
  if (process.env.GANFORGE_TEST_CHECKPOINT_PAUSE_MS) pauseForCrashTest(tmp, Number(process.env.GANFORGE_TEST_CHECKPOINT_PAUSE_MS));
  // state.json last: a folder is a snapshot only once it is there.
  writeFileAtomicSync(join(tmp, 'state.json'), new TextEncoder().encode(JSON.stringify({ ...data.state, files }, null, 2) + '\n'));
  syncDirectorySync(tmp);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  syncDirectorySync(dir);
  pruneCheckpoints(dir, keep, protect);
  return final;
}

/**
 * Removes all but the newest `keep` snapshots (0 = keep all), never one in `protect` (the
 * best checkpoints a run keeps). Returns the names removed.
 */
export function pruneCheckpoints(dir: string, keep: number, protect: ReadonlySet<string> = new Set()): string[] {
  if (keep <= 0) return [];
  const old = listCheckpoints(dir).slice(0, -keep).filter((n) => !protect.has(n));
  for (const n of old) rmSync(join(dir, n), { recursive: true, force: true });
  return old;
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

/** What is wrong with a safetensors file whose header does not account for its size, or null. */
function safetensorsProblem(file: string, name: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `${name} is missing`;
  }
  try {
    const size = statSync(file).size;
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) < 8) return `${name} is ${size} bytes, too short for a safetensors file`;
    const n = Number(len.readBigUInt64LE(0));
    if (n > size - 8) return `${name} is cut short (${size} bytes; its header alone needs ${n + 8})`;
    const header = Buffer.alloc(n);
    readSync(fd, header, 0, n, 8);
    let end = 0;
    try {
      for (const [k, v] of Object.entries(JSON.parse(header.toString('utf8')) as Record<string, { data_offsets?: [number, number] }>)) {
        if (k !== '__metadata__' && v.data_offsets) end = Math.max(end, v.data_offsets[1]);
      }
    } catch {
      return `${name} has an unreadable header`;
    }
    if (size !== 8 + n + end) return `${name} is ${size} bytes, but its header describes ${8 + n + end}`;
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * What is wrong with a complete-looking snapshot, or null when it is intact: state.json
 * must parse, and every file it lists must have the size and SHA-256 recorded when it was
 * written. (Snapshots from before the manifest: each safetensors file must be as long as
 * its header says.)
 */
export function checkpointProblem(path: string): string | null {
  let state: { files?: Record<string, WrittenFile> };
  try {
    state = JSON.parse(readFileSync(join(path, 'state.json'), 'utf8'));
    if (typeof state !== 'object' || state === null || Array.isArray(state)) return 'state.json holds no training state';
  } catch (e) {
    return `state.json is unreadable (${(e as Error).message.split('\n')[0]})`;
  }
  if (!state.files) {
    for (const name of ['model.safetensors', 'ema.safetensors', 'optim.safetensors', 'extra.safetensors']) {
      const optional = name === 'ema.safetensors' || name === 'extra.safetensors';
      if (optional && !existsSync(join(path, name))) continue;
      const p = safetensorsProblem(join(path, name), name);
      if (p) return p;
    }
    return null;
  }
  for (const [name, want] of Object.entries(state.files)) {
    const file = join(path, name);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      return `${name} is missing`;
    }
    if (bytes.byteLength !== want.bytes) return `${name} is ${bytes.byteLength} bytes, ${want.bytes} were written`;
    if (createHash('sha256').update(bytes).digest('hex') !== want.sha256) return `${name} does not match the checksum recorded when it was written`;
  }
  return null;
}

export interface CheckpointChoice {
  /** The newest intact snapshot, or null when there is none. */
  name: string | null;
  /** Newer snapshots found damaged, newest first, with what is wrong. */
  damaged: { name: string; problem: string }[];
}

/** The newest intact snapshot in a checkpoints folder, and the damaged ones newer than it. */
export function newestIntactCheckpoint(dir: string): CheckpointChoice {
  const damaged: CheckpointChoice['damaged'] = [];
  for (const name of listCheckpoints(dir).reverse()) {
    const problem = checkpointProblem(join(dir, name));
    if (problem === null) return { name, damaged };
    damaged.push({ name, problem });
  }
  return { name: null, damaged };
}

/** Moves a damaged snapshot aside (kept, under a hidden name) so that training never counts it. Returns the new path. */
export function setAsideCheckpoint(dir: string, name: string): string {
  const aside = join(dir, `.damaged-${name}-${Date.now()}`);
  renameSync(join(dir, name), aside);
  return aside;
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
