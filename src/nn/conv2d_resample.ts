// conv2d_resample of stylegan2-ada-pytorch (torch_utils/ops/conv2d_resample.py): a
// convolution with FIR up- or downsampling around it, padding applied once. Upsampling
// runs as a stride-`up` transposed convolution followed by the FIR filter (no zero
// insertion on the wide tensor); downsampling filters first and lets a strided
// convolution drop the pixels. The results equal the plain sequence "upfirdn2d, conv,
// upfirdn2d" of the same padding, which is what the fixtures check.
import { Tensor, F, scope } from '../torch/index.js';
import { upfirdn2d, parsePadding, type PaddingArg } from './upfirdn2d.js';
import { convInput } from './memory_format.js';

export interface Conv2dResampleOptions {
  /** The FIR filter of the resampling (setupFilter); null = identity. */
  filter?: Tensor | null;
  up?: number;
  down?: number;
  /** With respect to the upsampled image. */
  padding?: PaddingArg;
  groups?: number;
  /** true: correlation, as F.conv2d (the reference's default); false: true convolution. */
  flipWeight?: boolean;
  flipFilter?: boolean;
  /**
   * [out] added to the output: by the convolution itself where it is the last op (one
   * pass over the output fewer than adding it afterwards), else after the filter.
   */
  bias?: Tensor | null;
}

/** x [N, C·groups... ] with w [out, in/groups, kh, kw]. */
export function conv2dResample(x: Tensor, w: Tensor, o: Conv2dResampleOptions = {}): Tensor {
  const f = o.filter ?? null;
  const up = o.up ?? 1, down = o.down ?? 1, groups = o.groups ?? 1;
  const flipWeight = o.flipWeight ?? true, flipFilter = o.flipFilter ?? false;
  const bias = o.bias ?? null;
  if (!Number.isInteger(up) || up < 1 || !Number.isInteger(down) || down < 1) throw new RangeError(`conv2dResample: up and down must be positive integers, got ${up}, ${down}`);
  if (w.ndim !== 4) throw new Error(`conv2dResample: the weight must be [out, in, kh, kw], got [${w.shape.join(', ')}]`);
  const [outC, inPerGroup, kh, kw] = w.shape;
  if (bias && (bias.ndim !== 1 || bias.size(0) !== outC)) throw new Error(`conv2dResample: the bias must be [${outC}], got [${bias.shape.join(', ')}]`);
  const fw = f ? f.size(1) : 1, fh = f ? f.size(0) : 1;
  let [px0, px1, py0, py1] = parsePadding(o.padding);
  if (up > 1) {
    px0 += (fw + up - 1) >> 1; px1 += (fw - up) >> 1;
    py0 += (fh + up - 1) >> 1; py1 += (fh - up) >> 1;
  }
  if (down > 1) {
    px0 += (fw - down + 1) >> 1; px1 += (fw - down) >> 1;
    py0 += (fh - down + 1) >> 1; py1 += (fh - down) >> 1;
  }
  return scope(() => {
    const xi = convInput(x);
    // F.conv2d correlates; a true convolution flips the kernel.
    const conv = (y: Tensor, k: Tensor, opts: { stride?: number; padding?: [number, number]; last?: boolean } = {}): Tensor =>
      F.conv2d(y, flipWeight ? k : k.flip(2, 3), opts.last ? bias : null, { stride: opts.stride ?? 1, padding: opts.padding ?? 0, groups });
    const addBias = (y: Tensor): Tensor => (bias ? y.add(bias.reshape(1, -1, 1, 1)) : y);
    if (kw === 1 && kh === 1 && down > 1 && up === 1) {
      return conv(upfirdn2d(xi, f, { down, padding: [px0, px1, py0, py1], flipFilter }), w, { last: true });
    }
    if (kw === 1 && kh === 1 && up > 1 && down === 1) {
      return addBias(upfirdn2d(conv(xi, w), f, { up, padding: [px0, px1, py0, py1], gain: up * up, flipFilter }));
    }
    if (down > 1 && up === 1) {
      return conv(upfirdn2d(xi, f, { padding: [px0, px1, py0, py1], flipFilter }), w, { stride: down, last: true });
    }
    if (up > 1) {
      // The transposed convolution wants [in, out/groups, kh, kw], per group.
      let wt: Tensor;
      if (groups === 1) wt = w.transpose(0, 1);
      else wt = w.reshape(groups, outC / groups, inPerGroup, kh, kw).transpose(1, 2).reshape(groups * inPerGroup, outC / groups, kh, kw);
      px0 -= kw - 1; px1 -= kw - up;
      py0 -= kh - 1; py1 -= kh - up;
      const pxt = Math.max(Math.min(-px0, -px1), 0);
      const pyt = Math.max(Math.min(-py0, -py1), 0);
      // conv_transpose2d convolves (flips) where conv2d correlates: the flip sense inverts.
      const k = flipWeight ? wt.flip(2, 3) : wt;
      let y = F.convTranspose2d(xi, k, null, { stride: up, padding: [pyt, pxt], groups });
      y = upfirdn2d(y, f, { padding: [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain: up * up, flipFilter });
      if (down > 1) y = upfirdn2d(y, f, { down, flipFilter });
      return addBias(y);
    }
    if (px0 === px1 && py0 === py1 && px0 >= 0 && py0 >= 0) return conv(xi, w, { padding: [py0, px0], last: true });
    let y = upfirdn2d(xi, up > 1 ? f : null, { up, padding: [px0, px1, py0, py1], gain: up * up, flipFilter });
    y = conv(y, w, { last: down === 1 });
    if (down > 1) y = addBias(upfirdn2d(y, f, { down, flipFilter }));
    return y;
  });
}
