// `unaligned`: CycleGAN's two unpaired domains, `trainA/` and `trainB/` (`testA/`,
// `testB/` for --phase test). An epoch walks A in order of index; B is drawn at random
// unless --serial_batches, so A/B pairings change from epoch to epoch.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Direction, orient, sideChannels } from './direction.js';
import { DataError } from './errors.js';
import type { Channels } from './image.js';
import { type PreprocessOptions, randomTransform } from './preprocess.js';
import { Rng } from './rng.js';
import { type BadFileHandler, Decoder, type Sample, type Sampler } from './sampler.js';
import { requireImages } from './scan.js';

export interface UnalignedSpec {
  kind: 'unaligned';
  root: string;
  filesA: string[];
  filesB: string[];
  direction: Direction;
  inputNc: Channels;
  outputNc: Channels;
  serialBatches: boolean;
  transform: PreprocessOptions;
}

export interface UnalignedOptions {
  phase: string;
  direction: Direction;
  inputNc: Channels;
  outputNc: Channels;
  serialBatches: boolean;
  transform: PreprocessOptions;
  maxDatasetSize: number;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True when `root` looks like a CycleGAN dataset (has trainA/ or trainB/, or testA/ ...). */
export function hasDomainFolders(root: string, phase = 'train'): boolean {
  return isDir(path.join(root, `${phase}A`)) || isDir(path.join(root, `${phase}B`));
}

export function openUnaligned(root: string, o: UnalignedOptions): UnalignedSpec {
  root = path.resolve(root);
  const dirA = path.join(root, `${o.phase}A`);
  const dirB = path.join(root, `${o.phase}B`);
  const hasA = isDir(dirA);
  const hasB = isDir(dirB);
  if (!hasA || !hasB) {
    const [have, miss] = hasA ? [`${o.phase}A/`, dirB] : hasB ? [`${o.phase}B/`, dirA] : [null, dirA];
    const what = `an unaligned (CycleGAN) dataset needs both ${o.phase}A/ and ${o.phase}B/ folders of images`;
    throw new DataError(have ? `${root} has ${have} but no ${path.basename(miss)}/ (${what})` : `${root} has no ${o.phase}A/ or ${o.phase}B/ (${what})`, root);
  }
  const what = (d: string): string => `png, jpg or webp images of domain ${d}`;
  const A = requireImages(dirA, what('A'));
  const B = requireImages(dirB, what('B'));
  return {
    kind: 'unaligned', root, filesA: A.files.slice(0, o.maxDatasetSize), filesB: B.files.slice(0, o.maxDatasetSize),
    direction: o.direction, inputNc: o.inputNc, outputNc: o.outputNc, serialBatches: o.serialBatches, transform: o.transform,
  };
}

export function unalignedSampler(spec: UnalignedSpec, onBad: BadFileHandler): Sampler {
  const decoder = new Decoder(onBad);
  const nc = sideChannels(spec.direction, spec.inputNc, spec.outputNc);
  const nA = spec.filesA.length;
  const nB = spec.filesB.length;
  return {
    length: Math.max(nA, nB),
    async load(index: number, seed: number): Promise<Sample> {
      const rng = new Rng(seed);
      const iB = spec.serialBatches ? index % nB : rng.int(nB);
      const gotA = await decoder.decode(spec.filesA, index % nA, nc.A);
      const gotB = await decoder.decode(spec.filesB, iB, nc.B);
      // Independent crops and flips: the domains are not pixel-aligned.
      const A = await randomTransform(gotA.image, spec.transform, rng);
      const B = await randomTransform(gotB.image, spec.transform, rng);
      const [a, b] = orient(spec.direction, A, B);
      const [pathA, pathB] = orient(spec.direction, gotA.file, gotB.file);
      return { a, b, label: -1, pathA, pathB };
    },
  };
}
