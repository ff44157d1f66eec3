// Sample grids and single images, written as PNG (or jpg/webp by extension): what every
// family's training loop, `sample` and the dashboard show.

import type { Tensor } from '../torch/index.js';
import { type RawImage, writeImage } from './image.js';
import { type ImageBytes, tensorToImages } from './tensor.js';

export interface GridOptions {
  /** Images per row (torchvision's `nrow`; default 8). */
  nrow?: number;
  /** Number of rows instead: images per row becomes ceil(n / rows). */
  rows?: number;
  /** Pixels between and around images (default 2). */
  padding?: number;
  /** Byte value of the padding, 0..255 (default 0, black). */
  padValue?: number;
  /** Value range of the input mapped onto 0..255 (default [-1, 1]). */
  range?: readonly [number, number];
}

/** Lays out uint8 NHWC images on a grid, row by row, like torchvision's make_grid. */
export function gridFromBytes(images: ImageBytes, opts: GridOptions = {}): RawImage {
  const { n, height: h, width: w, channels: c, data } = images;
  if (n < 1) throw new RangeError('makeGrid: no images');
  const pad = opts.padding ?? 2;
  const perRow = Math.min(n, opts.rows !== undefined ? Math.ceil(n / Math.max(1, opts.rows)) : (opts.nrow ?? 8));
  if (!(perRow >= 1)) throw new RangeError(`makeGrid: nrow must be at least 1, got ${opts.nrow}`);
  const rows = Math.ceil(n / perRow);
  const W = perRow * (w + pad) + pad;
  const H = rows * (h + pad) + pad;
  const out = new Uint8Array(W * H * c).fill(opts.padValue ?? 0);
  const rowBytes = w * c;
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % perRow) * (w + pad);
    const y0 = pad + Math.floor(k / perRow) * (h + pad);
    for (let y = 0; y < h; y++) {
      const src = (k * h + y) * rowBytes;
      out.set(data.subarray(src, src + rowBytes), ((y0 + y) * W + x0) * c);
    }
  }
  return { data: out, width: W, height: H, channels: c };
}

/** A batch [N, C, H, W] (values in `range`) as one grid image. */
export function makeGrid(images: Tensor, opts: GridOptions = {}): RawImage {
  return gridFromBytes(tensorToImages(images, opts.range ?? [-1, 1]), opts);
}

/** Writes a batch as a grid image; the format follows the file's extension. */
export async function saveGrid(images: Tensor, file: string, opts: GridOptions = {}): Promise<void> {
  await writeImage(makeGrid(images, opts), file);
}

/** Writes one image, [C, H, W] or [1, C, H, W], values in `range` (default [-1, 1]). */
export async function saveImage(image: Tensor, file: string, opts: { range?: readonly [number, number] } = {}): Promise<void> {
  const b = tensorToImages(image, opts.range ?? [-1, 1]);
  if (b.n !== 1) throw new RangeError(`saveImage: expected one image, got a batch of ${b.n} (use saveGrid or saveImages)`);
  await writeImage({ data: b.data, width: b.width, height: b.height, channels: b.channels }, file);
}

/** Writes each image of a batch to its own file (`translate`'s outputs). */
export async function saveImages(images: Tensor, files: readonly string[], opts: { range?: readonly [number, number] } = {}): Promise<void> {
  const b = tensorToImages(images, opts.range ?? [-1, 1]);
  if (files.length !== b.n) throw new RangeError(`saveImages: ${b.n} images but ${files.length} file names`);
  const per = b.height * b.width * b.channels;
  await Promise.all(files.map((f, i) =>
    writeImage({ data: b.data.subarray(i * per, (i + 1) * per), width: b.width, height: b.height, channels: b.channels }, f)));
}
