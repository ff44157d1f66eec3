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
  /**
   * StyleGAN2's ema_rampup: limit the half-life to this fraction of the images seen, so
   * that a short run's average forgets its initial weights (null or 0: off, the original
   * rules exactly).
   */
  rampup: number | null;
}

/**
 * The decay for one step of `batch` images when `imagesSeen` images have been shown.
 *
 * With a half-life (ema_kimg) this is stylegan2-ada-pytorch's rule: half-life
 * min(ema_kimg·1000, rampup·imagesSeen) images, β = 0.5^(batch / half-life). A fixed β
 * (PGGAN's 0.999 per step) implies a half-life of batch·ln 0.5 / ln β images; the ramp-up
 * caps that one the same way, so β_step = min(β, 0.5^(batch / (rampup·imagesSeen))): the
 * fixed β itself, bit for bit, once rampup·imagesSeen exceeds its half-life (PGGAN's
 * 0.999 at minibatch 16: 11 k images, reached after 222 kimg at rampup 0.05).
 */
export function emaBeta(o: EmaOptions, batch: number, imagesSeen: number): number {
  if (imagesSeen < o.startKimg * 1000) return 0;
  const rampup = o.rampup ?? 0;
  if (o.beta !== null) {
    if (rampup <= 0) return o.beta;
    const cap = imagesSeen * rampup;
    return cap > 0 ? Math.min(o.beta, 0.5 ** (batch / cap)) : 0;
  }
  let halfLife = o.emaKimg * 1000;
  if (rampup > 0) halfLife = Math.min(halfLife, imagesSeen * rampup);
  return halfLife > 0 ? 0.5 ** (batch / halfLife) : 0;
}

/**
 * ema ← lerp(ema, G, 1 − β) for parameters. Buffers are copied from G (StyleGAN2's rule,
 * right for its non-trainable constants) or, with 'average', floating-point buffers are
 * averaged like the weights (BigGAN's ema, which averages its whole state dict; integer
 * counters are copied). 'standing' copies them too: the trainer re-estimates G_ema's
 * batch-norm statistics itself when it samples or saves (standing_stats.ts), and copying
 * keeps what training does independent of when that was.
 */
export function updateEma(ema: Module, g: Module, beta: number, buffers: 'copy' | 'average' | 'standing' = 'copy'): void {
  const ep = ema.parameters(), gp = g.parameters();
  if (ep.length !== gp.length) throw new Error('EMA generator and generator have different parameter lists');
  optim.lerpAll(ep, gp, 1 - beta);
  const eb = ema.buffers(), gb = g.buffers();
  if (buffers !== 'average') {
    optim.copyAll(eb, gb);
    return;
  }
  const floats = eb.map((t) => t.isFloatingPoint);
  optim.lerpAll(eb.filter((_, i) => floats[i]), gb.filter((_, i) => floats[i]), 1 - beta);
  optim.copyAll(eb.filter((_, i) => !floats[i]), gb.filter((_, i) => !floats[i]));
}

/** Makes `ema` an exact, frozen copy of `g` at the start of training (with `copy` false: frozen, keeping its own weights). */
export function initEma(ema: Module, g: Module, copy = true): void {
  if (copy) noGrad(() => ema.loadStateDict(g.stateDict()));
  ema.requiresGrad_(false);
  ema.eval();
}
