// --precision bf16: libtorch's CPU autocast with our policy (native/autocast.cc), scoped by
// torch.autocast and applied by the training loop around each phase's forward pass and
// loss. Checked here: which ops compute in which type; that weights, gradients and
// optimiser state stay fp32; that one bf16 step's gradients are the fp32 step's within
// bf16's rounding, penalties with double backprop (R1, WGAN-GP) included; that a tiny bf16
// run learns; that a step leaks no tensor; and what config.json, checkpoints and resume
// make of the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { F } from '../src/torch/index.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { PhaseRunner } from '../src/train/phase.js';
import { train } from '../src/train/trainer.js';
import { bf16ConvRuns, withPrecision, type Precision } from '../src/train/precision.js';
import { loadCheckpoint, listCheckpoints } from '../src/io/checkpoint.js';
import type { Options } from '../src/config/options.js';
import type { Recipe } from '../src/train/recipe.js';
import type { TensorBatch } from '../src/data/index.js';
import { cli, cliErrorInProcess, tempDir } from './train-helpers.js';

// Where oneDNN cannot run bf16 convolutions (CPUs without AVX-512), --precision bf16 is
// refused (the last test); the tests of what it computes are skipped there.
const bf16Test = (name: string, fn: () => void | Promise<void>): void => {
  test(name, { skip: bf16ConvRuns() ? false : 'libtorch cannot run bf16 convolutions on this CPU' }, fn);
};

bf16Test('autocast(bf16) lowers convolutions, transposed convolutions and matrix products, keeps reductions, layer norm, softmax and losses in fp32; batch norm in its input\'s type', () => {
  torch.scope(() => {
    torch.manualSeed(1);
    const x = torch.randn([2, 4, 8, 8]);
    const w = torch.randn([6, 4, 3, 3]);
    const wt = torch.randn([4, 5, 4, 4]);
    const m = torch.randn([3, 4]);
    const v = torch.randn([5, 4]);
    const seen = torch.autocast('bf16', () => {
      const y = F.conv2d(x, w, null, { padding: 1 });
      return {
        state: torch.autocastState().enabled,
        conv2d: y.dtype,
        convTranspose2d: F.convTranspose2d(x, wt, null, { stride: 2, padding: 1 }).dtype,
        linear: F.linear(v, m).dtype,
        matmul: v.matmul(m.t()).dtype,
        elementwise: F.leakyRelu(y, 0.2).mul(2).dtype,
        promoted: y.add(torch.zeros([6, 1, 1])).dtype,
        sum: y.sum().dtype,
        mean: y.mean([2, 3]).dtype,
        var: y.var([0]).dtype,
        norm: y.norm(2, 1).dtype,
        softmax: F.softmax(y, 1).dtype,
        batchNorm: F.batchNorm(y, null, null, { training: true }).dtype,
        layerNorm: F.layerNorm(y, [8, 8]).dtype,
        mse: F.mseLoss(y, torch.zerosLike(y)).dtype,
        l1: F.l1Loss(y, torch.zeros([2, 6, 8, 8])).dtype,
        bce: F.binaryCrossEntropyWithLogits(y, torch.onesLike(y)).dtype,
        lerp: y.lerp(torch.zeros([2, 6, 8, 8]), 0.5).dtype,
      };
    });
    assert.deepEqual(seen, {
      state: true, conv2d: 'bfloat16', convTranspose2d: 'bfloat16', linear: 'bfloat16', matmul: 'bfloat16',
      elementwise: 'bfloat16', promoted: 'float32', sum: 'float32', mean: 'float32', var: 'float32', norm: 'float32',
      softmax: 'float32', batchNorm: 'bfloat16', layerNorm: 'float32', mse: 'float32', l1: 'float32', bce: 'float32', lerp: 'float32',
    });
    // Outside, and inside autocast(null) within it, everything is fp32 again.
    assert.equal(torch.autocastState().enabled, false);
    assert.equal(F.conv2d(x, w).dtype, 'float32');
    assert.equal(torch.autocast('bf16', () => torch.autocast(null, () => F.conv2d(x, w).dtype)), 'float32');
    assert.equal(torch.autocast('bf16', () => torch.autocast(null, () => 0) + Number(torch.autocastState().enabled)), 1, 'the outer state is back after a nested region');
  });
});

test('autocast restores the state when fn throws, refuses async fns and unknown types', () => {
  assert.throws(() => torch.autocast('bf16', () => { throw new Error('inside'); }), /inside/);
  assert.equal(torch.autocastState().enabled, false);
  assert.throws(() => torch.autocast('bf16', async () => 1), /must be synchronous/);
  assert.equal(torch.autocastState().enabled, false);
  assert.throws(() => torch.autocast('int8' as never, () => 1), /type must be one of bf16/);
  assert.throws(() => torch.autocast('fp16', () => 1), /autocast computes in bfloat16 on the CPU, not float16/);
  assert.equal(torch.autocastState().enabled, false);
  assert.throws(() => torch.autocast('bf16', () => 1, { device: 'tpu' }), /device must be 'cpu', 'cuda' or 'cuda:N'/);
});

bf16Test('under autocast, fp32 weights get fp32 gradients of bf16 accuracy, through double backprop (R1) too', () => {
  torch.scope(() => {
    torch.manualSeed(2);
    const w1 = torch.randn([8, 3, 3, 3]).mul(0.2).requiresGrad_(true);
    const w2 = torch.randn([1, 8, 3, 3]).mul(0.2).requiresGrad_(true);
    const x = torch.randn([4, 3, 8, 8]);
    // D(x) = conv(lrelu(conv(x))); loss = mean softplus(-D) + ‖∇ₓ Σ D‖² (an R1 term).
    const step = (precision: Precision): torch.Tensor[] => {
      for (const w of [w1, w2]) w.grad?.zero_();
      const xi = x.detach().requiresGrad_(true);
      const run = (): torch.Tensor => {
        const d = F.conv2d(F.leakyRelu(F.conv2d(xi, w1, null, { padding: 1 }), 0.2), w2, null, { padding: 1 });
        const [g] = torch.grad(d.sum(), xi, { createGraph: true });
        return F.softplus(d.neg()).mean().add(g!.square().sum([1, 2, 3]).mean());
      };
      const loss = precision === 'bf16' ? torch.autocast('bf16', run) : run();
      assert.equal(loss.dtype, 'float32');
      loss.backward();
      return [w1.grad!, w2.grad!].map((g) => g.clone());
    };
    const g32 = step('fp32');
    const g16 = step('bf16');
    for (let i = 0; i < 2; i++) {
      assert.equal(g16[i].dtype, 'float32', 'the gradient of an fp32 weight is fp32');
      const scale = g32[i].abs().max().item();
      const err = g16[i].sub(g32[i]).abs().max().item() / scale;
      assert.ok(err < 2e-2, `w${i + 1}: bf16 gradient within 2e-2 of the fp32 one (relative to the tensor's largest), got ${err.toExponential(2)}`);
      assert.ok(err > 0, 'the bf16 run did compute in bf16 (an identical gradient means autocast did nothing)');
    }
    assert.equal(w1.dtype, 'float32');
  });
});

/** A recipe at every default, then `over`, built from seed 7. */
function build(model: string, over: Options, classes = 0): Recipe {
  const def = RECIPES[model];
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model }, over);
  // What a preset (StyleGAN2's --cfg) sets beyond `over`, as the trainer resolves it.
  if (def.resolveOptions) Object.assign(o, def.resolveOptions(o, new Set(['model', ...Object.keys(over)])));
  torch.manualSeed(7);
  return def.create(o, recipeEnv(o, classes, 'cpu'));
}

function dispose(r: Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose?.();
}

interface StepRecord {
  /** Per phase, its parameters' gradients as the optimiser was about to see them. */
  grads: Record<string, Float32Array[]>;
  gradTypes: Set<string>;
  metrics: Record<string, number>;
}

/**
 * One iteration (every phase due at step 0) at `precision`, from the recipe's initial
 * weights in every phase: the gradient hook records each phase's gradients, then zeroes
 * them, so Adam's first step moves nothing and the next phase sees the same networks in
 * both precisions (the comparison is of gradients, not of Adam's sign-like first step).
 */
function recordStep(model: string, over: Options, batch: () => TensorBatch, precision: Precision, classes = 0): StepRecord {
  const r = build(model, over, classes);
  const rec: StepRecord = { grads: {}, gradTypes: new Set(), metrics: {} };
  try {
    const runner = new PhaseRunner(r, {
      precision,
      gradientHook: (params, phase) => torch.scope(() => {
        rec.grads[phase] = params.map((p) => {
          const g = p.grad;
          if (!g) return new Float32Array(0);
          rec.gradTypes.add(g.dtype);
          const a = g.toTypedArray() as Float32Array;
          g.zero_();
          return a;
        });
      }),
    });
    torch.scope(() => {
      const b = batch();
      // Progressive recipes fix their minibatch (and lod) for the step here, as the trainer does.
      r.nextBatchSize?.(0);
      torch.manualSeed(11);
      rec.metrics = runner.run(b, { step: 0, imagesSeen: 0 });
    });
    for (const net of Object.values(r.networks())) for (const p of net.parameters()) assert.equal(p.dtype, 'float32', 'parameters stay fp32');
    for (const opt of Object.values(r.optimizers())) torch.scope(() => {
      for (const t of Object.values(opt.stateDict().tensors)) assert.equal(t.dtype, 'float32', 'optimiser state stays fp32');
    });
  } finally {
    dispose(r);
  }
  return rec;
}

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * Each phase's gradients in bf16 against fp32: per tensor, the largest difference within
 * `tol` of the tensor's largest fp32 gradient (floored at 1 % of the phase's largest: a
 * bias ahead of a norm, or a WGAN critic's last bias, has a gradient that is zero but for
 * rounding, and rounding is what differs), and the phase's whole gradient pointing the
 * same way (cosine ≥ `cos`). At init, GAN gradients are sums that mostly cancel, so bf16's
 * 8-bit mantissa shows more in them than in the activations; the losses agree within
 * 5 % + 0.03. Returns the worst ratio (identical gradients would mean autocast never engaged).
 */
function assertGradsClose(model: string, over: Options, batch: () => TensorBatch, tol: { rel: number; cos: number }, classes = 0): number {
  const a = recordStep(model, over, batch, 'fp32', classes);
  const b = recordStep(model, over, batch, 'bf16', classes);
  assert.deepEqual([...b.gradTypes], ['float32'], 'gradients reach the optimiser in fp32');
  assert.deepEqual(Object.keys(b.grads), Object.keys(a.grads), 'the same phases ran');
  let worst = 0;
  for (const [phase, gs] of Object.entries(a.grads)) {
    const phaseScale = Math.max(...gs.map(maxAbs));
    let dot = 0, n32 = 0, n16 = 0;
    gs.forEach((g32, i) => {
      const g16 = b.grads[phase][i];
      assert.equal(g16.length, g32.length);
      const scale = Math.max(maxAbs(g32), 1e-2 * phaseScale);
      if (scale === 0) return;
      let diff = 0;
      for (let j = 0; j < g32.length; j++) {
        diff = Math.max(diff, Math.abs(g16[j] - g32[j]));
        dot += g16[j] * g32[j];
        n32 += g32[j] * g32[j];
        n16 += g16[j] * g16[j];
      }
      const rel = diff / scale;
      worst = Math.max(worst, rel);
      assert.ok(rel <= tol.rel, `${model} ${phase} parameter ${i}: bf16 gradient off by ${rel.toExponential(2)} of the tensor's largest (tolerance ${tol.rel})`);
    });
    const cos = dot / Math.sqrt(n32 * n16);
    assert.ok(cos >= tol.cos, `${model} ${phase}: bf16 gradient's cosine with the fp32 one ${cos.toFixed(4)} < ${tol.cos}`);
  }
  for (const [k, v] of Object.entries(a.metrics)) {
    if (!Number.isFinite(v)) continue;
    assert.ok(Math.abs(b.metrics[k] - v) <= 5e-2 * Math.abs(v) + 3e-2, `${model} ${k}: bf16 ${b.metrics[k]} vs fp32 ${v}`);
  }
  assert.ok(worst > 0, `${model}: the bf16 step's gradients equal the fp32 ones: autocast did not engage`);
  return worst;
}

// Tolerances: about twice (cosine: a fifth of 1 − cos again) what an AVX-512-BF16 EPYC gave; CycleGAN's
// instance-normed generator and the WGAN families' tiny critics cancel the most.
const images = (n: number, size: number) => (): TensorBatch => ({ a: torch.rand([n, 3, size, size]).mul(2).sub(1), b: null, labels: null });

bf16Test('one DCGAN step (BCE, lazy R1 due) in bf16: gradients within bf16 tolerance of fp32, weights and Adam state fp32', () => {
  // Its generator is all transposed convolutions, in bf16 too: this EPYC gave 0.23 for G's first layer.
  assertGradsClose('dcgan', { resolution: 16, nz: 16, ngf: 8, ndf: 8, r1_gamma: 1, r1_interval: 4 }, images(8, 16), { rel: 0.45, cos: 0.99 });
});

bf16Test('one PGGAN step (WGAN-GP penalty by double backprop) in bf16: gradients within bf16 tolerance of fp32', () => {
  assertGradsClose('pggan', {
    resolution: 16, latent_size: 16, fmap_base: 64, fmap_max: 16, lod_initial_resolution: 16, minibatch_base: 4, minibatch_dict: '',
  }, images(4, 16), { rel: 1.2, cos: 0.9 });
});

bf16Test('one StyleGAN2 iteration (Gmain, Greg path length, Dmain, Dreg R1) in bf16: gradients within bf16 tolerance of fp32', () => {
  assertGradsClose('stylegan2', { resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 128, channel_max: 16, map: 2, pl_weight: 2, gamma: 1 }, images(4, 16), { rel: 0.6, cos: 0.99 });
});

const pairs = (n: number, size: number) => (): TensorBatch => ({ a: torch.rand([n, 3, size, size]).mul(2).sub(1), b: torch.rand([n, 3, size, size]).mul(2).sub(1), labels: null });

bf16Test('one pix2pix step (U-Net, L1 + GAN, WGAN-GP penalty) in bf16: gradients within bf16 tolerance of fp32', () => {
  assertGradsClose('pix2pix', { crop_size: 32, load_size: 32, netG: 'unet_32', ngf: 4, ndf: 4, gan_mode: 'wgangp' }, pairs(2, 32), { rel: 0.5, cos: 0.98 });
});

bf16Test('one CycleGAN step (ResNet generators, instance norm, cycle and identity losses) in bf16: gradients within bf16 tolerance of fp32', () => {
  assertGradsClose('cyclegan', { crop_size: 32, load_size: 32, netG: 'resnet_6blocks', ngf: 4, ndf: 4 }, pairs(1, 32), { rel: 4, cos: 0.8 });
});

bf16Test('one StyleGAN step (progressive, WGAN-GP) in bf16: gradients within bf16 tolerance of fp32', () => {
  assertGradsClose('stylegan', {
    resolution: 16, latent_size: 8, dlatent_size: 8, mapping_layers: 2, fmap_base: 32, fmap_max: 8, lod_initial_resolution: 16, minibatch_base: 4, minibatch_dict: '',
  }, images(4, 16), { rel: 0.5, cos: 0.9 });
});

bf16Test('one conditional BigGAN step (self-attention, shared class embedding, hinge) in bf16: gradients within bf16 tolerance of fp32', () => {
  const batch = (): TensorBatch => ({ a: torch.rand([4, 3, 32, 32]).mul(2).sub(1), b: null, labels: torch.tensor([0, 1, 2, 0], { dtype: 'int64' }) });
  assertGradsClose('biggan', { resolution: 32, batch: 4, G_ch: 4, D_ch: 4, dim_z: 8, G_shared: true, shared_dim: 4, hier: true, G_attn: '16', D_attn: '16' }, batch, { rel: 0.5, cos: 0.99 }, 3);
});

bf16Test('a bf16 step inside scope() leaves liveTensors() unchanged (DCGAN with R1 and WGAN-GP, StyleGAN2 with both regularisers)', () => {
  const cases: [string, Options][] = [
    ['dcgan', { resolution: 16, nz: 8, ngf: 4, ndf: 4, r1_gamma: 1, r1_interval: 1 }],
    ['dcgan', { resolution: 16, nz: 8, ngf: 4, ndf: 4, gan_mode: 'wgangp' }],
    ['stylegan2', { resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, map: 2, pl_weight: 2, G_reg_interval: 1, D_reg_interval: 1 }],
  ];
  for (const [model, over] of cases) {
    const r = build(model, over);
    const a = torch.rand([4, 3, 16, 16]).mul(2).sub(1);
    try {
      const runner = new PhaseRunner(r, { precision: 'bf16' });
      const step = (i: number): void => torch.scope(() => { runner.run({ a, b: null, labels: null }, { step: i, imagesSeen: 4 * i }); });
      step(0);
      for (let i = 1; i <= 2; i++) {
        const before = torch.liveTensors();
        step(i);
        assert.equal(torch.liveTensors(), before, `${model} bf16 step ${i} leaked`);
      }
    } finally {
      a.dispose();
      dispose(r);
    }
  }
});

bf16Test('sampling under bf16 (as sample --precision bf16 and the bench draw): PGGAN and StyleGAN2 images close to fp32\'s, not equal', () => {
  const cases: [string, Options, number][] = [
    ['pggan', { resolution: 16, latent_size: 16, fmap_base: 64, fmap_max: 16, lod_initial_resolution: 16, minibatch_base: 4, minibatch_dict: '' }, 0.1],
    ['stylegan2', { resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 128, channel_max: 16, map: 2 }, 0.1],
  ];
  for (const [model, over, tol] of cases) {
    const r = build(model, over);
    try {
      torch.scope(() => {
        const inputs = torch.withSeed(3, () => r.sampleInputs(4, null));
        const draw = (p: Precision) => torch.noGrad(() => withPrecision(p, 'cpu', () => r.generate(inputs)));
        const x32 = draw('fp32'), x16 = draw('bf16');
        assert.equal(x32.dtype, 'float32');
        const scale = x32.abs().max().item();
        const diff = x16.to('float32').sub(x32).abs().max().item() / scale;
        assert.ok(diff > 0 && diff < tol, `${model}: bf16 samples within ${tol} of the fp32 ones (relative to their largest), and not identical: ${diff}`);
      });
    } finally {
      dispose(r);
    }
  }
});

const DCGAN_RUN = {
  model: 'dcgan', data: 'shapes', resolution: 16, batch: 32, ngf: 16, ndf: 16, nz: 32, workers: 1, log_every: 10, sample_kimg: 0, snapshot_kimg: 0, n_samples: 4,
};

function runOptions(over: Options): Options {
  const o: Options = Object.fromEntries(Object.entries(fullSchema(RECIPES.dcgan)).map(([k, s]) => [k, s.default]));
  return { ...o, ...DCGAN_RUN, ...over };
}

bf16Test('a tiny DCGAN run in bf16 learns (loss_D falls); config.json and checkpoints record bf16, weights stay fp32; it samples in bf16', async () => {
  const dir = tempDir();
  const out = join(dir, 'bf16');
  const res = await train(RECIPES.dcgan, runOptions({ precision: 'bf16', kimg: 4.8, ema_kimg: 0.5, out }), new Set(['precision']), { log: () => {} });
  assert.equal(res.steps, 150);
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.ok(rows.every((r) => Number.isFinite(r.loss_D) && Number.isFinite(r.loss_G)), 'finite losses throughout');
  // The discriminator learns to tell the shapes from the untrained generator's output first.
  const first = rows[0].loss_D, last = rows.slice(-3).reduce((s, r) => s + r.loss_D, 0) / 3;
  assert.ok(last < first - 0.1, `loss_D fell: ${first.toFixed(3)} → ${last.toFixed(3)}`);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { options: Options };
  assert.equal(config.options.precision, 'bf16');
  const names = listCheckpoints(join(out, 'checkpoints'));
  torch.scope(() => {
    const ck = loadCheckpoint(join(out, 'checkpoints', names[names.length - 1]));
    assert.equal((ck.state as { precision?: string }).precision, 'bf16');
    for (const sd of [...Object.values(ck.networks), ...Object.values(ck.optimizers)]) {
      for (const [k, t] of Object.entries(sd)) if (t.isFloatingPoint) assert.equal(t.dtype, 'float32', `${k} is saved in fp32`);
    }
  });
  // `ganforge sample --precision bf16` on the run.
  const png = join(dir, 'bf16.png');
  const r = cli(['sample', '--run', out, '--n', '4', '--precision', 'bf16', '--out', png]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(png));
  const bad = await cliErrorInProcess(['sample', '--network', 'x.pkl', '--seeds', '1', '--precision', 'bf16', '--out', join(dir, 'n')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--precision applies with --run/);
});

bf16Test('resuming with another --precision continues, and says so', async () => {
  const out = join(tempDir(), 'run');
  await train(RECIPES.dcgan, runOptions({ kimg: 0.064, out, ngf: 4, ndf: 4, nz: 8, batch: 8, snapshot_kimg: 0.032 }), new Set(), { log: () => {} });
  const lines: string[] = [];
  const res = await train(RECIPES.dcgan, runOptions({ kimg: 0.128, out, resume: true, precision: 'bf16' }), new Set(['kimg', 'out', 'resume', 'precision']), { log: (l) => lines.push(l) });
  assert.equal(res.steps, 16);
  assert.ok(lines.some((l) => /resuming with --precision bf16: the run was trained in fp32 up to this checkpoint/.test(l)), lines.join('\n'));
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { options: Options };
  assert.equal(config.options.precision, 'bf16', 'config.json holds the precision the run continues with');
});

test('--precision takes fp32 or bf16 only, as one line', async () => {
  const r = await cliErrorInProcess(['train', '--model', 'dcgan', '--precision', 'fp16', '--out', join(tempDir(), 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--precision must be one of fp32, bf16; got 'fp16'/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});


test('where oneDNN cannot run bf16 convolutions (here forced with ONEDNN_MAX_CPU_ISA=AVX2), train and sample --precision bf16 are refused in one line, before a run folder is made', async () => {
  const dir = tempDir('gf-bf16-');
  const out = join(dir, 'run');
  const avx2 = { ONEDNN_MAX_CPU_ISA: 'AVX2' };
  const r = cli(['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--ngf', '4', '--ndf', '4', '--nz', '4', '--kimg', '0.008', '--precision', 'bf16', '--out', out], avx2);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--precision bf16: libtorch cannot run bf16 convolutions on this CPU/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(out), 'no run folder');
});
