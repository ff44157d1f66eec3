// The runs under the served folders, followed for everyone at once. A served folder may
// be a run itself or hold runs up to two levels down (runs/, or a project holding runs/);
// it may not exist yet (`train --serve` starts before the trainer makes its folder). Runs
// are found again every poll, so new ones appear. Each run gets an id, its folder's name
// (made unique), and URLs name runs only by id: the server never joins a path from a URL
// except under a run's folder (safe_path.ts).
//
// Polling is the guarantee (every POLL_MS while anyone listens); fs.watch on each run and
// its samples/ only makes changes arrive sooner, and where it is unavailable (inotify
// limits, network file systems) nothing else changes.
import { type FSWatcher, readdirSync, realpathSync, statSync, watch } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { isRunFolder } from '../run/output.js';
import { RunFollower, type Change, type RunSummary } from './follow.js';

export const POLL_MS = 500;
const DEPTH = 2;
const SKIP = new Set(['node_modules', 'samples', 'checkpoints']);

export type HubEvent = { run: string; change: Change } | { runs: RunSummary[] };

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Run folders at or under `dir`, down to `depth` levels, sorted; `known` ones are not read again. */
function findRuns(dir: string, depth: number, known: (dir: string) => boolean): string[] {
  if (known(dir)) return [dir];
  if (!isDir(dir)) return [];
  if (isRunFolder(dir)) return [dir];
  if (depth === 0) return [];
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((n) => !n.startsWith('.') && !SKIP.has(n)).sort();
  } catch {
    return [];
  }
  return entries.flatMap((n) => findRuns(join(dir, n), depth - 1, known));
}

export class Hub {
  readonly roots: string[];
  readonly #runs = new Map<string, RunFollower>();
  readonly #byDir = new Map<string, RunFollower>();
  /** The paths where runs were found (as reached from a root), not read again. */
  readonly #found = new Set<string>();
  readonly #watchers = new Map<string, FSWatcher[]>();
  readonly #listeners = new Set<(e: HubEvent) => void>();
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Timeout | null = null;
  #lastList = '';

  constructor(roots: readonly string[], readonly watchFiles = true) {
    this.roots = roots.map((r) => resolve(r));
    this.poll();
  }

  runs(): RunFollower[] {
    return [...this.#runs.values()];
  }

  run(id: string): RunFollower | undefined {
    return this.#runs.get(id);
  }

  summaries(): RunSummary[] {
    return this.runs().map((r) => r.summary());
  }

  /** Finds runs and reads what changed; tells the listeners. */
  poll(): void {
    this.#discover();
    const events: HubEvent[] = [];
    for (const r of this.#runs.values()) for (const change of r.poll()) events.push({ run: r.id, change });
    const list = this.summaries();
    const text = JSON.stringify(list);
    if (text !== this.#lastList) {
      this.#lastList = text;
      events.push({ runs: list });
    }
    for (const e of events) for (const l of this.#listeners) l(e);
  }

  #discover(): void {
    for (const root of this.roots) {
      for (const dir of findRuns(root, DEPTH, (d) => this.#found.has(d))) {
        if (this.#found.has(dir)) continue;
        let real: string;
        try {
          real = realpathSync(dir);
        } catch {
          continue;
        }
        if (this.#byDir.has(real)) {
          this.#found.add(dir);
          continue;
        }
        let id = basename(real);
        for (let i = 2; this.#runs.has(id); i++) id = `${basename(real)}-${i}`;
        const shown = relative(process.cwd(), dir) || '.';
        const f = new RunFollower(id, real, shown.startsWith('..') ? dir : shown);
        this.#runs.set(id, f);
        this.#byDir.set(real, f);
        this.#found.add(dir);
        if (this.#listeners.size) this.#watch(f);
      }
    }
  }

  /** Starts following for a listener; returns the function that stops. */
  listen(l: (e: HubEvent) => void): () => void {
    this.#listeners.add(l);
    if (!this.#timer) {
      this.poll();
      this.#timer = setInterval(() => this.poll(), POLL_MS);
      for (const r of this.#runs.values()) this.#watch(r);
    }
    return () => {
      this.#listeners.delete(l);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  #watch(r: RunFollower): void {
    if (!this.watchFiles || this.#watchers.has(r.id)) return;
    const ws: FSWatcher[] = [];
    for (const d of [r.dir, join(r.dir, 'samples'), join(r.dir, 'checkpoints')]) {
      try {
        const w = watch(d, { persistent: false }, () => this.#pollSoon());
        w.on('error', () => w.close());
        ws.push(w);
      } catch {
        /* polling alone */
      }
    }
    this.#watchers.set(r.id, ws);
  }

  /** A burst of file events (a row, a grid written and renamed) makes one poll. */
  #pollSoon(): void {
    if (this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = null;
      this.poll();
    }, 50);
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    this.#timer = this.#soon = null;
    for (const ws of this.#watchers.values()) for (const w of ws) w.close();
    this.#watchers.clear();
  }

  close(): void {
    this.#listeners.clear();
    this.#stop();
  }
}
