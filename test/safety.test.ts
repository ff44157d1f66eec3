// Never lose a user's files (issue #19): --force replaces only ganforge runs, --out is
// checked before any work, one process writes a run at a time, damaged checkpoints are
// passed over, unreadable data fails before anything is written, and every user mistake
// is one line and exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from '../src/index.js';
import { TINY, BIN, cli, cliAsync, cliErrorInProcess, exitOf, tempDir, waitForStderr } from './train-helpers.js';
import { writeFolder, writeSolid, writePair } from './data-helpers.js';
import { fromRoot } from './helpers.js';

const RESUME = ['train', '--model', 'dcgan', '--resume', '--out'];

/** TINY with some of its values changed and options added: tiny({ data: 'x', kimg: '0.008' }). */
function tiny(over: Record<string, string>): string[] {
  const args = [...TINY];
  const rest = { ...over };
  for (let i = 1; i < args.length; i++) {
    const k = args[i].slice(2);
    if (args[i].startsWith('--') && k in rest) {
      args[i + 1] = rest[k];
      delete rest[k];
    }
  }
  return [...args, ...Object.entries(rest).flatMap(([k, v]) => [`--${k}`, v])];
}

/** One line on stderr, exit code 2, and no "GANFORGE_DEBUG" tail. */
function mistake(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /GANFORGE_DEBUG/);
}

function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

function checkpoints(run: string): string[] {
  return io.listCheckpoints(join(run, 'checkpoints'));
}

// 1. --force

test('--force never deletes a folder that is not a run: the data, the working folder, the home folder, a folder of images', async () => {
  const dir = tempDir();
  const data = join(dir, 'data');
  await writeFolder(data, 6, 16);
  const before = listAll(data);
  // --out is the data itself
  mistake(cli([...tiny({ data, batch: '4', kimg: '0.008', out: data }), '--force']), /is the --data folder: --force never deletes it/);
  // --out is a folder of images (not a run)
  mistake(cli([...tiny({ kimg: '0.008', out: data }), '--force']), /is not a ganforge run .* holds 6 files \(img000\.png, img001\.png, img002\.png, \.\.\.\)/);
  // --out holds the data
  mistake(cli([...tiny({ data, batch: '4', kimg: '0.008', out: dir }), '--force']), /holds the --data folder/);
  assert.deepEqual(listAll(data), before, 'every image is still there');
  // --out is the working folder, or the home folder
  const cwd = join(dir, 'work');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'notes.txt'), 'mine');
  const here = spawnSync(process.execPath, [BIN, ...tiny({ kimg: '0.008', out: cwd }), '--force'], { cwd, encoding: 'utf8' });
  mistake({ status: here.status, stderr: here.stderr }, /is the working folder: --force never deletes it/);
  mistake(cli([...tiny({ kimg: '0.008', out: cwd }), '--force'], { HOME: cwd }), /is your home folder/);
  assert.equal(readFileSync(join(cwd, 'notes.txt'), 'utf8'), 'mine');
  // a run inside the data folder is the data's too
  const inner = join(data, 'run');
  assert.equal(cli(tiny({ kimg: '0.008', out: inner })).status, 0);
  mistake(cli([...tiny({ data, batch: '4', kimg: '0.008', out: inner }), '--force']), /is inside the --data folder/);
  assert.ok(checkpoints(inner).length > 0);
});

test('--force replaces a run folder or an empty one; without it an existing run is refused early', async () => {
  const dir = tempDir();
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.equal(cli(tiny({ kimg: '0.008', out: empty })).status, 0, 'an empty folder needs no --force');
  const r = cli([...tiny({ kimg: '0.008', out: empty }), '--force']);
  assert.equal(r.status, 0, r.stderr);
  // sample --force overwrites an image, never a file of another kind or a folder
  const notes = join(dir, 'notes.png');
  writeFileSync(notes, 'my notes, not an image');
  mistake(cli(['sample', '--run', empty, '--out', notes, '--force']), /is a file of 22 bytes that is not an image/);
  assert.equal(readFileSync(notes, 'utf8'), 'my notes, not an image');
  mistake(cli(['sample', '--run', empty, '--out', dir, '--force']), /is a folder: give a file name/);
  const png = join(dir, 'grid.png');
  assert.equal(cli(['sample', '--run', empty, '--out', png, '--n', '4']).status, 0);
  assert.equal(cli(['sample', '--run', empty, '--out', png, '--n', '4', '--force']).status, 0);
  // dataset prepare --force replaces a cache, not an image
  await writeFolder(join(dir, 'imgs'), 2, 8);
  mistake(cli(['dataset', 'prepare', join(dir, 'imgs'), '--resolution', '8', '--out', png, '--force']), /not a dataset cache/);
});

// 2 and 3. --out

test('--out "" and unwritable --out paths are refused in one line before any work, and nothing is created', () => {
  const dir = tempDir();
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  const r = spawnSync(process.execPath, [BIN, ...tiny({ kimg: '0.008', out: '' })], { cwd, encoding: 'utf8' });
  mistake({ status: r.status, stderr: r.stderr }, /--out is empty/);
  assert.deepEqual(readdirSync(cwd), []);
  const file = join(dir, 'file.txt');
  writeFileSync(file, 'x');
  mistake(cli(tiny({ kimg: '0.008', out: join(file, 'run') })), /file\.txt is a file, not a folder/);
  mistake(cli(tiny({ kimg: '0.008', out: join(dir, 'a'.repeat(300), 'run') })), /is too long/);
  assert.deepEqual(readdirSync(dir).sort(), ['cwd', 'file.txt']);
});

test('--out /proc/x exits 2 within a second (train, translate), not spinning in mkdir', async () => {
  const dir = tempDir();
  await writeSolid(join(dir, 'in', 'a.png'), 32, 32, [1, 2, 3]);
  const runs: [string[], RegExp][] = [
    [tiny({ kimg: '0.008', out: '/proc/x' }), /--out \/proc\/x cannot be written/],
    [['translate', '--weights', fromRoot('test/fixtures/translate/latest_net_G_A.pth'), '--netG', 'resnet_6blocks', '--ngf', '4', '--crop_size', '32', '--input', join(dir, 'in'), '--out', '/proc/x'], /--out \/proc\/x cannot be written/],
  ];
  for (const [args, pattern] of runs) {
    // A child that spins would never exit: time it out rather than hang the suite.
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const done = exitOf(child);
    const t0 = Date.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const e = await done;
    clearTimeout(timer);
    const ms = Date.now() - t0;
    mistake({ status: e.code, stderr: e.stderr }, pattern);
    // process start and libtorch load included
    assert.ok(ms < 5000, `${args[0]} took ${ms} ms`);
  }
  // The check itself, without the process start: well within a second.
  const t0 = Date.now();
  const r = await cliErrorInProcess(tiny({ kimg: '0.008', out: '/proc/y' }));
  mistake(r, /--out \/proc\/y cannot be written/);
  assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
});

// 4. One process per run folder

test('two processes never write one run: a second --resume or --force is refused naming the first; a dead holder\'s lock is taken over', async () => {
  const run = join(tempDir(), 'r');
  assert.equal(cli(tiny({ kimg: '0.008', out: run })).status, 0);
  const first = cliAsync([...RESUME, run, '--kimg', '100']);
  const firstExit = exitOf(first);
  try {
    await waitForStderr(first, /step 3 /);
    // (--kimg 0.016: were it not refused, it would end soon)
    const second = cli([...RESUME, run, '--kimg', '0.016']);
    mistake(second, new RegExp(`${run.replace(/[/\\]/g, '.')} is in use by process ${first.pid} on `));
    const forced = cli([...tiny({ kimg: '0.008', out: run }), '--force']);
    mistake(forced, new RegExp(`is in use by process ${first.pid}`));
    assert.ok(existsSync(join(run, 'config.json')), 'the first run keeps its files');
  } finally {
    first.kill('SIGINT');
  }
  const e = await firstExit;
  assert.equal(e.code, 0, e.stderr);
  assert.equal(existsSync(join(run, 'run.lock')), false, 'released on exit');
  // metrics rows once each
  const steps = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [...new Set(steps)]);
  // a lock left by a process that is gone
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(run, 'run.lock'), JSON.stringify({ pid: Number(gone.stdout), host: (await import('node:os')).hostname(), started: 'then' }));
  const st = JSON.parse(readFileSync(join(run, 'checkpoints', checkpoints(run).pop()!, 'state.json'), 'utf8'));
  const r = cli([...RESUME, run, '--kimg', String((st.imagesSeen + 8) / 1000)]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`took over the lock of .* from process ${gone.stdout} .*no longer running`));
});

// 5. Damaged checkpoints

test('a damaged newest checkpoint is passed over with a warning by sample and resume; none intact is one line, exit 2', () => {
  const dir = tempDir();
  const run = join(dir, 'r'), straight = join(dir, 's');
  assert.equal(cli(tiny({ kimg: '0.048', snapshot_kimg: '0.016', keep: '0', out: straight })).status, 0);
  assert.equal(cli(tiny({ kimg: '0.032', snapshot_kimg: '0.016', keep: '0', out: run })).status, 0);
  assert.deepEqual(checkpoints(run), ['000000.000', '000000.016', '000000.032']);
  const newest = join(run, 'checkpoints', '000000.032');
  const model = join(newest, 'model.safetensors');
  truncateSync(model, Math.floor(statSync(model).size / 2));
  const s = cli(['sample', '--run', run, '--n', '4', '--out', join(dir, 'g.png')]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stderr, /warning: checkpoint 000000\.032 of .* is damaged \(model\.safetensors is \d+ bytes, \d+ were written\); using 000000\.016/);
  assert.match(s.stdout, /from .*000000\.016/);
  mistake(cli(['sample', '--run', run, '--n', '4', '--checkpoint', '000000.032', '--out', join(dir, 'h.png')]), /checkpoint 000000\.032 of .* is damaged/);
  // resume continues from the previous checkpoint, and ends where a straight run ends
  const r = cli([...RESUME, run, '--kimg', '0.048']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: checkpoint 000000\.032 of .* is damaged .* continuing from 000000\.016/);
  assert.match(r.stderr, /resuming .* from 000000\.016 \(step 2,/);
  assert.deepEqual(checkpoints(run), ['000000.000', '000000.016', '000000.032', '000000.048']);
  for (const f of ['model.safetensors', 'ema.safetensors', 'optim.safetensors', 'state.json']) {
    assert.ok(readFileSync(join(run, 'checkpoints', '000000.048', f)).equals(readFileSync(join(straight, 'checkpoints', '000000.048', f))), f);
  }
  assert.ok(readdirSync(join(run, 'checkpoints')).some((n) => n.startsWith('.damaged-000000.032')), 'the damaged one is kept aside');
  // state.json garbage, then every checkpoint damaged
  for (const name of checkpoints(run)) writeFileSync(join(run, 'checkpoints', name, 'state.json'), '{"step": 3, garbage');
  mistake(cli(['sample', '--run', run, '--out', join(dir, 'i.png')]), /none of the 4 checkpoint\(s\) of .* is intact \(000000\.048: state\.json is unreadable/);
  mistake(cli([...RESUME, run, '--kimg', '0.064']), /cannot resume .*: none of its 4 checkpoint\(s\) is intact/);
});

test('a run killed during its very first checkpoint is started afresh by --resume, with a note', async () => {
  const run = join(tempDir(), 'r');
  const child = cliAsync(tiny({ kimg: '0.016', out: run }), { GANFORGE_TEST_CHECKPOINT_PAUSE_MS: '30000' });
  const done = exitOf(child);
  await waitForStderr(child, /checkpoint-midway/);
  child.kill('SIGKILL');
  await done;
  assert.deepEqual(checkpoints(run), []);
  const r = cli([...RESUME, run, '--kimg', '0.016']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /has no complete checkpoint \(its first was interrupted\): starting it afresh from its config\.json/);
  assert.match(r.stderr, /took over the lock/);
  assert.deepEqual(checkpoints(run), ['000000.000', '000000.016']);
});

// 6. Unreadable data

test('a folder of unreadable images fails before a run folder is made, naming the problem rather than the batch size', async () => {
  const dir = tempDir();
  const data = join(dir, 'bad');
  mkdirSync(data);
  for (let i = 0; i < 7; i++) writeFileSync(join(data, `x${i}.png`), 'not an image');
  for (const batch of ['4', '16']) {
    const out = join(dir, `run${batch}`);
    mistake(cli(tiny({ data, batch, kimg: '0.008', out })), /none of the 7 image files of .* can be decoded, .*x0\.png included/);
    assert.equal(existsSync(out), false, 'no run folder');
  }
  // some readable: the header counts those, and the skipped ones are reported at the end and in metrics.jsonl
  await writeFolder(data, 4, 16);
  const out = join(dir, 'ok');
  const r = cli(tiny({ data, batch: '4', kimg: '0.008', out }));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: skipping 7 unreadable image file\(s\) of the 11/);
  assert.match(r.stderr, /training dcgan on .* \(4 images,/);
  assert.match(r.stderr, /skipped 7 unreadable image file\(s\) of .*x0\.png first/);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.at(-1).skipped_files, 7);
});

// 7. One line, exit 2

test('user mistakes are one line and exit 2: numbers not in decimal, dataset without a command, --resume with another --model, a resolution the family lacks', () => {
  mistake(cli(tiny({ batch: '0x10', out: join(tempDir(), 'r') })), /--batch expects a whole number, got '0x10'/);
  mistake(cli(tiny({ kimg: '1e', out: join(tempDir(), 'r') })), /--kimg expects a number, got '1e'/);
  mistake(cli(['dataset']), /dataset needs a command: 'ganforge dataset info PATH' or 'ganforge dataset prepare/);
  const run = join(tempDir(), 'r');
  assert.equal(cli(tiny({ kimg: '0.008', out: run })).status, 0);
  mistake(cli(['train', '--model', 'pix2pix', '--resume', '--out', run]), /cannot resume .* with --model pix2pix: this run was trained with --model dcgan/);
  mistake(cli(['train', '--model', 'dcgan', '--resolution', '8', '--out', join(tempDir(), 'r')]), /--model dcgan supports --resolution 16 to 128, got 8/);
  mistake(cli(['train', '--model', 'pggan', '--resolution', '48', '--out', join(tempDir(), 'r')]), /--resolution must be a power of two/);
});

// 8. Smaller

test('a non-square image is named in one warning; pix2pix refuses images that are not A|B pairs', async () => {
  const dir = tempDir();
  const data = join(dir, 'mixed');
  await writeFolder(data, 4, 16);
  await writeSolid(join(data, 'wide1.png'), 24, 16, [9, 9, 9]);
  await writeSolid(join(data, 'wide2.png'), 24, 16, [9, 9, 9]);
  const r = cli(tiny({ data, batch: '4', kimg: '0.008', out: join(dir, 'r') }));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*wide1\.png is 24x16, not square: images are resized to 16x16 without keeping their aspect ratio/);
  assert.doesNotMatch(r.stderr, /wide2/);
  const p2p = ['train', '--model', 'pix2pix', '--netG', 'unet_32', '--netD', 'pixel', '--crop_size', '32', '--load_size', '32', '--n_epochs', '1', '--n_epochs_decay', '0'];
  mistake(cli([...p2p, '--data', join(data), '--out', join(dir, 'p')]), /--model pix2pix trains on A\|B pairs side by side .* no image of .* is: .*img000\.png is 16x16/);
  assert.equal(existsSync(join(dir, 'p')), false);
  const pairs = join(dir, 'pairs');
  await writePair(join(pairs, 'train', 'a.png'), 32, 32);
  await writePair(join(pairs, 'train', 'b.png'), 32, 32);
  const ok = cli([...p2p, '--data', pairs, '--batch_size', '2', '--out', join(dir, 'p')]);
  assert.equal(ok.status, 0, ok.stderr);
});

test('--help says how to turn off a flag that is on by default', () => {
  const r = cli(['train', '--model', 'pggan', '--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--fused_scale +.*\(on by default; --fused_scale false turns it off\)/);
});

test('after a resume, the first metrics row says it averages the steps since the resume', () => {
  const run = join(tempDir(), 'r');
  // batch 8, --log_every 2: 3 steps, then resumed to 6
  assert.equal(cli(tiny({ log_every: '2', kimg: '0.024', out: run })).status, 0);
  assert.equal(cli([...RESUME, run, '--kimg', '0.048']).status, 0);
  const rows = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => [x.step, x.window_steps, x.resumed_at_step]), [[2, undefined, undefined], [3, 1, undefined], [4, 1, 3], [6, undefined, undefined]]);
});
