// Finite differences for gradient checks (float64 tensors).
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';

/** Central differences of the scalar fn at a few elements of t (changed in place and put back). */
export function numericGrad(fn: () => number, t: Tensor, indices: number[], h = 1e-6): number[] {
  const set = (i: number, v: number): void => torch.noGrad(() => torch.scope(() => { t.view(-1).select(0, i).fill_(v); }));
  return indices.map((i) => {
    const x0 = torch.noGrad(() => torch.scope(() => t.view(-1).select(0, i).item()));
    set(i, x0 + h);
    const up = fn();
    set(i, x0 - h);
    const down = fn();
    set(i, x0);
    return (up - down) / (2 * h);
  });
}

/** Output, and the gradients of Σ out·r in x, weight and bias, of `f` (fresh leaves each call). */
export function withGrads(f: (x: Tensor, w: Tensor, b: Tensor) => Tensor, x0: Tensor, w0: Tensor, b0: Tensor, r: Tensor | null) {
  const [x, w, b] = [x0, w0, b0].map((t) => t.detach().clone());
  for (const t of [x, w, b]) t.requiresGrad = true;
  const y = f(x, w, b);
  const rr = r ?? torch.withSeed(5, () => torch.randn(y.shape, { dtype: 'float64' }));
  const g = torch.grad(y.mul(rr).sum(), [x, w, b]) as Tensor[];
  return { y: y.detach(), gx: g[0], gw: g[1], gb: g[2], r: rr };
}
