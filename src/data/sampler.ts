// What every dataset kind provides to the loader: `load(index, seed)` returns one sample
// as bytes. The seed carries all of the sample's randomness (crop, flip, CycleGAN's
// random B), so a sample depends on nothing but (dataset, index, seed).

import { DataError, oneLine } from './errors.js';
import { type Channels, type RawImage, ImageDecodeError, decodeImage } from './image.js';

export interface Sample {
  /** The model's input image (pix2pix/CycleGAN: the A side after `--direction`). */
  a: RawImage;
  /** The target image of a pair, or null for single-image datasets. */
  b: RawImage | null;
  /** Class index, or -1 when the dataset has no labels. */
  label: number;
  /** Where `a` came from (a file, or `shapes#17` for built-in sets). */
  pathA: string;
  pathB: string | null;
}

export interface Sampler {
  readonly length: number;
  load(index: number, seed: number): Promise<Sample>;
}

/** Told about each unreadable file once per sampler; the loader warns and counts. */
export type BadFileHandler = (file: string, reason: string) => void;

/**
 * Decodes files, stepping past unreadable ones. When file i cannot be decoded, the
 * sample is taken from i+1 (then i+2, ...): a fixed rule, so which image replaces a
 * broken one does not depend on timing or worker count, and batches stay full.
 */
export class Decoder {
  readonly #bad = new Set<string>();
  readonly #onBad: BadFileHandler;

  constructor(onBad: BadFileHandler) {
    this.#onBad = onBad;
  }

  async decode(files: readonly string[], index: number, channels: Channels): Promise<{ image: RawImage; file: string; index: number }> {
    const n = files.length;
    for (let k = 0; k < n; k++) {
      const i = (index + k) % n;
      const file = files[i];
      if (this.#bad.has(file)) continue;
      try {
        return { image: await decodeImage(file, channels), file, index: i };
      } catch (e) {
        this.#bad.add(file);
        this.#onBad(file, e instanceof ImageDecodeError ? e.reason : oneLine(e));
      }
    }
    throw new DataError(`none of the ${n} image files can be decoded, ${files[0]} included (expected valid png, jpg or webp files)`, files[0]);
  }
}
