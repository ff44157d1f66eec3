// CycleGAN's history of generated images (Shrivastava et al. 2017, as used by Zhu et al.):
// the discriminator sees a mix of the newest fakes and older ones, which damps the
// oscillation of G and D chasing each other. Until the pool is full every fake enters it
// and is returned as is; after that each fake, with probability ½, swaps places with a
// random stored one (the stored one is returned), else passes through. The coin flips
// and indices come from the engine's RNG, so a resumed run makes the same choices.
import * as torch from '../../torch/index.js';

export class ImagePool {
  readonly #images: torch.Tensor[] = [];

  /** `size` 0 disables the pool: `query` returns its input. */
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`pool size must be a whole number >= 0, got ${size}`);
  }

  /** Images stored so far (at most `size`). */
  get count(): number {
    return this.#images.length;
  }

  /**
   * The images D should see for this batch of fakes [N, C, H, W] (gradients are not
   * tracked through the pool). The result belongs to the caller's scope.
   */
  query(fakes: torch.Tensor): torch.Tensor {
    if (this.size === 0) return fakes.detach();
    return torch.scope(() => {
      const out: torch.Tensor[] = [];
      const retired: torch.Tensor[] = [];
      for (const image of fakes.detach().split(1, 0)) {
        if (this.#images.length < this.size) {
          this.#images.push(image.clone().keep());
          out.push(image);
        } else if (torch.rand([]).item() > 0.5) {
          const id = torch.randint(0, this.size, []).item();
          out.push(this.#images[id]);
          retired.push(this.#images[id]);
          this.#images[id] = image.clone().keep();
        } else {
          out.push(image);
        }
      }
      const result = torch.cat(out, 0);
      for (const t of retired) t.dispose();
      return result;
    });
  }

  /** The stored images as one [count, C, H, W] tensor (empty pool: no entry). */
  stateTensors(prefix: string): Record<string, torch.Tensor> {
    return this.#images.length ? { [prefix]: torch.cat(this.#images, 0) } : {};
  }

  /** Replaces the contents with images saved by `stateTensors`. */
  load(saved: torch.Tensor | undefined): void {
    if (saved && (saved.ndim !== 4 || saved.shape[0] > this.size)) {
      throw new Error(`saved image pool has shape [${saved.shape.join(', ')}]; expected at most ${this.size} images [N, C, H, W]`);
    }
    this.clear();
    if (!saved) return;
    torch.scope(() => {
      for (const image of saved.split(1, 0)) this.#images.push(image.clone().keep());
    });
  }

  clear(): void {
    for (const t of this.#images) t.dispose();
    this.#images.length = 0;
  }

  dispose(): void {
    this.clear();
  }
}
