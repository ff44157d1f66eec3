// The demo's model learns what the README promises, checked cheaply: its configuration
// (pix2pix drawing the outlines of shapes-pairs scenes) trained for 60 steps instead of
// 1000, measured on what the user sees: the sample grids, whose rows are (scene, the
// model's drawing, the real drawing). The drawings of the trained model must be much
// closer to the real ones (L1) than the untrained model's at step 0, and `train --serve`
// must print the dashboard's URL, serve the run while it trains, and stop with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RECIPES } from '../src/families/registry.js';
import { train } from '../src/train/trainer.js';
import { demoOptions } from '../src/cli/demo.js';
import { decodeImage } from '../src/data/index.js';
import { cliAsync, tempDir } from './train-helpers.js';
import { raw } from './serve-helpers.js';

/** Mean |drawing − real drawing| over a grid, in [0, 1], and that of an all-white drawing. */
async function gridL1(file: string, side: number): Promise<{ model: number; white: number }> {
  const img = await decodeImage(file, 3);
  const pad = 2;
  const rows = (img.height - pad) / (side + pad);
  assert.equal(img.width, 3 * side + 4 * pad, 'three columns: scene, drawing, real drawing');
  assert.ok(Number.isInteger(rows) && rows >= 4, `a grid of whole rows (${img.height} px)`);
  let model = 0, white = 0, n = 0;
  const at = (col: number, r: number, y: number, x: number, c: number): number =>
    img.data[((pad + r * (side + pad) + y) * img.width + pad + col * (side + pad) + x) * 3 + c];
  for (let r = 0; r < rows; r++) {
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < 3; c++) {
          const real = at(2, r, y, x, c);
          model += Math.abs(at(1, r, y, x, c) - real);
          white += Math.abs(255 - real);
          n++;
        }
      }
    }
  }
  return { model: model / n / 255, white: white / n / 255 };
}

test("the demo's pix2pix learns to draw: its grids' L1 to the real drawings falls far below the untrained model's", async () => {
  const out = join(tempDir('gf-demo-'), 'demo');
  try {
    // The demo's settings, shortened: one epoch of 960 pairs at the full rate (60 steps), grids at the start and the end.
    const o = { ...demoOptions(2, out, 0), n_epochs: 1, n_epochs_decay: 0, max_dataset_size: 960, display_freq: 0, workers: 0 };
    await train(RECIPES.pix2pix, o, new Set(['model', 'data', 'out']), { log: () => {} });
    const grids = readdirSync(join(out, 'samples')).sort();
    assert.deepEqual([grids[0], grids.length], ['000000.000.png', 2]);
    const before = await gridL1(join(out, 'samples', grids[0]), 32);
    const after = await gridL1(join(out, 'samples', grids[1]), 32);
    // Untrained, the drawing is grey noise; trained, white paper with dark strokes where the outlines are.
    assert.ok(before.model > 0.3, `untrained L1 ${before.model.toFixed(3)}`);
    // (The full demo, 16 epochs, ends below a blank page's L1, which these 60 steps do not reach.)
    assert.ok(after.model < 0.55 * before.model, `L1 after 60 steps ${after.model.toFixed(3)}, untrained ${before.model.toFixed(3)} (a blank page: ${after.white.toFixed(3)})`);
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});

test('train --serve prints the dashboard URL, serves the run while it trains, and stops with it', async () => {
  const dir = tempDir('gf-train-serve-');
  const out = join(dir, 'run');
  let child: ReturnType<typeof cliAsync> | null = null;
  try {
    // Long enough to be stopped with Ctrl-C (SIGINT) once the dashboard has shown it running.
    child = cliAsync(['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--batch', '8', '--ngf', '4', '--ndf', '4', '--nz', '8', '--kimg', '100', '--sample_kimg', '1', '--n_samples', '4', '--workers', '0', '--out', out, '--serve']);
    const proc = child;
    let stdout = '';
    proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      // Generous: the suite may share the machine (start-up is seconds when it is idle).
      const t = setTimeout(() => reject(new Error(`no URL printed: ${stdout}`)), 120_000);
      proc.stdout!.on('data', () => {
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)#\/run\/run\n/.exec(stdout);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
    });
    let state = '';
    for (let i = 0; i < 600 && state !== 'running'; i++) {
      const runs = (JSON.parse((await raw(url, '/api/runs')).body) as { runs: { id: string; state: string }[] }).runs;
      state = runs.find((r) => r.id === 'run')?.state ?? '';
      if (state !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, 'running');
    proc.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(stdout, /^interrupted: /m);
    assert.match(stdout, /the dashboard stopped with the training; to keep it up: ganforge serve .*run\n/);
    // The server, told to stop as training ended, is gone within moments.
    let gone = false;
    for (let i = 0; i < 30 && !gone; i++) {
      gone = await raw(url, '/api/runs').then(() => false, (e: Error) => /ECONNREFUSED/.test(e.message));
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, 'the dashboard still answers after training ended');
  } finally {
    // A failed wait must not leave the training running after the test.
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
