// A run folder: config.json, metrics.jsonl, samples/, checkpoints/, and run.lock while a
// process writes it. Nothing here ever replaces a previous run unless asked to (--force,
// and then only a run: see output.ts), one process at a time writes a run (lock.ts), and
// resuming refuses a config that would make the continuation a different experiment.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { Options } from '../config/options.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { checkpointProblem, listCheckpoints, newestIntactCheckpoint, setAsideCheckpoint } from '../io/checkpoint.js';
import { LOCK_FILE, lockRun, type RunLock } from './lock.js';
import { type ProtectedPath, checkOutputPath, checkReplaceableFolder, describeFolder, emptyRunFolder, isRunFolder, makeFolder, protectedPaths } from './output.js';

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  samples: string;
  checkpoints: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    metrics: join(dir, 'metrics.jsonl'),
    samples: join(dir, 'samples'),
    checkpoints: join(dir, 'checkpoints'),
  };
}

/** The folders a --force on a run may never delete: the working folder, the home folder and the data. */
export function runProtection(data: string): ProtectedPath[] {
  return protectedPaths(existsSync(data) ? [{ path: data, what: 'the --data folder', inside: true }] : []);
}

function runExists(dir: string): UsageError {
  return new UsageError(`${dir} already exists: use --resume to continue that run, --force to replace it, or another --out`);
}

/**
 * Before any work: the run folder can be created and written, and a fresh run would
 * replace nothing but a ganforge run (with --force) or an empty folder. Creates nothing.
 */
export function checkRunFolder(dir: string, o: { resume: boolean; force: boolean; data: string }): void {
  checkOutputPath(dir, '--out', 'folder');
  if (o.resume || !existsSync(dir)) return;
  if (o.force) {
    checkReplaceableFolder(dir, '--out', runProtection(o.data));
    return;
  }
  if (readdirSync(dir).length === 0) return;
  if (isRunFolder(dir)) throw runExists(dir);
  throw new UsageError(`--out ${dir} exists and is not a ganforge run (it holds ${describeFolder(dir)}): choose another --out`);
}

/** Creates the run folder if needed and takes its lock (held until the lock is disposed). */
export function lockRunFolder(dir: string, create: boolean, note: (line: string) => void): RunLock {
  if (create) makeFolder(dir);
  return lockRun(dir, note);
}

/**
 * Prepares a fresh run in `dir`, whose lock the caller holds: an empty folder is used, a
 * run folder is emptied when `force` (nothing else ever is), anything else is refused.
 */
export function createRun(dir: string, force: boolean, protect: ProtectedPath[] = runProtection('')): RunPaths {
  const p = runPaths(dir);
  if (readdirSync(dir).some((n) => n !== LOCK_FILE)) {
    if (!force) {
      throw runExists(dir);
    }
    emptyRunFolder(dir, '--out', protect, [LOCK_FILE]);
  }
  makeFolder(p.samples);
  makeFolder(p.checkpoints);
  return p;
}

/**
 * The checkpoint a resume continues from: the newest intact one. Damaged newer ones are
 * moved aside (kept under a hidden name, never counted again) with a warning naming them.
 * null when the run has no checkpoint at all (killed during its first); a UsageError
 * when it has some and none is intact.
 */
export function resumeCheckpoint(p: RunPaths, warn: (line: string) => void): string | null {
  const { name, damaged } = newestIntactCheckpoint(p.checkpoints);
  if (name === null && damaged.length) {
    throw new UsageError(`cannot resume ${p.dir}: none of its ${damaged.length} checkpoint(s) is intact (${damaged[0].name}: ${damaged[0].problem})`);
  }
  for (const d of damaged) {
    const aside = setAsideCheckpoint(p.checkpoints, d.name);
    warn(`warning: checkpoint ${d.name} of ${p.dir} is damaged (${d.problem}); moved it to ${aside} and continuing from ${name}`);
  }
  return name;
}

/**
 * The checkpoint a reader (sample, translate) loads: `wanted` when named (refused if
 * damaged), else the newest intact one, with a warning for each damaged newer one.
 */
export function readableCheckpoint(dir: string, wanted: string | null, warn: (line: string) => void): string {
  const p = runPaths(dir);
  const names = listCheckpoints(p.checkpoints);
  if (names.length === 0) throw new UsageError(`${dir} has no complete checkpoint yet`);
  if (wanted !== null) {
    if (!names.includes(wanted)) throw new UsageError(`${dir} has no checkpoint '${wanted}' (it has: ${names.join(', ')})`);
    const problem = checkpointProblem(join(p.checkpoints, wanted));
    if (problem) throw new UsageError(`checkpoint ${wanted} of ${dir} is damaged (${problem}): choose another --checkpoint (it has: ${names.join(', ')})`);
    return wanted;
  }
  const { name, damaged } = newestIntactCheckpoint(p.checkpoints);
  if (name === null) throw new UsageError(`none of the ${damaged.length} checkpoint(s) of ${dir} is intact (${damaged[0].name}: ${damaged[0].problem})`);
  for (const d of damaged) warn(`warning: checkpoint ${d.name} of ${dir} is damaged (${d.problem}); using ${name}`);
  return name;
}

/** What config.json holds: every option of the run, and what the data turned out to be. */
export interface RunConfig {
  ganforge: string;
  options: Options;
  classes: string[] | null;
  dataset: { source: string; kind: string; length: number };
}

export function readConfig(dir: string): RunConfig {
  const file = runPaths(dir).config;
  if (!existsSync(file)) throw new UsageError(`${dir} has no config.json (is it a ganforge run folder?)`);
  let cfg: Partial<RunConfig>;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunConfig>;
  } catch (e) {
    throw new UsageError(`${file} is unreadable (${(e as Error).message})`);
  }
  if (!cfg || typeof cfg.options !== 'object' || cfg.options === null) throw new UsageError(`${file} has no options: not a ganforge run config`);
  return { ganforge: String(cfg.ganforge ?? '?'), options: cfg.options, classes: cfg.classes ?? null, dataset: cfg.dataset ?? { source: '?', kind: '?', length: 0 } };
}

export function writeConfig(p: RunPaths, config: RunConfig): void {
  writeFileAtomicSync(p.config, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
}

/** A fingerprint of the options that define what is learned (not how long or how often we log). */
export function configHash(o: Options, ignore: ReadonlySet<string>): string {
  const kept = Object.keys(o).filter((k) => !ignore.has(k)).sort().map((k) => [k, o[k]]);
  return createHash('sha256').update(JSON.stringify(kept)).digest('hex').slice(0, 16);
}

export function appendMetrics(p: RunPaths, row: Record<string, unknown>): void {
  appendFileSync(p.metrics, JSON.stringify(row) + '\n');
}

/** On resume: drop the lines an interrupted run logged after its last checkpoint. */
export function truncateMetrics(p: RunPaths, lastStep: number): void {
  if (!existsSync(p.metrics)) return;
  const kept = readFileSync(p.metrics, 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      return (JSON.parse(line) as { step?: number }).step! <= lastStep;
    } catch {
      return false;
    }
  });
  writeFileSync(p.metrics, kept.length ? kept.join('\n') + '\n' : '');
}
