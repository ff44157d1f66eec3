/**
 * NVIDIA network pickles read without running them: snapshots written by
 * stylegan2-ada-pytorch's own training-loop code (test/fixtures/nvpkl/make_fixtures.py)
 * give the reference's state_dict() (keys, order, bytes) and init kwargs; pickles that
 * would run code in Python are refused, naming the global. TensorFlow StyleGAN2 pickles
 * (written by the fixture script from the same weights) convert to what the reference's
 * own legacy.py makes of them.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type NetworkPickle, readNetworkPickle, readNetworkPickleFile } from '../src/io/nvidia_pickle.js';
import { readSafetensorsFileSync } from '../src/io/safetensors.js';
import { setupFilter } from '../src/io/tf_stylegan2.js';
import { toNumbers } from '../src/io/raw.js';
import { assertClose, fromRoot, repoRoot } from './helpers.js';
import * as torch from '../src/torch/index.js';
import { io } from '../src/index.js';
import { StyleGANDiscriminator, StyleGANGenerator } from '../src/models/stylegan.js';

const DIR = path.join(repoRoot(), 'test/fixtures/nvpkl');
const fixture = (name: string) => path.join(DIR, name);

interface NetInfo { class_name: string; init_args: unknown[]; init_kwargs: Record<string, unknown>; keys: string[] }
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as {
  snapshots: Record<string, Record<string, NetInfo> & { training_set_kwargs: unknown }>;
  malicious: string[];
  malicious_marker: string;
};

const NETS = ['G', 'D', 'G_ema', 'augment_pipe'] as const;

function checkSnapshot(p: NetworkPickle, tag: string, file: string): void {
  const want = expected.snapshots[tag]!;
  const ref = readSafetensorsFileSync(fixture(`state_${tag}.safetensors`)).tensors;
  assert.equal(p.source, 'pytorch');
  assert.deepEqual(p.training_set_kwargs, want.training_set_kwargs, `${file} training_set_kwargs`);
  let total = 0;
  for (const net of NETS) {
    const got = p[net]!;
    const w = want[net] as NetInfo;
    assert.equal(got.className, w.class_name, `${file} ${net} class`);
    assert.deepEqual(got.initArgs, w.init_args, `${file} ${net} init args`);
    assert.deepEqual(got.initKwargs, w.init_kwargs, `${file} ${net} init kwargs`);
    assert.deepEqual(Object.keys(got.stateDict), w.keys, `${file} ${net}: state_dict() keys in order`);
    for (const k of w.keys) {
      const a = got.stateDict[k]!;
      const b = ref[`${net}/${k}`]!;
      assert.equal(a.dtype, b.dtype, `${net}.${k} dtype`);
      assert.deepEqual(a.shape, b.shape, `${net}.${k} shape`);
      assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${file} ${net}.${k}: bytes differ from the reference's state_dict()`);
      total++;
    }
  }
  assert.ok(total > 100, `compared ${total} tensors`);
}

test('snapshots pickled with protocol 3 and 4 give the reference state_dict() and init kwargs', () => {
  checkSnapshot(readNetworkPickleFile(fixture('snapshot_uncond_p3.pkl')), 'uncond', 'p3');
  checkSnapshot(readNetworkPickleFile(fixture('snapshot_uncond_p4.pkl')), 'uncond', 'p4');
});

test('a conditional snapshot: label embedding, conditional D mapping, numpy scalars in the kwargs', () => {
  const p = readNetworkPickleFile(fixture('snapshot_cond_p4.pkl'));
  checkSnapshot(p, 'cond', 'cond');
  assert.equal((p.G!.initKwargs.mapping_kwargs as Record<string, unknown>).lr_multiplier, 0.01); // was numpy.float64
  assert.equal((p.training_set_kwargs as Record<string, unknown>).max_size, 100); // was numpy.int64
  assert.ok('mapping.embed.weight' in p.G!.stateDict);
  assert.ok('mapping.fc7.weight' in p.D!.stateDict, "D's label mapping keeps 8 layers");
});

test('the nested storage blobs are read, and tensors sharing a storage are not confused', () => {
  const p = readNetworkPickleFile(fixture('snapshot_uncond_p4.pkl'));
  // G and G_ema differ everywhere (the fixture perturbs G_ema), D has its own tensors.
  const g = p.G!.stateDict['synthesis.b8.conv0.weight']!;
  const e = p.G_ema!.stateDict['synthesis.b8.conv0.weight']!;
  assert.deepEqual(g.shape, e.shape);
  assert.ok(!Buffer.from(g.data).equals(Buffer.from(e.data)));
  assert.deepEqual(p.G!.stateDict['mapping.w_avg']!.shape, [32]);
});

function refusal(bytes: Uint8Array, name: string, global: RegExp): void {
  assert.throws(() => readNetworkPickle(bytes, name), (e: Error) => {
    assert.match(e.message, global);
    assert.match(e.message, /refusing pickle global/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('pickles that would run code are refused, naming the global, and nothing runs', () => {
  const marker = expected.malicious_marker;
  const cases: Record<string, RegExp> = {
    'malicious_os_system.pkl': /'os\.system'/,
    'malicious_posix_system.pkl': /'posix\.system'/,
    'malicious_exec.pkl': /'builtins\.exec'/,
    'malicious_unknown_class.pkl': /'__main__\.Payload'/,
    'malicious_nested_blob.pkl': /'os\.system'/,
  };
  assert.deepEqual(Object.keys(cases).sort(), [...expected.malicious].sort());
  for (const [name, global] of Object.entries(cases)) refusal(new Uint8Array(fs.readFileSync(fixture(name))), name, global);
  // A real snapshot with one global swapped for another (protocol 3 spells globals as text).
  const real = fs.readFileSync(fixture('snapshot_uncond_p3.pkl'));
  const at = real.indexOf('ctorch._utils\n_rebuild_parameter\n');
  assert.ok(at > 0);
  const swapped = Buffer.concat([real.subarray(0, at), Buffer.from('csubprocess\nPopen\n'), real.subarray(at + 'ctorch._utils\n_rebuild_parameter\n'.length)]);
  refusal(swapped, 'swapped.pkl', /'subprocess\.Popen'/);
  assert.ok(!fs.existsSync(marker), `${marker} exists: something ran`);
});

test('pickles that are not network pickles get clear errors', () => {
  const proto = (body: string) => Buffer.concat([Buffer.from([0x80, 0x03]), Buffer.from(body, 'latin1')]);
  assert.throws(() => readNetworkPickle(proto(']\x2e'), 'list.pkl'), /list\.pkl: not a network pickle \(the top level is not a dict\)/);
  // {'D': None}: no G.
  assert.throws(() => readNetworkPickle(proto('}X\x01\x00\x00\x00DNs.'), 'nog.pkl'), /nog\.pkl: no 'G' network in the pickle \(keys: D\)/);
  // {'G': 1}
  assert.throws(() => readNetworkPickle(proto('}X\x01\x00\x00\x00GK\x01s.'), 'int.pkl'), /int\.pkl: G is not a persistent network object/);
  const real = new Uint8Array(fs.readFileSync(fixture('snapshot_uncond_p4.pkl')));
  assert.throws(() => readNetworkPickle(real.subarray(0, real.byteLength >> 1), 'half.pkl'), /half\.pkl: pickle: truncated/);
  assert.throws(() => readNetworkPickleFile(fixture('missing.pkl')), /cannot read .*missing\.pkl/);
});

// ------------------------------------------------------------------------------------
// TensorFlow StyleGAN2 pickles, converted as legacy.py converts them.
// ------------------------------------------------------------------------------------

const tfExpected = (JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as { tf: Record<string, Omit<NetInfo, 'init_args'>> }).tf;

test("a TensorFlow (G, D, Gs) pickle gives what the reference's legacy.py converts it to", () => {
  const p = readNetworkPickleFile(fixture('tf_stylegan2.pkl'));
  const ref = readSafetensorsFileSync(fixture('tf_state.safetensors')).tensors;
  assert.equal(p.source, 'tensorflow');
  assert.equal(p.augment_pipe, null);
  assert.equal(p.training_set_kwargs, null);
  for (const net of ['G', 'D', 'G_ema'] as const) {
    const got = p[net]!;
    const w = tfExpected[net]!;
    assert.equal(got.className, w.class_name);
    assert.deepEqual(got.initKwargs, w.init_kwargs, `${net} init kwargs (fmap_base·2 → channel_base, defaults as legacy.py's)`);
    assert.deepEqual(Object.keys(got.stateDict), w.keys, `${net}: state_dict() keys in order`);
    for (const k of w.keys) {
      const a = got.stateDict[k]!;
      const b = ref[`${net}/${k}`]!;
      assert.deepEqual([a.dtype, a.shape], [b.dtype, b.shape], `${net}.${k}`);
      assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${net}.${k}: values differ from legacy.py's`);
    }
  }
  // The snapshot and the TF pickle were made from the same weights: same keys for G.
  const snap = readNetworkPickleFile(fixture('snapshot_uncond_p3.pkl'));
  assert.deepEqual(Object.keys(p.G!.stateDict), Object.keys(snap.G!.stateDict));
});

test('TensorFlow pickles with unknown kwargs, missing variables or an old version are refused', () => {
  const bytes = fs.readFileSync(fixture('tf_stylegan2.pkl'));
  // Same-length edits keep every length prefix valid.
  const edit = (from: string | Buffer, to: string | Buffer): Buffer => {
    const f = Buffer.from(from), t = Buffer.from(to);
    const at = bytes.indexOf(f);
    assert.ok(at >= 0 && f.length === t.length, `found ${String(from)}`);
    return Buffer.concat([bytes.subarray(0, at), t, bytes.subarray(at + f.length)]);
  };
  assert.throws(() => readNetworkPickle(edit('structure', 'strukture'), 'k.pkl'), /k\.pkl: G\.static_kwargs: unknown TensorFlow kwarg 'strukture'/);
  assert.throws(() => readNetworkPickle(edit('dlatent_avg', 'dlatent_avX'), 'v.pkl'), /v\.pkl: G: TensorFlow variable 'dlatent_avg' is missing/);
  // The first Network's version: BININT1 4 shortly after the key (a memo PUT may sit between).
  const at = bytes.indexOf('version') + 'version'.length;
  const k = bytes.indexOf(Buffer.from([0x4b, 4]), at);
  assert.ok(k > 0 && k - at < 8);
  const old = Buffer.from(bytes);
  old[k + 1] = 3;
  assert.throws(() => readNetworkPickle(old, 'o.pkl'), /o\.pkl: G: TensorFlow pickle version 3 is too low/);
});

test("'orig' TensorFlow networks file their image layers per level of detail (FromRGB_lod<k>)", () => {
  const bytes = fs.readFileSync(fixture('tf_stylegan2.pkl'));
  // Protocol 3 has no frames: a string may change length with its own length prefix.
  const str = (x: string) => Buffer.concat([Buffer.from([0x58]), Buffer.from(new Uint32Array([x.length]).buffer), Buffer.from(x)]);
  let b = bytes;
  for (const part of ['weight', 'bias']) {
    const at = b.indexOf(str(`16x16/FromRGB/${part}`));
    assert.ok(at > 0);
    b = Buffer.concat([b.subarray(0, at), str(`FromRGB_lod0/${part}`), b.subarray(at + str(`16x16/FromRGB/${part}`).length)]);
  }
  const orig = readNetworkPickle(b, 'orig.pkl').D!;
  const resnet = readNetworkPickleFile(fixture('tf_stylegan2.pkl')).D!;
  assert.equal(orig.initKwargs.architecture, 'orig');
  assert.ok(Buffer.from(orig.stateDict['b16.fromrgb.weight']!.data).equals(Buffer.from(resnet.stateDict['b16.fromrgb.weight']!.data)));
  assert.ok(!('b16.skip.weight' in orig.stateDict) && 'b16.skip.weight' in resnet.stateDict, "'orig' blocks have no skip");
});

test('resample filters are rebuilt as upfirdn2d.setup_filter builds them', () => {
  const f = setupFilter([1, 3, 3, 1], 'f');
  assert.deepEqual(f.shape, [4, 4]);
  assert.deepEqual(toNumbers(f), [1, 3, 3, 1].flatMap((a) => [1, 3, 3, 1].map((b) => (a * b) / 64)));
  const sep = setupFilter([1, 1, 1, 1, 1, 1, 1, 1], 'f8');
  assert.deepEqual(sep.shape, [8], 'eight taps or more stay separable');
  assert.deepEqual(toNumbers(sep), Array(8).fill(0.125));
  assert.deepEqual(toNumbers(setupFilter([[1, 2], [3, 2]], 'f2')), [0.125, 0.25, 0.375, 0.25]);
  assert.throws(() => setupFilter(['a'] as never, 'bad'), /bad: resample filter \["a"\] is not a list of numbers/);
});

test('a TensorFlow StyleGAN (v1) pickle gives our StyleGAN model its weights, and the original\'s images', () => {
  const p = readNetworkPickleFile(fixture('tf_stylegan1.pkl'));
  assert.equal(p.source, 'tensorflow');
  assert.equal(p.family, 'stylegan');
  assert.equal(p.G!.className, 'G_style');
  assert.equal(p.D!.className, 'D_basic');
  assert.equal(p.G!.initKwargs.resolution, 128);
  const { tensors: t } = io.loadSafetensors(fromRoot('test/fixtures/stylegan/stylegan_small.safetensors'));
  const camel = (kw: Record<string, unknown>) => Object.fromEntries(Object.entries(kw).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
  const G = new StyleGANGenerator(camel(p.G_ema!.initKwargs) as never);
  const D = new StyleGANDiscriminator(camel(p.D!.initKwargs) as never);
  try {
    // Every key the models have, no other ('lod' variables dropped), and the same values as the fixture.
    for (const [net, model, prefix] of [['G_ema', G, 'G.'], ['D', D, 'D.']] as const) {
      const sd = p[net]!.stateDict;
      assert.deepEqual(Object.keys(sd).sort(), Object.keys(model.stateDict()).sort(), `${net} keys`);
      for (const [k, v] of Object.entries(sd)) {
        assert.deepEqual(v.shape, t[prefix + k]!.shape, k);
        assert.ok(Buffer.from(v.data).equals(Buffer.from(t[prefix + k]!.toBytes())), `${net}.${k}`);
      }
      model.loadStateDict(io.toTensors(sd));
    }
    G.eval();
    torch.scope(() => {
      const img = G.forward(t.z!, t.g_labels!, { randomizeNoise: false, truncationPsi: 0.7 });
      assertClose(Array.from(img.toTypedArray() as Float32Array), Array.from(t.images_lod0!.toTypedArray() as Float32Array), 1e-4, 5e-5, 'G_style from the TF pickle');
      const scores = D.forward(t.real!, t.d_labels!, { lod: 0 });
      assertClose(Array.from(scores.toTypedArray() as Float32Array), Array.from(t.scores_lod0!.toTypedArray() as Float32Array), 1e-4, 5e-5, 'D_basic from the TF pickle');
    });
  } finally {
    G.dispose();
    D.dispose();
    for (const v of Object.values(t)) v.dispose();
  }
});
