// `ganforge project` (issue 12, "Projection"): projector.py's optimisation of w and the noise
// maps, on the committed 16 px StyleGAN2 snapshot (test/fixtures/nvpkl), with the pixel +
// multi-scale distance and with a stand-in for NVIDIA's TorchScript vgg16.pt
// (test/fixtures/project/make_lpips_net.py); the w file round-trips through `sample --w`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../src/torch/index.js';
import { readSafetensorsFileSync } from '../src/io/safetensors.js';
import { toNumbers } from '../src/io/raw.js';
import { decodeImage } from '../src/data/image.js';
import { loadNetworkGenerator } from '../src/families/network.js';
import { learningRate, noiseRegularization, project, wNoiseScale, PROJECTOR_DEFAULTS } from '../src/families/projector.js';
import { LpipsDistance, PyramidDistance, featureDistance } from '../src/losses/image_distance.js';
import { fitTarget, videoSteps } from '../src/cli/project.js';
import { numpySeedLatents } from '../src/cli/latents.js';
import { cli, tempDir } from './train-helpers.js';
import { assertClose, fromRoot, gridCell } from './helpers.js';

const PKL = fromRoot('test/fixtures/nvpkl/snapshot_uncond_p4.pkl');
const TARGET = fromRoot('test/fixtures/nvpkl/generate_uncond/seed0085.png');
const VGG = fromRoot('test/fixtures/project/lpips_net.pt');
const LPIPS = readSafetensorsFileSync(fromRoot('test/fixtures/project/lpips_net.safetensors')).tensors;

function mistake(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
}

test("the schedules and the noise regulariser are projector.py's", () => {
  const o = PROJECTOR_DEFAULTS;
  assert.equal(learningRate(0, o), 0);
  assert.ok(Math.abs(learningRate(0.025, o) - 0.05) < 1e-12, 'half-way up the ramp');
  assert.equal(learningRate(0.5, o), 0.1);
  assert.ok(Math.abs(learningRate(0.875, o) - 0.05) < 1e-12, 'half-way down the cosine');
  assert.equal(wNoiseScale(0, 2, o), 2 * 0.05);
  assert.ok(Math.abs(wNoiseScale(0.375, 2, o) - 2 * 0.05 * 0.25) < 1e-12);
  assert.equal(wNoiseScale(0.8, 2, o), 0);

  // The regulariser by hand: a 16² map gives two levels (16², then its 2×2 average 8²).
  const rng = torch.withSeed(3, () => torch.randn([16, 16]).toTypedArray() as Float32Array);
  const level = (x: number[][], n: number): number => {
    let h = 0, v = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        h += x[i]![j]! * x[i]![(j + n - 1) % n]!;
        v += x[i]![j]! * x[(i + n - 1) % n]![j]!;
      }
    }
    return (h / (n * n)) ** 2 + (v / (n * n)) ** 2;
  };
  const x16 = Array.from({ length: 16 }, (_, i) => Array.from({ length: 16 }, (_, j) => rng[i * 16 + j]!));
  const x8 = Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) =>
    (x16[2 * i]![2 * j]! + x16[2 * i]![2 * j + 1]! + x16[2 * i + 1]![2 * j]! + x16[2 * i + 1]![2 * j + 1]!) / 4));
  const want = level(x16, 16) + level(x8, 8);
  const got = torch.scope(() => noiseRegularization([torch.fromTypedArray(rng, [16, 16])]).item());
  assert.ok(Math.abs(got - want) <= 1e-6 * want + 1e-9, `regulariser ${got} vs ${want}`);
  // The pyramid distance is the mean of the levels' MSE in [0, 1].
  torch.scope(() => {
    const a = torch.zeros([1, 3, 16, 16]), b = torch.fullLike(a, 255);
    const d = new PyramidDistance();
    assert.equal(PyramidDistance.levels(16, 16), 3);
    assertClose([featureDistance(d.features(a), d.features(b)).item()], [1], 1e-6, 0);
  });
});

test('the LPIPS stand-in through ScriptModule: the features, the distance and its gradient are the scripted file\'s', () => {
  const live = torch.liveTensors();
  const lpips = LpipsDistance.open(VGG);
  try {
    torch.scope(() => {
      const f = (k: string) => torch.fromTypedArray(Float32Array.from(toNumbers(LPIPS[k]!)), LPIPS[k]!.shape);
      const a = f('a'), b = f('b').requiresGrad_(true);
      const fa = lpips.features(a), fb = lpips.features(b);
      assertClose(Array.from(fa.toTypedArray() as Float32Array), toNumbers(LPIPS.features_a!), 1e-4, 1e-6, 'features of a');
      assertClose(Array.from(fb.detach().toTypedArray() as Float32Array), toNumbers(LPIPS.features_b!), 1e-4, 1e-6, 'features of b');
      const d = featureDistance(fa, fb);
      assertClose([d.item()], toNumbers(LPIPS.dist!), 1e-4, 0, 'distance');
      const [g] = torch.grad(d, b);
      const want = toNumbers(LPIPS.grad_b!);
      const scale = Math.max(...want.map(Math.abs));
      assertClose(Array.from(g!.toTypedArray() as Float32Array), want, 1e-3, 1e-4 * scale, 'd dist / d b through the TorchScript network');
    });
  } finally {
    lpips.dispose();
  }
  assert.equal(torch.liveTensors(), live, 'nothing leaks');
});

test('projecting a sample of the model itself converges: the distance falls far below its start, the noise maps stay normalised', () => {
  const net = loadNetworkGenerator(PKL);
  const live = torch.liveTensors();
  try {
    const G = net.style;
    torch.scope(() => {
      // The target: seed 85 through the network with its stored noise, in [0, 255].
      const target = torch.noGrad(() => G.synthesis(G.mapping(numpySeedLatents([85], [G.zDim]), null, 1, null), 'const')).add(1).mul(255 / 2).clamp(0, 255);
      const steps: number[] = [];
      const p = project(G, target, new PyramidDistance(), { numSteps: 150, wAvgSamples: 1000, keepSteps: new Set([0, 149]), onStep: (s) => steps.push(s.step) });
      assert.deepEqual(p.w.shape, [1, G.numWs, G.wDim]);
      assert.equal(steps.length, 150);
      assert.ok(p.kept.get(149)!.equal(p.w), 'the last kept w is the result');
      const [d0, d1] = [p.dist[0]!, p.dist[149]!];
      assert.ok(d1 < 0.1 * d0, `distance ${d0} → ${d1}`);
      const head = p.loss.slice(0, 10).reduce((a, b) => a + b) / 10, tail = p.loss.slice(-10).reduce((a, b) => a + b) / 10;
      assert.ok(tail < head / 5, `loss ${head} → ${tail}`);
      for (const [k, m] of G.noiseMaps()) {
        assert.equal(m.requiresGrad, false, `${k} is a plain buffer again`);
        assert.ok(Math.abs(m.mean().item()) < 1e-5 && Math.abs(m.square().mean().item() - 1) < 1e-4, `${k} has zero mean and unit variance`);
      }
      // The projected image (with the optimised maps) is far closer to the target than the
      // first step's w is. (150 steps of the pixel distance on this random 16 px network
      // leave tens of levels; projector.py's default is 1000 steps of LPIPS.)
      const rms = (w: torch.Tensor): number => Math.sqrt(torch.noGrad(() => G.synthesis(w, 'const')).add(1).mul(255 / 2).sub(target).square().mean().item());
      const [rmse0, rmse] = [rms(p.kept.get(0)!), rms(p.w)];
      assert.ok(rmse < rmse0 / 2, `RMS error ${rmse0} → ${rmse} levels (distance ${d0} → ${d1})`);
    });
    assert.equal(torch.liveTensors(), live, 'the projection frees what it makes');
  } finally {
    net.dispose();
  }
});

test('project --network writes target, projection, w and an animation; sample --w draws proj.png again; --vgg gives LPIPS', async () => {
  const dir = tempDir('gf-project-');
  const out = join(dir, 'proj');
  const r = cli(['project', '--network', PKL, '--target', TARGET, '--outdir', out, '--num_steps', '60', '--w_avg_samples', '500', '--save_video', '--video_frames', '5']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^note: no --vgg, so the distance is pixel \+ multi-scale L2/m);
  const m = /distance ([\d.e+-]+) → ([\d.e+-]+) in 60 steps/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[2]) < Number(m[1]) / 3, `distance ${m[1]} → ${m[2]}`);
  const { tensors, metadata } = readSafetensorsFileSync(join(out, 'projected_w.safetensors'));
  assert.deepEqual(tensors.w!.shape, [1, 6, 32]);
  assert.equal(tensors.w!.dtype, 'float32');
  const w = toNumbers(tensors.w!);
  for (let l = 1; l < 6; l++) assert.deepEqual(w.slice(l * 32, (l + 1) * 32), w.slice(0, 32), `layer ${l} has the same w`);
  const maps = Object.keys(tensors).filter((k) => k !== 'w');
  assert.ok(maps.length === 5 && maps.every((k) => /^synthesis\.b\d+\.conv[01]\.noise_const$/.test(k)), maps.join(', '));
  assert.equal(metadata.format, 'ganforge-w');
  const [target, fitted] = await Promise.all([decodeImage(TARGET), decodeImage(join(out, 'target.png'))]);
  assert.ok(Buffer.from(target.data).equals(Buffer.from(fitted.data)), 'a target of the right size is kept as it is');
  const gif = await sharp(join(out, 'proj.gif')).metadata();
  assert.deepEqual([gif.pages, gif.width, gif.pageHeight ?? gif.height], [5, 32, 16]);

  // The w file back through sample --w: the same image, byte for byte (the file's noise maps).
  const again = join(dir, 'again');
  const s = cli(['sample', '--network', PKL, '--w', join(out, 'projected_w.safetensors'), '--out', again]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /the file's 5 noise maps/);
  const [proj, redrawn] = await Promise.all([decodeImage(join(out, 'proj.png')), decodeImage(join(again, 'w0000.png'))]);
  assert.ok(Buffer.from(proj.data).equals(Buffer.from(redrawn.data)), 'sample --w reproduces proj.png');
  // With the network's own noise maps instead (--noise random differs again): not the same image.
  const rand = join(dir, 'random');
  assert.equal(cli(['sample', '--network', PKL, '--w', join(out, 'projected_w.safetensors'), '--noise', 'random', '--out', rand]).status, 0);
  assert.ok(!Buffer.from((await decodeImage(join(rand, 'w0000.png'))).data).equals(Buffer.from(proj.data)));

  // A walk between two projections: its stops are their proj.png (their noise maps too).
  const out2 = join(dir, 'proj2');
  assert.equal(cli(['project', '--network', PKL, '--target', fromRoot('test/fixtures/nvpkl/generate_uncond/seed0000.png'), '--outdir', out2, '--num_steps', '20', '--w_avg_samples', '300']).status, 0);
  const walk = join(dir, 'walk.png');
  const wr = cli(['interpolate', '--network', PKL, '--w', `${join(out, 'projected_w.safetensors')},${join(out2, 'projected_w.safetensors')}`, '--steps', '2', '--out', walk]);
  assert.equal(wr.status, 0, wr.stderr);
  assert.match(wr.stdout, /their noise maps blended/);
  const strip = await decodeImage(walk);
  const proj2 = await decodeImage(join(out2, 'proj.png'));
  assert.ok(Buffer.from(gridCell(strip, 0, 0, 2, 16).data).equals(Buffer.from(proj.data)), 'the walk starts on the first projection');
  assert.ok(Buffer.from(gridCell(strip, 2, 0, 2, 16).data).equals(Buffer.from(proj2.data)), 'and ends on the second');

  // The outputs are not overwritten without --force.
  mistake(cli(['project', '--network', PKL, '--target', TARGET, '--outdir', out, '--num_steps', '2']), /exists: use --force/);

  // LPIPS through the stand-in network: the distance falls too.
  const v = cli(['project', '--network', PKL, '--target', TARGET, '--outdir', join(dir, 'vgg'), '--num_steps', '40', '--w_avg_samples', '500', '--vgg', VGG]);
  assert.equal(v.status, 0, v.stderr);
  assert.doesNotMatch(v.stderr, /note: no --vgg/);
  assert.match(v.stderr, /distance: LPIPS with .*lpips_net\.pt/);
  const mv = /distance ([\d.e+-]+) → ([\d.e+-]+) in 40 steps/.exec(v.stdout)!;
  assert.ok(Number(mv[2]) < 0.75 * Number(mv[1]), `LPIPS distance ${mv[1]} → ${mv[2]}`);
});

test('project: mistakes are one line (missing or wrong-size target, no outdir, a file that is no vgg16.pt)', async () => {
  const dir = tempDir('gf-project-');
  const odd = join(dir, 'odd.png');
  await sharp(Buffer.alloc(20 * 12 * 3, 128), { raw: { width: 20, height: 12, channels: 3 } }).png().toFile(odd);
  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'not a network');
  const o = join(dir, 'o');
  mistake(cli(['project', '--network', PKL, '--outdir', o]), /project needs --target IMAGE/);
  mistake(cli(['project', '--network', PKL, '--target', join(dir, 'nope.png'), '--outdir', o]), /--target .*nope\.png: no such file/);
  mistake(cli(['project', '--network', PKL, '--target', TARGET]), /project --network needs --outdir DIR/);
  mistake(cli(['project', '--target', TARGET, '--outdir', o]), /project needs --network X\.pkl or --run DIR/);
  mistake(cli(['project', '--network', PKL, '--target', odd, '--outdir', o, '--resize', 'false']), /--target .*odd\.png is 20×12, the generator draws 16×16/);
  mistake(cli(['project', '--network', PKL, '--target', TARGET, '--outdir', o, '--vgg', notes]), /--vgg .*notes\.txt is not a TorchScript file/);
  mistake(cli(['project', '--network', PKL, '--target', TARGET, '--outdir', o, '--fps', '5']), /--fps applies with --save_video/);
  mistake(cli(['sample', '--network', PKL, '--w', notes, '--out', o]), /--w .*notes\.txt: a w file must be \.safetensors/);
  mistake(cli(['sample', '--network', PKL, '--w', TARGET, '--seeds', '1', '--out', o]), /--seeds shapes how latents become w; --w gives w itself/);
  // A w of another network's size.
  const wrong = join(dir, 'wrong.npy');
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 32), }";
  const h = Buffer.from(header + ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n');
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(h.length, 8);
  writeFileSync(wrong, Buffer.concat([pre, h, Buffer.alloc(4 * 32 * 4)]));
  mistake(cli(['sample', '--network', PKL, '--w', wrong, '--out', o]), /w has shape \[1, 4, 32\]; .* takes w of \[N, 6, 32\]/);
});

test("a target of another shape is fitted as projector.py fits it: the centre crop at the generator's aspect, then resized", async () => {
  // 40 × 20 with black side quarters and a white centre: the square crop keeps only white.
  const data = new Uint8Array(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 10; x < 30; x++) data.fill(255, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
  const sq = await fitTarget({ data, width: 40, height: 20, channels: 3 }, 16, 16);
  assert.deepEqual([sq.width, sq.height], [16, 16]);
  assert.ok(sq.data.every((v) => v === 255), 'the centre square, resized');
  // A non-square generator (32 × 16) takes the whole of a 2:1 image.
  const wide = await fitTarget({ data, width: 40, height: 20, channels: 3 }, 32, 16);
  assert.deepEqual([wide.width, wide.height], [32, 16]);
  assert.ok(wide.data[0] === 0 && wide.data[(8 * 32 + 16) * 3] === 255, 'the black sides are kept');
  assert.deepEqual(videoSteps(1000, 4), [249, 499, 749, 999]);
  assert.deepEqual(videoSteps(3, 100), [0, 1, 2]);
  assert.ok(readFileSync(TARGET).length > 0);
});

test("against projector.py's own project() (test/fixtures/project/make_projection.py): the same w after each step", () => {
  const F = readSafetensorsFileSync(fromRoot('test/fixtures/project/projection.safetensors')).tensors;
  const [numSteps, wAvgSamples, seed] = ['num_steps', 'w_avg_samples', 'seed'].map((k) => toNumbers(F[k]!)[0]!);
  const net = loadNetworkGenerator(PKL);
  const lpips = LpipsDistance.open(VGG);
  try {
    torch.scope(() => {
      const target = torch.fromTypedArray(Float32Array.from(toNumbers(F.target!)), [1, 3, 16, 16]);
      const all = new Set(Array.from({ length: numSteps! }, (_, i) => i));
      const p = project(net.style, target, lpips, { numSteps, wAvgSamples, seed, keepSteps: all });
      const want = toNumbers(F.w_steps!);
      const D = net.style.wDim;
      const scale = Math.max(...want.map(Math.abs));
      for (const s of all) {
        const got = Array.from(p.kept.get(s)!.select(1, 0).reshape([D]).toTypedArray() as Float32Array);
        assertClose(got, want.slice(s * D, (s + 1) * D), 1e-3, 1e-4 * scale, `w after step ${s}`);
      }
    });
  } finally {
    lpips.dispose();
    net.dispose();
  }
});
