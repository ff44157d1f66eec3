// Real images for the metrics: a dataset's samples as uint8 NCHW batches, and the
// fingerprint of what they are (the files' contents and how they are read), which keys
// the cached reference statistics.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Dataset, RawImage } from '../data/index.js';

/** Which image of a sample is measured: the image (or a pair's input), or a pair's target. */
export type Side = 'a' | 'b';

/** uint8 [N, C, H, W] from decoded images of one size. */
export function rawToTensor(images: readonly RawImage[]): Tensor {
  return torch.scope(() => {
    const { width, height, channels } = images[0];
    const per = width * height * channels;
    const all = new Uint8Array(per * images.length);
    images.forEach((im, i) => {
      if (im.width !== width || im.height !== height || im.channels !== channels) {
        throw new Error(`images of one batch differ in size: ${width}x${height}x${channels} and ${im.width}x${im.height}x${im.channels}`);
      }
      all.set(im.data, i * per);
    });
    return torch.fromBytes(all, [images.length, height, width, channels], 'uint8').permute(0, 3, 1, 2).contiguous();
  });
}

/**
 * The first `count` samples' `side` images in batches (each tensor is the caller's to
 * dispose), read `batch` at a time so that decoding overlaps (sharp decodes in threads).
 */
export async function* datasetImages(ds: Dataset, side: Side, count: number, batch: number): AsyncGenerator<Tensor> {
  const n = Math.min(count, ds.length);
  for (let lo = 0; lo < n; lo += batch) {
    const idx = Array.from({ length: Math.min(batch, n - lo) }, (_, i) => lo + i);
    const samples = await Promise.all(idx.map((i) => ds.get(i, 0)));
    const images = samples.map((s) => {
      const im = side === 'a' ? s.a : s.b;
      if (!im) throw new Error(`${ds.source} has no target images to measure`);
      return im;
    });
    yield rawToTensor(images).keep();
  }
}

async function hashFile(h: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

/**
 * SHA-256 of a dataset's content and of how it is read: every file's bytes in order (so a
 * changed, added or removed image changes it), the side measured, and the reading options
 * (size, channels, preprocessing); a built-in set by its parameters.
 */
export async function datasetFingerprint(ds: Dataset, side: Side): Promise<string> {
  const h = createHash('sha256');
  const spec = ds.spec as unknown as Record<string, unknown>;
  const files: string[] = [];
  for (const key of ['files', 'filesA', 'filesB']) if (Array.isArray(spec[key])) files.push(...(spec[key] as string[]));
  if (typeof spec.path === 'string') files.push(spec.path);
  const { files: _f, filesA: _a, filesB: _b, labels: _l, ...rest } = spec;
  h.update(JSON.stringify({ side, spec: rest, described: ds.describe() }));
  for (const f of files) {
    h.update(`\0${f}\0${statSync(f).size}\0`);
    await hashFile(h, f);
  }
  return h.digest('hex');
}

/** Takes exactly n images at a time from a stream of uint8 batches, whatever their sizes. */
export class ImageReader {
  readonly #source: AsyncIterator<Tensor>;
  #pending: Tensor | null = null;

  constructor(source: AsyncIterable<Tensor>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** The next n images [n, C, H, W] (the caller disposes them). */
  async take(n: number): Promise<Tensor> {
    const parts: Tensor[] = [];
    let have = 0;
    try {
      while (have < n) {
        let batch = this.#pending;
        this.#pending = null;
        if (!batch) {
          const r = await this.#source.next();
          if (r.done) throw new Error(`asked for ${n - have} more images than there are`);
          batch = r.value;
        }
        const take = Math.min(n - have, batch.shape[0]);
        if (take < batch.shape[0]) {
          this.#pending = batch.narrow(0, take, batch.shape[0] - take).clone().keep();
          parts.push(batch.narrow(0, 0, take).clone().keep());
          batch.dispose();
        } else {
          parts.push(batch);
        }
        have += take;
      }
      return parts.length === 1 ? parts.pop()! : torch.cat(parts, 0).keep();
    } finally {
      for (const p of parts) p.dispose();
    }
  }

  async close(): Promise<void> {
    this.#pending?.dispose();
    this.#pending = null;
    await this.#source.return?.(undefined);
  }
}
