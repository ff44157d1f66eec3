// `ganforge eval`: FID, KID, IS and precision/recall of a run's generator (or of a folder
// of images) against a dataset, with NVIDIA's TorchScript Inception network or any
// feature network with its call convention.
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { decodeImage, listImages, openDataset } from '../data/index.js';
import {
  ImageReader, cacheDir, datasetFingerprint, datasetImages, evaluateMetrics, openDetectors, parseMetricList,
  type Detectors, type EvaluateProgress, type GeneratedSource, type RealSource,
} from '../metrics/index.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { capSpecs, runSources, type EvalSources } from '../families/evaluate.js';
import { RUN_OPTIONS, disposeRun, truncationOf } from './latents.js';
import { countLine, progressPrinter, type CountProgress } from './progress.js';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  images: { type: 'string', default: null, help: 'instead of --run: a folder of images to measure (pytorch-fid\'s use)', metavar: 'DIR' },
  data: { type: 'string', default: null, help: "the real images: a folder, a prepared cache or a built-in set (default: the run's --data; a translation run's test split)", metavar: 'PATH' },
  metrics: { type: 'string', default: 'fid50k_full', help: 'comma-separated metrics, named as stylegan2-ada-pytorch (fid50k_full, fid10k, kid50k_full, is50k, pr50k3) with any count', metavar: 'LIST' },
  inception: { type: 'string', default: null, help: "NVIDIA's inception-2015-12-05.pt (default: $GANFORGE_INCEPTION, else downloaded once into the cache)", metavar: 'FILE' },
  features: { type: 'string', default: null, help: 'instead of Inception: any TorchScript feature network called as module(uint8 NCHW, return_features=True)', metavar: 'FILE' },
  vgg: { type: 'string', default: null, help: "NVIDIA's vgg16.pt for precision/recall (default: $GANFORGE_VGG, else downloaded once into the cache)", metavar: 'FILE' },
  truncation_psi: { type: 'float', default: 1, help: 'truncation ψ for style-based generators (1 = none, the metrics\' convention)', metavar: 'PSI' },
  resolution: { type: 'int', default: null, help: 'with --images: the side both sets are resized to (default: the first image\'s height)', min: 4 },
  eval: { type: 'bool', default: false, help: 'translation runs: eval-mode batch norm and no dropout (default: training mode, as the reference\'s test.py)' },
  batch: { type: 'int', default: 32, help: 'images per generator and feature-network call', min: 1 },
  seed: { type: 'int', default: 0, help: 'seed of the latents and of KID\'s subsets', min: 0 },
  device: RUN_OPTIONS.device,
  json: { type: 'bool', default: false, help: 'print the results as one JSON object on stdout ({"fid10k": …})' },
});

export const EVAL_HELP = `Usage: ganforge eval (--run DIR | --images DIR --data PATH) [--metrics LIST] [options]

Measures a trained generator (its EMA copy, untruncated) or a folder of images against
real images: FID, KID, the Inception Score and precision/recall, named and computed as
stylegan2-ada-pytorch does (fid50k_full: 50k generated images against the whole dataset;
fid10k: 10k against 10k; kid50k_full; is50k; pr50k3, with VGG16 features). Any count
works (fid5k, fid500). A pix2pix or CycleGAN run translates its data's test split and is
measured against the real targets (all of them: the counts only cap).

Features come from NVIDIA's TorchScript Inception (inception-2015-12-05.pt, the network
behind published FIDs): --inception FILE, $GANFORGE_INCEPTION, or a copy downloaded once
into ~/.cache/ganforge ($GANFORGE_CACHE). The real images' features are cached there,
keyed by the images' content and the network's SHA-256.

Examples:
  ganforge eval --run runs/stylegan-ffhq-256 --metrics fid50k_full,kid50k_full
  ganforge eval --run runs/dcgan-shapes-64 --metrics fid10k,is10k --json
  ganforge eval --images samples/ --data datasets/celeba --metrics fid10k

Options:
${formatOptions(SCHEMA)}
`;

/** A folder of images as generated images, read in order. */
async function folderSources(dir: string, data: string, resolution: number | null, batch: number): Promise<EvalSources> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--images ${dir}: no such folder`);
  const list = listImages(dir);
  if (!list.files.length) throw new UsageError(`--images ${dir} holds no png, jpg or webp images`);
  const side = resolution ?? (await decodeImage(list.files[0], 3)).height;
  const read = { resolution: side, loadSize: side, cropSize: side, preprocess: 'resize_and_crop' as const, noFlip: true, inputNc: 3 };
  const gen = await openDataset(dir, { ...read, mode: 'folder' });
  const real = await openDataset(data, { ...read, mode: isDataFolder(data) ? 'folder' : undefined });
  const reader = new ImageReader(datasetImages(gen, 'a', gen.length, batch));
  const generated: GeneratedSource = { next: (n) => reader.take(n) };
  const realSource: RealSource = { length: real.length, fingerprint: await datasetFingerprint(real, 'a'), images: (n) => datasetImages(real, 'a', n, batch) };
  return {
    real: realSource, generated, available: gen.length,
    describe: `${gen.length} images of ${gen.source} against ${real.length} real images of ${real.source}, at ${side}x${side}`,
    close: () => reader.close(),
  };
}

function isDataFolder(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

export async function evalCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'eval', EVAL_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (!o.run && !o.images) throw new UsageError('eval needs --run DIR (a run folder) or --images DIR (a folder of images) to measure');
  if (o.run && o.images) throw new UsageError('give --run or --images, not both');
  if (o.images && !o.data) throw new UsageError('--images needs --data PATH: the real images to compare with');
  if (o.images && (given.has('checkpoint') || given.has('truncation_psi'))) throw new UsageError('--checkpoint and --truncation_psi apply to --run');
  if (o.run && given.has('resolution')) throw new UsageError("--resolution applies to --images; a run is measured at its own resolution");
  const specs = parseMetricList(o.metrics);
  const log = (line: string) => process.stderr.write(line + '\n');

  let sources: EvalSources;
  let loaded: ReturnType<typeof loadRun> | null = null;
  if (o.run) {
    const { def } = readRunOptions(o.run);
    loaded = loadRun(o.run, { checkpoint: o.checkpoint, device: o.device });
    try {
      const psi = truncationOf(loaded.recipe, def.name, o.truncation_psi, null, false).psi ?? 1;
      sources = await runSources(def, loaded.recipe, loaded.options, loaded.classes?.length ?? 0, {
        data: o.data, batch: o.batch, seed: o.seed, truncationPsi: psi, evalMode: o.eval,
      });
    } catch (e) {
      disposeRun(loaded);
      throw e;
    }
  } else {
    sources = await folderSources(o.images!, o.data!, o.resolution, o.batch);
  }
  let nets: Detectors | null = null;
  const bar = progressPrinter<CountProgress & { stage: string }>(process.stderr, (p) => `${p.stage}: ${countLine(p)}`);
  try {
    const measured = capSpecs(specs, sources.available, sources.real.length);
    if (o.features && given.has('inception')) throw new UsageError('give --inception or --features, not both');
    nets = await openDetectors(measured, o);
    const what = loaded ? `${o.run} (${loaded.checkpoint.split('/').pop()})` : o.images!;
    log(`measuring ${measured.map((s) => s.name).join(', ')} of ${what}: ${sources.describe}; features by ${nets.inception?.path ?? nets.vgg!.path}`);
    const t0 = performance.now();
    let stageStart = t0;
    let stage = '';
    let last = 0;
    const results = await evaluateMetrics({
      specs: measured, real: sources.real, generated: sources.generated, inception: nets.inception, vgg: nets.vgg,
      cacheDir: cacheDir(), batch: o.batch, seed: o.seed,
      onProgress: (p: EvaluateProgress) => {
        const now = performance.now();
        if (p.cached) {
          log(`real images: ${p.done} images' features from the cache`);
          return;
        }
        if (p.stage !== stage) {
          stage = p.stage;
          stageStart = now;
        }
        if (now - last < (process.stderr.isTTY ? 200 : 5000) && p.done < p.total) return;
        last = now;
        bar.update({ stage: p.stage === 'real' ? 'real images' : 'generated', done: p.done, total: p.total, seconds: (now - stageStart) / 1000 });
      },
    });
    bar.done();
    if (o.json) {
      process.stdout.write(JSON.stringify(results) + '\n');
    } else {
      for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(24)} ${formatValue(v)}\n`);
      process.stdout.write(`(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    bar.done();
    await sources.close();
    nets?.dispose();
    if (loaded) disposeRun(loaded);
  }
  return 0;
}

function formatValue(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(4);
}
