// BigGAN sampling (sample.py and utils.py's sheets): truncated latents, sample sheets
// with one class per row, interpolation sheets whose rows start and end where they
// should, samples.npz readable as numpy's, and `ganforge sample --weights` on a reference
// weights folder and on a lone G_ema.pth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { openZip } from '../src/io/zip.js';
import { encodeNpz } from '../src/io/npz.js';
import { BigGANGenerator, BIGGAN_ARCH_DEFAULTS } from '../src/models/biggan.js';
import { generate, interp, interpSheet, sampleLatents, sampleSheet } from '../src/families/biggan_sampling.js';
import { assertClose, fromRoot } from './helpers.js';
import { cli, tempDir } from './train-helpers.js';

const arch = { ...BIGGAN_ARCH_DEFAULTS, resolution: 32, n_classes: 3, G_ch: 2, dim_z: 8, shared_dim: 4, G_shared: true, hier: true, G_attn: '0', G_init: 'N02' as const };

function f32(t: torch.Tensor): Float32Array {
  return t.toTypedArray() as Float32Array;
}

test('latents: N(0, z_var²), entries beyond ±truncation redrawn', () => {
  torch.scope(() => {
    torch.manualSeed(1);
    const z = sampleLatents(2000, 16, { zVar: 2, truncation: 0.5 });
    assert.ok(z.abs().max().item() <= 1 + 1e-6, 'within ±truncation·z_var');
    // A normal truncated at ±0.5 has standard deviation 0.2863: times z_var 2.
    assertClose([z.std().item()], [0.5726], 0.02, 0);
    const plain = sampleLatents(4000, 16, { zVar: 0.5, truncation: null });
    assertClose([plain.std().item()], [0.5], 0.02, 0);
    assert.throws(() => sampleLatents(1, 2, { zVar: 1, truncation: 0 }), /positive/);
  });
});

test('a sample sheet has one class per row and a fresh latent per column', () => {
  torch.scope(() => {
    torch.manualSeed(0);
    const G = new BigGANGenerator(arch).eval();
    torch.manualSeed(7);
    const sheet = sampleSheet(G, [2, 0], 3, { zVar: 1, truncation: null });
    torch.manualSeed(7);
    const y = torch.tensor([2, 0], { dtype: 'int64' });
    const cols = [0, 1, 2].map(() => torch.noGrad(() => G.generate(sampleLatents(2, G.dimZ, { zVar: 1, truncation: null }), y)));
    assert.deepEqual(sheet.shape, [6, 3, 32, 32]);
    for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) assertClose(f32(sheet.select(0, r * 3 + c)), f32(cols[c].select(0, r)), 1e-5, 1e-6, `row ${r} column ${c}`);
    G.dispose();
  });
});

test('interpolation: rows run from one end to the other; fixed z or fixed y hold', () => {
  torch.scope(() => {
    const a = torch.tensor([[0, 10]], { dtype: 'float32' }), b = torch.tensor([[4, 30]], { dtype: 'float32' });
    assertClose(f32(interp(a, b, 3)), [0, 10, 1, 15, 2, 20, 3, 25, 4, 30]);
    torch.manualSeed(0);
    const G = new BigGANGenerator(arch).eval();
    for (const [fixZ, fixY] of [[false, false], [true, false], [false, true]]) {
      torch.manualSeed(11);
      const sheet = interpSheet(G, { zVar: 1, truncation: null, rows: 4, numMidpoints: 2, numClasses: 3, fixZ, fixY });
      assert.deepEqual(sheet.shape, [16, 3, 32, 32]);
      // Some row's ends differ (a row whose two classes happen to be equal may not move).
      const moves = [0, 1, 2, 3].some((r) => {
        const first = f32(sheet.select(0, 4 * r)), last = f32(sheet.select(0, 4 * r + 3));
        return first.some((v, i) => Math.abs(v - last[i]) > 1e-4);
      });
      assert.ok(moves, `a row moves (fixZ ${fixZ}, fixY ${fixY})`);
    }
    G.dispose();
  });
});

test('samples.npz is a zip of .npy arrays numpy reads (header, shape, data)', () => {
  const bytes = encodeNpz({ x: { dtype: 'uint8', shape: [2, 3], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) }, y: { dtype: 'int64', shape: [2], data: BigInt64Array.from([7n, 9n]) } });
  const zip = openZip(bytes);
  assert.deepEqual(zip.names(), ['x.npy', 'y.npy']);
  const x = zip.read('x.npy');
  const hlen = x[8] | (x[9] << 8);
  const header = new TextDecoder().decode(x.subarray(10, 10 + hlen));
  assert.match(header, /'descr': '\|u1', 'fortran_order': False, 'shape': \(2, 3\)/);
  assert.equal((10 + hlen) % 64, 0);
  assert.deepEqual([...x.subarray(10 + hlen)], [1, 2, 3, 4, 5, 6]);
  const y = zip.read('y.npy');
  assert.match(new TextDecoder().decode(y.subarray(10, 10 + (y[8] | (y[9] << 8)))), /'<i8'.*\(2,\)/);
});

test('ganforge sample --weights: a reference folder, and a lone G_ema.pth with the architecture options', () => {
  const out = tempDir('gf-bgsample-');
  let r = cli(['sample', '--weights', fromRoot('test/fixtures/biggan/weights_legacy'), '--out', join(out, 'a'), '--n', '3', '--class', '2',
    '--sample_sheets', '--classes_per_sheet', '2', '--samples_per_class', '2', '--sample_interps', '--num_per_sheet', '2', '--num_midpoints', '1',
    '--sample_npz', '--sample_num_npz', '4', '--truncation', '1.5']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(join(out, 'a')).sort(), ['000000_class2.png', '000001_class2.png', '000002_class2.png', 'interpY0.png', 'interpZ0.png', 'interpZY0.png', 'samples.npz', 'samples0.png', 'samples1.png']);
  assert.ok(readFileSync(join(out, 'a', 'samples.npz')).length > 4 * 3 * 32 * 32);
  const lone = fromRoot('test/fixtures/biggan/weights_zip/G_ema.pth');
  r = cli(['sample', '--weights', lone, '--out', join(out, 'b'), '--n', '1', '--resolution', '32', '--n_classes', '4', '--G_ch', '2', '--dim_z', '12',
    '--G_shared', '--shared_dim', '6', '--hier', '--G_attn', '16', '--SN_eps', '1e-6']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(out, 'b', '000000_class0.png')));
  r = cli(['sample', '--weights', lone, '--out', join(out, 'c'), '--config', 'cifar']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /does not fit the architecture .*check --model, --config/);
  r = cli(['sample', '--weights', fromRoot('test/fixtures/biggan/weights_legacy'), '--out', join(out, 'd'), '--G_ch', '4']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--G_ch: a weights folder's architecture comes from its state_dict\.pth/);
});

test('ganforge sample --weights: a BigGAN-deep reference folder (its config names BigGANdeep), and its lone G_ema.pth with --model biggan_deep', () => {
  const out = tempDir('gf-bgdeep-');
  const folder = fromRoot('test/fixtures/biggan_deep/weights_zip');
  let r = cli(['sample', '--weights', folder, '--out', join(out, 'a'), '--n', '2', '--seed', '3', '--sample_sheets', '--classes_per_sheet', '4', '--samples_per_class', '2', '--sample_interps', '--num_per_sheet', '2', '--num_midpoints', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(join(out, 'a')).sort(), ['000000_class0.png', '000001_class1.png', 'interpY0.png', 'interpZ0.png', 'interpZY0.png', 'samples0.png']);
  // The same network from the lone file and the options the folder's config holds: the same images.
  const arch = ['--model', 'biggan_deep', '--resolution', '32', '--n_classes', '4', '--G_ch', '2', '--dim_z', '12', '--shared_dim', '6', '--G_attn', '16', '--SN_eps', '1e-6', '--G_depth', '2'];
  r = cli(['sample', '--weights', join(folder, 'G_ema.pth'), '--out', join(out, 'b'), '--n', '2', '--seed', '3', ...arch]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['000000_class0.png', '000001_class1.png']) assert.deepEqual(readFileSync(join(out, 'b', f)), readFileSync(join(out, 'a', f)), f);
  // Read as BigGAN.py's generator it does not fit; nor with another depth.
  r = cli(['sample', '--weights', join(folder, 'G_ema.pth'), '--out', join(out, 'c'), ...arch.slice(2, -2), '--G_shared', '--hier']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /does not fit the architecture/);
  r = cli(['sample', '--weights', join(folder, 'G_ema.pth'), '--out', join(out, 'd'), ...arch.slice(0, -1), '3']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /does not fit the architecture/);
  r = cli(['sample', '--weights', join(folder, 'G_ema.pth'), '--out', join(out, 'e'), ...arch.slice(2)]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--G_depth is BigGAN-deep's: add --model biggan_deep/);
  r = cli(['sample', '--weights', folder, '--out', join(out, 'e'), '--model', 'biggan_deep']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--model: a weights folder's architecture comes from its state_dict\.pth/);
});

test('generate() batches give the same images as one forward (eval mode)', () => {
  torch.scope(() => {
    torch.manualSeed(0);
    const G = new BigGANGenerator(arch).eval();
    const z = torch.randn([5, G.dimZ]), y = torch.tensor([0, 1, 2, 0, 1], { dtype: 'int64' });
    assertClose(f32(generate(G, z, y, 2)), f32(generate(G, z, y, 5)), 1e-5, 1e-6);
    G.dispose();
  });
});
