// `folder`: every image under a folder, recursively; with `classes`, labelled by the
// first-level sub-folder (the unconditional and class-conditional GANs' dataset).

import * as path from 'node:path';
import type { Channels } from './image.js';
import { type PreprocessOptions, randomTransform } from './preprocess.js';
import { Rng } from './rng.js';
import { type BadFileHandler, Decoder, type Sample, type Sampler } from './sampler.js';
import { listLabeledImages, requireImages } from './scan.js';

export interface FolderSpec {
  kind: 'folder';
  root: string;
  files: string[];
  labels: Int32Array | null;
  classes: string[] | null;
  /** Images directly under the root when classes were asked for (left out). */
  unlabeled: number;
  channels: Channels;
  transform: PreprocessOptions;
}

export interface FolderOptions {
  classes: boolean;
  channels: Channels;
  transform: PreprocessOptions;
  maxDatasetSize: number;
}

export function openFolder(root: string, o: FolderOptions): FolderSpec {
  root = path.resolve(root);
  if (o.classes) {
    const l = listLabeledImages(root);
    const n = Math.min(l.files.length, o.maxDatasetSize);
    return {
      kind: 'folder', root, files: l.files.slice(0, n), labels: l.labels.slice(0, n), classes: l.classes,
      unlabeled: l.unlabeled, channels: o.channels, transform: o.transform,
    };
  }
  const l = requireImages(root);
  return {
    kind: 'folder', root, files: l.files.slice(0, o.maxDatasetSize), labels: null, classes: null,
    unlabeled: 0, channels: o.channels, transform: o.transform,
  };
}

export function folderSampler(spec: FolderSpec, onBad: BadFileHandler): Sampler {
  const decoder = new Decoder(onBad);
  return {
    length: spec.files.length,
    async load(index: number, seed: number): Promise<Sample> {
      const got = await decoder.decode(spec.files, index, spec.channels);
      const a = await randomTransform(got.image, spec.transform, new Rng(seed));
      // A replacement for a broken file carries its own label, not the broken one's.
      const label = spec.labels ? spec.labels[got.index] : -1;
      const file = got.file;
      return { a, b: null, label, pathA: file, pathB: null };
    },
  };
}
