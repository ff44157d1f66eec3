// Computing a list of metrics for one generator against one dataset: the dataset's
// features once per feature network (from the cache when its content and the network are
// unchanged), the generated images once for all metrics, each metric on the first images
// it asks for.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';
import { FeatureStats, meanCov } from './feature_stats.js';
import { frechetDistance } from './frechet.js';
import { kernelInceptionDistance } from './kernel_distance.js';
import { inceptionScore } from './inception_score.js';
import { precisionRecall } from './precision_recall.js';
import type { MetricSpec } from './names.js';
import type { Detector } from './detector.js';

/** Real images: how many there are, what they are (the cache key), and the images themselves. */
export interface RealSource {
  length: number;
  /** Fingerprint of the content and of how it is read (datasetFingerprint). */
  fingerprint: string;
  /** The first `count` images as uint8 NCHW batches (each the consumer's to dispose). */
  images(count: number): AsyncIterable<Tensor>;
}

/** Generated images: `next(n)` gives the next n images as uint8 NCHW (the caller disposes). */
export interface GeneratedSource {
  next(n: number): Tensor | Promise<Tensor>;
}

export interface EvaluateProgress {
  /** 'real' while the dataset's features are extracted, 'generated' after. */
  stage: 'real' | 'generated';
  done: number;
  total: number;
  /** The dataset's features came from the cache. */
  cached?: boolean;
}

export interface EvaluateOptions {
  specs: readonly MetricSpec[];
  real: RealSource;
  generated: GeneratedSource;
  /** For FID, KID and IS. */
  inception: Detector | null;
  /** For precision/recall. */
  vgg: Detector | null;
  /** Where reference features are cached (null: not cached). */
  cacheDir: string | null;
  batch?: number;
  /** Seed of KID's subsets. */
  seed?: number;
  onProgress?: (p: EvaluateProgress) => void;
  log?: (line: string) => void;
}

/** Real images each metric compares with, at most the dataset's size. */
function realCount(spec: MetricSpec, length: number): number {
  return spec.maxReal === null ? length : Math.min(spec.maxReal, length);
}

/** The real features a detector gives for the first `count` images, cached by content and network. */
async function realFeatures(o: EvaluateOptions, det: Detector, count: number, progress: (n: number, cached?: boolean) => void): Promise<Tensor> {
  const key = createHash('sha256').update(`${o.real.fingerprint}\0${det.sha256}\0${count}`).digest('hex').slice(0, 32);
  const file = o.cacheDir ? join(o.cacheDir, 'stats', `${key}.safetensors`) : null;
  if (file && existsSync(file)) {
    try {
      const { tensors } = loadSafetensors(file);
      if (tensors.features?.shape[0] === count) {
        progress(count, true);
        return tensors.features;
      }
    } catch {
      // A damaged cache entry is recomputed and rewritten.
    }
  }
  const stats = new FeatureStats({ captureAll: true, maxItems: count });
  try {
    for await (const batch of o.real.images(count)) {
      try {
        torch.scope(() => stats.append(det.features(batch)));
      } finally {
        batch.dispose();
      }
      progress(stats.count);
    }
    const all = stats.all();
    if (file) {
      mkdirSync(join(o.cacheDir!, 'stats'), { recursive: true });
      saveSafetensors(file, { features: all }, { network: det.path, network_sha256: det.sha256, dataset: o.real.fingerprint, count: String(count) });
    }
    return all;
  } finally {
    stats.dispose();
  }
}

/** Results by key (fid10k, is10k_mean, pr50k3_precision ...). */
export async function evaluateMetrics(o: EvaluateOptions): Promise<Record<string, number>> {
  const batch = o.batch ?? 32;
  const needs = (k: string) => o.specs.some((s) => s.kind === k);
  const inception = needs('fid') || needs('kid') || needs('is') ? o.inception : null;
  if ((needs('fid') || needs('kid') || needs('is')) && !inception) throw new Error('FID, KID and IS need the Inception network');
  const vgg = needs('pr') ? o.vgg : null;
  if (needs('pr') && !vgg) throw new Error('precision/recall needs the VGG16 network');
  const numGen = Math.max(...o.specs.map((s) => s.numGen));
  const realIncCount = Math.max(0, ...o.specs.filter((s) => s.kind === 'fid' || s.kind === 'kid').map((s) => realCount(s, o.real.length)));
  const realVggCount = Math.max(0, ...o.specs.filter((s) => s.kind === 'pr').map((s) => realCount(s, o.real.length)));
  const realTotal = realIncCount + realVggCount;
  const results: Record<string, number> = {};
  const gen = { inc: new FeatureStats({ captureAll: true }), probs: new FeatureStats({ captureAll: true }), vgg: new FeatureStats({ captureAll: true }) };
  let realInc: Tensor | null = null;
  let realVgg: Tensor | null = null;
  try {
    if (realIncCount > 0) realInc = await realFeatures(o, inception!, realIncCount, (n, cached) => o.onProgress?.({ stage: 'real', done: n, total: realTotal, cached }));
    if (realVggCount > 0) realVgg = await realFeatures(o, vgg!, realVggCount, (n, cached) => o.onProgress?.({ stage: 'real', done: realIncCount + n, total: realTotal, cached }));
    const incFeatures = needs('fid') || needs('kid');
    for (let done = 0; done < numGen; ) {
      const n = Math.min(batch, numGen - done);
      const images = await o.generated.next(n);
      try {
        torch.scope(() => {
          if (incFeatures) gen.inc.append(inception!.features(images));
          if (needs('is')) gen.probs.append(inception!.probabilities(images));
          if (vgg) gen.vgg.append(vgg.features(images));
        });
      } finally {
        images.dispose();
      }
      done += n;
      o.onProgress?.({ stage: 'generated', done, total: numGen });
    }
    for (const s of o.specs) {
      torch.scope(() => {
        const first = (stats: FeatureStats) => stats.all().narrow(0, 0, s.numGen);
        if (s.kind === 'fid') {
          const r = realInc!.narrow(0, 0, realCount(s, o.real.length));
          results[s.name] = frechetDistance(meanCov(first(gen.inc)), meanCov(r));
        } else if (s.kind === 'kid') {
          const r = realInc!.narrow(0, 0, realCount(s, o.real.length));
          results[s.name] = kernelInceptionDistance(r, first(gen.inc), { seed: o.seed ?? 0 });
        } else if (s.kind === 'is') {
          const { mean, std } = inceptionScore(first(gen.probs), 10);
          results[s.keys[0]] = mean;
          results[s.keys[1]] = std;
        } else {
          const r = realVgg!.narrow(0, 0, realCount(s, o.real.length));
          const { precision, recall } = precisionRecall(r, first(gen.vgg), { k: s.k });
          results[s.keys[0]] = precision;
          results[s.keys[1]] = recall;
        }
      });
    }
  } finally {
    realInc?.dispose();
    realVgg?.dispose();
    for (const st of Object.values(gen)) st.dispose();
  }
  return results;
}
