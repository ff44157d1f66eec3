// Standing statistics of a BigGAN generator against BigGAN-PyTorch's
// utils.accumulate_standing_stats, which runs G in training mode: each batch moves every
// spectral norm's u and sv by one power-iteration step, as ours does (trainMode), and with
// --mybn the statistics are reset, summed and divided by accumulation_counter in eval mode.
// Float64, on the reference's own batches. Fixture: test/fixtures/biggan/make_standing_fixture.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { BigGANGenerator, BIGGAN_ARCH_DEFAULTS, type BigGANArch } from '../src/models/biggan.js';
import { accumulateStandingStats } from '../src/train/standing_stats.js';
import { assertClose, assertTensorClose, tensorGroup, fromRoot } from './helpers.js';

const fx = io.loadSafetensors(fromRoot('test/fixtures/biggan/standing.safetensors')).tensors;
const ARCH: BigGANArch = { ...BIGGAN_ARCH_DEFAULTS, resolution: 32, n_classes: 3, G_ch: 2, dim_z: 8, G_attn: '0', G_init: 'N02', SN_eps: 1e-8 };
const BATCHES = 3;

const group = (prefix: string): Record<string, torch.Tensor> => tensorGroup(fx, prefix);
const close = assertTensorClose;

const isSN = (k: string) => /\.(u|sv)\d+$/.test(k);

/** G with the fixture's weights and statistics, in eval mode, after standing statistics on the reference's batches. */
function stood(c: 'mybn' | 'bn'): BigGANGenerator {
  const G = new BigGANGenerator({ ...ARCH, mybn: c === 'mybn' }).to('float64');
  G.loadStateDict(group(`${c}.sd`));
  G.eval();
  let i = 0;
  accumulateStandingStats(G, () => G.generate(fx[`${c}.z${i}`], fx[`${c}.y${i++}`]), { batches: BATCHES, seed: 0, trainMode: true });
  assert.equal(i, BATCHES);
  assert.ok(G.modules().every((m) => !m.training), 'eval mode again afterwards');
  return G;
}

test('--mybn: standing statistics move u and sv and sum the statistics as the reference does; eval mode divides by the count', () => torch.scope(() => {
  const G = stood('mybn');
  const ours = Object.fromEntries(G.namedBuffers());
  const after = group('mybn.after');
  assert.ok(Object.keys(after).some(isSN) && Object.keys(after).some((k) => k.endsWith('accumulation_counter')));
  for (const [k, v] of Object.entries(after)) {
    // The reference's myBN computes its statistics in float32 whatever its input.
    if (isSN(k)) close(ours[k], v, k, 1e-9, 1e-12);
    else close(ours[k], v, k, 1e-5, 1e-6);
  }
  // The power iteration did move: u differs from the state before.
  const sd = group('mybn.sd');
  assert.ok(!ours['linear.u0'].allclose(sd['linear.u0']), 'linear.u0 moved');
  close(torch.noGrad(() => G.generate(fx['mybn.z_eval'], fx['mybn.y_eval'])), fx['mybn.eval_out'], 'eval output', 1e-5, 1e-6);
}));

test('--mybn: after standing statistics, a running average copied in (counter 0) is used as it is, not divided by 0', () => torch.scope(() => {
  const G = stood('mybn');
  // What the trainer's G_ema update does after each step: G's buffers (running averages, counter 0) copied in.
  G.loadStateDict(group('mybn.sd'));
  const fresh = new BigGANGenerator({ ...ARCH, mybn: true }).to('float64');
  fresh.loadStateDict(group('mybn.sd'));
  fresh.eval();
  const gen = (g: BigGANGenerator) => torch.noGrad(() => g.generate(fx['mybn.z_eval'], fx['mybn.y_eval']));
  const out = gen(G);
  assert.ok(out.isfinite().all().item(), 'finite output');
  assert.ok(out.equal(gen(fresh)), 'the same output as a generator that never accumulated');
}));

test('batch norm: standing statistics move u and sv as the reference does', () => torch.scope(() => {
  const G = stood('bn');
  const ours = Object.fromEntries(G.namedBuffers());
  const after = group('bn.after');
  const sd = group('bn.sd');
  const sn = Object.keys(after).filter(isSN);
  assert.ok(sn.length > 10);
  for (const k of sn) close(ours[k], after[k], k, 1e-9, 1e-12);
  assert.ok(!ours['output_layer.2.u0'].allclose(sd['output_layer.2.u0']), 'output_layer.2.u0 moved');
  // The statistics are re-estimated (ours: the mean over the batches; the reference's
  // plain ccbn keeps its momentum of 0.1 instead, see standing_stats.ts).
  assert.ok(!ours['output_layer.0.stored_mean'].allclose(sd['output_layer.0.stored_mean']));
}));
