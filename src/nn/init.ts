// Weight initialisers with torch.nn.init's semantics (fan computation, gains, and the
// same draws from the global generator, so a seeded init matches PyTorch's).
import { Tensor, noGrad, linalg, empty, scope } from '../torch/index.js';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv_transpose2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (`param` is leaky ReLU's negative slope, default 0.01). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv_transpose2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
  }
}

/** [fan_in, fan_out]: dim 1 and dim 0 times the receptive field, as PyTorch counts them. */
export function fanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`fan in and fan out need at least 2 dimensions, got shape [${s.join(', ')}]`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1] * receptive, s[0] * receptive];
}

function fan(t: Tensor, mode: 'fan_in' | 'fan_out'): number {
  const [i, o] = fanInAndFanOut(t);
  return mode === 'fan_in' ? i : o;
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor { return noGrad(() => t.uniform_(a, b)); }
export function normal_(t: Tensor, mean = 0, std = 1): Tensor { return noGrad(() => t.normal_(mean, std)); }
export function constant_(t: Tensor, v: number): Tensor { return noGrad(() => t.fill_(v)); }
export function zeros_(t: Tensor): Tensor { return constant_(t, 0); }
export function ones_(t: Tensor): Tensor { return constant_(t, 1); }

export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [i, o] = fanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (i + o));
  return uniform_(t, -a, a);
}

export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [i, o] = fanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (i + o)));
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu only). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound);
}

export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  return normal_(t, 0, std);
}

/** A (semi-)orthogonal matrix from the QR decomposition of a normal draw (Saxe et al.), scaled by `gain`. */
export function orthogonal_(t: Tensor, gain = 1): Tensor {
  const s = t.shape;
  if (s.length < 2) throw new Error(`orthogonal init needs at least 2 dimensions, got shape [${s.join(', ')}]`);
  const rows = s[0];
  const cols = t.numel / rows;
  noGrad(() =>
    scope(() => {
      let flat = empty([rows, cols], { dtype: t.dtype, device: t.device }).normal_(0, 1);
      if (rows < cols) flat = flat.t();
      let [q, r] = linalg.qr(flat);
      // Make the decomposition unique (and the distribution uniform) by fixing diag(R) > 0.
      q = q.mul(r.diag().sign());
      if (rows < cols) q = q.t();
      t.copy_(q.reshape(s)).mul_(gain);
    }),
  );
  return t;
}
