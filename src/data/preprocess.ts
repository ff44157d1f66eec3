// pytorch-CycleGAN-and-pix2pix's preprocessing (data/base_dataset.py), by its names and
// semantics, so a command line copied from the reference means the same thing here:
//   resize_and_crop       resize to load_size x load_size, then a random crop_size crop
//   crop                  a random crop_size crop of the image as it is
//   scale_width           width to load_size (height keeps the aspect, at least crop_size)
//   scale_width_and_crop  scale_width, then a random crop_size crop
//   none                  only round each side to a multiple of 4
// then a random horizontal flip unless no_flip. The random choices are drawn once per
// sample (`getParams`), so the two halves of a pix2pix pair get the same crop and flip.

import { DataError } from './errors.js';
import { type RawImage, cropImage, flipImage, resizeImage } from './image.js';
import { Rng } from './rng.js';
// Python 3 rounds halves to even; the reference's sizes and torch's casts rely on it.
import { roundHalfEven } from '../util/round.js';

export const PREPROCESS_MODES = ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'] as const;
export type PreprocessMode = (typeof PREPROCESS_MODES)[number];

export interface PreprocessOptions {
  preprocess: PreprocessMode;
  loadSize: number;
  cropSize: number;
  noFlip: boolean;
  /**
   * A non-square model's image height ('resize_and_crop' only): load_size and crop_size are
   * then its width, and images are resized to load_size x height (the aspect not kept, as
   * for a square) before the crop. Absent: square.
   */
  height?: number;
}

/** The height images are resized to before cropping, and the crop's. */
const loadHeight = (o: PreprocessOptions): number => o.height ?? o.loadSize;
const cropHeight = (o: PreprocessOptions): number => o.height ?? o.cropSize;

/** The random part of a transform: where to crop, whether to mirror. */
export interface TransformParams {
  x: number;
  y: number;
  flip: boolean;
}

/** The reference's defaults (`--load_size 286 --crop_size 256`). */
export const DEFAULT_PREPROCESS: PreprocessOptions = { preprocess: 'resize_and_crop', loadSize: 286, cropSize: 256, noFlip: false };

export function checkPreprocess(o: PreprocessOptions): PreprocessOptions {
  if (!(PREPROCESS_MODES as readonly string[]).includes(o.preprocess)) {
    throw new DataError(`--preprocess ${o.preprocess} is not known: expected one of ${PREPROCESS_MODES.join(', ')}`);
  }
  for (const [name, v] of [['--load_size', o.loadSize], ['--crop_size', o.cropSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new DataError(`${name} ${v} is not valid: expected a positive whole number of pixels`);
  }
  if (o.height !== undefined && (o.preprocess !== 'resize_and_crop' || !Number.isInteger(o.height) || o.height < 1)) {
    throw new DataError(`a non-square image height (${o.height}) needs --preprocess resize_and_crop and a positive whole number of pixels`);
  }
  if (o.preprocess.includes('crop') && o.preprocess !== 'crop' && o.cropSize > o.loadSize) {
    throw new DataError(`--crop_size ${o.cropSize} is larger than --load_size ${o.loadSize}: a crop must fit inside the resized image`);
  }
  return o;
}


function scaledWidthSize(o: PreprocessOptions, w: number, h: number): [number, number] {
  if (w === o.loadSize && h >= o.cropSize) return [w, h];
  return [o.loadSize, Math.floor(Math.max((o.loadSize * h) / w, o.cropSize))];
}

/**
 * The size an image of w x h has just before cropping (after resizing or scaling).
 * One choice of ours: in 'crop' mode an image smaller than crop_size is first scaled up
 * (bicubic, keeping its aspect) until it covers the crop, where the reference would
 * return the small image and break batching.
 */
export function preCropSize(o: PreprocessOptions, w: number, h: number): [number, number] {
  switch (o.preprocess) {
    case 'resize_and_crop':
      return [o.loadSize, loadHeight(o)];
    case 'scale_width':
    case 'scale_width_and_crop':
      return scaledWidthSize(o, w, h);
    case 'crop': {
      if (w >= o.cropSize && h >= o.cropSize) return [w, h];
      const s = Math.max(o.cropSize / w, o.cropSize / h);
      return [Math.max(o.cropSize, Math.round(w * s)), Math.max(o.cropSize, Math.round(h * s))];
    }
    case 'none':
      return [Math.max(4, roundHalfEven(w / 4) * 4), Math.max(4, roundHalfEven(h / 4) * 4)];
  }
}

/** The final [width, height] for an input of w x h. */
export function outputSize(o: PreprocessOptions, w: number, h: number): [number, number] {
  if (o.preprocess.includes('crop')) return [o.cropSize, cropHeight(o)];
  return preCropSize(o, w, h);
}

/** The output size when it does not depend on the input's (every *crop mode), else null. */
export function fixedOutputSize(o: PreprocessOptions): number | null {
  return o.preprocess.includes('crop') ? o.cropSize : null;
}

/** Draws the crop position and flip for an image of w x h (the reference's `get_params`). */
export function getParams(o: PreprocessOptions, w: number, h: number, rng: Rng): TransformParams {
  let [nw, nh] = [w, h];
  if (o.preprocess === 'resize_and_crop') [nw, nh] = [o.loadSize, loadHeight(o)];
  else if (o.preprocess === 'scale_width_and_crop') [nw, nh] = [o.loadSize, Math.floor((o.loadSize * h) / w)];
  else if (o.preprocess === 'crop') [nw, nh] = preCropSize(o, w, h);
  const x = rng.range(0, Math.max(0, nw - o.cropSize));
  const y = rng.range(0, Math.max(0, nh - cropHeight(o)));
  const flip = rng.float() > 0.5;
  return { x, y, flip };
}

/** Applies resize/scale, crop and flip with the given params (the reference's `get_transform`). */
export async function applyTransform(img: RawImage, o: PreprocessOptions, p: TransformParams): Promise<RawImage> {
  const [w, h] = preCropSize(o, img.width, img.height);
  let out = await resizeImage(img, w, h, 'bicubic');
  if (o.preprocess.includes('crop') && (out.width > o.cropSize || out.height > cropHeight(o))) {
    out = cropImage(out, p.x, p.y, o.cropSize, cropHeight(o));
  }
  if (!o.noFlip && p.flip) out = flipImage(out);
  return out;
}

/** Draws params for this image from `rng` and applies them. */
export async function randomTransform(img: RawImage, o: PreprocessOptions, rng: Rng): Promise<RawImage> {
  return applyTransform(img, o, getParams(o, img.width, img.height, rng));
}
