// bias_act of stylegan2-ada-pytorch (torch_utils/ops/bias_act.py): bias, activation,
// gain and clamp in that order. Each activation has a default gain that keeps the
// signal's magnitude (√2 for the rectifiers, He et al.), applied after the activation,
// so layers need no gain in their weights; the clamp (conv_clamp) guards fp16 and is
// scaled with the gain by the layers.
import { Tensor, F, scope } from '../torch/index.js';

export type Activation = 'linear' | 'relu' | 'lrelu' | 'tanh' | 'sigmoid';

/** Default α (leaky slope) and gain of each activation, as the reference's activation_funcs. */
export const ACTIVATIONS: Readonly<Record<Activation, { alpha: number; gain: number }>> = {
  linear: { alpha: 0, gain: 1 },
  relu: { alpha: 0, gain: Math.SQRT2 },
  lrelu: { alpha: 0.2, gain: Math.SQRT2 },
  tanh: { alpha: 0, gain: 1 },
  sigmoid: { alpha: 0, gain: 1 },
};

export interface BiasActOptions {
  act?: Activation;
  /** Leaky slope (default the activation's). */
  alpha?: number;
  /** Default the activation's. */
  gain?: number;
  /** Clamp to ±clamp after the gain; null = none. */
  clamp?: number | null;
  /** The dimension the bias runs along (default 1, channels). */
  dim?: number;
}

export function biasAct(x: Tensor, b: Tensor | null, o: BiasActOptions = {}): Tensor {
  const act = o.act ?? 'linear';
  const spec = ACTIVATIONS[act];
  if (!spec) throw new RangeError(`unknown activation '${String(act)}'`);
  const gain = o.gain ?? spec.gain;
  const clamp = o.clamp ?? null;
  if (clamp !== null && !(clamp >= 0)) throw new RangeError(`clamp must be ≥ 0, got ${clamp}`);
  const dim = o.dim ?? 1;
  return scope(() => {
    let y = x;
    if (b !== null) {
      if (b.ndim !== 1 || b.size(0) !== x.size(dim)) throw new Error(`biasAct: the bias has shape [${b.shape.join(', ')}], the input ${x.size(dim)} features along dim ${dim}`);
      y = y.add(b.reshape(x.shape.map((s, i) => (i === dim ? -1 : 1))));
    }
    switch (act) {
      case 'relu': y = F.relu(y); break;
      case 'lrelu': y = F.leakyRelu(y, o.alpha ?? spec.alpha); break;
      case 'tanh': y = F.tanh(y); break;
      case 'sigmoid': y = F.sigmoid(y); break;
      case 'linear': break;
    }
    if (gain !== 1) y = y.mul(gain);
    if (clamp !== null) y = y.clamp(-clamp, clamp);
    return y;
  });
}

/**
 * Activations with f(g·x) = g·f(x) for every g > 0. A layer feeding one of these can put
 * the gain into its weight's run-time scale and its bias instead of multiplying the output
 * (the same value up to float rounding, one pass over the activations fewer, forward and
 * backward).
 */
export function commutesWithGain(act: Activation): boolean {
  return act === 'linear' || act === 'relu' || act === 'lrelu';
}
