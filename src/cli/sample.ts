// `ganforge sample --run DIR`: a grid of images from a trained generator (its EMA copy).
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { saveGrid } from '../data/index.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { bigganSampleCommand, isBigGANSample } from './biggan_sample.js';
import { LATENT_SOURCE_OPTIONS, RUN_OPTIONS, TRUNCATION_OPTIONS, classIndex, disposeRun, checkOutputImage, fileLatents, latentShape, numpyLatents, rejectTranslationRun, renderLatents, seedRngOf, truncationOf, type NoiseMode, type SeedRng } from './latents.js';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  n: { type: 'int', default: 64, help: 'number of images', min: 1, max: 4096 },
  seed: { type: 'int', default: 1, help: 'seed of the latents', min: 0, max: 0xffffffff },
  ...LATENT_SOURCE_OPTIONS,
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: all classes in turn)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  noise: {
    type: 'string', default: 'fixed', choices: ['fixed', 'const', 'random', 'none'], aliases: ['noise_mode'],
    help: "style-based models' per-pixel noise: the same stored maps for every image (fixed, or generate.py's const; as interpolate and mix draw them), fresh for each (random), or none (StyleGAN2)",
  },
  out: { type: 'string', default: null, help: 'PNG file (default: <run>/samples/sample-seed<seed>.png)', metavar: 'FILE' },
  nrow: { type: 'int', default: null, help: 'images per row (default: √n)', min: 1 },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const SAMPLE_HELP = `Usage: ganforge sample --run DIR [options]

Generates a grid of images with a trained run's generator (the EMA weights when the
family keeps them), from latents drawn with --seed (--n 1 draws the one latent that
interpolate and mix use for that seed), or --seed_rng numpy for numpy's
RandomState(seed).randn(n, z_dim), or from a file of latents with --z FILE (.npy or
.safetensors, [N, z_dim]: one image per row). Style-based models (stylegan) also take the
truncation trick: --truncation_psi 0.7 --truncation_cutoff 8 as in the paper.
BigGAN: --weights DIR|G_ema.pth (BigGAN-PyTorch's weights), --sample_sheets,
--sample_interps, --sample_npz, --truncation, --z_var: see 'ganforge sample --weights x --help'.

Options:
${formatOptions(SCHEMA)}
`;

export async function sampleCommand(argv: string[]): Promise<number> {
  // BigGAN-PyTorch's weights and sample.py's sheets have their own options.
  if (isBigGANSample(argv)) return bigganSampleCommand(argv);
  const parsed = parseCommand(argv, SCHEMA, 'sample', SAMPLE_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (!o.run) throw new UsageError('sample needs --run DIR (a folder written by ganforge train)');
  const run = o.run;
  const { def } = readRunOptions(run);
  rejectTranslationRun(def, run, 'sample');
  if (o.z !== null) {
    for (const opt of ['seed', 'seed_rng'] as const) {
      if (given.has(opt)) throw new UsageError(`--${opt} draws latents, --z reads them from a file: give one or the other`);
    }
  }
  const rng: SeedRng = seedRngOf(o.seed_rng as SeedRng | null, false);
  const out = o.out ?? join(run, 'samples', o.z !== null ? `sample-z-${basename(o.z).replace(/\.[^.]*$/, '')}.png` : `sample-seed${o.seed}.png`);
  checkOutputImage(out, o.force);
  const loaded = loadRun(run, { checkpoint: o.checkpoint, device: o.device });
  try {
    const recipe = loaded.recipe;
    const trunc = truncationOf(recipe, def.name, o.truncation_psi, o.truncation_cutoff, given.has('truncation_cutoff'));
    if (given.has('noise') && !recipe.style) throw new UsageError(`--noise applies to style-based models (stylegan); a ${def.name} generator takes no noise inputs`);
    const { shape, device } = latentShape(recipe);
    const fromFile = o.z !== null ? fileLatents(o.z, shape, device, `a ${def.name}`) : null;
    const n = fromFile ? fromFile.size(0) : o.n;
    if (fromFile && given.has('n') && o.n !== n) {
      fromFile.dispose();
      throw new UsageError(`--n ${o.n} but --z ${o.z} holds ${n} latents: leave --n out with --z`);
    }
    let labels: number[] | null = null;
    const cls = classIndex(loaded, o.class);
    if (loaded.classes) {
      const k = loaded.classes.length;
      labels = cls !== null ? Array(n).fill(cls) : Array.from({ length: n }, (_, i) => Math.floor((i * k) / n));
    }
    const images = torch.scope(() => {
      const inputs = torch.withSeed(o.seed, () => recipe.sampleInputs(n, labels));
      const z = fromFile ?? (rng === 'numpy' ? numpyLatents(o.seed, n, shape, device) : inputs.z!);
      // In batches; a style model draws every image with its stored noise maps unless --noise random.
      return renderLatents(recipe, z, inputs.labels, trunc, o.noise as NoiseMode, n);
    });
    fromFile?.dispose();
    mkdirSync(dirname(out), { recursive: true });
    await saveGrid(images, out, { nrow: o.nrow ?? Math.ceil(Math.sqrt(n)) });
    images.dispose();
    const tr = trunc.psi !== null ? ` (ψ ${trunc.psi} on ${trunc.cutoff} of ${recipe.style!.numLayers} layers)` : '';
    const from = fromFile ? ` (latents from ${o.z})` : rng === 'numpy' ? ' (latents from numpy RandomState)' : '';
    process.stdout.write(`wrote ${n} samples from ${loaded.checkpoint}${from}${tr} to ${out}\n`);
  } finally {
    disposeRun(loaded);
  }
  return 0;
}
