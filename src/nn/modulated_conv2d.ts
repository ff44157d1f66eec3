// StyleGAN2's modulated convolution (Karras et al. 2020, §2.2, eq. 1–3; the reference's
// modulated_conv2d): the style scales the weight's input channels, and demodulation
// rescales each output channel to unit expected magnitude, replacing AdaIN's instance
// norm. Two equal ways to run it, as the reference:
//  - fused: per-sample weights [N·O, I, k, k] in one grouped convolution over the batch
//    folded into channels (the reference's choice for inference);
//  - per sample ("not fused"): scale the activations by the styles, convolve with the
//    shared weight, scale the result by the demodulation coefficients (the reference's
//    choice in training, where it is faster and its weight gradient is one conv).
import { Tensor, scope } from '../torch/index.js';
import { conv2dResample } from './conv2d_resample.js';
import type { PaddingArg } from './upfirdn2d.js';

export interface ModulatedConv2dOptions {
  /** Added to the output (after demodulation): [N or 1, 1 or O, H, W]. */
  noise?: Tensor | null;
  up?: number;
  down?: number;
  padding?: PaddingArg;
  /** setupFilter of the resampling. */
  filter?: Tensor | null;
  demodulate?: boolean;
  flipWeight?: boolean;
  fused?: boolean;
  /**
   * Scales the convolution's result (not the noise): folded into the demodulation
   * coefficients, or the styles without demodulation, so it costs no pass over the output.
   */
  gain?: number;
}

/** x [N, I, H, W], weight [O, I, kh, kw], styles [N, I]. */
export function modulatedConv2d(x: Tensor, weight: Tensor, styles: Tensor, o: ModulatedConv2dOptions = {}): Tensor {
  const n = x.size(0);
  const [outC, inC, kh, kw] = weight.shape;
  if (x.ndim !== 4 || x.size(1) !== inC) throw new Error(`modulatedConv2d: input [${x.shape.join(', ')}] does not fit weight [${weight.shape.join(', ')}]`);
  if (styles.ndim !== 2 || styles.size(0) !== n || styles.size(1) !== inC) throw new Error(`modulatedConv2d: styles must be [${n}, ${inC}], got [${styles.shape.join(', ')}]`);
  const demodulate = o.demodulate ?? true, fused = o.fused ?? true;
  const noise = o.noise ?? null;
  const rs = { filter: o.filter ?? null, up: o.up, down: o.down, padding: o.padding, flipWeight: o.flipWeight };
  return scope(() => {
    // Σ_{i,k} (w_oik·s_ni)² = Σ_i s_ni²·Σ_k w_oik²: the demodulation coefficients from one
    // [N, I] × [I, O] product, without squaring the per-sample weights [N, O, I, k, k] (151 MB
    // a layer at 512 channels and batch 16) as the reference does.
    const gain = o.gain ?? 1;
    let dcoefs = demodulate ? styles.square().matmul(weight.square().sum([2, 3]).t()).add(1e-8).rsqrt() : null; // [N, O]
    if (dcoefs && gain !== 1) dcoefs = dcoefs.mul(gain);
    const s = !dcoefs && gain !== 1 ? styles.mul(gain) : styles;
    if (!fused) {
      // No per-sample weights at all: scale the activations before and after the convolution.
      let y = x.mul(s.reshape(n, inC, 1, 1));
      y = conv2dResample(y, weight, rs);
      if (dcoefs) y = y.mul(dcoefs.reshape(n, outC, 1, 1));
      if (noise) y = y.add(noise);
      return y;
    }
    // One pass over the per-sample weights: w_oik·(s_ni·d_no).
    const scale = dcoefs ? s.reshape(n, 1, inC).mul(dcoefs.reshape(n, outC, 1)) : s.reshape(n, 1, inC).expand(n, outC, inC);
    const w = weight.unsqueeze(0).mul(scale.reshape(n, outC, inC, 1, 1)); // [N, O, I, k, k]
    let y = conv2dResample(x.reshape(1, n * inC, x.size(2), x.size(3)), w.reshape(n * outC, inC, kh, kw), { ...rs, groups: n });
    y = y.reshape(n, outC, y.size(2), y.size(3));
    if (noise) y = y.add(noise);
    return y;
  });
}
