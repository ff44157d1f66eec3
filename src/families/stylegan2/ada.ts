// StyleGAN2's discriminator augmentation as train.py configures it (--aug, --p, --target,
// --augpipe) and training_loop.py runs it (ada_interval, ada_kimg): the options, their
// checks, and the augmentation a StyleGAN2 recipe applies to every image D sees.
import { UsageError } from '../../config/errors.js';
import { defineSchema, type Options } from '../../config/options.js';
import type * as torch from '../../torch/index.js';
import { AugmentPipe, AUGPIPE_NAMES, type AugpipeName } from '../../augment/augment_pipe.js';
import { AdaptiveP, type AdaState } from '../../augment/ada.js';

/** The options besides --aug itself (which stays in the family's schema). */
export const ADA_SCHEMA = defineSchema({
  p: { type: 'float', default: null, help: 'augmentation probability for --aug fixed (required there, refused otherwise)', min: 0, max: 1 },
  target: { type: 'float', default: null, help: 'ADA target for E[sign(D(real))] with --aug ada (default 0.6)', min: 0, max: 1 },
  augpipe: { type: 'string', default: null, choices: AUGPIPE_NAMES, help: "train.py's augmentation pipeline for --aug ada/fixed (default bgc: blits, geometric and colour transforms; f adds image-space filtering, n noise, c cutout; the filter needs images over 21 px)" },
  ada_kimg: { type: 'float', default: null, help: 'ADA adjustment speed: kimg for p to change by 1 (default 500; 100 with --resume_from, as train.py)', min: 0 },
  ada_interval: { type: 'int', default: 4, help: 'ADA adjusts p every this many iterations', min: 1 },
});

/** train.py's checks and defaults of the augmentation options; `given`: the names the user gave. */
export function resolveAugOptions(o: Options, given: ReadonlySet<string>): Options {
  const r: Options = { ...o };
  const aug = o.aug;
  if (given.has('p') && aug !== 'fixed') throw new UsageError('--p can only be given with --aug fixed');
  if (aug === 'fixed' && o.p === null) throw new UsageError('--aug fixed needs --p (the augmentation probability)');
  if (given.has('target') && aug !== 'ada') throw new UsageError('--target can only be given with --aug ada');
  if (given.has('ada_kimg') && aug !== 'ada') throw new UsageError('--ada_kimg can only be given with --aug ada');
  const augmented = aug === 'ada' || aug === 'fixed';
  if (given.has('augpipe') && !augmented) throw new UsageError(`--augpipe can only be given with --aug ada or fixed, not ${String(aug)}`);
  if (aug === 'ada') {
    if (!given.has('target')) r.target = 0.6;
    // train.py: "make ADA react faster at the beginning" of a fine-tuning.
    if (!given.has('ada_kimg')) r.ada_kimg = o.resume_from !== null && o.resume_from !== undefined ? 100 : 500;
    if (!((r.ada_kimg as number) > 0)) throw new UsageError(`--ada_kimg must be positive, got ${String(r.ada_kimg)}`);
  }
  if (augmented && !given.has('augpipe')) r.augpipe = 'bgc';
  return r;
}

export interface AugOptions {
  aug: string;
  p: number | null;
  target: number | null;
  augpipe: string | null;
  ada_kimg: number | null;
  ada_interval: number;
}

/** The pipeline and, with --aug ada, its adaptive p; null for --aug noaug (and --aug fixed --p 0, as the reference). */
export class DiscriminatorAugment {
  readonly pipe: AugmentPipe;
  readonly ada: AdaptiveP | null;

  /** `sumOverRanks`: RecipeEnv's, so that ADA's statistic is the whole job's under data parallelism. */
  static create(o: AugOptions, sumOverRanks?: (values: number[]) => number[]): DiscriminatorAugment | null {
    if (!(o.aug === 'ada' || (o.aug === 'fixed' && o.p))) return null;
    return new DiscriminatorAugment(o, sumOverRanks);
  }

  private constructor(o: AugOptions, sumOverRanks?: (values: number[]) => number[]) {
    this.pipe = AugmentPipe.named((o.augpipe ?? 'bgc') as AugpipeName);
    if (o.aug === 'ada') {
      if (o.target === null || o.ada_kimg === null) throw new Error('internal: --target and --ada_kimg were not resolved');
      this.ada = new AdaptiveP({ target: o.target, interval: o.ada_interval, kimg: o.ada_kimg, sumOverRanks });
      this.pipe.p = this.ada.p;
    } else {
      this.ada = null;
      this.pipe.p = Math.fround(o.p ?? 0);
    }
  }

  apply(images: torch.Tensor): torch.Tensor {
    return this.pipe.forward(images);
  }

  /** D's outputs on (augmented) real images, for ADA's statistic. */
  observeReal(logits: torch.Tensor): void {
    this.ada?.observe(logits);
  }

  /** After each iteration: ADA's adjustment; returns what to log (p, and the statistic when p moved). */
  afterStep(step: number, batch: number): Record<string, number> {
    const signs = this.ada?.afterStep(step, batch) ?? null;
    if (this.ada) this.pipe.p = this.ada.p;
    return { augment_p: this.pipe.p, ...(signs !== null && !Number.isNaN(signs) ? { signs_real: signs } : {}) };
  }

  state(): AdaState | null {
    return this.ada ? this.ada.state() : null;
  }

  loadState(s: AdaState | null | undefined, device: torch.Device): void {
    if (!this.ada) return;
    if (!s) throw new Error('the checkpoint holds no ADA state: was it written by a run without --aug ada?');
    this.ada.loadState(s, device);
    this.pipe.p = this.ada.p;
  }

  dispose(): void {
    this.ada?.dispose();
    this.pipe.dispose();
  }
}
