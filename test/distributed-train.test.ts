// Data-parallel training end to end on the command line: the multi-machine form on
// loopback (two launchers with torchrun's variables) trains pix2pix as one process with
// the whole batch; `--nproc` workers survive nothing less than their job: a killed rank
// ends the others in bounded time with its name, and the run resumes; Ctrl-C stops every
// rank after one step and writes one checkpoint; mistakes are one line, exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { freePort } from '../src/distributed/index.js';
import { TINY, cli, cliAsync, exitOf, tempDir, waitForStderr } from './train-helpers.js';

const P2P = ['train', '--model', 'pix2pix', '--crop_size', '32', '--load_size', '32', '--netG', 'unet_32', '--ngf', '4', '--ndf', '4', '--n_epochs', '2', '--n_epochs_decay', '0',
  '--max_dataset_size', '4', '--workers', '0', '--n_samples', '1', '--batch', '2', '--no_dropout', '--log_every', '1'];

const metrics = (run: string): Record<string, number>[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const checkpoints = (run: string): string[] => readdirSync(join(run, 'checkpoints')).sort();

/** Each parameter's change over the run, flattened, per network. */
function updates(run: string): Record<string, Float32Array[]> {
  return torch.scope(() => {
    const [first, last] = [checkpoints(run)[0], checkpoints(run).at(-1)!].map((c) => loadCheckpoint(join(run, 'checkpoints', c)));
    return Object.fromEntries(['G', 'D'].map((net) => [net, Object.keys(last.networks[net]).filter((k) => !/running|num_batches/.test(k)).map((k) => {
      const d = last.networks[net][k].sub(first.networks[net][k]).float();
      return d.toTypedArray() as Float32Array;
    })]));
  });
}

test('two launchers with WORLD_SIZE=2, RANK=0/1 on 127.0.0.1 train pix2pix (--sync_bn, batch 2) as one process with batch 2', async () => {
  const dir = tempDir('gf-dist-');
  const one = join(dir, 'one'), two = join(dir, 'two');
  const single = cli([...P2P, '--out', one]);
  assert.equal(single.status, 0, single.stderr);
  const port = String(await freePort());
  const ranks = [0, 1].map((r) => exitOf(cliAsync([...P2P, '--sync_bn', '--out', two], { WORLD_SIZE: '2', RANK: String(r), LOCAL_RANK: String(r), MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, GANFORGE_NUM_THREADS: '1' })));
  const [r0, r1] = await Promise.all(ranks);
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r0.stdout, /done: 4 steps, 0\.008 kimg .*\(2 processes\)/);
  assert.equal(r1.stdout, '', 'rank 1 reports nothing');
  assert.equal(r1.stderr, '');
  // The same steps, images and losses (the global batch's mean over both ranks).
  const [m1, m2] = [metrics(one), metrics(two)];
  assert.equal(m2.length, 4);
  m1.forEach((row, i) => {
    assert.deepEqual([m2[i].step, m2[i].kimg, m2[i].epoch], [row.step, row.kimg, row.epoch]);
    for (const k of ['loss_D', 'loss_G', 'loss_D_real', 'loss_D_fake']) assert.ok(Math.abs(m2[i][k] - row[k]) <= 1e-5 * Math.abs(row[k]), `step ${i + 1} ${k}: ${m2[i][k]} vs ${row[k]}`);
  });
  // Weights: updates in units of lr. Float32 sums over 2 ranks round differently from sums
  // over one batch, and Adam turns an element's nearly-cancelled gradient into ±lr either
  // way (on another CPU, too); so nearly all elements must agree closely and none may
  // differ by more than Adam can move one in 4 steps. Without --sync_bn or without the
  // gradient average, whole tensors move differently.
  const lr = 2e-4;
  const [u1, u2] = [updates(one), updates(two)];
  for (const net of ['G', 'D']) {
    const diffs = u1[net].flatMap((t, i) => Array.from(t, (x, j) => Math.abs(x - u2[net][i][j]) / lr)).sort((a, b) => a - b);
    const median = diffs[Math.floor(diffs.length / 2)], worst = diffs.at(-1)!;
    const p99 = diffs[Math.floor(diffs.length * 0.99)];
    // Here: median 0, 99th percentile 2e-5, largest 0.003 lr.
    assert.ok(median < 1e-3 && p99 < 0.05, `${net}: update differences: median ${median} lr, 99th percentile ${p99} lr`);
    assert.ok(worst < 4.5, `${net}: largest update difference ${worst} lr (Adam moves an element at most about 1 lr a step)`);
  }
  assert.equal(JSON.parse(readFileSync(join(two, 'checkpoints', checkpoints(two).at(-1)!, 'state.json'), 'utf8')).world, 2);
});

const DCGAN = [...TINY, '--dist_timeout', '20', '--snapshot_kimg', '0.016'];

/** The pids of `launcher`'s worker processes by rank (their RANK variable). */
function workersOf(launcher: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== launcher) continue;
      const rank = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').find((e) => e.startsWith('RANK='));
      if (rank) out.set(Number(rank.slice(5)), Number(p));
    } catch {
      // a process that ended meanwhile
    }
  }
  return out;
}

test('--nproc 2: rank 1 killed (SIGKILL) ends the job within the timeout naming it; the last checkpoint resumes with --nproc 2 only', async () => {
  const run = join(tempDir('gf-dist-'), 'kill');
  const launcher = cliAsync([...DCGAN, '--kimg', '10', '--nproc', '2', '--out', run]);
  const done = exitOf(launcher);
  await waitForStderr(launcher, /step 4 /);
  const pids = workersOf(launcher.pid!);
  assert.equal(pids.size, 2, 'two workers');
  const t0 = Date.now();
  process.kill(pids.get(1)!, 'SIGKILL');
  const r = await done;
  assert.ok(Date.now() - t0 < 20_000, `the job ended ${Date.now() - t0} ms after the kill`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`rank 1 \\(pid ${pids.get(1)}\\) was killed by SIGKILL`));
  assert.match(r.stderr, new RegExp(`distributed training stopped on rank 0: rank 1 \\(pid ${pids.get(1)}\\) has died`));
  // Both workers are gone.
  for (const pid of pids.values()) assert.equal(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), false, `worker ${pid} still runs`);
  const kept = checkpoints(run);
  assert.ok(kept.length >= 2, `checkpoints ${kept}`);
  // One process cannot continue a 2-process run's random streams.
  const alone = cli([...DCGAN, '--kimg', '0.08', '--resume', '--out', run]);
  assert.equal(alone.status, 2);
  assert.match(alone.stderr, /cannot resume .* with 1 process: it was trained with 2 .*--nproc 2/);
  const resumed = cli([...DCGAN, '--kimg', '0.08', '--resume', '--nproc', '2', '--out', run]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming .* from ${kept.at(-1)!.replace('.', '\\.')}`));
  assert.match(resumed.stdout, /done: 10 steps, 0\.080 kimg .*\(2 processes\)/);
  assert.deepEqual(metrics(run).map((m) => m.step), Array.from({ length: 10 }, (_, i) => i + 1), 'one metrics row per step');
});

test('--nproc 2: Ctrl-C on the launcher stops both ranks after the same step and writes one checkpoint', async () => {
  const run = join(tempDir('gf-dist-'), 'int');
  const launcher = cliAsync([...TINY, '--kimg', '10', '--snapshot_kimg', '100', '--nproc', '2', '--out', run]);
  const done = exitOf(launcher);
  await waitForStderr(launcher, /step 3 /);
  launcher.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const steps = Number(/interrupted: (\d+) steps/.exec(r.stdout)?.[1]);
  assert.ok(steps >= 3, r.stdout);
  assert.equal((r.stderr.match(/SIGINT: finishing this step/g) ?? []).length, 1, 'rank 0 alone speaks');
  const kept = checkpoints(run);
  assert.equal(kept.length, 2, `the start and the stop: ${kept}`);
  const st = JSON.parse(readFileSync(join(run, 'checkpoints', kept[1], 'state.json'), 'utf8'));
  assert.equal(st.step, steps);
  assert.equal(st.rankRng.length, 2, 'both ranks\' random streams');
  assert.notEqual(st.rankRng[0], st.rankRng[1]);
});

test('--nproc 2: the launcher killed outright (SIGKILL) leaves no worker running: they stop as on Ctrl-C, with a checkpoint', async () => {
  const run = join(tempDir('gf-dist-'), 'orphan');
  const launcher = cliAsync([...TINY, '--kimg', '10', '--snapshot_kimg', '100', '--nproc', '2', '--out', run]);
  let stderr = '';
  launcher.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = exitOf(launcher);
  await waitForStderr(launcher, /step 3 /);
  const pids = workersOf(launcher.pid!);
  assert.equal(pids.size, 2, 'two workers');
  launcher.kill('SIGKILL');
  await done;
  const t0 = Date.now();
  const running = (): number[] => [...pids.values()].filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
  while (running().length && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(running(), [], 'workers still run after their launcher died');
  // The workers wrote to the test's pipe after the launcher was gone: rank 0 says why it stopped.
  assert.match(stderr, new RegExp(`the launcher \\(pid ${launcher.pid}\\) is gone: stopping this job\nSIGTERM: finishing this step`));
  const kept = checkpoints(run);
  assert.equal(kept.length, 2, `the start and the stop: ${kept}`);
});

test('distributed mistakes are one line, exit 2', () => {
  const bad = cli([...TINY.map((a, i) => (TINY[i - 1] === '--batch' ? '7' : a)), '--nproc', '2', '--out', join(tempDir('gf-dist-'), 'b')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^ganforge: --batch 7 is the global batch and must split evenly over --nproc 2: use a multiple of 2\n$/);
  const env = cli([...TINY, '--out', join(tempDir('gf-dist-'), 'e')], { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: '' });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /MASTER_ADDR is not set/);
  const rank = cli([...TINY, '--out', join(tempDir('gf-dist-'), 'r')], { WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1' });
  assert.equal(rank.status, 2);
  assert.match(rank.stderr, /RANK=2 is not below WORLD_SIZE=2/);
});
