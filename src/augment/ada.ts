// ADA's adaptive augmentation probability (Karras et al. 2020, section 3;
// stylegan2-ada-pytorch training/training_loop.py, ada_target/ada_interval/ada_kimg): the
// overfitting heuristic r_t = E[sign(D(real))] is gathered over every real image D judged
// in `interval` iterations (the main D phase and the R1 phase alike, as the reference's
// Loss/signs/real), then p moves by sign(r_t − target) · (images of those iterations) /
// (kimg · 1000): from 0 to 1 in `kimg` thousand images at most. p never goes below 0; as in
// the reference it has no upper bound.
//
// The state (p and a partly gathered interval) is saved with each checkpoint, so a resumed
// run continues exactly; the reference's resume restarts both (stylegan2-ada-pytorch #81).
//
// Under data parallelism the statistic is the whole job's, as the reference's
// training_stats sums it over the ranks: with `sumOverRanks`, each iteration's signs are
// summed over the ranks before they are gathered, so every rank holds the same sums, moves
// p alike and saves the same state.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface AdaOptions {
  /** The wanted E[sign(D(real))] (train.py --target). */
  target: number;
  /** Iterations between adjustments (training_loop.py ada_interval). */
  interval: number;
  /** Thousands of images for p to change by 1 (ada_kimg). */
  kimg: number;
  /** Data parallelism: element-wise sums over the ranks (RecipeEnv.sumOverRanks). */
  sumOverRanks?: (values: number[]) => number[];
}

export interface AdaState {
  p: number;
  /** The signs gathered since the last adjustment: their sum and how many. */
  signs_sum: number;
  signs_count: number;
}

export class AdaptiveP {
  /** The current probability, a float32 value as the reference's buffer. */
  p: number;
  readonly o: AdaOptions;
  /**
   * The sum of the signs gathered so far, on the logits' device (read once per adjustment,
   * so a step does not wait for the device); made on first use and reused.
   */
  #sum: Tensor | null = null;
  #count = 0;
  /** With sumOverRanks: the job's sums of the finished iterations since the last adjustment. */
  #jobSum = 0;
  #jobCount = 0;

  constructor(o: AdaOptions, p = 0) {
    if (!(o.target >= 0 && o.target <= 1)) throw new RangeError(`ADA target must be in [0, 1], got ${o.target}`);
    if (!Number.isInteger(o.interval) || o.interval < 1) throw new RangeError(`ADA interval must be a positive integer, got ${o.interval}`);
    if (!(o.kimg > 0)) throw new RangeError(`ada_kimg must be positive, got ${o.kimg}`);
    this.o = o;
    this.p = Math.fround(p);
  }

  /** Gathers the signs of D's outputs on real images (any shape). */
  observe(realLogits: Tensor): void {
    torch.noGrad(() => torch.scope(() => {
      const s = realLogits.detach().sign().sum().to('float32');
      if (!this.#sum) this.#sum = torch.zeros([], { device: realLogits.device }).keep();
      this.#sum.add_(s);
    }));
    this.#count += realLogits.numel;
  }

  /** The mean sign gathered so far (NaN when nothing was); the job's, under data parallelism. */
  get signs(): number {
    if (this.o.sumOverRanks) return this.#jobCount > 0 ? this.#jobSum / this.#jobCount : NaN;
    return this.#count > 0 && this.#sum ? this.#sum.item() / this.#count : NaN;
  }

  /** This process's gathered sum and count, emptied. */
  #takeLocal(): [number, number] {
    const taken: [number, number] = [this.#count > 0 && this.#sum ? this.#sum.item() : 0, this.#count];
    this.#sum?.zero_();
    this.#count = 0;
    return taken;
  }

  /**
   * Called after each iteration (`step`: iterations done before it, `batch`: its images):
   * every `interval`-th iteration moves p and starts a new gathering. Returns the mean sign
   * it used, or null between adjustments.
   */
  afterStep(step: number, batch: number): number | null {
    if (this.o.sumOverRanks) {
      const [sum, count] = this.o.sumOverRanks(this.#takeLocal());
      this.#jobSum += sum;
      this.#jobCount += count;
    }
    if ((step + 1) % this.o.interval !== 0) return null;
    const r = this.signs;
    this.#reset();
    // An interval without real images leaves p alone (the reference's mean would be NaN).
    if (Number.isNaN(r)) return r;
    const adjust = (Math.sign(r - this.o.target) * (batch * this.o.interval)) / (this.o.kimg * 1000);
    // float32 arithmetic, as the reference's p buffer plus a Python float.
    this.p = Math.fround(Math.max(Math.fround(this.p + Math.fround(adjust)), 0));
    return r;
  }

  #reset(): void {
    this.#sum?.zero_();
    this.#count = 0;
    this.#jobSum = 0;
    this.#jobCount = 0;
  }

  state(): AdaState {
    if (this.o.sumOverRanks) return { p: this.p, signs_sum: this.#jobSum, signs_count: this.#jobCount };
    return { p: this.p, signs_sum: this.#sum && this.#count > 0 ? this.#sum.item() : 0, signs_count: this.#count };
  }

  loadState(s: AdaState, device: torch.Device): void {
    if (typeof s.p !== 'number' || typeof s.signs_sum !== 'number' || typeof s.signs_count !== 'number') {
      throw new Error('the checkpoint has no valid ADA state (p, signs_sum, signs_count)');
    }
    this.p = Math.fround(s.p);
    if (this.o.sumOverRanks) {
      // Saved between iterations, where nothing local is pending.
      this.#jobSum = s.signs_sum;
      this.#jobCount = s.signs_count;
      this.#sum?.zero_();
      this.#count = 0;
      return;
    }
    this.#count = s.signs_count;
    this.#sum ??= torch.zeros([], { device }).keep();
    this.#sum.fill_(s.signs_sum);
  }

  dispose(): void {
    this.#sum?.dispose();
    this.#sum = null;
  }
}
