// The one place where image bytes become engine tensors and back. Images are uint8 HWC
// on disk and in the loader, float32 NCHW in [-1, 1] inside the engine (x / 127.5 - 1,
// the reference's ToTensor + Normalize(0.5, 0.5)).

import { type Device, type Tensor, fromBytes, fromTypedArray, scope } from '../torch/index.js';
import type { Batch } from './batch.js';

export interface ToTensorOptions {
  device?: Device;
  /** Keep the NHWC memory layout (channels_last: faster convolutions on CPU); the shape is NCHW either way. */
  channelsLast?: boolean;
}

/**
 * uint8 NHWC bytes to a float32 NCHW tensor in [-1, 1]. The bytes go to the device as
 * uint8 (a quarter of the float traffic) and are converted there.
 */
export function imagesToTensor(bytes: Uint8Array, n: number, height: number, width: number, channels: number, opts: ToTensorOptions = {}): Tensor {
  return scope(() => {
    let u = fromBytes(bytes, [n, height, width, channels], 'uint8');
    if (opts.device && opts.device !== 'cpu') u = u.to({ device: opts.device });
    const nchw = u.to('float32').permute(0, 3, 1, 2);
    const x = opts.channelsLast ? nchw : nchw.contiguous();
    // In place: a fresh multi-megabyte buffer per op costs more in page faults than the
    // arithmetic itself. (x - 127.5) / 127.5 maps 0 and 255 to exactly -1 and 1.
    return x.add_(-127.5).mul_(1 / 127.5);
  });
}

export interface TensorBatch {
  /** The model's input images, [N, C, H, W] float32 in [-1, 1]. */
  a: Tensor;
  /** Targets of paired datasets, or null. */
  b: Tensor | null;
  /** int64 class labels [N], or null. */
  labels: Tensor | null;
}

/** A loader batch as tensors (owned by the enclosing scope, if any). */
export function toTensorBatch(batch: Batch, opts: ToTensorOptions = {}): TensorBatch {
  const a = imagesToTensor(batch.a, batch.size, batch.height, batch.width, batch.channelsA, opts);
  const b = batch.b ? imagesToTensor(batch.b, batch.size, batch.heightB, batch.widthB, batch.channelsB, opts) : null;
  const labels = batch.labels ? fromTypedArray(batch.labels, [batch.size], { dtype: 'int64', device: opts.device }) : null;
  return { a, b, labels };
}

export interface ImageBytes {
  data: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Float images ([N, C, H, W] or [C, H, W]) to uint8 NHWC bytes: values clamped to
 * `range` and mapped linearly onto 0..255 (rounded), like torchvision's save_image.
 */
export function tensorToImages(t: Tensor, range: readonly [number, number] = [-1, 1]): ImageBytes {
  const [lo, hi] = range;
  if (!(hi > lo)) throw new RangeError(`tensorToImages: range [${lo}, ${hi}] is empty`);
  const shape = t.shape;
  if (shape.length !== 3 && shape.length !== 4) throw new RangeError(`tensorToImages: expected [N, C, H, W] or [C, H, W], got [${shape.join(', ')}]`);
  const [n, c, h, w] = shape.length === 4 ? shape : [1, ...shape];
  const data = scope(() => {
    let x = t.detach().to({ dtype: 'float32', device: 'cpu' });
    if (shape.length === 3) x = x.unsqueeze(0);
    const u = x.clamp(lo, hi).sub(lo).mul(255 / (hi - lo)).add(0.5).floor().clamp(0, 255).to('uint8');
    return u.permute(0, 2, 3, 1).contiguous().toBytes();
  });
  return { data, n, height: h, width: w, channels: c };
}
