// The data a run trains on: opened with the run's options, decode-checked before anything
// is written (see data/screen.ts), and checked against what the family needs.
import { UsageError } from '../config/errors.js';
import type { Options } from '../config/options.js';
import { openDataset, type Dataset } from '../data/index.js';
import { screenDataset } from '../data/screen.js';
import type { PreprocessOptions } from '../data/preprocess.js';
import type { RecipeDef } from './recipe.js';
import { datasetOptions } from './options.js';

export interface TrainingData {
  dataset: Dataset;
  /** Files found unreadable up front (left out of `dataset`). */
  unreadable: string[];
}

/**
 * Opens `o.data` for `def`: unreadable files are left out (with one warning), a folder
 * where none can be read is refused, and so is a pix2pix dataset with no A|B pair in it.
 * Images not of the model's aspect (square, or --resolution WxH), which are resized to it
 * anyway, are named in a warning.
 */
export async function openTrainingData(def: RecipeDef, o: Options, log: (line: string) => void): Promise<TrainingData> {
  const opened = await openDataset(String(o.data), datasetOptions(def, o));
  const s = await screenDataset(opened);
  const dataset = s.dataset;
  if (s.unreadable.length) {
    const u = s.unreadable[0];
    const of = s.complete ? `of the ${s.total}` : `of the ${s.checked} checked (of ${s.total}; the others are checked as they are read)`;
    log(`warning: skipping ${s.unreadable.length} unreadable image file(s) ${of} in ${dataset.source}, ${u.file} first (${u.reason})`);
  }
  if (dataset.kind === 'aligned' && def.data === 'aligned' && s.sizes.length && !s.sizes.some((x) => x.width + 1 >= 2 * x.height)) {
    const f = s.sizes[0];
    throw new UsageError(`--model ${def.name} trains on A|B pairs side by side (each image twice as wide as high), but no image of ${dataset.source} is: ${f.file} is ${f.width}x${f.height}`);
  }
  const transform = (dataset.spec as { transform?: PreprocessOptions }).transform;
  if (transform?.preprocess === 'resize_and_crop' && transform.height !== undefined) {
    const [w, h] = [transform.loadSize, transform.height];
    const odd = s.sizes.find((x) => x.width * h !== x.height * w);
    if (odd) log(`warning: ${odd.file} is ${odd.width}x${odd.height}, not of the model's ${w}x${h} aspect: images are resized to ${w}x${h} without keeping their aspect ratio (this warning is given once)`);
  } else if (transform?.preprocess === 'resize_and_crop') {
    const pair = dataset.kind === 'aligned';
    const odd = s.sizes.find((x) => (pair ? Math.floor(x.width / 2) : x.width) !== x.height);
    if (odd) {
      log(`warning: ${odd.file} is ${pair ? `a pair of ${Math.floor(odd.width / 2)}x${odd.height} halves` : `${odd.width}x${odd.height}`}, not square: images are resized to ${transform.loadSize}x${transform.loadSize} without keeping their aspect ratio (this warning is given once)`);
    }
  }
  return { dataset, unreadable: s.unreadable.map((u) => u.file) };
}
