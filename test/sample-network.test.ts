// `ganforge sample --network X.pkl`: NVIDIA network pickles drawn as generate.py draws
// them. The fixtures (test/fixtures/nvpkl/make_fixtures.py) hold generate.py's own PNGs
// and float images for the same seeds, ψ and class.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { readSafetensorsFileSync } from '../src/io/safetensors.js';
import { toNumbers } from '../src/io/raw.js';
import { decodeImage } from '../src/data/image.js';
import { numpySeedLatents } from '../src/cli/latents.js';
import { loadNetworkGenerator, oneHot } from '../src/families/network.js';
import { cli, tempDir } from './train-helpers.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';

const FIX = (name: string) => fromRoot(`test/fixtures/nvpkl/${name}`);
interface GenerateCase { seeds: number[]; trunc: number; noise_mode: string; class_idx: number | null; files: string[]; dir: string }
const E = loadJson<{ generate: Record<'uncond' | 'cond', GenerateCase> }>('test/fixtures/nvpkl/expected.json');
const REF = readSafetensorsFileSync(FIX('generate.safetensors')).tensors;

function mistake(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
}

/** The float images of `file`'s G_ema for the case's seeds, ψ, class and noise, one seed at a time. */
function render(file: string, c: GenerateCase): Float32Array {
  const G = loadNetworkGenerator(file);
  try {
    return torch.scope(() => {
      const z = numpySeedLatents(c.seeds, [G.zDim]);
      const imgs = c.seeds.map((_, i) => G.render(z.narrow(0, i, 1), c.class_idx !== null ? oneHot(c.class_idx, 1, G.cDim) : null, c.trunc, null, c.noise_mode as 'const'));
      return torch.cat(imgs).toTypedArray() as Float32Array;
    });
  } finally {
    G.dispose();
  }
}

for (const kind of ['uncond', 'cond'] as const) {
  test(`sample --network (${kind}) writes generate.py's PNGs for the same seeds, ψ and class`, async () => {
    const c = E.generate[kind];
    const out = join(tempDir('gf-net-'), 'out');
    const args = ['sample', '--network', FIX(`snapshot_${kind}_p4.pkl`), '--seeds', c.seeds.join(','), '--trunc', String(c.trunc), '--noise_mode', c.noise_mode, '--out', out];
    if (c.class_idx !== null) args.push('--class', String(c.class_idx));
    const r = cli(args);
    assert.equal(r.status, 0, r.stderr);
    let differing = 0, total = 0;
    for (const f of c.files) {
      const ours = await decodeImage(readFileSync(join(out, f)));
      const theirs = await decodeImage(readFileSync(FIX(`${c.dir}/${f}`)));
      assert.deepEqual([ours.width, ours.height, ours.channels], [theirs.width, theirs.height, theirs.channels], f);
      for (let i = 0; i < ours.data.length; i++) {
        const d = Math.abs(ours.data[i]! - theirs.data[i]!);
        assert.ok(d <= 1, `${f}: byte ${i} differs by ${d} levels`);
        differing += d;
        total++;
      }
    }
    // Float rounding differs across CPUs: a level's step on a tiny fraction of pixels at most.
    assert.ok(differing <= total * 0.01, `${differing} of ${total} bytes differ by a level`);
    // The float images themselves, before quantisation.
    const ref = toNumbers(REF[`${kind}/img`]!);
    assertClose(Array.from(render(FIX(`snapshot_${kind}_p4.pkl`), c)), ref, 1e-4, 1e-5, `${kind} images`);
  });
}

test("the TensorFlow StyleGAN2 pickle draws the same images as the PyTorch snapshot of the same weights", () => {
  const c = { ...E.generate.uncond, class_idx: null };
  const tf = render(FIX('tf_stylegan2.pkl'), c);
  const pt = render(FIX('snapshot_uncond_p3.pkl'), c);
  assertClose(Array.from(tf), Array.from(pt), 1e-4, 1e-5, 'TF-converted vs PyTorch G_ema');
});

test('sample --network: generate.py\'s class rule, --z FILE, a StyleGAN (v1) pickle, and mistakes refused in one line', async () => {
  const dir = tempDir('gf-net-');
  mistake(cli(['sample', '--network', FIX('snapshot_cond_p4.pkl'), '--seeds', '1', '--out', dir]), /conditional network \(3 classes\): give --class K/);
  mistake(cli(['sample', '--network', FIX('snapshot_uncond_p4.pkl'), '--seeds', '1', '--class', '0', '--out', dir]), /--class applies to conditional networks/);
  mistake(cli(['sample', '--network', FIX('snapshot_cond_p4.pkl'), '--seeds', '1', '--class', '3', '--out', dir]), /--class 3: .* has classes 0 to 2/);
  mistake(cli(['sample', '--network', FIX('snapshot_uncond_p4.pkl'), '--out', dir]), /needs --seeds/);
  mistake(cli(['sample', '--network', FIX('snapshot_uncond_p4.pkl'), '--seeds', '1', '--n', '4', '--out', dir]), /--n applies to --run/);
  mistake(cli(['sample', '--network', FIX('malicious_os_system.pkl'), '--seeds', '1', '--out', dir]), /malicious_os_system\.pkl/);
  mistake(cli(['sample', '--network', FIX('tf_stylegan1.pkl'), '--seeds', '1', '--class', '0', '--noise', 'none', '--out', dir]), /--noise none: .*StyleGAN \(v1\)/);

  // --z FILE: generate.py's z for the seeds, from a file, gives generate.py's images.
  const z = REF['uncond/z']!;
  const zFile = join(dir, 'z.npy');
  const header = `{'descr': '${z.dtype === 'float64' ? '<f8' : '<f4'}', 'fortran_order': False, 'shape': (${z.shape[0]}, ${z.shape[1]}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = Buffer.from(header + ' '.repeat(pad % 64) + '\n');
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(h.length, 8);
  writeFileSync(zFile, Buffer.concat([pre, h, Buffer.from(z.data)]));
  const outZ = join(dir, 'fromz');
  const r = cli(['sample', '--network', FIX('snapshot_uncond_p4.pkl'), '--z', zFile, '--trunc', '0.7', '--out', outZ]);
  assert.equal(r.status, 0, r.stderr);
  const a = await decodeImage(readFileSync(join(outZ, 'z0001.png')));
  const b = await decodeImage(readFileSync(FIX('generate_uncond/seed0085.png')));
  assert.ok(a.data.every((v, i) => Math.abs(v - b.data[i]!) <= 1), 'row 1 of --z draws seed 85\'s image');
  // Existing images are not overwritten without --force.
  mistake(cli(['sample', '--network', FIX('snapshot_uncond_p4.pkl'), '--z', zFile, '--out', outZ]), /exists: use --force/);

  // StyleGAN (v1, TensorFlow) into our StyleGAN model: same seed → same image, run twice; the class changes it.
  const v1 = (cls: string, out: string) => cli(['sample', '--network', FIX('tf_stylegan1.pkl'), '--seeds', '5', '--trunc', '0.7', '--class', cls, '--out', join(dir, out)]);
  for (const [cls, out] of [['0', 'v1a'], ['0', 'v1b'], ['1', 'v1c']]) assert.equal(v1(cls!, out!).status, 0);
  const [i1, i2, i3] = await Promise.all(['v1a', 'v1b', 'v1c'].map((d) => decodeImage(readFileSync(join(dir, d, 'seed0005.png')))));
  assert.deepEqual([i1!.width, i1!.channels], [128, 3]);
  assert.ok(Buffer.from(i1!.data).equals(Buffer.from(i2!.data)), 'const noise: the same image twice');
  assert.ok(!Buffer.from(i1!.data).equals(Buffer.from(i3!.data)), 'another class, another image');
});
