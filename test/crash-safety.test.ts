// Crash safety: a tiny training killed with SIGKILL at random moments (during start-up,
// between steps, inside a checkpoint write, during its very first checkpoint), resumed
// after each kill, ends with the same final checkpoint, byte for byte, as a run that was
// never interrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { io } from '../src/index.js';
import type { ChildProcess } from 'node:child_process';
import { TINY, cli, cliAsync, exitOf, tempDir } from './train-helpers.js';

/** A small seeded generator, so that a failure can be replayed (the seed is in the message). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves at the n-th match of `pattern` in the child's stderr, or when it exits. */
function nthOnStderr(child: ChildProcess, pattern: RegExp, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onData = (d: Buffer): void => {
      seen += (d.toString().match(new RegExp(pattern.source, 'g')) ?? []).length;
      if (seen >= n) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', () => resolve());
  });
}

test('SIGKILL at random moments, resumed each time, gives the final checkpoint of an uninterrupted run byte for byte', async () => {
  const seed = Number(process.env.GANFORGE_CRASH_SEED ?? Date.now() % 100_000);
  const rand = mulberry32(seed);
  const why = `(GANFORGE_CRASH_SEED=${seed} replays this)`;
  const dir = tempDir();
  const straight = join(dir, 'straight'), run = join(dir, 'crashed');
  // batch 8: 20 steps, a checkpoint every 2
  const args = [...TINY, '--kimg', '0.16', '--snapshot_kimg', '0.016'];
  assert.equal(cli([...args, '--out', straight]).status, 0);

  const kills: string[] = [];
  for (let i = 0; i < 8; i++) {
    const fresh = !existsSync(join(run, 'config.json'));
    const cmd = fresh ? [...args, '--out', run] : ['train', '--model', 'dcgan', '--resume', '--out', run];
    // Checkpoint writes pause halfway (after the weights, before state.json), so that the
    // run takes a few seconds and a kill can land inside one.
    const child = cliAsync(cmd, { GANFORGE_TEST_CHECKPOINT_PAUSE_MS: String(Math.floor(50 + rand() * 250)) });
    const done = exitOf(child);
    let moment: string;
    // The first kill lands inside the very first checkpoint (the run has none yet).
    const r = i === 0 ? 0 : rand();
    if (r < 0.4) {
      const n = i === 0 ? 1 : 1 + Math.floor(rand() * 4);
      moment = `inside checkpoint write ${n}`;
      await nthOnStderr(child, /checkpoint-midway/, n);
    } else if (r < 0.7) {
      const n = 1 + Math.floor(rand() * 8);
      moment = `after ${n} step(s)`;
      await nthOnStderr(child, /\bstep \d+ /, n);
    } else {
      const ms = Math.floor(rand() * 3000);
      moment = `${ms} ms after start`;
      await sleep(ms);
    }
    child.kill('SIGKILL');
    const e = await done;
    kills.push(`${fresh ? 'fresh' : 'resume'}, ${moment}: ${e.signal ?? `exit ${e.code}`}`);
    if (e.code !== null) assert.equal(e.code, 0, `${kills.join('; ')}\n${e.stderr} ${why}`);
  }
  if (process.env.GANFORGE_CRASH_VERBOSE) console.error(kills.join('\n'));
  // Then to the end, without interruption.
  const fresh = !existsSync(join(run, 'config.json'));
  const last = cli(fresh ? [...args, '--out', run] : ['train', '--model', 'dcgan', '--resume', '--out', run]);
  assert.equal(last.status, 0, `${kills.join('; ')}\n${last.stderr} ${why}`);

  const names = io.listCheckpoints(join(run, 'checkpoints'));
  assert.equal(names.at(-1), '000000.160', `${kills.join('; ')} ${why}`);
  const a = join(straight, 'checkpoints', '000000.160'), b = join(run, 'checkpoints', '000000.160');
  assert.deepEqual(readdirSync(b).sort(), readdirSync(a).sort());
  for (const f of readdirSync(a)) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs after: ${kills.join('; ')} ${why}`);
  }
  assert.equal(existsSync(join(run, 'run.lock')), false, 'the lock is released at the end');
});
