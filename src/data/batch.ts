// A batch as the workers hand it over: uint8 NHWC bytes plus labels and provenance.
// The main thread turns it into float tensors in exactly one place (tensor.ts).

import { DataError } from './errors.js';
import type { Sample } from './sampler.js';

export interface Batch {
  /** Number of samples. */
  size: number;
  height: number;
  width: number;
  /** The model's input images, NHWC uint8. */
  a: Uint8Array;
  channelsA: number;
  /** The targets of paired datasets (pix2pix, CycleGAN), NHWC uint8, or null. */
  b: Uint8Array | null;
  channelsB: number;
  /** B's size; equal to A's except with --preprocess none or scale_width on unpaired data. */
  heightB: number;
  widthB: number;
  /** Class labels, or null when the dataset has none. */
  labels: Int32Array | null;
  /** Dataset indices of the samples. */
  indices: Int32Array;
  pathsA: string[];
  pathsB: string[] | null;
  /** Where in the loader's sequence this batch came from. */
  epoch: number;
  position: number;
}

function sizeMismatch(samples: Sample[], i: number, side: 'a' | 'b'): DataError {
  const s0 = samples[0][side]!;
  const si = samples[i][side]!;
  const p0 = side === 'a' ? samples[0].pathA : samples[0].pathB;
  const pi = side === 'a' ? samples[i].pathA : samples[i].pathB;
  return new DataError(
    `images of different sizes in one batch: ${pi} is ${si.width}x${si.height}, ${p0} is ${s0.width}x${s0.height} ` +
      `(use --preprocess resize_and_crop, crop or scale_width_and_crop, or --batch_size 1)`,
    pi ?? undefined,
  );
}

/** Packs samples into one batch; every image on a side must have the same size. */
export function collate(samples: Sample[], indices: ArrayLike<number>, epoch: number, position: number, labeled: boolean): Batch {
  if (samples.length === 0) throw new RangeError('collate: no samples');
  const first = samples[0];
  const { width, height, channels: channelsA } = first.a;
  const hasB = first.b !== null;
  const channelsB = first.b?.channels ?? 0;
  const widthB = first.b?.width ?? 0;
  const heightB = first.b?.height ?? 0;
  const per = width * height * channelsA;
  const perB = widthB * heightB * channelsB;
  const a = new Uint8Array(per * samples.length);
  const b = hasB ? new Uint8Array(perB * samples.length) : null;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (s.a.width !== width || s.a.height !== height || s.a.channels !== channelsA) throw sizeMismatch(samples, i, 'a');
    a.set(s.a.data, i * per);
    if (b) {
      const sb = s.b!;
      if (sb.width !== widthB || sb.height !== heightB || sb.channels !== channelsB) throw sizeMismatch(samples, i, 'b');
      b.set(sb.data, i * perB);
    }
  }
  return {
    size: samples.length, height, width, a, channelsA, b, channelsB, heightB, widthB,
    labels: labeled ? Int32Array.from(samples, (s) => s.label) : null,
    indices: Int32Array.from(indices), pathsA: samples.map((s) => s.pathA),
    pathsB: hasB ? samples.map((s) => s.pathB ?? '') : null, epoch, position,
  };
}

/** What the loader asks a worker (or itself) for: the samples of one batch. */
export interface BatchRequest {
  indices: Int32Array;
  /** One augmentation seed per sample. */
  seeds: Uint32Array;
  epoch: number;
  position: number;
  labeled: boolean;
}

/**
 * Loads a batch's samples with up to `concurrency` in flight (sharp decodes on its own
 * thread pool, so overlapping them is what keeps the cores busy) and packs them.
 */
export async function loadBatch(sampler: { load(index: number, seed: number): Promise<Sample> }, req: BatchRequest, concurrency = 8): Promise<Batch> {
  const n = req.indices.length;
  const samples = new Array<Sample>(n);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      samples[i] = await sampler.load(req.indices[i], req.seeds[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return collate(samples, req.indices, req.epoch, req.position, req.labeled);
}

/** The buffers of a batch, for a zero-copy postMessage. */
export function transferList(b: Batch): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const v of [b.a, b.b, b.labels, b.indices]) {
    if (v && v.buffer instanceof ArrayBuffer && !out.includes(v.buffer)) out.push(v.buffer);
  }
  return out;
}
