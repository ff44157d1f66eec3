// Images as plain bytes: decoding and encoding with sharp, and the few pixel operations
// (crop, flip, grayscale) that are cheaper done directly on the bytes than through a
// sharp pipeline. Worker threads use this file, so it must never import the engine.

import sharp from 'sharp';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { DataError, oneLine } from './errors.js';
import { decodePngFast } from './png.js';

/** An 8-bit image in HWC order (rows of pixels, channels interleaved). */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** 1 (grayscale) or 3 (RGB): the reference's `input_nc` / `output_nc`. */
export type Channels = 1 | 3;

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

export function checkChannels(c: number, what = 'channels'): Channels {
  if (c !== 1 && c !== 3) throw new DataError(`${what} ${c} is not supported: expected 1 (grayscale) or 3 (RGB)`);
  return c;
}

export function rawImage(data: Uint8Array, width: number, height: number, channels: number): RawImage {
  if (data.length !== width * height * channels) {
    throw new RangeError(`rawImage: ${data.length} bytes cannot hold ${width}x${height}x${channels}`);
  }
  return { data, width, height, channels };
}

/** An image file that cannot be decoded; `reason` is the decoder's own words. */
export class ImageDecodeError extends DataError {
  readonly reason: string;

  constructor(name: string, reason: string, file?: string) {
    super(`cannot decode ${name}: ${reason}`, file);
    this.reason = reason;
  }
}

// Truncated files must fail (they are skipped and counted), but decoder warnings such as
// an odd ICC profile must not reject images that every other tool opens.
const DECODE_OPTIONS = { failOn: 'truncated' as const };

/**
 * Decodes a png/jpg/webp file (or its bytes) into 8-bit RGB, or grayscale when
 * `channels` is 1. Transparency is flattened onto white. Grayscale uses PIL's
 * `convert('L')` weights so results match the reference's `transforms.Grayscale`.
 */
export async function decodeImage(input: string | Uint8Array, channels: Channels = 3): Promise<RawImage> {
  const file = typeof input === 'string' ? input : undefined;
  let bytes: Uint8Array;
  try {
    // fs.promises.readFile costs four thread-pool round trips; a loader worker may block.
    bytes = file === undefined ? (input as Uint8Array) : isMainThread ? await fsp.readFile(file) : fs.readFileSync(file);
  } catch (e) {
    throw new ImageDecodeError(file ?? 'image bytes', oneLine(e), file);
  }
  const fast = decodePngFast(bytes);
  if (fast) return channels === 1 ? toGrayscale(fast) : fast;
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await sharp(bytes, DECODE_OPTIONS)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageDecodeError(file ?? 'image bytes', oneLine(e), file);
  }
  let img = rawImage(new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), out.info.width, out.info.height, out.info.channels);
  if (img.channels !== 3) img = toRgb(img);
  return channels === 1 ? toGrayscale(img) : img;
}

/** PIL's ITU-R 601-2 luma transform, in its exact integer form. */
export function toGrayscale(img: RawImage): RawImage {
  if (img.channels === 1) return img;
  if (img.channels !== 3) throw new RangeError(`toGrayscale: expected 1 or 3 channels, got ${img.channels}`);
  const n = img.width * img.height;
  const src = img.data;
  const dst = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    dst[i] = (src[j] * 19595 + src[j + 1] * 38470 + src[j + 2] * 7471 + 0x8000) >>> 16;
  }
  return { data: dst, width: img.width, height: img.height, channels: 1 };
}

/** Grayscale (or gray+alpha leftovers) to RGB by repeating the first channel. */
export function toRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const c = img.channels;
  const dst = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = img.data[i * c];
    dst[i * 3] = v;
    dst[i * 3 + 1] = v;
    dst[i * 3 + 2] = v;
  }
  return { data: dst, width: img.width, height: img.height, channels: 3 };
}

export function toChannels(img: RawImage, channels: Channels): RawImage {
  return channels === 1 ? toGrayscale(img) : toRgb(img);
}

/** Resampling filters by PIL's names; BICUBIC is the reference's default. */
export type ResizeKernel = 'bicubic' | 'bilinear' | 'nearest' | 'lanczos';

const KERNELS: Record<ResizeKernel, keyof sharp.KernelEnum> = {
  bicubic: 'cubic',
  bilinear: 'linear',
  nearest: 'nearest',
  lanczos: 'lanczos3',
};

/** Resizes to exactly width x height (aspect ratio not kept, like PIL's `resize`). */
export async function resizeImage(img: RawImage, width: number, height: number, kernel: ResizeKernel = 'bicubic'): Promise<RawImage> {
  if (img.width === width && img.height === height) return img;
  const c = img.channels;
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: c as 1 | 3 | 4 } })
    .resize(width, height, { fit: 'fill', kernel: KERNELS[kernel] });
  // libvips promotes a one-band raw image to sRGB on output unless told otherwise.
  pipeline = c === 1 ? pipeline.toColourspace('b-w') : pipeline;
  const out = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (out.info.channels !== c || out.info.width !== width || out.info.height !== height) {
    throw new Error(`resizeImage: sharp returned ${out.info.width}x${out.info.height}x${out.info.channels}, wanted ${width}x${height}x${c}`);
  }
  return { data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), width, height, channels: c };
}

/**
 * The w x h window at (x, y). Like PIL's `crop`, parts of the window outside the image
 * are black.
 */
export function cropImage(img: RawImage, x: number, y: number, w: number, h: number): RawImage {
  if (x === 0 && y === 0 && w === img.width && h === img.height) return img;
  const c = img.channels;
  const dst = new Uint8Array(w * h * c);
  const x0 = Math.max(0, x);
  const x1 = Math.min(img.width, x + w);
  if (x1 > x0) {
    for (let row = 0; row < h; row++) {
      const sy = y + row;
      if (sy < 0 || sy >= img.height) continue;
      const from = (sy * img.width + x0) * c;
      dst.set(img.data.subarray(from, from + (x1 - x0) * c), (row * w + (x0 - x)) * c);
    }
  }
  return { data: dst, width: w, height: h, channels: c };
}

/** Mirror left-right. */
export function flipImage(img: RawImage): RawImage {
  const { width: w, height: h, channels: c } = img;
  const src = img.data;
  const dst = new Uint8Array(src.length);
  // Per-channel-count loops: the generic inner loop costs more than decoding a PNG.
  if (c === 3) {
    for (let y = 0; y < h; y++) {
      let s = y * w * 3;
      let d = s + (w - 1) * 3;
      for (let x = 0; x < w; x++, s += 3, d -= 3) {
        dst[d] = src[s];
        dst[d + 1] = src[s + 1];
        dst[d + 2] = src[s + 2];
      }
    }
  } else if (c === 1) {
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) dst[row + w - 1 - x] = src[row + x];
    }
  } else {
    for (let y = 0; y < h; y++) {
      const row = y * w * c;
      for (let x = 0; x < w; x++) {
        const s = row + x * c;
        const d = row + (w - 1 - x) * c;
        for (let k = 0; k < c; k++) dst[d + k] = src[s + k];
      }
    }
  }
  return { data: dst, width: w, height: h, channels: c };
}

export type ImageFormat = 'png' | 'jpg' | 'webp';

export function formatOf(file: string): ImageFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpg';
  if (ext === '.webp') return 'webp';
  throw new DataError(`cannot write ${file}: expected a .png, .jpg or .webp file name`, file);
}

export async function encodeImage(img: RawImage, format: ImageFormat = 'png'): Promise<Buffer> {
  const p = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 | 4 } });
  if (format === 'png') return (img.channels === 1 ? p.toColourspace('b-w') : p).png().toBuffer();
  if (format === 'jpg') return p.jpeg({ quality: 95 }).toBuffer();
  return p.webp({ quality: 95 }).toBuffer();
}

/**
 * Writes an image, the format taken from the extension. The bytes go to a temporary
 * name first so a dashboard polling the samples folder never shows half a PNG.
 */
export async function writeImage(img: RawImage, file: string): Promise<void> {
  const bytes = await encodeImage(img, formatOf(file));
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, bytes);
    await fsp.rename(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
