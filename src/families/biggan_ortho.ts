// BigGAN's orthogonal regularisation (Brock et al. 2019, §3.1), added directly to the
// gradients as the reference does (utils.ortho / utils.default_ortho) rather than
// differentiated from a loss: for each weight W with at least two dimensions, viewed as
// [out, −1], outside the blacklist (G's shared embedding):
//   'fast' (the paper's modified form): β · 2 (WWᵀ ⊙ (1 − I)) W — only the off-diagonal
//     correlations are penalised, the norms are left free;
//   'full': β · 2 (WWᵀ − I) W, the gradient of β‖WWᵀ − I‖²_F / 2.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';

export type OrthoMode = 'fast' | 'full';

export function orthoGradient(net: Module, strength: number, mode: OrthoMode, blacklist: readonly Tensor[]): void {
  const skip = new Set(blacklist);
  torch.noGrad(() => torch.scope(() => {
    for (const p of net.parameters()) {
      if (p.ndim < 2 || skip.has(p)) continue;
      const g = p.grad;
      if (!g) continue;
      const w = p.view(p.shape[0], -1);
      const eye = torch.eye(w.shape[0], w.shape[0], { dtype: w.dtype, device: w.device });
      const wwt = w.mm(w.t());
      const c = mode === 'fast' ? wwt.mul(eye.rsub(1)) : wwt.sub(eye);
      g.add_(c.mm(w).mul(2 * strength).view(p.shape));
    }
  }));
}
