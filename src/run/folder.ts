// A run folder: config.json, metrics.jsonl, samples/, checkpoints/. Nothing here ever
// replaces a previous run unless asked to (--force), and resuming refuses a config that
// would make the continuation a different experiment.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { Options } from '../config/options.js';
import { writeFileAtomicSync } from '../io/atomic.js';

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

/** Prepares a fresh run folder: refuses an existing run unless `force` (then replaces it). */
export function createRun(dir: string, force: boolean): RunPaths {
  const p = runPaths(dir);
  if (existsSync(dir)) {
    if (!force) {
      throw new UsageError(`${dir} already exists: use --resume to continue that run, --force to replace it, or another --out`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(p.samples, { recursive: true });
  mkdirSync(p.checkpoints, { recursive: true });
  return p;
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
