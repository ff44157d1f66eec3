// StyleGAN2 and the reference's weights: `train --model stylegan2 --resume_from X.pkl`
// fine-tunes from an NVIDIA snapshot (its architecture, its G, D and G_ema, fresh
// optimisers), and our checkpoints hold the reference's state_dict keys and shapes, so
// its G.load_state_dict takes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { io } from '../src/index.js';
import { readSafetensorsFileSync } from '../src/io/safetensors.js';
import { toNumbers } from '../src/io/raw.js';
import { readNetworkPickleFile } from '../src/io/nvidia_pickle.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import type { Options } from '../src/config/options.js';
import type { StyleGAN2Recipe } from '../src/families/stylegan2/stylegan2.js';
import { numpySeedLatents } from '../src/cli/latents.js';
import { oneHot } from '../src/families/network.js';
import { cli, tempDir } from './train-helpers.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';

const FIX = (name: string) => fromRoot(`test/fixtures/nvpkl/${name}`);
const E = loadJson<{
  generate: Record<'uncond' | 'cond', { seeds: number[]; trunc: number; class_idx: number | null }>;
  snapshots: Record<'uncond' | 'cond', Record<'G' | 'D', { keys: string[] }>>;
}>('test/fixtures/nvpkl/expected.json');
const REF = readSafetensorsFileSync(FIX('generate.safetensors')).tensors;
const BUFFERS = /(^|\.)(w_avg|noise_const|resample_filter)$/;

function latest(run: string): string {
  const names = io.listCheckpoints(join(run, 'checkpoints'));
  return join(run, 'checkpoints', names[names.length - 1]!);
}

const TINY = ['--data', 'shapes', '--batch', '4', '--workers', '1', '--log_every', '1', '--sample_kimg', '0', '--n_samples', '4', '--G_reg_interval', '2', '--D_reg_interval', '3'];

test('--resume_from: the recipe holds the snapshot\'s G, D and G_ema, and G_ema draws what generate.py drew', () => {
  const def = RECIPES.stylegan2;
  const base: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  const file = FIX('snapshot_cond_p4.pkl');
  const o = def.resolveOptions!({ ...base, model: 'stylegan2', classes: true, resume_from: file }, new Set(['model', 'classes', 'resume_from']));
  // The architecture options come from the pickle's kwargs (--cfg auto would give others).
  assert.deepEqual([o.resolution, o.z_dim, o.w_dim, o.map, o.channel_base, o.channel_max, o.conv_clamp, o.mbstd_group], [16, 32, 32, 2, 256, 32, 256, 4]);
  const r = def.create(o, recipeEnv(o, 3, 'cpu')) as StyleGAN2Recipe;
  const p = readNetworkPickleFile(file);
  try {
    for (const k of ['G', 'D', 'G_ema'] as const) {
      const sd = r.networks()[k].stateDict();
      assert.deepEqual(Object.keys(sd).sort(), Object.keys(p[k]!.stateDict).sort(), `${k} keys`);
      for (const [key, t] of Object.entries(sd)) assert.ok(Buffer.from(t.toBytes()).equals(Buffer.from(p[k]!.stateDict[key]!.data)), `${k}.${key}`);
    }
    // As the trainer starts it (initEma): frozen, in eval mode (in training mode the mapping tracks w_avg).
    r.G_ema.eval();
    const c = E.generate.cond;
    const got = torch.scope(() => {
      const z = numpySeedLatents(c.seeds, [32]);
      const imgs = c.seeds.map((_, i) => torch.noGrad(() => r.G_ema.forward(z.narrow(0, i, 1), oneHot(c.class_idx!, 1, 3), { truncationPsi: c.trunc, noiseMode: 'const' })));
      return Array.from(torch.cat(imgs).toTypedArray() as Float32Array);
    });
    assertClose(got, toNumbers(REF['cond/img']!), 1e-4, 1e-5, 'G_ema from the snapshot, before any step');
  } finally {
    for (const net of Object.values(r.networks())) net.dispose();
    for (const opt of Object.values(r.optimizers())) opt.dispose();
    r.dispose();
  }
  // An option given otherwise than the pickle has it is refused by name.
  assert.throws(() => def.resolveOptions!({ ...base, model: 'stylegan2', resume_from: file, channel_max: 64 }, new Set(['resume_from', 'channel_max'])), /--channel_max 64 clashes with --resume_from .*channel_max 32: leave --channel_max out/);
});

test('train --resume_from trains on from the snapshot: its G_ema kept (not a copy of G), a few steps run', () => {
  const file = FIX('snapshot_uncond_p4.pkl');
  const run = join(tempDir(), 'ft');
  // --ema_beta 1 without ramp-up: G_ema's weights stay the snapshot's, bit for bit.
  const r = cli(['train', '--model', 'stylegan2', ...TINY, '--resume_from', file, '--kimg', '0.012', '--ema_beta', '1', '--ema_rampup', '0', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  const m = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(m.length, 3, 'three steps');
  assert.ok(m.every((row) => Number.isFinite(row.loss_G) && Number.isFinite(row.loss_D)));
  const p = readNetworkPickleFile(file);
  const ema = readSafetensorsFileSync(join(latest(run), 'ema.safetensors')).tensors;
  let differsFromG = 0;
  for (const [k, t] of Object.entries(p.G_ema!.stateDict)) {
    if (BUFFERS.test(k)) continue;
    assert.ok(Buffer.from(ema[k]!.data).equals(Buffer.from(t.data)), `G_ema.${k} is the snapshot's`);
    if (!Buffer.from(t.data).equals(Buffer.from(p.G!.stateDict[k]!.data))) differsFromG++;
  }
  assert.ok(differsFromG > 10, 'the snapshot\'s G and G_ema differ, so the check above can tell them apart');
  // G trained on: its weights moved away from the snapshot's.
  const model = readSafetensorsFileSync(join(latest(run), 'model.safetensors')).tensors;
  assert.ok(!Buffer.from(model['G.synthesis.b16.conv1.weight']!.data).equals(Buffer.from(p.G!.stateDict['synthesis.b16.conv1.weight']!.data)), 'G was trained');
  // The run resumes as any other (the pickle's networks rebuilt, the checkpoint loaded over them).
  const again = cli(['train', '--model', 'stylegan2', '--resume', '--out', run, '--kimg', '0.016']);
  assert.equal(again.status, 0, again.stderr);
  const bad = cli(['train', '--model', 'stylegan2', ...TINY, '--resume_from', file, '--z_dim', '64', '--kimg', '0.004', '--out', join(run, 'x')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--z_dim 64 clashes with --resume_from .*z_dim 32/);
  const cond = cli(['train', '--model', 'stylegan2', ...TINY, '--resume_from', FIX('snapshot_cond_p4.pkl'), '--kimg', '0.004', '--out', join(run, 'y')]);
  assert.equal(cond.status, 2);
  assert.match(cond.stderr, /is conditional on 3 classes/);
});

test("a StyleGAN2 run's checkpoints hold the reference's state_dict keys and shapes (G_ema alone in ema.safetensors)", () => {
  const run = join(tempDir(), 'keys');
  // The fixture snapshot's architecture, given as options (no pickle).
  const r = cli(['train', '--model', 'stylegan2', ...TINY, '--resolution', '16', '--z_dim', '32', '--w_dim', '32', '--map', '2',
    '--channel_base', '256', '--channel_max', '32', '--fp32', '--mbstd_group', '4', '--d_architecture', 'resnet', '--kimg', '0.004', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  const p = readNetworkPickleFile(FIX('snapshot_uncond_p4.pkl'));
  const shapes = (sd: Record<string, { shape: readonly number[] }>, prefix = '') =>
    Object.fromEntries(Object.entries(sd).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), [...t.shape]]));
  const ema = readSafetensorsFileSync(join(latest(run), 'ema.safetensors')).tensors;
  assert.deepEqual(Object.keys(ema).sort(), [...E.snapshots.uncond.G.keys].sort(), 'ema.safetensors: the keys of the reference G.state_dict()');
  assert.deepEqual(shapes(ema), shapes(p.G_ema!.stateDict));
  const model = readSafetensorsFileSync(join(latest(run), 'model.safetensors')).tensors;
  assert.deepEqual(Object.keys(shapes(model, 'G.')).sort(), [...E.snapshots.uncond.G.keys].sort(), 'model.safetensors G.*');
  assert.deepEqual(shapes(model, 'G.'), shapes(p.G!.stateDict));
  assert.deepEqual(Object.keys(shapes(model, 'D.')).sort(), [...E.snapshots.uncond.D.keys].sort(), 'model.safetensors D.*');
  assert.deepEqual(shapes(model, 'D.'), shapes(p.D!.stateDict));
});
