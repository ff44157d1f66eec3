// The ONNX form of each op of the tensor layer (by its native name, with the native
// argument order that src/torch/tensor.ts and functional.ts use), at opset 17: axes of
// ReduceSum/Squeeze/Unsqueeze are inputs (since 13), those of ReduceMean/Max/Min still
// attributes (until 18). A mapping either reproduces the op exactly or fails naming it.
//
// Shapes in attributes are written so that they hold for any batch (and any height and
// width): a Reshape copies an input dimension with 0, an Expand broadcasts with 1, a
// Resize takes scales. The exporter traces twice at two sizes and keeps the inputs'
// axes dynamic only when both graphs come out identical.
import type { Handle } from '../torch/native.js';
import { isHandle } from '../torch/trace.js';
import type { MapContext, OpMapping, OnnxAttr } from './graph.js';
import { elemType } from './onnx.js';

/** Ops that draw random numbers: a graph would bake one draw. */
export const RANDOM_OPS = new Set(['randn', 'rand', 'randint', 'randperm', 'normal_', 'uniform_', 'bernoulli', 'multinomial']);

/** Calls that hand a tensor's values to JavaScript. */
export const READS_VALUES = new Set(['item', 'toBytes', 'equal', 'allclose']);

/** expand [1, …] → [batch, …], or repeat [1, …] by [batch, 1, …, 1]. */
export function isBatchBroadcast(op: string, from: number[], sizes: unknown, batch: number): boolean {
  if (op !== 'expand' && op !== 'repeat') return false;
  const target = sizes as number[];
  if (target.length !== from.length || from[0] !== 1 || target[0] !== batch) return false;
  if (op === 'expand') return true;
  return op === 'repeat' && target.slice(1).every((r) => r === 1);
}

type Args = readonly unknown[];

const INT64_MAX = 9223372036854775807n;

function operand(ctx: MapContext, v: unknown, like: Handle): string {
  if (isHandle(v)) return ctx.input(v);
  if (typeof v === 'number') return ctx.scalar(v, ctx.dtype(like));
  return ctx.fail(`unsupported operand ${String(v)}`);
}

const unary = (op: string, attrs: Record<string, OnnxAttr> = {}): OpMapping => (ctx, a) => ctx.emit(op, [ctx.input(a[0] as Handle)], attrs)[0];

/** A tensor operand cast to the result's dtype where PyTorch would promote it. */
function promoted(ctx: MapContext, v: unknown, like: Handle, result: unknown): string {
  const name = operand(ctx, v, like);
  if (!isHandle(v) || !isHandle(result) || ctx.dtype(v) === ctx.dtype(result)) return name;
  return ctx.emit('Cast', [name], { to: elemType(ctx.dtype(result)) })[0];
}

const binary = (op: string): OpMapping => (ctx, a, r) => {
  const x = a[0] as Handle;
  return ctx.emit(op, [promoted(ctx, x, x, r), promoted(ctx, a[1], x, r)])[0];
};

/** `s ∘ x` for a number s. */
const reversed = (op: string): OpMapping => (ctx, a) => {
  const x = a[0] as Handle;
  return ctx.emit(op, [ctx.scalar(a[1] as number, ctx.dtype(x)), ctx.input(x)])[0];
};

/** add/sub with PyTorch's alpha: `a ± alpha·b`. */
const addLike = (op: string): OpMapping => (ctx, a, r) => {
  const x = a[0] as Handle;
  let b = promoted(ctx, a[1], x, r);
  const alpha = a[2] as number | null;
  if (alpha !== null && alpha !== 1) b = ctx.emit('Mul', [b, ctx.scalar(alpha, ctx.dtype(x))])[0];
  return ctx.emit(op, [promoted(ctx, x, x, r), b])[0];
};

function norm(dim: number, rank: number): number {
  return dim < 0 ? dim + rank : dim;
}

function reduceAxes(ctx: MapContext, x: Handle, dims: unknown): number[] {
  const rank = ctx.shape(x).length;
  return dims === null ? Array.from({ length: rank }, (_, i) => i) : (dims as number[]).map((d) => norm(d, rank));
}

/** Reductions whose axes are an attribute at opset 17. */
const reduceAttr = (op: string): OpMapping => (ctx, a) => {
  const x = a[0] as Handle;
  return ctx.emit(op, [ctx.input(x)], { axes: reduceAxes(ctx, x, a[1]), keepdims: a[2] ? 1 : 0 })[0];
};

/** var/std with Bessel's correction: mean of squared deviations times n/(n − correction). */
const moments = (root: boolean): OpMapping => (ctx, a) => {
  const x = a[0] as Handle;
  const axes = reduceAxes(ctx, x, a[1]);
  const shape = ctx.shape(x);
  const n = axes.reduce((p, d) => p * shape[d], 1);
  const xi = ctx.input(x);
  const mean = ctx.emit('ReduceMean', [xi], { axes, keepdims: 1 })[0];
  const dev = ctx.emit('Sub', [xi, mean])[0];
  const sq = ctx.emit('Mul', [dev, dev])[0];
  let v = ctx.emit('ReduceMean', [sq], { axes, keepdims: a[3] ? 1 : 0 })[0];
  const corr = a[2] as number;
  if (corr !== 0) v = ctx.emit('Mul', [v, ctx.scalar(n / (n - corr), ctx.dtype(x))])[0];
  return root ? ctx.emit('Sqrt', [v])[0] : v;
};

/**
 * A target shape for Reshape that keeps holding when the batch (or a spatial size)
 * changes: a dimension equal to the input's at the same place is copied (0).
 */
function reshapeTarget(inShape: number[], target: number[]): number[] {
  return target.map((d, i) => (d !== -1 && i < inShape.length && d === inShape[i] ? 0 : d));
}

const reshape: OpMapping = (ctx, a) => {
  const x = a[0] as Handle;
  return ctx.emit('Reshape', [ctx.input(x), ctx.int64(reshapeTarget(ctx.shape(x), a[1] as number[]))])[0];
};

function transposePerm(rank: number, d0: number, d1: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[norm(d0, rank)], perm[norm(d1, rank)]] = [perm[norm(d1, rank)], perm[norm(d0, rank)]];
  return perm;
}

function pair(v: unknown): [number, number] {
  return v as [number, number];
}

/** ONNX pads for 2-D spatial ops: [top, left, bottom, right]. */
function pads2d(p: [number, number]): number[] {
  return [p[0], p[1], p[0], p[1]];
}

/** A missing scale/bias of a normalisation: ones or zeros of C channels. */
function affineOrDefault(ctx: MapContext, h: unknown, x: Handle, fill: number): string {
  if (isHandle(h)) return ctx.input(h);
  return ctx.floats(Array(ctx.shape(x)[1]).fill(fill));
}

function slice(ctx: MapContext, x: Handle, dim: number, start: number, end: bigint | number, step: number): string {
  const rank = ctx.shape(x).length;
  const e = typeof end === 'bigint' ? end : end >= Number.MAX_SAFE_INTEGER ? INT64_MAX : BigInt(end);
  return ctx.emit('Slice', [ctx.input(x), ctx.int64([start]), int64Big(ctx, e), ctx.int64([norm(dim, rank)]), ctx.int64([step])])[0];
}

function int64Big(ctx: MapContext, v: bigint): string {
  // The context's int64 takes numbers; INT64_MAX is not one, and Slice clamps ends anyway.
  return ctx.int64([v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v)]);
}

function split(ctx: MapContext, x: Handle, sizes: number[], dim: number): string[] {
  const axis = norm(dim, ctx.shape(x).length);
  return ctx.emit('Split', [ctx.input(x), ctx.int64(sizes)], { axis }, sizes.length);
}

function splitSizes(total: number, size: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < total; s += size) out.push(Math.min(size, total - s));
  return out;
}

/** A constant [1, …] broadcast to the graph's own batch size (`ones`: 1 for every other axis). */
function toBatch(ctx: MapContext, x: Handle, ones: number[]): string {
  const dims = ctx.emit('Concat', [ctx.batch!.dim(), ctx.int64(ones.slice(1))], { axis: 0 })[0];
  return ctx.emit('Expand', [ctx.input(x), dims])[0];
}

export const OPS: Record<string, OpMapping> = {
  // ---- arithmetic ----
  add: addLike('Add'),
  sub: addLike('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
  pow: binary('Pow'),
  maximum: binary('Max'),
  minimum: binary('Min'),
  rsub: reversed('Sub'),
  rdiv: reversed('Div'),
  rpow: reversed('Pow'),
  neg: unary('Neg'),
  abs: unary('Abs'),
  sqrt: unary('Sqrt'),
  rsqrt: (ctx, a) => ctx.emit('Reciprocal', [ctx.emit('Sqrt', [ctx.input(a[0] as Handle)])[0]])[0],
  square: (ctx, a) => {
    const x = ctx.input(a[0] as Handle);
    return ctx.emit('Mul', [x, x])[0];
  },
  exp: unary('Exp'),
  log: unary('Log'),
  reciprocal: unary('Reciprocal'),
  erf: unary('Erf'),
  sin: unary('Sin'),
  cos: unary('Cos'),
  floor: unary('Floor'),
  ceil: unary('Ceil'),
  sign: unary('Sign'),
  clamp: (ctx, a) => {
    const x = a[0] as Handle;
    if ((a[1] !== null && !(typeof a[1] === 'number')) || (a[2] !== null && !(typeof a[2] === 'number'))) ctx.fail('tensor bounds are not supported');
    const dt = ctx.dtype(x);
    return ctx.emit('Clip', [ctx.input(x), a[1] === null ? '' : ctx.scalar(a[1] as number, dt), a[2] === null ? '' : ctx.scalar(a[2] as number, dt)])[0];
  },
  lerp: (ctx, a) => {
    // a + w·(b − a)
    const x = a[0] as Handle;
    const xi = ctx.input(x);
    const d = ctx.emit('Sub', [ctx.input(a[1] as Handle), xi])[0];
    return ctx.emit('Add', [xi, ctx.emit('Mul', [d, operand(ctx, a[2], x)])[0]])[0];
  },
  where: (ctx, a) => {
    const like = [a[1], a[2]].find(isHandle) as Handle | undefined;
    if (!like) ctx.fail('both branches are numbers');
    return ctx.emit('Where', [ctx.input(a[0] as Handle), operand(ctx, a[1], like!), operand(ctx, a[2], like!)])[0];
  },

  // ---- reductions ----
  sum: (ctx, a) => {
    const x = a[0] as Handle;
    return ctx.emit('ReduceSum', [ctx.input(x), ctx.int64(reduceAxes(ctx, x, a[1]))], { keepdims: a[2] ? 1 : 0 })[0];
  },
  mean: reduceAttr('ReduceMean'),
  amax: reduceAttr('ReduceMax'),
  amin: reduceAttr('ReduceMin'),
  var: moments(false),
  std: moments(true),
  norm: (ctx, a) => {
    if (a[1] !== 2) ctx.fail(`only the 2-norm maps (ReduceL2), not p=${String(a[1])}`);
    const x = a[0] as Handle;
    return ctx.emit('ReduceL2', [ctx.input(x)], { axes: reduceAxes(ctx, x, a[2]), keepdims: a[3] ? 1 : 0 })[0];
  },

  // ---- linear algebra ----
  matmul: binary('MatMul'),
  mm: binary('MatMul'),
  bmm: binary('MatMul'),
  linear: (ctx, a) => {
    const x = a[0] as Handle, w = a[1] as Handle, b = a[2];
    if (ctx.shape(x).length === 2) {
      return ctx.emit('Gemm', [ctx.input(x), ctx.input(w), ...(isHandle(b) ? [ctx.input(b)] : [])], { transB: 1 })[0];
    }
    const wt = ctx.emit('Transpose', [ctx.input(w)], { perm: [1, 0] })[0];
    const y = ctx.emit('MatMul', [ctx.input(x), wt])[0];
    return isHandle(b) ? ctx.emit('Add', [y, ctx.input(b)])[0] : y;
  },

  // ---- shape ----
  reshape,
  view: reshape,
  flatten: (ctx, a) => {
    const x = a[0] as Handle;
    const s = ctx.shape(x);
    const start = norm(a[1] as number, s.length), end = norm(a[2] as number, s.length);
    const target = [...s.slice(0, start), -1, ...s.slice(end + 1)];
    return ctx.emit('Reshape', [ctx.input(x), ctx.int64(reshapeTarget(s, target))])[0];
  },
  permute: (ctx, a) => {
    const x = a[0] as Handle;
    const rank = ctx.shape(x).length;
    return ctx.emit('Transpose', [ctx.input(x)], { perm: (a[1] as number[]).map((d) => norm(d, rank)) })[0];
  },
  transpose: (ctx, a) => {
    const x = a[0] as Handle;
    return ctx.emit('Transpose', [ctx.input(x)], { perm: transposePerm(ctx.shape(x).length, a[1] as number, a[2] as number) })[0];
  },
  squeeze: (ctx, a) => {
    const x = a[0] as Handle;
    const s = ctx.shape(x);
    const axes = a[1] === null ? s.flatMap((d, i) => (d === 1 ? [i] : [])) : s[norm(a[1] as number, s.length)] === 1 ? [norm(a[1] as number, s.length)] : [];
    return axes.length === 0 ? ctx.emit('Identity', [ctx.input(x)])[0] : ctx.emit('Squeeze', [ctx.input(x), ctx.int64(axes)])[0];
  },
  unsqueeze: (ctx, a) => {
    const x = a[0] as Handle;
    const rank = ctx.shape(x).length + 1;
    return ctx.emit('Unsqueeze', [ctx.input(x), ctx.int64([norm(a[1] as number, rank)])])[0];
  },
  expand: (ctx, a) => {
    // Broadcast with 1 wherever the input already has the size (or -1 keeps it).
    const x = a[0] as Handle;
    const s = ctx.shape(x), target = a[1] as number[];
    const off = target.length - s.length;
    const shape = target.map((d, i) => (d === -1 || (i >= off && s[i - off] === d) ? 1 : d));
    if (ctx.batch && !ctx.isLive(x) && isBatchBroadcast('expand', s, target, ctx.batch.size)) return toBatch(ctx, x, shape);
    return ctx.emit('Expand', [ctx.input(x), ctx.int64(shape)])[0];
  },
  repeat: (ctx, a) => {
    const x = a[0] as Handle;
    const reps = a[1] as number[];
    if (ctx.batch && !ctx.isLive(x) && isBatchBroadcast('repeat', ctx.shape(x), reps, ctx.batch.size)) return toBatch(ctx, x, reps);
    let xi = ctx.input(x);
    const extra = reps.length - ctx.shape(x).length;
    if (extra > 0) xi = ctx.emit('Unsqueeze', [xi, ctx.int64(Array.from({ length: extra }, (_, i) => i))])[0];
    return ctx.emit('Tile', [xi, ctx.int64(reps)])[0];
  },
  narrow: (ctx, a) => slice(ctx, a[0] as Handle, a[1] as number, a[2] as number, (a[2] as number) + (a[3] as number), 1),
  slice: (ctx, a) => slice(ctx, a[0] as Handle, a[1] as number, a[2] as number, a[3] as number, a[4] as number),
  select: (ctx, a) => {
    const x = a[0] as Handle;
    const s = ctx.shape(x);
    const dim = norm(a[1] as number, s.length);
    const idx = (a[2] as number) < 0 ? (a[2] as number) + s[dim] : (a[2] as number);
    return ctx.emit('Gather', [ctx.input(x), ctx.int64([idx], true)], { axis: dim })[0];
  },
  indexSelect: (ctx, a) => {
    const x = a[0] as Handle;
    return ctx.emit('Gather', [ctx.input(x), ctx.input(a[2] as Handle)], { axis: norm(a[1] as number, ctx.shape(x).length) })[0];
  },
  flip: (ctx, a) => {
    // A reversed slice per dimension (StyleGAN2 flips filters; on weights it folds away).
    const x = a[0] as Handle;
    const rank = ctx.shape(x).length;
    const dims = (a[1] as number[]).map((d) => norm(d, rank));
    return ctx.emit('Slice', [ctx.input(x), ctx.int64(dims.map(() => -1)), ctx.int64(dims.map(() => -Number.MAX_SAFE_INTEGER)), ctx.int64(dims), ctx.int64(dims.map(() => -1))])[0];
  },
  split: (ctx, a) => {
    const x = a[0] as Handle;
    const dim = norm(a[2] as number, ctx.shape(x).length);
    const sizes = typeof a[1] === 'number' ? splitSizes(ctx.shape(x)[dim], a[1]) : (a[1] as number[]);
    return split(ctx, x, sizes, dim);
  },
  chunk: (ctx, a, result) => {
    const x = a[0] as Handle;
    const dim = norm(a[2] as number, ctx.shape(x).length);
    const sizes = (result as Handle[]).map((r) => ctx.shape(r)[dim]);
    return split(ctx, x, sizes, dim);
  },
  unbind: (ctx, a) => {
    const x = a[0] as Handle;
    const dim = norm(a[1] as number, ctx.shape(x).length);
    return split(ctx, x, Array(ctx.shape(x)[dim]).fill(1), dim).map((p) => ctx.emit('Squeeze', [p, ctx.int64([dim])])[0]);
  },
  cat: (ctx, a) => {
    const xs = a[0] as Handle[];
    return ctx.emit('Concat', xs.map((h) => ctx.input(h)), { axis: norm(a[1] as number, ctx.shape(xs[0]).length) })[0];
  },
  stack: (ctx, a) => {
    const xs = a[0] as Handle[];
    const dim = norm(a[1] as number, ctx.shape(xs[0]).length + 1);
    const parts = xs.map((h) => ctx.emit('Unsqueeze', [ctx.input(h), ctx.int64([dim])])[0]);
    return ctx.emit('Concat', parts, { axis: dim })[0];
  },

  // ---- copies and views that change nothing in a graph ----
  contiguous: unary('Identity'),
  clone: unary('Identity'),
  detach: unary('Identity'),
  alias: unary('Identity'),
  channelsLast: unary('Identity'),
  to: (ctx, a) => {
    const x = a[0] as Handle;
    const dt = a[1] as string | null;
    if (dt === null || dt === ctx.dtype(x)) return ctx.emit('Identity', [ctx.input(x)])[0];
    return ctx.emit('Cast', [ctx.input(x)], { to: elemType(dt) })[0];
  },

  // ---- activations ----
  relu: unary('Relu'),
  relu_: unary('Relu'),
  leakyRelu: (ctx, a) => ctx.emit('LeakyRelu', [ctx.input(a[0] as Handle)], { alpha: { float: a[1] as number } })[0],
  leakyRelu_: (ctx, a) => ctx.emit('LeakyRelu', [ctx.input(a[0] as Handle)], { alpha: { float: a[1] as number } })[0],
  tanh: unary('Tanh'),
  sigmoid: unary('Sigmoid'),
  elu: (ctx, a) => ctx.emit('Elu', [ctx.input(a[0] as Handle)], { alpha: { float: a[1] as number } })[0],
  silu: (ctx, a) => {
    const x = ctx.input(a[0] as Handle);
    return ctx.emit('Mul', [x, ctx.emit('Sigmoid', [x])[0]])[0];
  },
  softmax: (ctx, a) => ctx.emit('Softmax', [ctx.input(a[0] as Handle)], { axis: a[1] as number })[0],
  logSoftmax: (ctx, a) => ctx.emit('LogSoftmax', [ctx.input(a[0] as Handle)], { axis: a[1] as number })[0],
  dropout: unary('Identity'), // reached only with training off or p = 0 (graph.ts refuses the rest)

  // ---- convolution, pooling, resampling ----
  conv2d: (ctx, a) => {
    const [x, w, b] = a as [Handle, Handle, unknown];
    const k = ctx.shape(w).slice(2);
    return ctx.emit('Conv', [ctx.input(x), ctx.input(w), ...(isHandle(b) ? [ctx.input(b)] : [])], {
      kernel_shape: k, strides: pair(a[3]), pads: pads2d(pair(a[4])), dilations: pair(a[5]), group: a[6] as number,
    })[0];
  },
  convTranspose2d: (ctx, a) => {
    const [x, w, b] = a as [Handle, Handle, unknown];
    const k = ctx.shape(w).slice(2);
    return ctx.emit('ConvTranspose', [ctx.input(x), ctx.input(w), ...(isHandle(b) ? [ctx.input(b)] : [])], {
      kernel_shape: k, strides: pair(a[3]), pads: pads2d(pair(a[4])), output_padding: pair(a[5]), group: a[6] as number, dilations: pair(a[7]),
    })[0];
  },
  avgPool2d: (ctx, a) => {
    if (a[6] !== null) ctx.fail('divisorOverride has no ONNX form');
    return ctx.emit('AveragePool', [ctx.input(a[0] as Handle)], {
      kernel_shape: pair(a[1]), strides: pair(a[2]), pads: pads2d(pair(a[3])), ceil_mode: a[4] ? 1 : 0, count_include_pad: a[5] ? 1 : 0,
    })[0];
  },
  maxPool2d: (ctx, a) => ctx.emit('MaxPool', [ctx.input(a[0] as Handle)], {
    kernel_shape: pair(a[1]), strides: pair(a[2]), pads: pads2d(pair(a[3])), dilations: pair(a[4]), ceil_mode: a[5] ? 1 : 0,
  })[0],
  adaptiveAvgPool2d: (ctx, a) => {
    const [oh, ow] = pair(a[1]);
    if (oh !== 1 || ow !== 1) ctx.fail('only an output size of 1×1 maps (GlobalAveragePool)');
    return ctx.emit('GlobalAveragePool', [ctx.input(a[0] as Handle)])[0];
  },
  interpolate: (ctx, a, result) => {
    const x = a[0] as Handle;
    const [ih, iw] = ctx.shape(x).slice(2);
    const [oh, ow] = ctx.shape(result as Handle).slice(2);
    const mode = a[2] as string;
    const attrs: Record<string, OnnxAttr> =
      mode === 'nearest' ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
        : mode === 'bilinear' ? { mode: 'linear', coordinate_transformation_mode: a[3] ? 'align_corners' : 'pytorch_half_pixel' }
          : ctx.fail(`mode '${mode}' is not mapped`);
    const given = a[4] as [number, number] | null;
    const scales = given ?? [oh / ih, ow / iw];
    if (Math.floor(ih * scales[0]) !== oh || Math.floor(iw * scales[1]) !== ow) ctx.fail('the output size is not the input size times a scale');
    if (mode === 'nearest' && given === null && (!Number.isInteger(scales[0]) || !Number.isInteger(scales[1]))) {
      ctx.fail('nearest resizing to a size that is not a whole multiple (PyTorch then indexes by in/out, ONNX by the scale)');
    }
    return ctx.emit('Resize', [ctx.input(x), '', ctx.floats([1, 1, scales[0], scales[1]])], attrs)[0];
  },
  pad: (ctx, a) => {
    const x = a[0] as Handle;
    const rank = ctx.shape(x).length;
    const p = a[1] as number[];
    const begin = Array(rank).fill(0), end = Array(rank).fill(0);
    for (let i = 0; i < p.length / 2; i++) {
      begin[rank - 1 - i] = p[2 * i];
      end[rank - 1 - i] = p[2 * i + 1];
    }
    const mode = ({ constant: 'constant', reflect: 'reflect', replicate: 'edge' } as Record<string, string>)[a[2] as string];
    if (!mode) ctx.fail(`pad mode '${String(a[2])}' is not mapped`);
    const ins = [ctx.input(x), ctx.int64([...begin, ...end])];
    if (mode === 'constant') ins.push(ctx.scalar(a[3] as number, ctx.dtype(x)));
    return ctx.emit('Pad', ins, { mode })[0];
  },

  // ---- normalisation ----
  batchNorm: (ctx, a) => {
    const [x, w, b, rm, rv, training, , eps] = a as [Handle, unknown, unknown, unknown, unknown, boolean, number, number];
    const scale = affineOrDefault(ctx, w, x, 1), bias = affineOrDefault(ctx, b, x, 0);
    if (training) {
      // pix2pix's test-time mode (its test.py without --eval) normalises each image by its
      // own statistics: InstanceNormalization with the batch norm's affine parameters.
      if (ctx.batchNormTraining !== 'per-image') {
        ctx.fail('batch norm in training mode uses the statistics of the whole batch; export the network in eval mode, or ask for per-image statistics');
      }
      return ctx.emit('InstanceNormalization', [ctx.input(x), scale, bias], { epsilon: { float: eps } })[0];
    }
    if (!isHandle(rm) || !isHandle(rv)) ctx.fail('eval-mode batch norm without running statistics');
    return ctx.emit('BatchNormalization', [ctx.input(x), scale, bias, ctx.input(rm as Handle), ctx.input(rv as Handle)], { epsilon: { float: eps } })[0];
  },
  instanceNorm: (ctx, a) => {
    const [x, w, b, , , useInputStats, , eps] = a as [Handle, unknown, unknown, unknown, unknown, boolean, number, number];
    if (!useInputStats) ctx.fail('instance norm with running statistics is not mapped');
    return ctx.emit('InstanceNormalization', [ctx.input(x), affineOrDefault(ctx, w, x, 1), affineOrDefault(ctx, b, x, 0)], { epsilon: { float: eps } })[0];
  },
  layerNorm: (ctx, a) => {
    const x = a[0] as Handle;
    const n = (a[1] as number[]).length;
    const shape = ctx.shape(x);
    const count = (a[1] as number[]).reduce((p, d) => p * d, 1);
    const one = (fill: number) => ctx.emit('Reshape', [ctx.floats(Array(count).fill(fill)), ctx.int64(a[1] as number[])])[0];
    return ctx.emit('LayerNormalization', [ctx.input(x), isHandle(a[2]) ? ctx.input(a[2]) : one(1), isHandle(a[3]) ? ctx.input(a[3]) : one(0)], {
      axis: shape.length - n, epsilon: { float: a[4] as number },
    })[0];
  },

  // ---- embeddings ----
  embedding: (ctx, a) => ctx.emit('Gather', [ctx.input(a[0] as Handle), ctx.input(a[1] as Handle)], { axis: 0 })[0],
  oneHot: (ctx, a) => {
    const depth = a[1] as number;
    if (depth < 0) ctx.fail('give the number of classes (a graph cannot read it from the data)');
    return ctx.emit('OneHot', [ctx.input(a[0] as Handle), ctx.int64([depth], true), ctx.int64([0, 1])], { axis: -1 })[0];
  },
};
