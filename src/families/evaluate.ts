// What the metrics measure for a run: its generated images and the real images they are
// compared with. Image families draw images from latents with the EMA generator
// (untruncated unless asked) and compare with the training data, read without flips, as
// stylegan2-ada-pytorch does; translation families translate the test split and compare
// with its real targets.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { optionsView, type Options } from '../config/options.js';
import { Dataset, isBuiltinSet, openDataset, type Direction } from '../data/index.js';
import {
  ImageReader, datasetFingerprint, datasetImages, evaluateMetrics, toUint8, type Detectors, type GeneratedSource, type MetricSpec, type RealSource, type Side,
} from '../metrics/index.js';
import { COMMON_SCHEMA, TRANSLATION_DATA_SCHEMA, datasetOptions, isTranslation } from '../train/options.js';
import type { Recipe, RecipeDef } from '../train/recipe.js';
import type { EvaluationContext } from '../train/trainer.js';
import { translateImages, type Generator } from './translation/networks.js';

/** The two sides of an evaluation, and how many generated images it can have (null: any). */
export interface EvalSources {
  real: RealSource;
  generated: GeneratedSource;
  /** Translation: the test inputs' count, which caps every metric's image counts. */
  available: number | null;
  /** What is measured against what, for the header line. */
  describe: string;
  close(): Promise<void>;
}

export interface EvalSourceOptions {
  /** The real data (default: the run's --data). */
  data?: string | null;
  /** Images per generator or feature-network call. */
  batch: number;
  /** Seed of the latents (image families). */
  seed: number;
  /** Truncation ψ for style-based generators (1: none). */
  truncationPsi?: number;
  /** Translation: eval-mode batch norm and no dropout (the reference's test.py --eval). */
  evalMode?: boolean;
}

async function realOf(ds: Dataset, side: Side, batch: number): Promise<RealSource> {
  return { length: ds.length, fingerprint: await datasetFingerprint(ds, side), images: (n) => datasetImages(ds, side, n, batch) };
}

/** Images from a recipe's EMA generator, labels (conditional runs) taking every class in turn. */
function latentSource(recipe: Recipe, numClasses: number, o: EvalSourceOptions): GeneratedSource {
  let drawn = 0;
  return {
    next(n: number): Tensor {
      const start = drawn;
      drawn += n;
      return torch.scope(() => {
        const labels = numClasses > 0 ? Array.from({ length: n }, (_, i) => (start + i) % numClasses) : null;
        // Latents and per-pixel noise from a seed of their own (the run's seed and the
        // images drawn so far): the same evaluation gives the same numbers.
        return torch.withSeed(o.seed * 1_000_003 + start, () => {
          const inputs = recipe.sampleInputs(n, labels);
          if (o.truncationPsi !== undefined && o.truncationPsi !== 1) inputs.truncationPsi = o.truncationPsi;
          return toUint8(torch.noGrad(() => recipe.generate(inputs)));
        });
      });
    },
  };
}

/** Sources for an image family's run (DCGAN, PGGAN, StyleGAN). */
export async function imageRunSources(def: RecipeDef, recipe: Recipe, options: Options, numClasses: number, o: EvalSourceOptions): Promise<EvalSources> {
  const data = o.data ?? String(options.data);
  const ds = await openDataset(data, { ...datasetOptions(def, { ...options, data }), noFlip: true });
  return {
    real: await realOf(ds, 'a', o.batch),
    generated: latentSource(recipe, numClasses, o),
    available: null,
    describe: `generated images against ${ds.length} real images of ${ds.source}`,
    close: async () => {},
  };
}

/** The network that translates the run's --direction: pix2pix's G, CycleGAN's G_A. */
export function translationGenerator(def: RecipeDef, recipe: Recipe): Generator {
  const nets = recipe.networks();
  const G = (def.data === 'aligned' ? nets.G : nets.G_A) as Generator | undefined;
  if (!G) throw new Error(`a ${def.name} recipe without its generator`);
  return G;
}

/**
 * The test split of a translation run's data: `test/` pairs (pix2pix) or `testA/`+`testB/`
 * (CycleGAN), read at the run's --crop_size (a plain resize, as the reference's test.py),
 * without flips. A built-in set is drawn again with another seed (images it never trained on).
 */
async function testSplit(def: RecipeDef, options: Options, data: string): Promise<{ inputs: Dataset; targets: Dataset; inputSide: Side; targetSide: Side }> {
  const t = optionsView(TRANSLATION_DATA_SCHEMA, options);
  // All of the test split: --max_dataset_size limits what a run trains on, not what it is measured on.
  const base = {
    ...datasetOptions(def, { ...options, data }), maxDatasetSize: undefined, noFlip: true,
    preprocess: 'resize_and_crop' as const, loadSize: t.crop_size, cropSize: t.crop_size,
  };
  if (isBuiltinSet(data)) {
    const seed = optionsView(COMMON_SCHEMA, options).seed + 1_000_003;
    const ds = await openDataset(data, { ...base, seed, serialBatches: true });
    return { inputs: ds, targets: ds, inputSide: 'a', targetSide: 'b' };
  }
  const root = resolve(data);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`--data ${data}: no such folder (a translation run is measured on its data's test split)`);
  if (def.data === 'aligned') {
    if (!existsSync(join(root, 'test')) && existsSync(join(root, 'train'))) {
      throw new UsageError(`${root} has train/ but no test/ pairs: a pix2pix run is measured on its test split (or pass --data a folder of test pairs)`);
    }
    const ds = await openDataset(root, { ...base, mode: 'aligned', phase: 'test' });
    return { inputs: ds, targets: ds, inputSide: 'a', targetSide: 'b' };
  }
  const dir = t.direction as Direction;
  const [inDir, outDir] = dir === 'AtoB' ? ['testA', 'testB'] : ['testB', 'testA'];
  for (const d of [inDir, outDir]) {
    if (!existsSync(join(root, d))) throw new UsageError(`${root} has no ${d}/: a CycleGAN run is measured on its test split (testA/ and testB/)`);
  }
  const folder = (sub: string, nc: number) => openDataset(join(root, sub), { ...base, mode: 'folder', inputNc: nc, classes: false });
  return { inputs: await folder(inDir, t.input_nc), targets: await folder(outDir, t.output_nc), inputSide: 'a', targetSide: 'a' };
}

/** Sources for a translation run (pix2pix, CycleGAN): its translations of the test inputs against the test targets. */
export async function translationRunSources(def: RecipeDef, recipe: Recipe, options: Options, o: EvalSourceOptions): Promise<EvalSources> {
  const data = o.data ?? String(options.data);
  const split = await testSplit(def, options, data);
  const G = translationGenerator(def, recipe);
  const device = G.parameters()[0]?.device ?? 'cpu';
  const inputs = split.inputs;
  const reader = new ImageReader(datasetImages(inputs, split.inputSide, inputs.length, o.batch));
  return {
    real: await realOf(split.targets, split.targetSide, o.batch),
    available: inputs.length,
    describe: `translations of ${inputs.length} test inputs of ${inputs.source} against ${split.targets.length} real targets`,
    generated: {
      async next(n: number): Promise<Tensor> {
        const u8 = await reader.take(n);
        try {
          return torch.scope(() => {
            const x = u8.to({ dtype: 'float32', device }).sub(127.5).div(127.5);
            return toUint8(torch.noGrad(() => translateImages(G, x, o.evalMode ?? false)));
          });
        } finally {
          u8.dispose();
        }
      },
    },
    close: () => reader.close(),
  };
}
/** Sources for any run: by family. */
export function runSources(def: RecipeDef, recipe: Recipe, options: Options, numClasses: number, o: EvalSourceOptions): Promise<EvalSources> {
  return isTranslation(def) ? translationRunSources(def, recipe, options, o) : imageRunSources(def, recipe, options, numClasses, o);
}

/** The metrics as a run can measure them: a translation run's counts capped by its test split. */
export function capSpecs(specs: readonly MetricSpec[], available: number | null, realLength: number): MetricSpec[] {
  if (available === null) return [...specs];
  return specs.map((s) => {
    const numGen = Math.min(s.numGen, available);
    if (s.kind === 'is' && numGen < 10) throw new UsageError(`${s.name}: the Inception Score's 10 splits need at least 10 images, the test split has ${available}`);
    if (numGen < 2) throw new UsageError(`${s.name}: the test split has ${available} image(s), too few to measure`);
    return { ...s, numGen, maxReal: s.maxReal === null ? null : Math.min(s.maxReal, realLength) };
  });
}

/**
 * The evaluation hook of `ganforge train --metrics`: each call measures the recipe's
 * current generator as `ganforge eval --run` would measure that checkpoint (the real
 * features come from the cache after the first call).
 */
export function trainingEvaluator(def: RecipeDef, specs: readonly MetricSpec[], nets: Detectors, o: { batch?: number; cacheDir: string | null }) {
  return async (ctx: EvaluationContext): Promise<Record<string, number>> => {
    const sources = await runSources(def, ctx.recipe, ctx.options, ctx.numClasses, { batch: o.batch ?? 32, seed: 0 });
    try {
      return await evaluateMetrics({
        specs: capSpecs(specs, sources.available, sources.real.length), real: sources.real, generated: sources.generated,
        inception: nets.inception, vgg: nets.vgg, cacheDir: o.cacheDir, batch: o.batch ?? 32, seed: 0,
      });
    } finally {
      await sources.close();
    }
  };
}
