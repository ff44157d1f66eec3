// `ganforge serve` over HTTP, no browser: the API's view of runs written by hand, live
// updates by following the files (with fs.watch and by polling alone), and the safety
// rules: read-only, nothing from outside the served folders however the URL is spelled,
// loopback only unless --host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/serve/server.js';
import { bestMetric, scalarKind } from '../src/serve/scalars.js';
import { fromRoot } from './helpers.js';
import { Sse, appendRows, png, raw, row, writeRun } from './serve-helpers.js';

const BIN = fromRoot('bin/ganforge.js');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'gf-serve-'));
}

async function withServer<T>(dirs: string[], fn: (s: RunningServer) => Promise<T>, watch = true): Promise<T> {
  const s = await startServer({ dirs, port: 0, watch });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

test('the runs list: model, data, progress, last losses, state and best metric of each run', async () => {
  const root = tmp();
  try {
    // Interrupted half-way, with FID rows (lower is better) between the training rows.
    await writeRun({ dir: join(root, 'a'), kimg: 4, rows: [row(10, 1), { kimg: 1, fid10k: 80 }, row(20, 2), { kimg: 2, fid10k: 55.5 }, { kimg: 2.5, fid10k: 61 }] });
    // Finished: its last row reached --kimg (epochs for an epoch-based family).
    await writeRun({ dir: join(root, 'b'), epochs: 2, rows: [row(5, 0.1), row(13, 0.2)] });
    // Running: a live process (this one) holds its lock.
    await writeRun({ dir: join(root, 'nested', 'c'), kimg: 4, rows: [row(10, 1, { is10k: 3 }), row(11, 1.1, { is10k: 5 })] });
    writeFileSync(join(root, 'nested', 'c', 'run.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    // A lock left by a process that is gone does not make a run "running".
    writeFileSync(join(root, 'a', 'run.lock'), JSON.stringify({ pid: 2 ** 22 + 17, host: hostname(), started: '' }));
    // Not runs: a folder without our config.json, and a run deeper than two levels.
    mkdirSync(join(root, 'notes'));
    await writeRun({ dir: join(root, 'x', 'y', 'too-deep'), kimg: 1 });

    await withServer([root], async (s) => {
      const r = await raw(s.url, '/api/runs');
      assert.equal(r.status, 200);
      const runs = (JSON.parse(r.body) as { runs: Record<string, unknown>[] }).runs;
      assert.deepEqual(runs.map((x) => x.id).sort(), ['a', 'b', 'c']);
      const by = Object.fromEntries(runs.map((x) => [x.id, x]));
      assert.equal(by.a.state, 'interrupted');
      assert.equal(by.a.model, 'dcgan');
      assert.equal(by.a.data, 'shapes');
      assert.equal(by.a.unit, 'kimg');
      assert.equal(by.a.done, 2);
      assert.equal(by.a.total, 4);
      assert.deepEqual(by.a.losses, { loss_D: 1 / 21, loss_G: 2 / 21 });
      assert.deepEqual(by.a.best, { metric: 'fid10k', value: 55.5, kimg: 2 });
      assert.equal(by.b.state, 'finished');
      assert.equal(by.b.unit, 'epochs');
      assert.equal(by.b.total, 2);
      assert.equal(by.b.done, 2);
      assert.equal(by.b.best, null);
      assert.equal(by.c.state, 'running');
      assert.deepEqual(by.c.best, { metric: 'is10k', value: 5, kimg: 1.1 });

      const one = JSON.parse((await raw(s.url, '/api/run?id=a')).body) as Record<string, unknown>;
      assert.equal((one.rows as unknown[]).length, 5);
      assert.deepEqual(one.samples, ['000000.000.png']);
      assert.deepEqual((one.checkpoints as { name: string; files: string[] }[]).map((c) => [c.name, c.files]), [['000000.000', ['model.safetensors', 'state.json']]]);
      assert.equal((one.config as { options: { kimg: number } }).options.kimg, 4);
      assert.equal((await raw(s.url, '/api/run?id=nope')).status, 404);

      const grid = await raw(s.url, '/runs/a/samples/000000.000.png');
      assert.equal(grid.status, 200);
      assert.equal(grid.headers['content-type'], 'image/png');
      assert.equal((await raw(s.url, '/vendor/uplot/uPlot.iife.min.js')).status, 200);
      assert.match((await raw(s.url, '/')).body, /uPlot\.iife\.min\.js/);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the columns of metrics.jsonl by section, and the best of the first metric by its direction', () => {
  const kinds: Record<string, string[]> = {
    x: ['step', 'kimg', 'epoch', 'sec'],
    bookkeeping: ['window_steps', 'resumed_at_step', 'skipped_files'],
    schedule: ['lr_mult', 'lr_G', 'lr_D', 'lod', 'minibatch', 'img_per_s'],
    metric: ['fid50k_full', 'fid10k', 'kid10k', 'is50k', 'pr50k3_precision', 'pr50k3_recall', 'ppl_wend'],
    loss: ['loss_G', 'loss_D_real', 'loss_G_L1', 'l1', 'gp', 'r1', 'loss_cycle_A', 'idt_B'],
  };
  for (const [kind, names] of Object.entries(kinds)) for (const n of names) assert.equal(scalarKind(n), kind, n);
  assert.deepEqual(bestMetric([{ kimg: 1, kid10k: 0.2 }, { kimg: 2, kid10k: 0.1 }, { kimg: 3, kid10k: 0.3 }]), { metric: 'kid10k', value: 0.1, kimg: 2 });
  assert.deepEqual(bestMetric([{ kimg: 1, is50k: 2 }, { kimg: 2, is50k: 4 }, { kimg: 3, is50k: 3 }]), { metric: 'is50k', value: 4, kimg: 2 });
  assert.equal(bestMetric([{ kimg: 1, loss_G: 1 }]), null);
});

for (const watch of [true, false]) {
  test(`live: appended rows, a torn line, new grids and a rewritten metrics file reach a listener within 2 s (${watch ? 'fs.watch' : 'polling alone'})`, async () => {
    const root = tmp();
    const dir = join(root, 'live');
    try {
      await writeRun({ dir, kimg: 10, rows: [row(1, 0.1)] });
      await withServer([root], async (s) => {
        const sse = await Sse.open(s.url, '/api/events?run=live');
        try {
          const snap = await sse.waitFor((e) => e.event === 'snapshot');
          assert.equal((snap.data.rows as unknown[]).length, 1);
          assert.deepEqual(snap.data.samples, ['000000.000.png']);

          // A row written in two pieces: nothing until its newline arrives, then the row whole.
          let n = sse.events.length;
          const t0 = performance.now();
          appendRows(dir, [row(2, 0.2)]);
          writeFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(row(3, 0.3)).slice(0, 20), { flag: 'a' });
          const first = await sse.waitFor((e) => e.event === 'rows', 2000, n);
          assert.ok(performance.now() - t0 < 2000);
          assert.deepEqual((first.data.rows as { step: number }[]).map((r) => r.step), [2]);
          n = sse.events.length;
          writeFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(row(3, 0.3)).slice(20) + '\n', { flag: 'a' });
          const second = await sse.waitFor((e) => e.event === 'rows', 2000, n);
          assert.deepEqual(second.data.rows, [row(3, 0.3)]);

          n = sse.events.length;
          writeFileSync(join(dir, 'samples', '000000.300.png'), await png('#00f'));
          const grids = await sse.waitFor((e) => e.event === 'samples', 2000, n);
          assert.deepEqual(grids.data.samples, ['000000.000.png', '000000.300.png']);

          // A resume drops the rows after its checkpoint: the listener starts over.
          n = sse.events.length;
          writeFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(row(1, 0.1)) + '\n');
          await sse.waitFor((e) => e.event === 'reset', 2000, n);
          const again = await sse.waitFor((e) => e.event === 'rows', 2000, n);
          assert.deepEqual((again.data.rows as { step: number }[]).map((r) => r.step), [1]);

          // A run that appears after the server started is listed.
          n = sse.events.length;
          await writeRun({ dir: join(root, 'later'), kimg: 1 });
          await sse.waitFor((e) => e.event === 'runs' && (e.data as unknown as { id: string }[]).some((r) => r.id === 'later'), 2000, n);
        } finally {
          sse.close();
        }
      }, watch);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('safety: nothing outside the served folders, however the path is spelled; read-only; loopback Host only', async () => {
  const root = tmp();
  const outside = tmp();
  try {
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    await writeRun({ dir: join(root, 'r'), kimg: 1 });
    symlinkSync(join(outside, 'secret.txt'), join(root, 'r', 'samples', 'link.png'));
    symlinkSync(outside, join(root, 'r', 'out'));
    writeFileSync(join(root, 'r', '.hidden'), 'x');
    const metrics = readFileSync(join(root, 'r', 'metrics.jsonl'));
    await withServer([root], async (s) => {
      const refused: [string, number][] = [
        ['/runs/r/../../../../etc/passwd', 403],
        ['/runs/r/..%2f..%2f..%2fetc%2fpasswd', 403],
        ['/runs/r/%2e%2e/%2e%2e/etc/passwd', 403],
        ['/runs/r/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', 403],
        ['/runs/r/..%5c..%5cetc%5cpasswd', 403],
        ['/runs/r/%252e%252e/config.json', 404], // decoded once only: a file named '%2e%2e' does not exist
        ['/runs/r/samples/%00.png', 403],
        ['/runs/r/samples/link.png', 403],
        ['/runs/r/out/secret.txt', 403],
        ['/runs/r/.hidden', 403],
        ['/runs/r/%zz', 400],
        ['//etc/passwd', 400],
        [`/runs/r/${encodeURIComponent(join(outside, 'secret.txt'))}`, 403],
        ['http://127.0.0.1/etc/passwd', 400],
        ['/web/../../package.json', 403],
        ['/vendor/uplot/../../../package.json', 403],
      ];
      for (const [target, status] of refused) {
        const r = await raw(s.url, target);
        assert.equal(r.status, status, `${target} answered ${r.status}: ${r.body}`);
        assert.ok(!r.body.includes('secret') && !r.body.includes('root:'), target);
      }
      assert.equal((await raw(s.url, '/runs/r/config.json')).status, 200);
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const r = await raw(s.url, '/runs/r/metrics.jsonl', { method });
        assert.equal(r.status, 405, method);
      }
      assert.deepEqual(readFileSync(join(root, 'r', 'metrics.jsonl')), metrics);
      assert.equal((await raw(s.url, '/api/runs', { headers: { Host: 'evil.example:80' } })).status, 403);
      assert.equal((await raw(s.url, '/api/runs', { headers: { Host: `localhost:${s.port}` } })).status, 200);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test('serve --static DIR serves a folder as it is, with the types a playground needs, and nothing outside it', async () => {
  const root = tmp();
  try {
    mkdirSync(join(root, 'site', 'ort'), { recursive: true });
    writeFileSync(join(root, 'site', 'index.html'), '<!doctype html><title>playground</title>');
    writeFileSync(join(root, 'site', 'ort', 'ort.wasm'), Buffer.from([0, 97, 115, 109]));
    writeFileSync(join(root, 'secret.txt'), 'secret');
    const s = await startServer({ staticRoot: join(root, 'site'), port: 0 });
    try {
      const index = await raw(s.url, '/');
      assert.equal(index.status, 200);
      assert.match(index.body, /playground/);
      assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal((await raw(s.url, '/ort/ort.wasm')).headers['content-type'], 'application/wasm');
      assert.equal((await raw(s.url, '/../secret.txt')).status, 403);
      assert.equal((await raw(s.url, '/%2e%2e/secret.txt')).status, 403);
      assert.equal((await raw(s.url, '/api/runs')).status, 404);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Runs `ganforge serve ARGS` until it prints `lines` lines; returns them and stops it. */
function serveLines(args: string[], lines: number): Promise<string[]> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`no output from serve: ${out}`));
    }, 10_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.split('\n').length > lines) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(out.trim().split('\n'));
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out.trim().split('\n'));
    });
  });
}

test('the command: the URL printed, a free port when the default is taken, a note when not on loopback, one-line mistakes', async () => {
  const root = tmp();
  // The default port taken (by someone else): the next free one is used.
  const blocker = createServer();
  await new Promise<void>((resolve) => {
    blocker.once('error', () => resolve()); // taken already: by someone else, which does as well
    blocker.listen(6150, '127.0.0.1', resolve);
  });
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  try {
    const [line] = await serveLines([root], 1);
    assert.match(line, /^serving .* at http:\/\/127\.0\.0\.1:\d+\/$/);
    if (blocker.listening) assert.doesNotMatch(line, /:6150\//);
    const open = await serveLines([root, '--host', '0.0.0.0', '--port', '0'], 2);
    assert.match(open[1], /^note: listening on 0\.0\.0\.0, not only this machine/);
    const taken = spawnSync(process.execPath, [BIN, 'serve', root, '--port', String((busy.address() as { port: number }).port)], { encoding: 'utf8' });
    assert.equal(taken.status, 2);
    assert.match(taken.stderr, /^ganforge: port \d+ is in use: choose another --port/);
    const file = spawnSync(process.execPath, [BIN, 'serve', '--static', join(root, 'nope')], { encoding: 'utf8' });
    assert.equal(file.status, 2);
    assert.equal(file.stderr.trim().split('\n').length, 1);
  } finally {
    if (blocker.listening) blocker.close();
    busy.close();
    rmSync(root, { recursive: true, force: true });
  }
});
