// The generator's exponential moving average (Karras et al.'s G_smoothing, StyleGAN2's
// ema_kimg, BigGAN's ema with a start step): sampled instead of G, smoother and better.
import { optim, noGrad } from '../torch/index.js';
import type { Module } from '../nn/index.js';

export interface EmaOptions {
  /** Half-life of the average in thousands of images (StyleGAN2's ema_kimg); used when beta is null. */
  emaKimg: number;
  /** A fixed decay per step instead (PGGAN's 0.999, BigGAN's 0.9999); null to derive it from emaKimg. */
  beta: number | null;
  /** Thousands of images before which the average just copies G (BigGAN's ema_start). */
  startKimg: number;
  /** StyleGAN2's ema_rampup: limit the half-life to this fraction of the images seen (null: off). */
  rampup: number | null;
}

/** The decay for one step of `batch` images when `imagesSeen` images have been shown. */
export function emaBeta(o: EmaOptions, batch: number, imagesSeen: number): number {
  if (imagesSeen < o.startKimg * 1000) return 0;
  if (o.beta !== null) return o.beta;
  let halfLife = o.emaKimg * 1000;
  if (o.rampup !== null) halfLife = Math.min(halfLife, imagesSeen * o.rampup);
  return halfLife > 0 ? 0.5 ** (batch / halfLife) : 0;
}

/**
 * ema ← lerp(ema, G, 1 − β) for parameters. Buffers are copied from G (StyleGAN2's rule,
 * right for its non-trainable constants) or, with 'average', floating-point buffers are
 * averaged like the weights (BigGAN's rule: batch-norm statistics that match averaged
 * weights); integer counters are copied either way.
 */
export function updateEma(ema: Module, g: Module, beta: number, buffers: 'copy' | 'average' = 'copy'): void {
  const ep = ema.parameters(), gp = g.parameters();
  if (ep.length !== gp.length) throw new Error('EMA generator and generator have different parameter lists');
  optim.lerpAll(ep, gp, 1 - beta);
  const eb = ema.buffers(), gb = g.buffers();
  if (buffers === 'copy') {
    optim.copyAll(eb, gb);
    return;
  }
  const floats = eb.map((t) => t.isFloatingPoint);
  optim.lerpAll(eb.filter((_, i) => floats[i]), gb.filter((_, i) => floats[i]), 1 - beta);
  optim.copyAll(eb.filter((_, i) => !floats[i]), gb.filter((_, i) => !floats[i]));
}

/** Makes `ema` an exact, frozen copy of `g` (at the start of training). */
export function initEma(ema: Module, g: Module): void {
  noGrad(() => ema.loadStateDict(g.stateDict()));
  ema.requiresGrad_(false);
  ema.eval();
}
