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
