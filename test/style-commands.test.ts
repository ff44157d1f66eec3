// The latent-space commands of issue 6: `sample --truncation_psi`, `interpolate` and `mix`
// (the style-mixing figure of the StyleGAN paper). Two tiny runs are trained once (a
// 16² StyleGAN at lod 0, and a DCGAN); the commands then run in this process.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../src/torch/index.js';
import { decodeImage, tensorToImages, type RawImage } from '../src/data/index.js';
import { loadRun } from '../src/families/load.js';
import { disposeRun, renderDlatents, seedLatents } from '../src/cli/latents.js';
import { mixGrid, styleRange } from '../src/cli/mix.js';
import { slerpWeights } from '../src/cli/interpolate.js';
import { cliAsync, exitOf, tempDir } from './train-helpers.js';
import { gridCell } from './helpers.js';

const dir = tempDir('gf-style-');
const SG = join(dir, 'sg');
const DC = join(dir, 'dc');
const SIZE = 16;

before(async () => {
  const sg = cliAsync(['train', '--model', 'stylegan', '--data', 'shapes', '--resolution', '16', '--lod_initial_resolution', '16',
    '--minibatch_base', '8', '--minibatch_dict', '', '--kimg', '0.03', '--latent_size', '16', '--dlatent_size', '16',
    '--mapping_layers', '2', '--fmap_base', '64', '--fmap_max', '16', '--workers', '0', '--n_samples', '4', '--out', SG]);
  const dc = cliAsync(['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--nz', '8', '--ngf', '8', '--ndf', '8',
    '--batch', '8', '--kimg', '0.016', '--workers', '0', '--n_samples', '4', '--out', DC]);
  const done = [exitOf(sg), exitOf(dc)];
  for (const [i, name] of ['stylegan', 'dcgan'].entries()) {
    const r = await done[i];
    assert.equal(r.code, 0, `${name} training failed: ${r.stderr}`);
  }
});

/**
 * Runs `ganforge ARGS` in this process, capturing stderr and what the command prints on
 * stdout. The test runner reports on stdout too, possibly while a command is awaiting, so
 * only the commands' own lines ('wrote ...', help texts) are taken; the rest goes through.
 */
async function gf(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { run } = await import('../src/cli/main.js');
  let stdout = '', stderr = '';
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string | Uint8Array, ...rest: unknown[]) => {
    const s = c.toString();
    if (/^(wrote |Usage: |ganforge )/.test(s)) return (stdout += s), true;
    return (out as (...a: unknown[]) => boolean).call(process.stdout, c, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += c.toString()), true)) as typeof process.stderr.write;
  try {
    return { status: await run(args), stdout, stderr };
  } finally {
    [process.stdout.write, process.stderr.write] = [out, err];
  }
}

async function ok(...args: string[]): Promise<string> {
  const r = await gf(...args);
  assert.equal(r.status, 0, `ganforge ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

let fileNo = 0;
const file = (ext = 'png') => join(dir, `out${fileNo++}.${ext}`);

/** The image at (col, row) of a grid of SIZE² cells with `pad` pixels around and between. */
const cell = (img: RawImage, col: number, row: number, pad: number): RawImage => gridCell(img, col, row, pad, SIZE);

function maxDiff(a: RawImage, b: RawImage): number {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels]);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

/** `ganforge sample --n 1 --seed S` of a run, decoded (its only cell). */
const seedImages = new Map<string, RawImage>();
async function seedImage(run: string, seed: number): Promise<RawImage> {
  const key = `${run}:${seed}`;
  if (!seedImages.has(key)) {
    const out = file();
    await ok('sample', '--run', run, '--n', '1', '--seed', String(seed), '--out', out);
    seedImages.set(key, cell(await decodeImage(out), 0, 0, 2));
  }
  return seedImages.get(key)!;
}

test('sample --truncation_psi 0 over every layer gives the average w: one image for every seed; ψ = 1 is the default', async () => {
  const a = file(), b = file();
  await ok('sample', '--run', SG, '--n', '4', '--seed', '1', '--truncation_psi', '0', '--truncation_cutoff', '6', '--out', a);
  const out = await ok('sample', '--run', SG, '--n', '1', '--seed', '7', '--truncation_psi', '0', '--truncation_cutoff', '99', '--out', b);
  assert.match(out, /ψ 0 on 6 of 6 layers/);
  const grid = await decodeImage(a);
  const first = cell(grid, 0, 0, 2);
  for (const [c, r] of [[1, 0], [0, 1], [1, 1]]) assert.equal(maxDiff(cell(grid, c, r, 2), first), 0, `cell ${c},${r}`);
  assert.equal(maxDiff(cell(await decodeImage(b), 0, 0, 2), first), 0, 'seed 7 gives the same average image');
  // ψ = 1 changes nothing; ψ = 0 on the first layers only still depends on the seed.
  const d = file(), e = file(), f = file();
  await ok('sample', '--run', SG, '--n', '4', '--seed', '1', '--out', d);
  await ok('sample', '--run', SG, '--n', '4', '--seed', '1', '--truncation_psi', '1', '--truncation_cutoff', '2', '--out', e);
  assert.equal(maxDiff(await decodeImage(d), await decodeImage(e)), 0);
  assert.ok(maxDiff(await decodeImage(d), grid) > 10, 'untruncated images differ from the average');
  await ok('sample', '--run', SG, '--n', '4', '--seed', '1', '--truncation_psi', '0', '--truncation_cutoff', '2', '--out', f);
  const partial = await decodeImage(f);
  assert.ok(maxDiff(cell(partial, 0, 0, 2), cell(partial, 1, 0, 2)) > 0, 'layers past the cutoff keep each seed\'s w');
});

test('mix lays out the paper\'s figure: columns\' images on top, rows\' down the side, blank corner, mixed cells', async () => {
  const out = file();
  const msg = await ok('mix', '--run', SG, '--rows', '1,2,3', '--cols', '4,5', '--styles', 'coarse', '--out', out);
  assert.match(msg, /3 × 2 style mix \(layers 0-3 of 6 from the columns\)/);
  const img = await decodeImage(out);
  assert.deepEqual([img.width, img.height], [3 * SIZE, 4 * SIZE]);
  assert.ok(cell(img, 0, 0, 0).data.every((v) => v === 255), 'the top-left cell is blank (white)');
  // The figure renders its rows and columns as batches, `sample` one seed's image alone:
  // kernels may round a batch differently (seen with ATEN_CPU_CAPABILITY=avx512), by at most one level.
  for (const [i, s] of [4, 5].entries()) assert.ok(maxDiff(cell(img, i + 1, 0, 0), await seedImage(SG, s)) <= 1, `column seed ${s}`);
  for (const [i, s] of [1, 2, 3].entries()) assert.ok(maxDiff(cell(img, 0, i + 1, 0), await seedImage(SG, s)) <= 1, `row seed ${s}`);

  // The cells' w: row r's w with layers 0-3 from column c's w, rendered with the same noise.
  const loaded = loadRun(SG);
  const style = loaded.recipe.style!;
  assert.equal(style.numLayers, 6);
  torch.scope(() => {
    const wOf = (seeds: number[]) => { const { z } = seedLatents(loaded.recipe, seeds, null); return torch.noGrad(() => style.dlatents(z, null, null, null)); };
    const wRows = wOf([1, 2, 3]), wCols = wOf([4, 5]);
    const mixed = mixGrid(wRows, wCols, styleRange('coarse', 6));
    assert.deepEqual(mixed.shape, [6, 6, 16]);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 2; c++) {
        const w = mixed.select(0, r * 2 + c);
        assert.ok(w.narrow(0, 0, 4).equal(wCols.select(0, c).narrow(0, 0, 4)), `cell ${r},${c}: layers 0-3 from the column`);
        assert.ok(w.narrow(0, 4, 2).equal(wRows.select(0, r).narrow(0, 4, 2)), `cell ${r},${c}: layers 4-5 from the row`);
      }
    }
    const cells = tensorToImages(renderDlatents(style, mixed));
    const per = SIZE * SIZE * 3;
    for (let k = 0; k < 6; k++) {
      const want = { data: cells.data.subarray(k * per, (k + 1) * per), width: SIZE, height: SIZE, channels: 3 };
      assert.equal(maxDiff(cell(img, 1 + (k % 2), 1 + Math.floor(k / 2), 0), want), 0, `cell ${k} is the synthesis of its mixed w`);
    }
  });
  disposeRun(loaded);

  // An explicit range: 0-1 mixes fewer layers than coarse (0-3), so the cells differ; the headers do not.
  const out01 = file();
  await ok('mix', '--run', SG, '--rows', '1,2,3', '--cols', '4,5', '--styles', '0-1', '--out', out01);
  const img01 = await decodeImage(out01);
  assert.equal(maxDiff(cell(img01, 1, 0, 0), cell(img, 1, 0, 0)), 0);
  assert.ok(maxDiff(cell(img01, 1, 1, 0), cell(img, 1, 1, 0)) > 0, '--styles 0-1 and coarse give different cells');
  // Ranges are clipped to the model's layers: 2-10 on 6 layers is 2-5 (= middle, clipped 4-5, plus 2-3).
  assert.deepEqual(styleRange('2-10', 6), [2, 5]);
  assert.deepEqual(styleRange('middle', 6), [4, 5]);
  assert.deepEqual(styleRange('fine', 18), [8, 17]);
  assert.deepEqual(styleRange('3', 6), [3, 3]);
});

test('interpolate: a strip row per segment from one seed\'s own sample to the next; animations have one page per frame', async () => {
  const live = torch.liveTensors();
  // z space (slerp) on a DCGAN and w space (lerp) on the StyleGAN: endpoints are the seeds' samples.
  for (const [run, space] of [[DC, 'z'], [SG, 'z'], [SG, 'w']] as const) {
    const out = file();
    const msg = await ok('interpolate', '--run', run, '--seeds', '1,2,3', '--steps', '4', '--space', space, '--out', out);
    assert.match(msg, /a 2 × 5 strip/);
    const img = await decodeImage(out);
    assert.deepEqual([img.width, img.height], [5 * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2]);
    // The walk's end points come out of slerp/lerp at t = 0 and 1, rendered in a batch: the
    // kernels' rounding (oneDNN, ATen's vector width) may move a pixel by one level.
    const tol = 1;
    const ends: [number, number, number][] = [[0, 0, 1], [4, 0, 2], [0, 1, 2], [4, 1, 3]];
    for (const [c, r, s] of ends) assert.ok(maxDiff(cell(img, c, r, 2), await seedImage(run, s)) <= tol, `${run} ${space}: cell ${c},${r} is seed ${s}`);
    assert.ok(maxDiff(cell(img, 2, 0, 2), await seedImage(run, 1)) > 0, 'the middle of the walk is neither end');
  }
  // Animations: (seeds − 1)·steps + 1 frames, or seeds·steps looped.
  const gif = file('gif'), webp = file('webp');
  await ok('interpolate', '--run', SG, '--seeds', '1,2,3', '--steps', '4', '--out', gif, '--fps', '10');
  // (WebP merges identical consecutive frames, so it needs a walk that moves: not the barely trained DCGAN.)
  await ok('interpolate', '--run', SG, '--seeds', '1-3', '--steps', '4', '--loop', '--space', 'w', '--out', webp);
  assert.equal(torch.liveTensors(), live, 'the commands free every tensor they make (weights and optimiser state included)');
  const g = await sharp(gif).metadata();
  assert.deepEqual([g.format, g.pages, g.width, g.pageHeight ?? SIZE], ['gif', 9, SIZE, SIZE]);
  assert.deepEqual(g.delay, Array(9).fill(100));
  const w = await sharp(webp).metadata();
  assert.deepEqual([w.format, w.pages], ['webp', 12]);
  // Spherical weights: exact ends, and unit-norm latents stay on the sphere.
  assert.deepEqual(slerpWeights([1, 0], [0, 1], 0), [1, 0]);
  const [ca, cb] = slerpWeights([1, 0], [0, 1], 0.5);
  assert.ok(Math.abs(Math.hypot(ca, cb) - 1) < 1e-12);
});

test('mistakes are one line and exit code 2: non-style runs, bad --styles, an existing --out', async () => {
  // --force overwrites an image (or an empty file), never a file of another kind.
  const existing = file();
  writeFileSync(existing, '');
  const notes = file();
  writeFileSync(notes, 'my notes');
  const cases: [string[], RegExp][] = [
    [['mix', '--run', DC, '--rows', '1', '--cols', '2'], /mix needs a style-based model \(stylegan\): .* is a dcgan run/],
    [['interpolate', '--run', DC, '--seeds', '1,2', '--space', 'w', '--out', file()], /--space w needs a style-based model \(stylegan\): a dcgan generator has no w/],
    [['sample', '--run', DC, '--truncation_psi', '0.7', '--out', file()], /--truncation_psi applies to style-based models \(stylegan\); a dcgan generator/],
    [['mix', '--run', SG, '--rows', '1', '--cols', '2', '--styles', 'bogus'], /--styles must be coarse, middle, fine or a layer range A-B/],
    [['mix', '--run', SG, '--rows', '1', '--cols', '2', '--styles', '3-1'], /--styles 3-1: the range runs backwards/],
    [['mix', '--run', SG, '--rows', '1', '--cols', '2', '--styles', 'fine', '--out', file()], /--styles fine \(layers 8-end\) holds no layer of this model, which has 6/],
    [['mix', '--run', SG, '--rows', '1', '--cols', '2', '--out', existing], /exists: use --force/],
    [['interpolate', '--run', SG, '--seeds', '1,2', '--out', existing], /exists: use --force/],
    [['interpolate', '--run', SG, '--seeds', '1,2', '--out', notes, '--force'], /is a file of 8 bytes that is not an image/],
    [['interpolate', '--run', SG, '--seeds', '1'], /--seeds needs at least 2 seeds/],
    [['interpolate', '--run', SG, '--seeds', '1,2', '--out', file('bmp')], /expected a \.png or \.jpg strip, or a \.gif or \.webp animation/],
    [['interpolate', '--run', SG, '--seeds', '1,2', '--fps', '5', '--out', file()], /--fps applies to animations/],
    [['mix', '--run', SG, '--rows', 'a', '--cols', '2'], /--rows expects seeds such as 1,2,3/],
  ];
  for (const [args, re] of cases) {
    const r = await gf(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  }
  // --force overwrites.
  await ok('mix', '--run', SG, '--rows', '1', '--cols', '2', '--out', existing, '--force');
  assert.ok(existsSync(existing) && (await decodeImage(existing)).width === 2 * SIZE);
});

test('--help of interpolate and mix tells every option; the top-level help lists both', async () => {
  const top = await gf('--help');
  for (const c of ['interpolate', 'mix']) assert.match(top.stdout, new RegExp(`\\n  ${c}\\b`));
  const mix = await gf('mix', '--help');
  for (const k of ['run', 'rows', 'cols', 'styles', 'truncation_psi', 'truncation_cutoff', 'out', 'force']) assert.match(mix.stdout, new RegExp(`--${k}\\b`), k);
  assert.match(mix.stdout, /--styles coarse\|middle\|fine\|A-B/);
  const interp = await gf('interpolate', '--help');
  for (const k of ['seeds', 'steps', 'space', 'loop', 'truncation_psi', 'fps', 'out', 'force']) assert.match(interp.stdout, new RegExp(`--${k}\\b`), k);
  assert.match(interp.stdout, /--steps INT\s+.*\(default: 8\)/);
  const sample = await gf('sample', '--help');
  assert.match(sample.stdout, /--truncation_psi PSI\s+.*\(default: 1\)/);
  assert.match(sample.stdout, /--truncation_cutoff N/);
});

test('project --run (StyleGAN): a sample of the run is projected; sample --run --w draws proj.png again; non-style runs are refused', async () => {
  const { writeImage } = await import('../src/data/image.js');
  const target = file();
  await writeImage(await seedImage(SG, 3), target);
  const outdir = join(dir, 'proj-sg');
  const msg = await ok('project', '--run', SG, '--target', target, '--outdir', outdir, '--num_steps', '40', '--w_avg_samples', '300');
  const m = /\(w \[1, 6, 16\] and 6 noise maps\).*distance ([\d.e+-]+) → ([\d.e+-]+) in 40 steps/.exec(msg);
  assert.ok(m, msg);
  assert.ok(Number(m[2]) < Number(m[1]), `distance ${m[1]} → ${m[2]}`);
  const grid = file();
  assert.match(await ok('sample', '--run', SG, '--w', join(outdir, 'projected_w.safetensors'), '--out', grid), /the file's 6 noise maps/);
  assert.equal(maxDiff(cell(await decodeImage(grid), 0, 0, 2), await decodeImage(join(outdir, 'proj.png'))), 0, 'the same image from the w file');
  for (const [args, re] of [
    [['project', '--run', DC, '--target', target, '--outdir', join(dir, 'proj-dc')], /project needs a style-based model \(stylegan2, stylegan\): .* is a dcgan run/],
    [['sample', '--run', DC, '--w', join(outdir, 'projected_w.safetensors'), '--out', file()], /--w needs a style-based model \(stylegan2, stylegan\): .* is a dcgan run/],
  ] as [string[], RegExp][]) {
    const r = await gf(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});
