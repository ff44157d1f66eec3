// Follows one run folder from the outside, as `tail -f` would: the rows appended to
// metrics.jsonl (a torn last line is left for the next read), the sample grids and
// checkpoints that appear, config.json, and whether a live process holds run.lock. It
// never talks to the trainer and never writes: each poll() is a few stat/readdir calls
// plus a read of the bytes appended since the last one, and returns what changed.
import { closeSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { lockHolder } from '../run/lock.js';
import { bestMetric, scalarKind, type Best, type Row } from './scalars.js';

export type RunState = 'running' | 'finished' | 'interrupted';

export interface CheckpointInfo {
  name: string;
  kimg: number | null;
  step: number | null;
  /** Bytes of its files together. */
  bytes: number;
  files: string[];
  /** When it was written (ms since the epoch). */
  time: number;
}

export interface RunSummary {
  id: string;
  path: string;
  model: string;
  data: string;
  /** N, or 'WxH' for a non-square run. */
  resolution: number | string | null;
  state: RunState;
  /** Epoch-based families (pix2pix, CycleGAN) count their length in epochs. */
  unit: 'kimg' | 'epochs';
  /** Where training is and where it ends, in `unit`. */
  done: number;
  total: number | null;
  /** Images in one epoch of the data: turns kimg into epochs. */
  epochImages: number | null;
  step: number;
  /** The last row's losses. */
  losses: Record<string, number>;
  imgPerSec: number | null;
  best: Best | null;
  samples: number;
  checkpoints: number;
  /** The newest change of metrics.jsonl (ms since the epoch). */
  updated: number | null;
}

export type Change =
  | { kind: 'reset' }
  | { kind: 'rows'; rows: Row[] }
  | { kind: 'samples'; samples: string[] }
  | { kind: 'checkpoints'; checkpoints: CheckpointInfo[] }
  | { kind: 'config'; config: unknown }
  | { kind: 'state'; state: RunState };

interface ConfigFile {
  options?: Record<string, unknown>;
  dataset?: { length?: number; source?: string };
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

function names(dir: string, keep: (n: string) => boolean): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.') && keep(n)).sort();
  } catch {
    return [];
  }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class RunFollower {
  config: ConfigFile | null = null;
  rows: Row[] = [];
  samples: string[] = [];
  checkpoints: CheckpointInfo[] = [];
  state: RunState = 'interrupted';
  #configStamp = '';
  #offset = 0;
  #ino = -1;
  #updated: number | null = null;
  #dirty = true;

  constructor(readonly id: string, readonly dir: string, readonly shownPath: string) {}

  /** Reads what changed since the last poll. */
  poll(): Change[] {
    const changes: Change[] = [];
    this.#pollConfig(changes);
    this.#pollMetrics(changes);
    const samples = names(join(this.dir, 'samples'), (n) => n.endsWith('.png'));
    if (!sameList(samples, this.samples)) {
      this.samples = samples;
      changes.push({ kind: 'samples', samples });
    }
    const ckNames = names(join(this.dir, 'checkpoints'), (n) => statOrNull(join(this.dir, 'checkpoints', n, 'state.json')) !== null);
    if (!sameList(ckNames, this.checkpoints.map((c) => c.name))) {
      this.checkpoints = ckNames.map((n) => this.#checkpoint(n));
      changes.push({ kind: 'checkpoints', checkpoints: this.checkpoints });
    }
    const state = this.#state();
    if (state !== this.state) {
      this.state = state;
      changes.push({ kind: 'state', state });
    }
    if (changes.length) this.#dirty = true;
    return changes;
  }

  #pollConfig(changes: Change[]): void {
    const file = join(this.dir, 'config.json');
    const st = statOrNull(file);
    const stamp = st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
    if (stamp === this.#configStamp) return;
    this.#configStamp = stamp;
    try {
      this.config = JSON.parse(readFileSync(file, 'utf8')) as ConfigFile;
    } catch {
      this.config = null;
    }
    changes.push({ kind: 'config', config: this.config });
  }

  #pollMetrics(changes: Change[]): void {
    let fd: number;
    try {
      fd = openSync(join(this.dir, 'metrics.jsonl'), 'r');
    } catch {
      if (this.#offset > 0) this.#reset(changes);
      return;
    }
    try {
      const st = fstatSync(fd);
      // A resume rewrites the file shorter (the rows after its checkpoint are dropped).
      if (st.ino !== this.#ino || st.size < this.#offset) {
        if (this.#ino !== -1 || this.#offset > 0) this.#reset(changes);
        this.#ino = st.ino;
      }
      if (st.size === this.#offset) return;
      this.#updated = st.mtimeMs;
      const buf = Buffer.alloc(st.size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      const text = buf.subarray(0, n);
      const end = text.lastIndexOf(0x0a);
      if (end < 0) return;
      this.#offset += end + 1;
      const rows: Row[] = [];
      for (const line of text.subarray(0, end).toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as unknown;
          if (r && typeof r === 'object' && !Array.isArray(r)) rows.push(r as Row);
        } catch {
          /* a damaged line is skipped, not fatal */
        }
      }
      if (rows.length) {
        this.rows.push(...rows);
        changes.push({ kind: 'rows', rows });
      }
    } finally {
      closeSync(fd);
    }
  }

  #reset(changes: Change[]): void {
    this.rows = [];
    this.#offset = 0;
    this.#ino = -1;
    changes.push({ kind: 'reset' });
  }

  #checkpoint(name: string): CheckpointInfo {
    const dir = join(this.dir, 'checkpoints', name);
    const files = names(dir, () => true);
    let bytes = 0;
    for (const f of files) bytes += statOrNull(join(dir, f))?.size ?? 0;
    let kimg: number | null = Number.isFinite(Number(name)) ? Number(name) : null;
    let step: number | null = null;
    try {
      const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { kimg?: number; step?: number };
      if (typeof s.kimg === 'number') kimg = s.kimg;
      if (typeof s.step === 'number') step = s.step;
    } catch {
      /* shown without them */
    }
    return { name, kimg, step, bytes, files, time: statOrNull(join(dir, 'state.json'))?.mtimeMs ?? 0 };
  }

  /** Images the run is to see in all, or null when config.json does not say. */
  #totalImages(): number | null {
    const o = this.config?.options ?? {};
    if (this.#byEpoch()) {
      const n = Number(o.n_epochs ?? NaN) + Number(o.n_epochs_decay ?? 0);
      const len = this.config?.dataset?.length;
      return Number.isFinite(n) && typeof len === 'number' ? n * len : null;
    }
    return typeof o.kimg === 'number' ? o.kimg * 1000 : null;
  }

  #byEpoch(): boolean {
    return 'save_epoch_freq' in (this.config?.options ?? {});
  }

  #state(): RunState {
    if (lockHolder(this.dir)) return 'running';
    const total = this.#totalImages();
    const last = this.#lastTrainingRow();
    const seen = typeof last?.kimg === 'number' ? last.kimg * 1000 : 0;
    // The trainer logs a row when it reaches its length (rounding aside).
    return total !== null && seen >= total - 0.5 ? 'finished' : 'interrupted';
  }

  #lastTrainingRow(): Row | undefined {
    for (let i = this.rows.length - 1; i >= 0; i--) if (typeof this.rows[i].step === 'number') return this.rows[i];
    return undefined;
  }

  #summary: RunSummary | null = null;

  summary(): RunSummary {
    if (this.#summary && !this.#dirty) return this.#summary;
    const o = this.config?.options ?? {};
    const last = this.#lastTrainingRow() ?? {};
    const byEpoch = this.#byEpoch();
    const epochImages = typeof this.config?.dataset?.length === 'number' && this.config.dataset.length > 0 ? this.config.dataset.length : null;
    const total = this.#totalImages();
    const seen = typeof last.kimg === 'number' ? last.kimg * 1000 : 0;
    const losses: Record<string, number> = {};
    for (const [k, v] of Object.entries(last)) if (typeof v === 'number' && scalarKind(k) === 'loss') losses[k] = v;
    const resolution = typeof o.resolution === 'number' || typeof o.resolution === 'string' ? o.resolution : typeof o.crop_size === 'number' ? o.crop_size : null;
    const per = byEpoch && epochImages ? epochImages : 1000;
    this.#summary = {
      id: this.id,
      path: this.shownPath,
      model: String(o.model ?? '?'),
      data: String(o.data ?? '?'),
      resolution,
      state: this.state,
      unit: byEpoch ? 'epochs' : 'kimg',
      done: seen / per,
      total: total === null ? null : total / per,
      epochImages,
      step: typeof last.step === 'number' ? last.step : 0,
      losses,
      imgPerSec: typeof last.img_per_s === 'number' ? last.img_per_s : null,
      best: bestMetric(this.rows),
      samples: this.samples.length,
      checkpoints: this.checkpoints.length,
      updated: this.#updated,
    };
    this.#dirty = false;
    return this.#summary;
  }
}
