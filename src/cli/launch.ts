// `ganforge train --nproc N`: N worker processes of this command on this machine, each
// told its place the way torchrun tells it (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), with the cores split between them. The launcher trains nothing itself: it
// forwards Ctrl-C once to every worker (they agree on a step, rank 0 writes one
// checkpoint), reports a worker that died, and ends the others if they outlive the
// collective timeout. Workers watch the launcher in turn: one killed outright (SIGKILL,
// no chance to forward anything) leaves them stopping as on Ctrl-C, not running orphaned.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../root.js';
import { freePort } from '../distributed/index.js';

/** Set by the launcher in each worker's environment: the process whose end ends the job. */
const LAUNCHER_PID = 'GANFORGE_LAUNCHER_PID';

/**
 * In a worker of `--nproc`: once the launcher is gone (this process was handed to another
 * parent), sends this process SIGTERM — the stop every rank then agrees on, with its
 * checkpoint. Returns the function that ends the watch; null outside a launched worker.
 */
export function watchLauncher(say: (line: string) => void, everyMs = 1000): (() => void) | null {
  const pid = Number(process.env[LAUNCHER_PID]);
  if (!pid || process.ppid !== pid) return null;
  const timer = setInterval(() => {
    if (process.ppid === pid) return;
    clearInterval(timer);
    say(`the launcher (pid ${pid}) is gone: stopping this job`);
    process.kill(process.pid, 'SIGTERM');
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

export interface LaunchOptions {
  nproc: number;
  /** Seconds the workers wait in a collective (--dist_timeout): survivors of a dead rank exit within it. */
  timeoutSec: number;
  say: (line: string) => void;
}

/** Runs `train argv` in `nproc` workers; resolves to the exit code (0 when every worker succeeded). */
export async function launchWorkers(argv: readonly string[], o: LaunchOptions): Promise<number> {
  const port = await freePort();
  const threads = process.env.GANFORGE_NUM_THREADS || String(Math.max(1, Math.floor(availableParallelism() / o.nproc)));
  const bin = join(packageRoot(), 'bin', 'ganforge.js');
  const workers: ChildProcess[] = [];
  const exits: Promise<{ rank: number; code: number | null; signal: NodeJS.Signals | null }>[] = [];
  for (let rank = 0; rank < o.nproc; rank++) {
    const env = {
      ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(o.nproc), LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), GANFORGE_NUM_THREADS: threads, [LAUNCHER_PID]: String(process.pid),
    };
    // A process group of its own: a terminal's Ctrl-C reaches the launcher alone, which
    // forwards it once (twice would mean "exit at once" to a worker).
    const w = spawn(process.execPath, [...process.execArgv, bin, 'train', ...argv], { env, stdio: 'inherit', detached: true });
    workers.push(w);
    exits.push(new Promise((resolve) => w.once('exit', (code, signal) => resolve({ rank, code, signal }))));
  }
  const alive = (): ChildProcess[] => workers.filter((w) => w.exitCode === null && w.signalCode === null);
  const forward = (sig: NodeJS.Signals): void => {
    for (const w of alive()) w.kill(sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  // If the launcher itself leaves, its workers go too.
  const cleanup = (): void => {
    for (const w of alive()) w.kill('SIGKILL');
  };
  process.on('exit', cleanup);
  let failed: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null = null;
  let deadline: NodeJS.Timeout | undefined;
  try {
    const pending = new Map(exits.map((p, i) => [i, p]));
    while (pending.size) {
      const r = await Promise.race(pending.values());
      pending.delete(r.rank);
      if ((r.code !== 0 || r.signal) && !failed) {
        failed = r;
        const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
        if (pending.size) {
          o.say(`rank ${r.rank} (pid ${workers[r.rank].pid}) ${how}: the other ranks stop within the collective timeout (--dist_timeout ${o.timeoutSec} s)`);
          // Survivors stuck past the timeout (and a margin for their last checkpoint) are ended.
          deadline = setTimeout(() => {
            o.say(`ranks still running ${o.timeoutSec + 60} s after rank ${r.rank} failed: ending them`);
            cleanup();
          }, (o.timeoutSec + 60) * 1000);
          deadline.unref();
        } else if (r.signal) {
          o.say(`rank ${r.rank} (pid ${workers[r.rank].pid}) ${how}`);
        }
      }
    }
  } finally {
    clearTimeout(deadline);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    process.off('exit', cleanup);
  }
  if (!failed) return 0;
  return failed.code && failed.code > 0 ? failed.code : 1;
}
