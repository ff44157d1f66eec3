// The memory format convolutions run in. oneDNN's CPU kernels work on channels-last
// (NHWC) data; given NCHW they reorder every input and output on every call (the depthwise
// FIR filters of StyleGAN2 included), and their 3×3 convolutions reach 420–460 GFLOP/s in
// channels-last against 270–420 in NCHW on this project's reference machine. Layers that
// opt in convert their input once (a no-op when it already is channels-last); the
// elementwise ops between convolutions keep the format, so a network converts only its
// inputs. Values are the same whatever the format: only the strides differ.
import type { Tensor } from '../torch/index.js';

/**
 * Whether convolutions on `x` should run channels-last. Off unless
 * GANFORGE_CHANNELS_LAST=1: measured end to end on the bench's StyleGAN2 cases (AMD EPYC,
 * 2 threads, `GANFORGE_CHANNELS_LAST=0|1 node dist/bench/train.js stylegan2`), NCHW trained
 * 1–3 % faster and sampled as fast — the convolutions gain, the FIR filters and
 * modulation ops between them lose more. GANFORGE_CHANNELS_LAST=0 forces NCHW.
 */
export function preferChannelsLast(x: Tensor): boolean {
  return process.env.GANFORGE_CHANNELS_LAST === '1' && x.ndim === 4;
}

/** `x` in the preferred memory format for a convolution. */
export function convInput(x: Tensor): Tensor {
  return preferChannelsLast(x) ? x.channelsLast() : x;
}
