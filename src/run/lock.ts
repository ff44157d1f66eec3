// One writer per run folder. Two processes training into the same folder (two --resume,
// or a --force while another trains) would interleave metrics rows, mix the config of
// one with the checkpoints of the other, and let one's --keep prune the other's
// checkpoints. So every writer holds `<run>/run.lock` for the whole run: a small JSON file
// with its pid, host and start time, created atomically (written under another name, then
// hard-linked into place, which fails when a lock is there). A second writer is refused
// with a line naming the holder. A lock left by a process that no longer runs (kill -9,
// a power cut) is taken over, with a note. Readers (sample, eval, export) take no lock:
// checkpoints are written whole and renamed into place, so they never see a torn one.
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../config/errors.js';

export const LOCK_FILE = 'run.lock';

interface Holder {
  pid: number;
  host: string;
  started: string;
  /** Linux: the process's start time in clock ticks since boot, to tell a reused pid apart. */
  startTicks?: number;
  command?: string;
}

function startTicks(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name (which may hold spaces and parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `h` still runs (unknowable on another host: then yes). */
function running(h: Holder): boolean {
  if (h.host !== hostname()) return true;
  if (!Number.isInteger(h.pid) || h.pid <= 0) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (h.startTicks !== undefined) {
    const now = startTicks(h.pid);
    if (now !== undefined && now !== h.startTicks) return false;
  }
  return true;
}

function readHolder(file: string): { text: string; holder: Holder | null } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return { text, holder: typeof h.pid === 'number' && typeof h.host === 'string' ? h : null };
  } catch {
    return { text, holder: null };
  }
}

function describe(h: Holder): string {
  return `process ${h.pid} on ${h.host}${h.command ? ` (ganforge ${h.command})` : ''}, since ${h.started}`;
}

/**
 * Who writes the run in `dir` now, for readers that show a run's state (the dashboard):
 * null when no live process holds its lock (none, or one left by a dead process).
 */
export function lockHolder(dir: string): { pid: number; host: string; started: string } | null {
  let found;
  try {
    found = readHolder(join(dir, LOCK_FILE));
  } catch {
    return null;
  }
  if (!found?.holder || !running(found.holder)) return null;
  const { pid, host, started } = found.holder;
  return { pid, host, started };
}

const held = new Set<RunLock>();

/** A lock on a run folder, held until release() (or the end of a `using` block). */
export class RunLock implements Disposable {
  readonly file: string;
  readonly #text: string;
  #released = false;

  constructor(file: string, text: string) {
    this.file = file;
    this.#text = text;
    held.add(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** Removes the lock file if it is still this one's. Safe to call twice. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    try {
      if (readFileSync(this.file, 'utf8') === this.#text) unlinkSync(this.file);
    } catch {
      /* gone already */
    }
  }
}

/** Releases every lock this process holds: for exits that skip `finally` (the CLI's second Ctrl-C). */
export function releaseHeldLocks(): void {
  for (const l of [...held]) l.release();
}

function writeNew(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    // A file system without hard links: exclusive create (the lock briefly empty).
    const fd2 = openSync(file, 'wx', 0o644);
    try {
      writeSync(fd2, text);
    } finally {
      closeSync(fd2);
    }
    return true;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Takes the lock of the run folder `dir` (which must exist), or throws a UsageError naming
 * the process that holds it. A stale lock (its process is gone) is taken over and `note`
 * says so.
 */
export function lockRun(dir: string, note: (line: string) => void): RunLock {
  const file = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), started: new Date().toISOString(), startTicks: startTicks('self'), command: process.argv.slice(2).join(' ').slice(0, 300) };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    if (writeNew(file, text)) return new RunLock(file, text);
    const found = readHolder(file);
    if (!found) continue; // released meanwhile
    if (found.holder && running(found.holder)) {
      throw new UsageError(`${dir} is in use by ${describe(found.holder)}: one process at a time writes a run; wait for it or stop it (if it is gone, delete ${file})`);
    }
    // Stale: move it aside, and make sure what was moved is the stale lock we read (another
    // process may have taken it over in between: then give it back).
    const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(file, aside);
    } catch {
      continue;
    }
    const moved = readFileSync(aside, 'utf8');
    if (moved !== found.text) {
      try {
        linkSync(aside, file);
      } catch {
        /* a third process holds it now; it wins */
      }
      unlinkSync(aside);
      continue;
    }
    unlinkSync(aside);
    note(found.holder ? `took over the lock of ${dir} from ${describe(found.holder)}, which is no longer running` : `replaced an unreadable lock file in ${dir}`);
  }
  throw new UsageError(`cannot take the lock of ${dir}: other processes keep taking it (see ${file})`);
}
