// The dashboard beside a training run (`train --serve`, `demo`): `ganforge serve` in a
// process of its own, so a slow training step never stalls the page and serving never
// slows a step. It reports its URL over an IPC channel and exits when this process does.
import { fork, type ChildProcess } from 'node:child_process';
import { basename, join, resolve } from 'node:path';
import { packageRoot } from '../root.js';

export interface Dashboard {
  url: string;
  stop(): void;
}

/** Starts `ganforge serve DIR`; resolves with its URL, or null (and a reason) when it could not start. */
export function startDashboard(dir: string, warn: (line: string) => void): Promise<Dashboard | null> {
  const child: ChildProcess = fork(join(packageRoot(), 'bin', 'ganforge.js'), ['serve', dir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      warn(`warning: the dashboard did not start (${why}); training goes on without it`);
      resolve(null);
    };
    child.once('message', (m: { url?: string }) => {
      settled = true;
      // Nothing of the child keeps this process alive: the channel stays open (the child
      // exits when it closes, however this process ends) but unreferenced, like the pipe.
      child.stderr?.removeAllListeners('data');
      child.stderr?.resume();
      (child.stderr as { unref?: () => void } | null)?.unref?.();
      child.unref();
      child.channel?.unref();
      resolve({ url: String(m.url), stop: () => child.kill('SIGTERM') });
    });
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code) => fail(stderr.trim().split('\n').pop() || `exit code ${code}`));
  });
}

/** The dashboard's page of the run in `dir` when `dir` is the folder served alone (its id is the folder's name). */
export function runPage(url: string, dir: string): string {
  return `${url}#/run/${encodeURIComponent(basename(resolve(dir)))}`;
}
