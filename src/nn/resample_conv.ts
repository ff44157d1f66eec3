// Resampling folded into a 3×3 convolution (padding 1): the same linear map as upsampling
// or pooling separately, with fewer multiply-adds. BigGAN's residual blocks resample
// next to a convolution (layers.GBlock: nearest 2× upsampling, then conv1; layers.DBlock:
// conv2, then 2×2 average pooling), and these are most of its work.
//
// Upsampling: every output pixel (2i+p, 2j+q) of conv3x3(up2(x)) reads x at rows
// i−1+p … i+p and columns j−1+q … j+q only, the 3×3 taps landing on repeated pixels
// adding up. So each of the four phases (p, q) is a 2×2 convolution of x at its own
// resolution: 16 instead of 36 multiply-adds per input pixel and channel pair. The four
// run as one convolution with 4× the output channels (at (H+1)×(W+1) positions, phase
// (p, q) read from offset (p, q)), then interleave.
//
// Pooling: avgpool2(conv3x3(x)) is one 4×4 convolution of stride 2 (padding 1) whose kernel
// is the mean of the 3×3 kernel placed at the four offsets of the pooling window: 16 per
// output pixel instead of 4 × 9.
//
// Both only regroup the sums of the original, so results agree to rounding. Gradients
// reach the 3×3 weight through the kernel's construction.
//
// Where the 3×3 convolution itself runs by Winograd's algorithm (float32 on AVX-512 CPUs:
// F.winogradConv3x3) it costs less than either fold, so there the plain order runs: with
// Winograd, upsampling then convolving measured 1.4–2× faster than the phase convolution
// (BigGAN's 256 and PGGAN's 512 channels, 8→16 and 16→32 px, forward and backward), and
// convolving then pooling 1.1–1.9× faster than the 4×4 stride-2 kernel except at 32 px
// with 256 channels (forward 0.92×; with backward 1.08×).
import { Tensor, F, stack, tensor } from '../torch/index.js';

/** Whether an NCHW tensor is stored channels-last (NHWC). */
function isChannelsLast(x: Tensor): boolean {
  return x.shape[1] > 1 && x.strides[1] === 1;
}

function check3x3(weight: Tensor, what: string): void {
  const [, , kh, kw] = weight.shape;
  if (kh !== 3 || kw !== 3) throw new Error(`${what} folds a 3×3 convolution, got a ${kh}×${kw} kernel`);
}

// Row (and column) taps of the phase kernels: for phase p, tap a of the 2×2 kernel sums
// these rows of the 3×3 one (row p·2 + a of this table).
const PHASE_TAPS = [
  [1, 0, 0], // p 0, tap 0: row i−1 of x meets kernel row 0
  [0, 1, 1], // p 0, tap 1: row i meets kernel rows 1 and 2
  [1, 1, 0], // p 1, tap 0: row i meets kernel rows 0 and 1
  [0, 0, 1], // p 1, tap 1: row i+1 meets kernel row 2
];

// Both folded kernels are linear in the 3×3 weight: each is one product of the weight's
// [O·I, 9] view with a constant 0/1 (or 0/¼) matrix, a single GEMM cheaper than building
// them tap by tap (at batch 16 the kernels' construction was a tenth of PGGAN's sampling).

/** [16, 9]: row (p, q, a, b) of the phase kernels from taps (r, c) of the 3×3 kernel. */
const PHASE_MAP: number[][] = [];
for (let p = 0; p < 2; p++) for (let q = 0; q < 2; q++) for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) {
  const row: number[] = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) row.push(PHASE_TAPS[2 * p + a][r] * PHASE_TAPS[2 * q + b][c]);
  PHASE_MAP.push(row);
}

/** [16, 9]: tap (u, v) of the 4×4 pooled kernel from taps (r, c) of the 3×3 kernel, the 3×3 one placed at the four offsets (dy, dx) and averaged. */
const POOL_MAP: number[][] = [];
for (let u = 0; u < 4; u++) for (let v = 0; v < 4; v++) {
  const row: number[] = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) row.push(0.25 * Number(u - r >= 0 && u - r <= 1) * Number(v - c >= 0 && v - c <= 1));
  POOL_MAP.push(row);
}

/** weight [O, I, 3, 3] times a [16, 9] map's transpose: [O, I, 16]. */
function mapKernel(weight: Tensor, map: number[][]): Tensor {
  const [o, i] = weight.shape;
  return weight.reshape(o * i, 9).matmul(tensor(map, { dtype: weight.dtype, device: weight.device }).t()).view(o, i, 16);
}

/** The four phase kernels of a 3×3 weight [O, I, 3, 3], as one weight [4·O, I, 2, 2] (phase (p, q) at channels (2p+q)·O …). */
export function upsamplePhaseKernels(weight: Tensor): Tensor {
  check3x3(weight, 'upsampleConv3x3');
  const [o, i] = weight.shape;
  return mapKernel(weight, PHASE_MAP).view(o, i, 4, 2, 2).permute(2, 0, 1, 3, 4).reshape(4 * o, i, 2, 2);
}

/** conv2d(nearest-upsample(x, 2), weight, bias, padding 1) for a 3×3 weight, without the upsampled input. */
export function upsampleConv3x3(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [, , h, w] = x.shape;
  const o = weight.shape[0];
  if (F.winogradConv3x3(x, o, { size: [2 * h, 2 * w], bias: bias !== null })) {
    check3x3(weight, 'upsampleConv3x3');
    return F.conv2d(F.interpolate(x, { scaleFactor: 2, mode: 'nearest' }), weight, bias, { padding: 1 });
  }
  const y = F.conv2d(x, upsamplePhaseKernels(weight), bias ? bias.repeat(4) : null, { padding: 1 }).view(-1, 2, 2, o, h + 1, w + 1);
  const phase = (p: number, q: number) => y.select(1, p).select(1, q).narrow(2, p, h).narrow(3, q, w);
  if (isChannelsLast(x)) {
    // Interleaved in NHWC order, [N, H, 2 (p), W, 2 (q), O], so the result stays channels-last.
    const rowsLast = (p: number) => stack([phase(p, 0).permute(0, 2, 3, 1), phase(p, 1).permute(0, 2, 3, 1)], 3);
    return stack([rowsLast(0), rowsLast(1)], 2).view(-1, 2 * h, 2 * w, o).permute(0, 3, 1, 2);
  }
  // [N, O, H, 2 (p), W, 2 (q)] is [N, O, 2H, 2W] row by row.
  const rows = (p: number) => stack([phase(p, 0), phase(p, 1)], 4);
  return stack([rows(0), rows(1)], 3).view(-1, o, 2 * h, 2 * w);
}

/** The 4×4 kernel of stride 2 that convolves and 2×2-average-pools with a 3×3 weight. */
export function pooledKernel(weight: Tensor): Tensor {
  check3x3(weight, 'conv3x3AvgPool');
  const [o, i] = weight.shape;
  return mapKernel(weight, POOL_MAP).view(o, i, 4, 4);
}

/** avgPool2d(conv2d(x, weight, bias, padding 1), 2) for a 3×3 weight, in one strided convolution. */
export function conv3x3AvgPool(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (F.winogradConv3x3(x, weight.shape[0], { bias: bias !== null })) {
    check3x3(weight, 'conv3x3AvgPool');
    return F.avgPool2d(F.conv2d(x, weight, bias, { padding: 1 }), 2);
  }
  return F.conv2d(x, pooledKernel(weight), bias, { stride: 2, padding: 1 });
}
