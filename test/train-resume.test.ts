// The trainer's promises about files: exact resume, crash-safe checkpoints, clean
// interrupts, and no run overwritten by accident.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, scope } from '../src/index.js';
import { configHash } from '../src/run/folder.js';
import { RESUMABLE_CHANGES } from '../src/train/options.js';
import { TINY, cli, cliAsync, exitOf, tempDir, waitForStderr, assertSameCheckpoint } from './train-helpers.js';

function latest(run: string): string {
  const names = io.listCheckpoints(join(run, 'checkpoints'));
  assert.ok(names.length > 0, `no checkpoint in ${run}`);
  return join(run, 'checkpoints', names[names.length - 1]);
}


test('2N steps straight and N steps + resume + N steps give bit-identical weights and state', () => {
  const dir = tempDir();
  const straight = join(dir, 'straight'), split = join(dir, 'split');
  // batch 8: 0.064 kimg = 8 steps, 0.032 kimg = 4 steps
  let r = cli([...TINY, '--kimg', '0.064', '--out', straight]);
  assert.equal(r.status, 0, r.stderr);
  r = cli([...TINY, '--kimg', '0.032', '--out', split]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['train', '--model', 'dcgan', '--resume', '--out', split, '--kimg', '0.064']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resuming .* \(step 4, 0\.032 kimg\)/);
  const a = latest(straight), b = latest(split);
  assert.equal(JSON.parse(readFileSync(join(a, 'state.json'), 'utf8')).step, 8);
  assertSameCheckpoint(a, b);
  // metrics.jsonl of the split run holds each step once
  const steps = readFileSync(join(split, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('resume refuses a changed training option and names it', () => {
  const run = join(tempDir(), 'r');
  assert.equal(cli([...TINY, '--kimg', '0.016', '--out', run]).status, 0);
  const r = cli(['train', '--model', 'dcgan', '--resume', '--out', run, '--kimg', '0.032', '--ngf', '16']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot resume .* with a different --ngf \(8 → 16\)/);
});

test('a run written before --aug, --diffaugment and --load_in_mem existed still resumes; a foreign checkpoint hash does not', () => {
  const dir = tempDir();
  const run = join(dir, 'old');
  assert.equal(cli([...TINY, '--kimg', '0.016', '--out', run]).status, 0);
  // Make it look as an earlier version wrote it: config.json without the later options,
  // the checkpoint's hash over the options it had (sync_bn off was never hashed).
  const cfgPath = join(run, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as { options: Record<string, unknown> };
  for (const k of ['aug', 'diffaugment', 'load_in_mem']) {
    assert.ok(k in cfg.options, `${k} is an option of this version`);
    delete cfg.options[k];
  }
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  const ck = join(run, 'checkpoints', io.listCheckpoints(join(run, 'checkpoints')).at(-1)!, 'state.json');
  const state = JSON.parse(readFileSync(ck, 'utf8')) as { configHash: string };
  const old = configHash(cfg.options as never, new Set([...RESUMABLE_CHANGES, 'sync_bn']));
  assert.notEqual(old, state.configHash, 'the old hash differs from the one this version wrote');
  writeFileSync(ck, JSON.stringify({ ...state, configHash: old }));
  const r = cli([...TINY, '--kimg', '0.032', '--resume', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^done: 4 steps/m);
  // A hash of other options is still refused.
  const last = join(run, 'checkpoints', io.listCheckpoints(join(run, 'checkpoints')).at(-1)!, 'state.json');
  writeFileSync(last, JSON.stringify({ ...JSON.parse(readFileSync(last, 'utf8')), configHash: '0123456789abcdef' }));
  const bad = cli([...TINY, '--kimg', '0.048', '--resume', '--out', run]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /its checkpoint was written with other options/);
});

test('a run folder is never overwritten without --force', () => {
  const run = join(tempDir(), 'r');
  assert.equal(cli([...TINY, '--kimg', '0.008', '--out', run]).status, 0);
  writeFileSync(join(run, 'notes.txt'), 'mine');
  const before = readdirSync(join(run, 'checkpoints'));
  const r = cli([...TINY, '--kimg', '0.008', '--out', run]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /already exists: use --resume to continue that run, --force to replace it/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  assert.equal(readFileSync(join(run, 'notes.txt'), 'utf8'), 'mine');
  assert.deepEqual(readdirSync(join(run, 'checkpoints')), before);
  const f = cli([...TINY, '--kimg', '0.008', '--out', run, '--force']);
  assert.equal(f.status, 0, f.stderr);
  assert.equal(existsSync(join(run, 'notes.txt')), false, '--force replaces the folder');
});

test('SIGKILL while a checkpoint is being written leaves the previous one loadable, and resume works', async () => {
  const run = join(tempDir(), 'r');
  // The first checkpoint (step 0) completes; the next one pauses halfway and is killed there.
  const child = cliAsync([...TINY, '--kimg', '1', '--snapshot_kimg', '0.016', '--out', run], { GANFORGE_TEST_CHECKPOINT_PAUSE_MS: '0' });
  const done = exitOf(child);
  await waitForStderr(child, /step 2 /);
  // Second process: same run folder, pausing inside the checkpoint write.
  child.kill('SIGKILL');
  await done;
  const paused = cliAsync(['train', '--model', 'dcgan', '--resume', '--out', run, '--kimg', '1'], { GANFORGE_TEST_CHECKPOINT_PAUSE_MS: '30000' });
  const pausedExit = exitOf(paused);
  const seen = await waitForStderr(paused, /checkpoint-midway (\S+)/);
  const partial = /checkpoint-midway (\S+)/.exec(seen)![1];
  paused.kill('SIGKILL');
  const e = await pausedExit;
  assert.equal(e.signal, 'SIGKILL');
  assert.ok(existsSync(partial), 'the partial folder is there');
  assert.ok(existsSync(join(partial, 'model.safetensors')) && !existsSync(join(partial, 'state.json')));
  const names = io.listCheckpoints(join(run, 'checkpoints'));
  assert.ok(names.length >= 1);
  scope(() => io.loadCheckpoint(latest(run)));
  const r = cli(['train', '--model', 'dcgan', '--resume', '--out', run, '--kimg', '0.048']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /removed 1 incomplete checkpoint folder/);
  assert.equal(existsSync(partial), false);
});

test('Ctrl-C finishes the step, writes a checkpoint and exits 0; resume continues', async () => {
  const run = join(tempDir(), 'r');
  const child = cliAsync([...TINY, '--kimg', '10', '--snapshot_kimg', '0', '--out', run]);
  const done = exitOf(child);
  await waitForStderr(child, /step 3 /);
  child.kill('SIGINT');
  const e = await done;
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /SIGINT: finishing this step and writing a checkpoint/);
  assert.match(e.stderr, /continue with --resume --out/);
  const st = JSON.parse(readFileSync(join(latest(run), 'state.json'), 'utf8'));
  assert.ok(st.step >= 3, `checkpoint at the interrupted step, got ${st.step}`);
  const r = cli(['train', '--model', 'dcgan', '--resume', '--out', run, '--kimg', String((st.imagesSeen + 16) / 1000)]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(latest(run), 'state.json'), 'utf8')).step, st.step + 2);
});

test('a second Ctrl-C exits at once and the last checkpoint stays complete', async () => {
  const run = join(tempDir(), 'r');
  // Signals are not queued: wait for the first to be seen, then send the second while the
  // stop checkpoint is being written (paused halfway by the test hook).
  const child = cliAsync([...TINY, '--kimg', '10', '--snapshot_kimg', '0', '--out', run], { GANFORGE_TEST_CHECKPOINT_PAUSE_MS: '1500' });
  const done = exitOf(child);
  await waitForStderr(child, /step 2 /);
  child.kill('SIGINT');
  await waitForStderr(child, /SIGINT: finishing this step[\s\S]*checkpoint-midway/);
  child.kill('SIGINT');
  const e = await done;
  assert.equal(e.code, 130, e.stderr);
  assert.match(e.stderr, /SIGINT again: exiting now/);
  scope(() => io.loadCheckpoint(latest(run)));
  assert.ok(JSON.parse(readFileSync(join(latest(run), 'state.json'), 'utf8')).step >= 2, 'the stop checkpoint completed');
});
