// `ganforge sample --run DIR`: a grid of images from a trained generator (its EMA copy).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { saveGrid } from '../data/index.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { bigganSampleCommand, isBigGANSample } from './biggan_sample.js';
import { RUN_OPTIONS, TRUNCATION_OPTIONS, classIndex, disposeRun, checkOutputImage, rejectTranslationRun, renderLatents, truncationOf, type NoiseMode } from './latents.js';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  n: { type: 'int', default: 64, help: 'number of images', min: 1, max: 4096 },
  seed: { type: 'int', default: 1, help: 'seed of the latents', min: 0 },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: all classes in turn)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  noise: { type: 'string', default: 'fixed', choices: ['fixed', 'random'], help: "style-based models' per-pixel noise: the same maps for every image (as interpolate and mix draw them), or fresh for each" },
  out: { type: 'string', default: null, help: 'PNG file (default: <run>/samples/sample-seed<seed>.png)', metavar: 'FILE' },
  nrow: { type: 'int', default: null, help: 'images per row (default: √n)', min: 1 },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const SAMPLE_HELP = `Usage: ganforge sample --run DIR [options]

Generates a grid of images with a trained run's generator (the EMA weights when the
family keeps them), from latents drawn with --seed (--n 1 draws the one latent that
interpolate and mix use for that seed). Style-based models (stylegan) also take the
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
  const n = o.n;
  const out = o.out ?? join(run, 'samples', `sample-seed${o.seed}.png`);
  checkOutputImage(out, o.force);
  const loaded = loadRun(run, { checkpoint: o.checkpoint, device: o.device });
  try {
    const recipe = loaded.recipe;
    const trunc = truncationOf(recipe, def.name, o.truncation_psi, o.truncation_cutoff, given.has('truncation_cutoff'));
    if (given.has('noise') && !recipe.style) throw new UsageError(`--noise applies to style-based models (stylegan); a ${def.name} generator takes no noise inputs`);
    let labels: number[] | null = null;
    const cls = classIndex(loaded, o.class);
    if (loaded.classes) {
      const k = loaded.classes.length;
      labels = cls !== null ? Array(n).fill(cls) : Array.from({ length: n }, (_, i) => Math.floor((i * k) / n));
    }
    const images = torch.scope(() => {
      const inputs = torch.withSeed(o.seed, () => recipe.sampleInputs(n, labels));
      // In batches; a style model draws every image with its stored noise maps unless --noise random.
      return renderLatents(recipe, inputs.z!, inputs.labels, trunc, o.noise as NoiseMode, n);
    });
    mkdirSync(dirname(out), { recursive: true });
    await saveGrid(images, out, { nrow: o.nrow ?? Math.ceil(Math.sqrt(n)) });
    images.dispose();
    const tr = trunc.psi !== null ? ` (ψ ${trunc.psi} on ${trunc.cutoff} of ${recipe.style!.numLayers} layers)` : '';
    process.stdout.write(`wrote ${n} samples from ${loaded.checkpoint}${tr} to ${out}\n`);
  } finally {
    disposeRun(loaded);
  }
  return 0;
}
