// The contract of a normalisation layer whose eval-mode statistics can be re-estimated for
// the weights it has now (BigGAN's standing statistics, src/train/standing_stats.ts), for
// layers other than BatchNorm2d (which the trainer handles through its momentum).

export interface StandingNorm {
  /** Forget the stored statistics; the coming training-mode batches count equally. */
  beginStanding(): void;
  /** Back to the layer's usual update rule; eval mode reads the standing estimate. */
  endStanding(): void;
}

export function isStandingNorm(m: unknown): m is StandingNorm {
  return typeof (m as Partial<StandingNorm>).beginStanding === 'function' && typeof (m as Partial<StandingNorm>).endStanding === 'function';
}
