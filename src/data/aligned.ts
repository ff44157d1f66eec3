// `aligned`: pix2pix pairs stored as one image, A on the left half and B on the right
// (the layout of the reference's facades, maps, edges2shoes ... downloads).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './errors.js';
import { type Direction, orient, sideChannels } from './direction.js';
import { type Channels, cropImage, toChannels } from './image.js';
import { type PreprocessOptions, applyTransform, getParams } from './preprocess.js';
import { Rng } from './rng.js';
import { type BadFileHandler, Decoder, type Sample, type Sampler } from './sampler.js';
import { requireImages } from './scan.js';

export interface AlignedSpec {
  kind: 'aligned';
  root: string;
  files: string[];
  direction: Direction;
  inputNc: Channels;
  outputNc: Channels;
  transform: PreprocessOptions;
}

export interface AlignedOptions {
  phase: string;
  direction: Direction;
  inputNc: Channels;
  outputNc: Channels;
  transform: PreprocessOptions;
  maxDatasetSize: number;
}

/** The reference reads `dataroot/phase`; a path that already is that folder works too. */
export function phaseFolder(root: string, phase: string): string {
  const sub = path.join(root, phase);
  try {
    if (fs.statSync(sub).isDirectory()) return sub;
  } catch {
    /* no phase folder: the root itself holds the pairs */
  }
  return root;
}

export function openAligned(root: string, o: AlignedOptions): AlignedSpec {
  const dir = phaseFolder(path.resolve(root), o.phase);
  const l = requireImages(dir, 'png, jpg or webp images, each an A|B pair side by side');
  return {
    kind: 'aligned', root: dir, files: l.files.slice(0, o.maxDatasetSize),
    direction: o.direction, inputNc: o.inputNc, outputNc: o.outputNc, transform: o.transform,
  };
}

export function alignedSampler(spec: AlignedSpec, onBad: BadFileHandler): Sampler {
  const decoder = new Decoder(onBad);
  const nc = sideChannels(spec.direction, spec.inputNc, spec.outputNc);
  return {
    length: spec.files.length,
    async load(index: number, seed: number): Promise<Sample> {
      const { image, file } = await decoder.decode(spec.files, index, 3);
      // An odd width has no middle: the halves would differ by a pixel and stop lining up.
      if (image.width % 2 !== 0) {
        throw new DataError(`${file} is ${image.width}x${image.height}: an aligned pair (A|B side by side) must have an even width`, file);
      }
      const half = image.width / 2;
      const A = toChannels(cropImage(image, 0, 0, half, image.height), nc.A);
      const B = toChannels(cropImage(image, half, 0, image.width - half, image.height), nc.B);
      // One draw for both halves: they must stay pixel-aligned.
      const params = getParams(spec.transform, A.width, A.height, new Rng(seed));
      const [a, b] = orient(spec.direction,
        await applyTransform(A, spec.transform, params),
        await applyTransform(B, spec.transform, params));
      return { a, b, label: -1, pathA: file, pathB: file };
    },
  };
}
