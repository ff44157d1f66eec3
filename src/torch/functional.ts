// `F`: the functional ops of torch.nn.functional, with PyTorch's argument names and defaults.
import { N } from './native.js';
import { Tensor, wrap } from './tensor.js';
import { isTracing } from './trace.js';

type Pair = number | readonly [number, number];
type Reduction = 'mean' | 'sum' | 'none';

function pair(v: Pair, name: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (v.length !== 2) throw new RangeError(`${name} must be a number or a pair, got [${v.join(', ')}]`);
  return [v[0], v[1]];
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return wrap(N.conv2d(x.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1, 'stride'),
    pair(o.padding ?? 0, 'padding'), pair(o.dilation ?? 1, 'dilation'), o.groups ?? 1));
}

/**
 * Whether conv2d would run a 3×3 stride-1 convolution with `outChannels` filters (and a
 * bias or not) over x's samples and channels at `size` (default x's own: give the size x is
 * resampled to first) by Winograd's algorithm (native/conv_winograd.cc): float32 NCHW on
 * a CPU whose oneDNN has the kernel, enough 4×4 output tiles, not turned off. Layers that
 * could fold resampling into their convolution ask, as folding forfeits Winograd's saving.
 * False while a trace runs: an exported graph is the same whichever CPU exported it.
 */
export function winogradConv3x3(x: Tensor, outChannels: number, o: { size?: [number, number]; padding?: number; bias?: boolean } = {}): boolean {
  if (x.ndim !== 4 || isTracing()) return false;
  const [h, w] = o.size ?? [x.shape[2], x.shape[3]];
  return N.conv3x3Winograd(x.handle, outChannels, h, w, o.padding ?? 1, o.bias ?? true) as boolean;
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}

/** Weight layout [in, out/groups, kH, kW], as in PyTorch. */
export function convTranspose2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: ConvTranspose2dOptions = {}): Tensor {
  return wrap(N.convTranspose2d(x.handle, weight.handle, bias?.handle ?? null, pair(o.stride ?? 1, 'stride'),
    pair(o.padding ?? 0, 'padding'), pair(o.outputPadding ?? 0, 'outputPadding'), o.groups ?? 1, pair(o.dilation ?? 1, 'dilation')));
}

/** `x @ weight.T + bias` */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return wrap(N.linear(x.handle, weight.handle, bias?.handle ?? null));
}

export interface AvgPool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number | null;
}

export function avgPool2d(x: Tensor, kernelSize: Pair, o: AvgPool2dOptions = {}): Tensor {
  const k = pair(kernelSize, 'kernelSize');
  return wrap(N.avgPool2d(x.handle, k, o.stride == null ? k : pair(o.stride, 'stride'), pair(o.padding ?? 0, 'padding'),
    o.ceilMode ?? false, o.countIncludePad ?? true, o.divisorOverride ?? null));
}

export interface MaxPool2dOptions {
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export function maxPool2d(x: Tensor, kernelSize: Pair, o: MaxPool2dOptions = {}): Tensor {
  const k = pair(kernelSize, 'kernelSize');
  return wrap(N.maxPool2d(x.handle, k, o.stride == null ? k : pair(o.stride, 'stride'), pair(o.padding ?? 0, 'padding'),
    pair(o.dilation ?? 1, 'dilation'), o.ceilMode ?? false));
}

export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return wrap(N.adaptiveAvgPool2d(x.handle, pair(outputSize, 'outputSize')));
}

export interface InterpolateOptions {
  size?: Pair;
  scaleFactor?: Pair;
  mode?: 'nearest' | 'bilinear' | 'bicubic' | 'area';
  alignCorners?: boolean;
}

/** Resizes NCHW images to `size`, or by `scaleFactor` (output = floor(input × scale), as PyTorch). */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  const mode = o.mode ?? 'nearest';
  let size: [number, number];
  let scales: [number, number] | null = null;
  if (o.size !== undefined && o.scaleFactor !== undefined) throw new Error('interpolate(): give size or scaleFactor, not both');
  if (o.size !== undefined) size = pair(o.size, 'size');
  else if (o.scaleFactor !== undefined) {
    scales = pair(o.scaleFactor, 'scaleFactor');
    const s = x.shape;
    size = [Math.floor(s[2] * scales[0]), Math.floor(s[3] * scales[1])];
  } else throw new Error('interpolate(): give size or scaleFactor');
  if (o.alignCorners !== undefined && mode !== 'bilinear' && mode !== 'bicubic') {
    throw new Error(`interpolate(): alignCorners only applies to bilinear and bicubic, not ${mode}`);
  }
  return wrap(N.interpolate(x.handle, size, mode, o.alignCorners ?? false, scales));
}

export interface PadOptions {
  mode?: 'constant' | 'reflect' | 'replicate';
  value?: number;
}

/** Pads with `pads` given last dimension first: [left, right, top, bottom, ...], as F.pad. */
export function pad(x: Tensor, pads: readonly number[], o: PadOptions = {}): Tensor {
  return wrap(N.pad(x.handle, [...pads], o.mode ?? 'constant', o.value ?? 0));
}

export interface GridSampleOptions {
  mode?: 'bilinear' | 'nearest' | 'bicubic';
  paddingMode?: 'zeros' | 'border' | 'reflection';
  alignCorners?: boolean;
}

/**
 * F.grid_sample for NCHW input and a grid [N, Ho, Wo, 2] of (x, y) in [-1, 1]; defaults as
 * PyTorch's (bilinear, zeros, alignCorners false). Unlike libtorch's own op it has
 * derivatives of every order with respect to the input (so R1 can pass through it); a
 * second derivative that involves the grid is refused.
 */
export function gridSample(input: Tensor, grid: Tensor, o: GridSampleOptions = {}): Tensor {
  return wrap(N.gridSample(input.handle, grid.handle, o.mode ?? 'bilinear', o.paddingMode ?? 'zeros', o.alignCorners ?? false));
}

/** F.affine_grid: the sampling grid [N, H, W, 2] of the affine maps theta [N, 2, 3] for an output of `size` [N, C, H, W]. */
export function affineGrid(theta: Tensor, size: readonly number[], o: { alignCorners?: boolean } = {}): Tensor {
  return wrap(N.affineGrid(theta.handle, [...size], o.alignCorners ?? false));
}

// ---- activations ----
export function relu(x: Tensor): Tensor { return wrap(N.relu(x.handle)); }
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor { return wrap(N.leakyRelu(x.handle, negativeSlope)); }
export function tanh(x: Tensor): Tensor { return wrap(N.tanh(x.handle)); }
export function sigmoid(x: Tensor): Tensor { return wrap(N.sigmoid(x.handle)); }
export function softplus(x: Tensor, o: { beta?: number; threshold?: number } = {}): Tensor {
  return wrap(N.softplus(x.handle, o.beta ?? 1, o.threshold ?? 20));
}
export function gelu(x: Tensor): Tensor { return wrap(N.gelu(x.handle)); }
export function silu(x: Tensor): Tensor { return wrap(N.silu(x.handle)); }
export function elu(x: Tensor, alpha = 1): Tensor { return wrap(N.elu(x.handle, alpha)); }
export function softmax(x: Tensor, dim: number): Tensor { return wrap(N.softmax(x.handle, dim)); }
export function logSoftmax(x: Tensor, dim: number): Tensor { return wrap(N.logSoftmax(x.handle, dim)); }
/** Zeroes elements with probability p and scales the rest by 1/(1-p) when training. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  return wrap(N.dropout(x.handle, p, training));
}

// ---- normalisation ----
export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/** Running statistics, when given, are updated in place in training mode. */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, o: BatchNormOptions = {}): Tensor {
  return wrap(N.batchNorm(x.handle, o.weight?.handle ?? null, o.bias?.handle ?? null, runningMean?.handle ?? null,
    runningVar?.handle ?? null, o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5));
}

export interface InstanceNormOptions {
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  useInputStats?: boolean;
  momentum?: number;
  eps?: number;
}

export function instanceNorm(x: Tensor, o: InstanceNormOptions = {}): Tensor {
  return wrap(N.instanceNorm(x.handle, o.weight?.handle ?? null, o.bias?.handle ?? null, o.runningMean?.handle ?? null,
    o.runningVar?.handle ?? null, o.useInputStats ?? true, o.momentum ?? 0.1, o.eps ?? 1e-5));
}

export function groupNorm(x: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return wrap(N.groupNorm(x.handle, numGroups, weight?.handle ?? null, bias?.handle ?? null, eps));
}

export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return wrap(N.layerNorm(x.handle, [...normalizedShape], weight?.handle ?? null, bias?.handle ?? null, eps));
}

/** Rows of `weight` picked by the integer `indices`. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  return wrap(N.embedding(weight.handle, indices.handle));
}

/** int64 class indices → one-hot int64 with `numClasses` columns. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return wrap(N.oneHot(indices.handle, numClasses));
}

// ---- losses ----
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return wrap(N.bceWithLogits(input.handle, target.handle, o.weight?.handle ?? null, o.posWeight?.handle ?? null, o.reduction ?? 'mean'));
}
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(N.mseLoss(input.handle, target.handle, reduction));
}
export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(N.l1Loss(input.handle, target.handle, reduction));
}
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; labelSmoothing?: number } = {},
): Tensor {
  return wrap(N.crossEntropy(input.handle, target.handle, o.weight?.handle ?? null, o.reduction ?? 'mean', o.labelSmoothing ?? 0));
}
export function nllLoss(input: Tensor, target: Tensor, o: { weight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  return wrap(N.nllLoss(input.handle, target.handle, o.weight?.handle ?? null, o.reduction ?? 'mean'));
}
