/**
 * Where `sample` takes its latents from: --z FILE (.npy as numpy writes it, .safetensors),
 * --seed_rng numpy (numpy's RandomState, as NVIDIA's generate.py draws z) and the default
 * torch draw; the .npy reader; and the one-line errors for files that do not fit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { decodeNpy, readNpyFileSync } from '../src/io/npy.js';
import { readLatentsFile } from '../src/io/latents_file.js';
import { encodeSafetensors, readSafetensorsFileSync } from '../src/io/safetensors.js';
import { fromNumbers, toNumbers } from '../src/io/raw.js';
import { disposeRun, fileLatents, numpyLatents, numpySeedLatents } from '../src/cli/latents.js';
import { loadRun } from '../src/families/load.js';
import { TINY, cli, tempDir } from './train-helpers.js';
import { fromRoot, loadJson } from './helpers.js';

const FIX = (name: string) => fromRoot(`test/fixtures/nvpkl/${name}`);
const E = loadJson<{ generate: Record<string, { seeds: number[] }>; randn: { seed: number; values: number[] }[] }>('test/fixtures/nvpkl/expected.json');

/** One line on stderr, exit code 2. */
function mistake(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
}

test('.npy files as numpy writes them: float64, big-endian float32; Fortran order, int64 and 1-D refused for latents', () => {
  const want = readSafetensorsFileSync(FIX('generate.safetensors')).tensors['uncond/z']!;
  const f64 = readNpyFileSync(FIX('z_seeds_f64.npy'));
  assert.equal(f64.dtype, 'float64');
  assert.deepEqual(f64.shape, want.shape);
  assert.deepEqual(toNumbers(f64), toNumbers(want));
  const be = readNpyFileSync(FIX('z_seeds_f32_bigendian.npy'));
  assert.equal(be.dtype, 'float32');
  assert.deepEqual(toNumbers(be), toNumbers(want).map(Math.fround));
  assert.throws(() => readNpyFileSync(FIX('z_fortran.npy')), /z_fortran\.npy: the array is stored in Fortran order; save np\.ascontiguousarray/);
  assert.throws(() => readLatentsFile(FIX('z_int64.npy')), /z_int64\.npy: latents are int64; save them as float32 or float64/);
  assert.throws(() => readLatentsFile(FIX('z_1d.npy')), /z_1d\.npy: latents have shape \[32\]; expected \[N, z_dim\]/);
  assert.throws(() => decodeNpy(new Uint8Array(20), 'x.npy'), /x\.npy: not a \.npy file/);
  const bytes = new Uint8Array(readFileSync(FIX('z_seeds_f64.npy')));
  assert.throws(() => decodeNpy(bytes.subarray(0, bytes.byteLength - 8), 't.npy'), /t\.npy: \.npy data has \d+ bytes, <f8 \[4, 32\] needs 1024/);
});

test('numpy latents: each seed draws generate.py\'s z, rounded to float32', () => {
  const want = readSafetensorsFileSync(FIX('generate.safetensors')).tensors['uncond/z']!;
  const seeds = E.generate.uncond!.seeds;
  torch.scope(() => {
    const z = numpySeedLatents(seeds, [32]);
    assert.deepEqual(z.shape, [seeds.length, 32]);
    assert.equal(z.dtype, 'float32');
    assert.deepEqual(Array.from(z.toTypedArray() as Float32Array), toNumbers(want).map(Math.fround));
    // One stream for a grid: RandomState(85).randn(n, d), row after row.
    const c = E.randn.find((r) => r.seed === 85)!;
    const g = numpyLatents(85, 3, [11]);
    assert.deepEqual(Array.from(g.toTypedArray() as Float32Array), c.values.map(Math.fround));
  });
});

test('sample --z FILE and --seed_rng numpy draw from the given latents, for a DCGAN run', () => {
  const dir = tempDir();
  const run = join(dir, 'r');
  const t = cli([...TINY.map((a, i) => (TINY[i - 1] === '--nz' ? '32' : a)), '--kimg', '0.016', '--out', run]);
  assert.equal(t.status, 0, t.stderr);
  const png = (name: string) => readFileSync(join(dir, name));
  const sample = (name: string, ...args: string[]) => {
    const r = cli(['sample', '--run', run, '--nrow', '4', '--out', join(dir, name), ...args]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  // The torch draw of --seed 3, written to files, gives back the same grid.
  const loaded = loadRun(run);
  const z = torch.withSeed(3, () => loaded.recipe.sampleInputs(4, null).z!);
  const zRaw = { dtype: 'float32' as const, shape: z.shape, data: z.toBytes() };
  disposeRun(loaded);
  writeFileSync(join(dir, 'z.safetensors'), encodeSafetensors({ z: zRaw, other: fromNumbers('float32', [1], [0]) }));
  writeFileSync(join(dir, 'one.safetensors'), encodeSafetensors({ latents: zRaw }));
  sample('seed.png', '--n', '4', '--seed', '3');
  assert.match(sample('z.png', '--z', join(dir, 'z.safetensors')), /wrote 4 samples .*\(latents from .*z\.safetensors\)/);
  assert.ok(png('seed.png').equals(png('z.png')), '--z of the torch draw gives the --seed grid');
  torch.scope(() => {
    const one = fileLatents(join(dir, 'one.safetensors'), [32]);
    assert.deepEqual(one.toBytes(), zRaw.data, 'a single tensor needs no name');
    const [a, b] = [fileLatents(FIX('z_seeds_f64.npy'), [32]), fileLatents(FIX('z_seeds_f32_bigendian.npy'), [32])];
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.toBytes(), b.toBytes(), 'float64 latents are rounded to float32, as the networks do first thing');
    assert.deepEqual(fileLatents(FIX('z_seeds_f64.npy'), [32, 1, 1]).shape, [4, 32, 1, 1], '[N, z_dim] fits any latent shape of that size');
  });

  // numpy's RandomState: --seed_rng numpy equals --z of generate.py's z for the same seeds
  // (the fixture's four seeds, one per row, as numpySeedLatents draws them, in float64).
  sample('npz.png', '--z', FIX('z_seeds_f64.npy'));
  assert.ok(!png('npz.png').equals(png('seed.png')));
  const grid = numpyLatents(7, 4, [32]);
  writeFileSync(join(dir, 'np7.safetensors'), encodeSafetensors({ z: { dtype: 'float32', shape: grid.shape, data: grid.toBytes() } }));
  sample('np7-rng.png', '--n', '4', '--seed', '7', '--seed_rng', 'numpy');
  sample('np7-z.png', '--z', join(dir, 'np7.safetensors'));
  assert.ok(png('np7-rng.png').equals(png('np7-z.png')), '--seed_rng numpy draws RandomState(seed).randn(n, z_dim)');
  sample('torch7.png', '--n', '4', '--seed', '7', '--seed_rng', 'torch');
  assert.ok(!png('np7-rng.png').equals(png('torch7.png')));
  z.dispose();
  grid.dispose();

  // Files that do not fit the model: one line each, exit 2 (checked in this process where
  // the command line adds nothing).
  const bad = (args: string[], pattern: RegExp) => mistake(cli(['sample', '--run', run, '--out', join(dir, 'bad.png'), ...args]), pattern);
  const refused = (file: string, pattern: RegExp) => assert.throws(() => fileLatents(file, [32], 'cpu', 'a dcgan'), (e: Error) => e.name === 'UsageError' && pattern.test(e.message));
  const small = numpyLatents(1, 2, [16]);
  writeFileSync(join(dir, 'small.safetensors'), encodeSafetensors({ z: { dtype: 'float32', shape: small.shape, data: small.toBytes() } }));
  small.dispose();
  bad(['--z', join(dir, 'small.safetensors')], /--z .*small\.safetensors: latents have shape \[2, 16\]; a dcgan generator takes z of 32 values per image \(\[N, 32\]\)/);
  writeFileSync(join(dir, 'two.safetensors'), encodeSafetensors({ a: zRaw, b: zRaw }));
  refused(join(dir, 'two.safetensors'), /holds 2 tensors \(a, b\); keep one, or name the latents 'z'/);
  refused(FIX('z_fortran.npy'), /^--z .*Fortran order/);
  refused(FIX('z_int64.npy'), /latents are int64/);
  refused(join(dir, 'seed.png'), /latents must be a \.npy or \.safetensors file/);
  refused(join(dir, 'missing.npy'), /^--z cannot read .*missing\.npy/);
  bad(['--z', FIX('z_seeds_f64.npy'), '--seed', '3'], /--seed draws latents, --z reads them from a file: give one or the other/);
  bad(['--z', FIX('z_seeds_f64.npy'), '--n', '9'], /--n 9 but --z .* holds 4 latents/);
  bad(['--seed_rng', 'jax'], /--seed_rng must be one of torch, numpy/);
});
