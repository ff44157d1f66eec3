// `single`: one folder (or one file) of images, for inference with `translate`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './errors.js';
import { type Channels, isImageFile } from './image.js';
import { type PreprocessOptions, randomTransform } from './preprocess.js';
import { Rng } from './rng.js';
import { type BadFileHandler, Decoder, type Sample, type Sampler } from './sampler.js';
import { requireImages } from './scan.js';

export interface SingleSpec {
  kind: 'single';
  root: string;
  files: string[];
  channels: Channels;
  transform: PreprocessOptions;
}

export function openSingle(source: string, o: { channels: Channels; transform: PreprocessOptions; maxDatasetSize: number }): SingleSpec {
  const p = path.resolve(source);
  let files: string[];
  if (fs.existsSync(p) && fs.statSync(p).isFile()) {
    if (!isImageFile(p)) throw new DataError(`${p} is not an image: expected a png, jpg or webp file, or a folder of them`, p);
    files = [p];
  } else {
    files = requireImages(p).files;
  }
  return { kind: 'single', root: p, files: files.slice(0, o.maxDatasetSize), channels: o.channels, transform: o.transform };
}

export function singleSampler(spec: SingleSpec, onBad: BadFileHandler): Sampler {
  const decoder = new Decoder(onBad);
  return {
    length: spec.files.length,
    async load(index: number, seed: number): Promise<Sample> {
      const { image, file } = await decoder.decode(spec.files, index, spec.channels);
      const a = await randomTransform(image, spec.transform, new Rng(seed));
      return { a, b: null, label: -1, pathA: file, pathB: null };
    },
  };
}
