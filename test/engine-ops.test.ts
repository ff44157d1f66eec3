// Op values against PyTorch: every case in test/fixtures/ops/ops.json (made by
// make_ops_fixtures.py with torch 1.13) is recomputed by our engine from the same stored
// inputs and compared — dtype, shape and values.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { type Tensor } from '../src/torch/index.js';
import { assertClose, assertEqualArrays, loadJson } from './helpers.js';

const { F, linalg } = T;

interface FT {
  shape: number[];
  dtype: string;
  data: number[];
}
interface OpsFixture {
  meta: Record<string, unknown>;
  inputs: Record<string, FT>;
  cases: Record<string, FT | FT[]>;
}

const fx = loadJson<OpsFixture>('test/fixtures/ops/ops.json');

/** A tensor holding exactly the fixture's values, in the fixture's dtype. */
function fromSpec(s: FT): Tensor {
  switch (s.dtype) {
    case 'float32': return T.fromTypedArray(Float32Array.from(s.data), s.shape);
    case 'float64': return T.fromTypedArray(Float64Array.from(s.data), s.shape);
    case 'int64': return T.fromTypedArray(BigInt64Array.from(s.data, (v) => BigInt(v)), s.shape);
    case 'bool': return T.fromTypedArray(Uint8Array.from(s.data), s.shape, { dtype: 'bool' });
    default: throw new Error(`fixture dtype ${s.dtype} not handled`);
  }
}

type Inputs = Record<string, Tensor>;
type OpFn = (i: Inputs) => Tensor | Tensor[];

// One entry per fixture case: the same computation as make_ops_fixtures.py, in our API.
const OPS: Record<string, OpFn> = {
  // ---- arithmetic, broadcasting, scalars ----
  add_bcast: ({ a, b }) => a.add(b),
  add_alpha: ({ a, c }) => a.add(c, -0.5),
  add_scalar: ({ a }) => a.add(2.5),
  add_scalar_alpha: ({ a }) => a.add(2, 3),
  sub_bcast: ({ a, c }) => a.sub(c),
  sub_alpha: ({ a, b }) => a.sub(b, 2),
  sub_scalar: ({ a }) => a.sub(1.5),
  mul_bcast: ({ a, c }) => a.mul(c),
  mul_scalar: ({ a }) => a.mul(-3),
  div: ({ a, pos }) => a.div(pos),
  div_bcast: ({ a, c }) => a.div(c.abs().add(0.5)),
  div_scalar: ({ a }) => a.div(4),
  pow_tensor: ({ pos, b }) => pos.pow(b),
  pow_scalar: ({ pos }) => pos.pow(2.5),
  pow_square_neg: ({ a }) => a.pow(2),
  rsub: ({ a }) => a.rsub(2),
  rdiv: ({ pos }) => pos.rdiv(3),
  rpow: ({ a }) => a.rpow(2),
  neg: ({ a }) => a.neg(),
  sqrt: ({ pos }) => pos.sqrt(),
  rsqrt: ({ pos }) => pos.rsqrt(),
  exp: ({ a }) => a.exp(),
  log: ({ pos }) => pos.log(),
  log1p: ({ pos }) => pos.log1p(),
  abs: ({ a }) => a.abs(),
  sign: ({ z }) => z.sign(),
  square: ({ a }) => a.square(),
  reciprocal: ({ pos }) => pos.reciprocal(),
  sin: ({ a }) => a.sin(),
  cos: ({ a }) => a.cos(),
  erf: ({ a }) => a.erf(),
  floor: ({ a }) => a.mul(3).floor(),
  ceil: ({ a }) => a.mul(3).ceil(),
  round: () => T.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6]).round(),
  remainder: ({ a }) => a.mul(5).remainder(1.5),
  clamp_both: ({ a }) => a.clamp(-0.5, 0.5),
  clamp_min: ({ a }) => a.clamp(0.1),
  clamp_max: ({ a }) => a.clamp(null, -0.2),
  clamp_tensor: ({ a, a2 }) => a.clamp(a2.sub(0.5), a2.add(0.5)),
  lerp_scalar: ({ a, a2 }) => a.lerp(a2, 0.3),
  lerp_tensor: ({ a, a2, wt }) => a.lerp(a2, wt),
  where_tensor: ({ a, c }) => T.where(a.gt(0), a, c),
  where_scalar: ({ a }) => T.where(a.gt(0), a, 0.25),
  maximum: ({ a, a2 }) => a.maximum(a2),
  minimum: ({ a, b }) => a.minimum(b),
  eq_tensor: ({ ia, ib }) => ia.eq(ib),
  eq_scalar: ({ ia }) => ia.eq(1),
  ne_tensor: ({ ia, ib }) => ia.ne(ib),
  lt_tensor: ({ a, a2 }) => a.lt(a2),
  le_scalar: ({ ia }) => ia.le(0),
  gt_bcast: ({ a, c }) => a.gt(c),
  ge_scalar: ({ ia }) => ia.ge(1),
  logical_and: ({ a, a2 }) => a.gt(0).logicalAnd(a2.gt(0)),
  logical_not: ({ a }) => a.gt(0).logicalNot(),
  masked_fill: ({ a }) => a.maskedFill(a.lt(0), -7),

  // ---- reductions ----
  sum_all: ({ r }) => r.sum(),
  sum_dim1: ({ r }) => r.sum(1),
  sum_dims02_keep: ({ r }) => r.sum([0, 2], true),
  mean_all: ({ r }) => r.mean(),
  mean_dimneg1_keep: ({ r }) => r.mean(-1, true),
  var_all: ({ r }) => r.var(),
  var_dim1_c0: ({ r }) => r.var(1, { correction: 0 }),
  var_dims02_keep: ({ r }) => r.var([0, 2], { keepdim: true }),
  std_all: ({ r }) => r.std(),
  std_all_c0: ({ r }) => r.std(null, { correction: 0 }),
  std_dim2: ({ r }) => r.std(2),
  std_dims01_c0_keep: ({ r }) => r.std([0, 1], { correction: 0, keepdim: true }),
  amax_all: ({ r }) => r.amax(),
  amax_dim1: ({ r }) => r.amax(1),
  amin_dims02_keep: ({ r }) => r.amin([0, 2], true),
  max_dim2: ({ r }) => r.max(2),
  min_dim0_keep: ({ r }) => r.min(0, true),
  argmax_all: ({ r }) => r.argmax(),
  argmax_dim1: ({ r }) => r.argmax(1),
  argmax_dim2_keep: ({ r }) => r.argmax(2, true),
  argmin_dim0: ({ r }) => r.argmin(0),
  norm_all: ({ r }) => r.norm(),
  norm_p1_dim1: ({ r }) => r.norm(1, 1),
  norm_p2_dims12_keep: ({ r }) => r.norm(2, [1, 2], true),
  norm_p3_dim0: ({ r }) => r.norm(3, 0),
  norm_inf_dim2: ({ r }) => r.norm(Infinity, 2),
  logsumexp_dim1: ({ r }) => r.logsumexp(1),
  logsumexp_dims02_keep: ({ r }) => r.logsumexp([0, 2], true),
  cumsum_dim2: ({ r }) => r.cumsum(2),
  prod_all: ({ r }) => r.mul(0.5).add(1).prod(),

  // ---- linear algebra ----
  matmul_2d: ({ m34, m45 }) => m34.matmul(m45),
  matmul_batched_bcast: ({ b234, m45 }) => b234.matmul(m45),
  matmul_vec: ({ m34, v4 }) => m34.matmul(v4),
  mm: ({ m34, m45 }) => m34.mm(m45),
  bmm: ({ b234, b245 }) => b234.bmm(b245),
  linear_bias: ({ lin_x, lin_w, lin_b }) => F.linear(lin_x, lin_w, lin_b),
  linear_nobias: ({ lin_x, lin_w }) => F.linear(lin_x, lin_w),
  linear_3d: ({ lin_x3, lin_w, lin_b }) => F.linear(lin_x3, lin_w, lin_b),
  outer: ({ v4, lin_b }) => v4.outer(lin_b),

  // ---- convolutions ----
  conv2d_s1_p1: ({ x4, cw, cb }) => F.conv2d(x4, cw, cb, { stride: 1, padding: 1 }),
  conv2d_s2_p1: ({ x4, cw, cb }) => F.conv2d(x4, cw, cb, { stride: 2, padding: 1 }),
  conv2d_dil2_p2: ({ x4, cw, cb }) => F.conv2d(x4, cw, cb, { padding: 2, dilation: 2 }),
  conv2d_groups2: ({ x4, cw_g2, cb }) => F.conv2d(x4, cw_g2, cb, { padding: 1, groups: 2 }),
  conv2d_asym_nobias: ({ x4, cw }) => F.conv2d(x4, cw, null, { stride: [1, 2], padding: [0, 1] }),
  convT_s2_p1_op1: ({ xt, tw, tb }) => F.convTranspose2d(xt, tw, tb, { stride: 2, padding: 1, outputPadding: 1 }),
  convT_groups2: ({ xt, tw_g2, tb_g2 }) =>
    F.convTranspose2d(xt, tw_g2, tb_g2, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
  convT_s1: ({ xt, tw }) => F.convTranspose2d(xt, tw),
  convT_k4_s2_p1: ({ xt, tw4, tb }) => F.convTranspose2d(xt, tw4, tb, { stride: 2, padding: 1 }),

  // ---- pooling, resampling, padding ----
  avg_pool_k2: ({ x4 }) => F.avgPool2d(x4, 2),
  avg_pool_k3_s2_p1: ({ x4 }) => F.avgPool2d(x4, 3, { stride: 2, padding: 1 }),
  avg_pool_k3_s2_p1_nopad: ({ x4 }) => F.avgPool2d(x4, 3, { stride: 2, padding: 1, countIncludePad: false }),
  avg_pool_k2_ceil: ({ x4 }) => F.avgPool2d(x4, 2, { ceilMode: true }),
  max_pool_k2: ({ x4 }) => F.maxPool2d(x4, 2),
  max_pool_k3_s2_p1: ({ x4 }) => F.maxPool2d(x4, 3, { stride: 2, padding: 1 }),
  max_pool_k2_dil2: ({ x4 }) => F.maxPool2d(x4, 2, { stride: 1, dilation: 2 }),
  adaptive_avg_pool_3: ({ x4 }) => F.adaptiveAvgPool2d(x4, 3),
  interp_nearest_x2: ({ x4 }) => F.interpolate(x4, { scaleFactor: 2, mode: 'nearest' }),
  interp_nearest_size: ({ x4 }) => F.interpolate(x4, { size: [9, 12], mode: 'nearest' }),
  interp_bilinear_x2: ({ x4 }) => F.interpolate(x4, { scaleFactor: 2, mode: 'bilinear', alignCorners: false }),
  interp_bilinear_x2_ac: ({ x4 }) => F.interpolate(x4, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }),
  interp_bilinear_size: ({ x4 }) => F.interpolate(x4, { size: [5, 10], mode: 'bilinear', alignCorners: false }),
  interp_bilinear_size_ac: ({ x4 }) => F.interpolate(x4, { size: [5, 10], mode: 'bilinear', alignCorners: true }),
  interp_bilinear_x1_5: ({ x4 }) => F.interpolate(x4, { scaleFactor: 1.5, mode: 'bilinear', alignCorners: false }),
  interp_nearest_x1_5: ({ x4 }) => F.interpolate(x4, { scaleFactor: 1.5, mode: 'nearest' }),
  interp_nearest_x1_7: ({ x4 }) => F.interpolate(x4, { scaleFactor: 1.7, mode: 'nearest' }),
  interp_area_size: ({ x4 }) => F.interpolate(x4, { size: [3, 3], mode: 'area' }),
  interp_area_half: ({ x4 }) => F.interpolate(x4, { scaleFactor: 0.5, mode: 'area' }),
  pad_constant: ({ x4 }) => F.pad(x4, [1, 2, 0, 1], { mode: 'constant', value: 0.5 }),
  pad_constant_2d: ({ a }) => F.pad(a, [2, 1]),
  pad_reflect: ({ x4 }) => F.pad(x4, [2, 1, 1, 2], { mode: 'reflect' }),
  pad_replicate: ({ x4 }) => F.pad(x4, [1, 1, 2, 0], { mode: 'replicate' }),

  // ---- shape ----
  cat_dim0: ({ a, a2 }) => T.cat([a, a2], 0),
  cat_dim1: ({ a, c, a2 }) => T.cat([a, c, a2], 1),
  stack_dim0: ({ a, a2 }) => T.stack([a, a2], 0),
  stack_dim2: ({ a, a2 }) => T.stack([a, a2], 2),
  split_size3_dim2: ({ r }) => r.split(3, 2),
  split_sizes: ({ r }) => r.split([1, 2], 1),
  chunk3_dim2: ({ r }) => r.chunk(3, 2),
  permute: ({ r }) => r.permute(2, 0, 1),
  transpose: ({ r }) => r.transpose(0, 2),
  flatten_1: ({ r }) => r.flatten(1),
  flatten_0_1: ({ r }) => r.flatten(0, 1),
  squeeze_all: ({ c }) => c.unsqueeze(0).squeeze(),
  squeeze_dim: ({ c }) => c.squeeze(1),
  unsqueeze: ({ a }) => a.unsqueeze(1),
  expand: ({ c }) => c.expand(2, 3, 4),
  repeat: ({ c }) => c.repeat(2, 1, 3),
  narrow: ({ r }) => r.narrow(2, 1, 2),
  slice_step2: ({ r }) => r.slice(2, 1, 4, 2),
  slice_dim1_from1: ({ r }) => r.slice(1, 1),
  select: ({ r }) => r.select(1, 2),
  index_select: ({ r, sel_idx }) => r.indexSelect(1, sel_idx),
  gather: ({ a, gather_idx }) => a.gather(1, gather_idx),
  flip: ({ r }) => r.flip(0, 2),
  roll: ({ r }) => r.roll(1, 2),
  reshape: ({ r }) => r.reshape(4, 6),

  // ---- activations ----
  relu: ({ a }) => F.relu(a),
  leaky_relu_0_2: ({ a }) => F.leakyRelu(a, 0.2),
  leaky_relu_default: ({ a }) => F.leakyRelu(a),
  tanh: ({ a }) => F.tanh(a),
  sigmoid: ({ a }) => F.sigmoid(a),
  softplus: ({ sp_big }) => F.softplus(sp_big),
  softplus_beta2_thr5: ({ sp_big }) => F.softplus(sp_big, { beta: 2, threshold: 5 }),
  softmax_dim1: ({ r }) => F.softmax(r, 1),
  log_softmax_dim0: ({ r }) => F.logSoftmax(r, 0),
  softmax_dimneg1: ({ r }) => r.softmax(-1),
  gelu: ({ a }) => F.gelu(a),
  silu: ({ a }) => F.silu(a),
  elu: ({ a }) => F.elu(a, 0.7),

  // ---- normalisation ----
  batch_norm_train: ({ x4, bn_w, bn_b, bn_rm, bn_rv }) => {
    const rm = bn_rm.clone();
    const rv = bn_rv.clone();
    const y = F.batchNorm(x4, rm, rv, { weight: bn_w, bias: bn_b, training: true, momentum: 0.1, eps: 1e-5 });
    return [y, rm, rv];
  },
  batch_norm_train_2d_m03: ({ bn_x2, bn_rm, bn_rv }) => {
    const rm = bn_rm.clone();
    const rv = bn_rv.clone();
    const y = F.batchNorm(bn_x2, rm, rv, { training: true, momentum: 0.3, eps: 1e-3 });
    return [y, rm, rv];
  },
  batch_norm_eval: ({ x4, bn_w, bn_b, bn_rm, bn_rv }) =>
    F.batchNorm(x4, bn_rm, bn_rv, { weight: bn_w, bias: bn_b, training: false, eps: 1e-5 }),
  batch_norm_train_nostats: ({ x4 }) => F.batchNorm(x4, null, null, { training: true }),
  instance_norm: ({ x4 }) => F.instanceNorm(x4),
  instance_norm_affine: ({ x4, bn_w, bn_b }) => F.instanceNorm(x4, { weight: bn_w, bias: bn_b, eps: 1e-3 }),
  group_norm_2: ({ x4, gn_w, gn_b }) => F.groupNorm(x4, 2, gn_w, gn_b),
  group_norm_4_noaffine: ({ x4 }) => F.groupNorm(x4, 4),
  layer_norm_last: ({ x4, ln_w, ln_b }) => F.layerNorm(x4, [5], ln_w, ln_b),
  layer_norm_chw: ({ x4 }) => F.layerNorm(x4, [4, 6, 5]),
  embedding: ({ emb_idx, emb_w }) => F.embedding(emb_idx, emb_w),
  one_hot: ({ classes }) => F.oneHot(classes, 5),
  one_hot_infer: ({ classes }) => F.oneHot(classes),

  // ---- losses ----
  bce_logits_mean: ({ logits, targets01 }) => F.binaryCrossEntropyWithLogits(logits, targets01),
  bce_logits_sum: ({ logits, targets01 }) => F.binaryCrossEntropyWithLogits(logits, targets01, { reduction: 'sum' }),
  bce_logits_none: ({ logits, targets01 }) => F.binaryCrossEntropyWithLogits(logits, targets01, { reduction: 'none' }),
  bce_logits_pos_weight: ({ logits, targets01, pos_weight }) =>
    F.binaryCrossEntropyWithLogits(logits, targets01, { posWeight: pos_weight }),
  bce_logits_weight: ({ logits, targets01, bce_weight }) =>
    F.binaryCrossEntropyWithLogits(logits, targets01, { weight: bce_weight }),
  mse_mean: ({ logits, targets01 }) => F.mseLoss(logits, targets01),
  mse_sum: ({ logits, targets01 }) => F.mseLoss(logits, targets01, 'sum'),
  mse_none: ({ logits, targets01 }) => F.mseLoss(logits, targets01, 'none'),
  l1_mean: ({ logits, targets01 }) => F.l1Loss(logits, targets01),
  l1_sum: ({ logits, targets01 }) => F.l1Loss(logits, targets01, 'sum'),
  cross_entropy_mean: ({ logits, ce_target }) => F.crossEntropy(logits, ce_target),
  cross_entropy_weight: ({ logits, ce_target, ce_weight }) => F.crossEntropy(logits, ce_target, { weight: ce_weight }),
  cross_entropy_sum: ({ logits, ce_target }) => F.crossEntropy(logits, ce_target, { reduction: 'sum' }),
  cross_entropy_none: ({ logits, ce_target }) => F.crossEntropy(logits, ce_target, { reduction: 'none' }),
  cross_entropy_smooth: ({ logits, ce_target }) => F.crossEntropy(logits, ce_target, { labelSmoothing: 0.1 }),
  nll_loss: ({ logits, ce_target }) => F.nllLoss(F.logSoftmax(logits, 1), ce_target),

  // ---- linear algebra ----
  eigh_eigenvalues: ({ sym }) => linalg.eigh(sym)[0],
  eigh_eigenvalues_f64: ({ sym }) => linalg.eigh(sym.double())[0],
  sqrtm_spd64: ({ spd64 }) => linalg.sqrtmPsd(spd64),
};

// Shape, indexing and copying ops move values without arithmetic: they must be bit-exact.
const EXACT = new Set([
  'neg', 'abs', 'sign', 'floor', 'ceil', 'round', 'clamp_both', 'clamp_min', 'clamp_max', 'clamp_tensor',
  'where_tensor', 'where_scalar', 'maximum', 'minimum', 'masked_fill', 'amax_all', 'amax_dim1',
  'amin_dims02_keep', 'max_dim2', 'min_dim0_keep', 'max_pool_k2', 'max_pool_k3_s2_p1', 'max_pool_k2_dil2',
  'interp_nearest_x2', 'interp_nearest_size', 'interp_nearest_x1_5', 'interp_nearest_x1_7', 'pad_constant', 'pad_constant_2d', 'pad_reflect', 'pad_replicate',
  'cat_dim0', 'cat_dim1', 'stack_dim0', 'stack_dim2', 'split_size3_dim2', 'split_sizes', 'chunk3_dim2', 'permute',
  'transpose', 'flatten_1', 'flatten_0_1', 'squeeze_all', 'squeeze_dim', 'unsqueeze', 'expand', 'repeat', 'narrow',
  'slice_step2', 'slice_dim1_from1', 'select', 'index_select', 'gather', 'flip', 'roll', 'reshape', 'relu',
  'embedding', 'one_hot', 'one_hot_infer',
]);

// float32 tolerance: rtol 1e-5 / atol 1e-6 — a few ulps of float32 for O(1) values, far below
// any real mistake (a wrong padding, axis or formula moves values by ~1e-1).
const RTOL32 = 1e-5;
const ATOL32 = 1e-6;
// Per-case overrides, each with its reason. Convolutions need none: they sum at most 48
// products of O(1) terms, so even a different accumulation order (oneDNN's blocked kernels
// on another CPU) stays ~1e-7 away, well inside the float32 default.
const TOL: Record<string, [number, number]> = {
  // A float32 eigen-solver is accurate to ~eps·‖A‖ (‖A‖ ≈ 4 here) in absolute terms, and LAPACK
  // builds (OpenBLAS here, MKL in the official archive) may take different paths.
  eigh_eigenvalues: [1e-5, 1e-5],
  // float64; two LAPACK builds may round differently in the last bits.
  eigh_eigenvalues_f64: [1e-12, 1e-12],
  // Two different float64 algorithms (our eigendecomposition vs SciPy's Schur method).
  sqrtm_spd64: [1e-10, 1e-12],
};

/** The fixture's numbers as the dtype holds them (9 significant digits name a float32 exactly). */
function expectedValues(s: FT): number[] {
  return s.dtype === 'float32' ? s.data.map(Math.fround) : s.data;
}

function compareOne(name: string, got: Tensor, want: FT, label = name): void {
  assert.equal(got.dtype, want.dtype, `${label}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${label}: shape`);
  const values = Array.from(got.toTypedArray() as ArrayLike<number | bigint>, Number);
  if (EXACT.has(name) || !(want.dtype === 'float32' || want.dtype === 'float64')) {
    assertEqualArrays(values, expectedValues(want), label);
    return;
  }
  const [rtol, atol] = TOL[name] ?? (want.dtype === 'float64' ? [1e-12, 1e-13] : [RTOL32, ATOL32]);
  assertClose(values, expectedValues(want), rtol, atol, label);
}

const inputs: Inputs = {};

describe('ops against PyTorch (test/fixtures/ops/ops.json)', () => {
  before(() => {
    for (const [k, v] of Object.entries(fx.inputs)) inputs[k] = fromSpec(v).keep();
  });
  after(() => {
    for (const t of Object.values(inputs)) t.dispose();
  });

  test('the fixture and this file name the same cases', () => {
    const fixtureNames = Object.keys(fx.cases).sort();
    const ours = Object.keys(OPS).sort();
    assert.deepEqual(fixtureNames.filter((n) => !(n in OPS)), [], 'fixture cases without an implementation here');
    assert.deepEqual(ours.filter((n) => !(n in fx.cases)), [], 'cases here missing from the fixture (re-run make_ops_fixtures.py)');
  });

  test('inputs load with the stored dtype, shape and exact values', () => {
    for (const [k, spec] of Object.entries(fx.inputs)) {
      const t = inputs[k];
      assert.equal(t.dtype, spec.dtype, k);
      assert.deepEqual(t.shape, spec.shape, k);
      assertEqualArrays(Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number), expectedValues(spec), k);
    }
  });

  for (const name of Object.keys(fx.cases)) {
    test(name, () => {
      const fn = OPS[name];
      assert.ok(fn, `no implementation for fixture case ${name}`);
      const want = fx.cases[name];
      T.scope(() => {
        const got = fn(inputs);
        if (Array.isArray(want)) {
          assert.ok(Array.isArray(got), `${name}: expected ${want.length} tensors, got one`);
          assert.equal(got.length, want.length, `${name}: number of outputs`);
          want.forEach((w, k) => compareOne(name, got[k], w, `${name}[${k}]`));
        } else {
          assert.ok(!Array.isArray(got), `${name}: expected one tensor, got ${Array.isArray(got) ? got.length : 0}`);
          compareOne(name, got, want);
        }
      });
    });
  }
});

describe('linalg beyond the fixture values', () => {
  test('eigh: V diag(L) Vᵀ reconstructs the matrix and V is orthonormal (float32 and float64)', () => {
    T.scope(() => {
      const sym = fromSpec(fx.inputs.sym);
      for (const [a, tol] of [[sym, 2e-5], [sym.double(), 1e-12]] as const) {
        const [l, v] = linalg.eigh(a);
        assert.deepEqual(l.shape, [5]);
        assert.deepEqual(v.shape, [5, 5]);
        const lv = Array.from(l.toTypedArray() as Float32Array);
        for (let i = 1; i < lv.length; i++) assert.ok(lv[i] >= lv[i - 1], `eigenvalues ascend: ${lv.join(', ')}`);
        const rec = v.mul(l.unsqueeze(0)).matmul(v.t());
        assertClose(rec.toTypedArray() as Float32Array, a.toTypedArray() as Float32Array, 0, tol, `reconstruction ${a.dtype}`);
        const vtv = v.t().matmul(v);
        assertClose(vtv.toTypedArray() as Float32Array, T.eye(5, 5, { dtype: a.dtype }).toTypedArray() as Float32Array, 0, tol,
          `VᵀV = I ${a.dtype}`);
      }
    });
  });

  test('sqrtmPsd: a rank-deficient PSD matrix: R symmetric, R·R = A, float64 out of float32 in', () => {
    T.scope(() => {
      const a = fromSpec(fx.inputs.psd64_rank3);
      const r = linalg.sqrtmPsd(a);
      assert.equal(r.dtype, 'float64');
      const scale = a.abs().amax().item();
      assertClose(r.toTypedArray() as Float64Array, r.t().contiguous().toTypedArray() as Float64Array, 0, 1e-12 * scale, 'symmetric');
      // Round-off in the three zero eigenvalues (~1e-15·‖A‖) is clamped, not square-rooted into noise.
      assertClose(r.matmul(r).toTypedArray() as Float64Array, a.toTypedArray() as Float64Array, 0, 1e-10 * scale, 'R·R = A');
      const r32 = linalg.sqrtmPsd(fromSpec(fx.inputs.spd64).float());
      assert.equal(r32.dtype, 'float64');
      const want = fx.cases.sqrtm_spd64 as FT;
      assertClose(r32.toTypedArray() as Float64Array, want.data, 1e-5, 1e-5, 'float32 input');
    });
  });

  test('sqrtmPsd leaves no tensors behind but its result', () => {
    const a = fromSpec(fx.inputs.spd64);
    const before = T.liveTensors();
    const r = linalg.sqrtmPsd(a);
    assert.equal(T.liveTensors(), before + 1);
    r.dispose();
    a.dispose();
  });
});
