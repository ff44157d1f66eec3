// `ganforge sample --run DIR`: a grid of images from a trained generator (its EMA copy).
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions, type OptionsOf } from '../config/options.js';
import { writeImage } from '../data/image.js';
import { IMAGE_FILE, checkOutputPath, checkReplaceableFile } from '../run/output.js';
import { loadNetworkGenerator, oneHot, type NetworkNoise } from '../families/network.js';
import { gridFromBytes, saveGrid } from '../data/index.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { PRECISIONS, checkPrecision, precisionWarning, withPrecision, type Precision } from '../train/precision.js';
import { bigganSampleCommand, isBigGANSample } from './biggan_sample.js';
import { applyNoiseMaps, generatePyBytes, openStyleSource, readWAgainst, synthesizeW } from './style_source.js';
import { LATENT_SOURCE_OPTIONS, RUN_OPTIONS, TRUNCATION_OPTIONS, classIndex, disposeRun, checkOutputImage, fileLatents, latentShape, numpyLatents, numpySeedLatents, parseSeeds, rejectTranslationRun, renderLatents, seedRngOf, truncationOf, type NoiseMode, type SeedRng } from './latents.js';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  network: { type: 'string', default: null, help: "an NVIDIA network pickle (stylegan2-ada-pytorch's network-snapshot-*.pkl or a released one; TensorFlow StyleGAN2 and StyleGAN pickles too) instead of --run: one PNG per seed in --out DIR, as generate.py", metavar: 'PKL' },
  seeds: { type: 'string', default: null, help: 'with --network: the seeds to draw, one image each (e.g. 85,100-105)', metavar: 'LIST' },
  checkpoint: RUN_OPTIONS.checkpoint,
  n: { type: 'int', default: 64, help: 'number of images', min: 1, max: 4096 },
  seed: { type: 'int', default: 1, help: 'seed of the latents', min: 0, max: 0xffffffff },
  ...LATENT_SOURCE_OPTIONS,
  w: { type: 'string', default: null, help: "w instead of latents, from a file (ganforge project's projected_w.safetensors, projector.py's projected_w.npz; [N, num_ws, w_dim]): one image per w, drawn with the file's noise maps when it holds them (--noise fixed/const); style-based models", metavar: 'FILE' },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: all classes in turn; with --network an index, required for a conditional network)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  noise: {
    type: 'string', default: 'fixed', choices: ['fixed', 'const', 'random', 'none'], aliases: ['noise_mode'],
    help: "style-based models' per-pixel noise: the same stored maps for every image (fixed, or generate.py's const; as interpolate and mix draw them), fresh for each (random), or none (StyleGAN2)",
  },
  out: { type: 'string', default: null, help: 'PNG file (default: <run>/samples/sample-seed<seed>.png); with --network, the folder for seedNNNN.png', metavar: 'FILE|DIR' },
  nrow: { type: 'int', default: null, help: 'images per row (default: √n)', min: 1 },
  device: RUN_OPTIONS.device,
  precision: { type: 'string', default: 'fp32', choices: PRECISIONS, help: "with --run: the generator's arithmetic, fp32 or bf16 (convolutions and matrix products in bfloat16 under autocast, as train --precision bf16; the images come out in fp32 [-1, 1] either way; slower than fp32 on CPUs without bf16 instructions)" },
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const SAMPLE_HELP = `Usage: ganforge sample --run DIR [options]
       ganforge sample --network X.pkl --seeds 85,100-105 --trunc 0.7 [--class K] --out DIR
       ganforge sample --network X.pkl|--run DIR --w projected_w.safetensors [--out DIR|FILE]

Generates a grid of images with a trained run's generator (the EMA weights when the
family keeps them), from latents drawn with --seed (--n 1 draws the one latent that
interpolate and mix use for that seed), or --seed_rng numpy for numpy's
RandomState(seed).randn(n, z_dim), or from a file of latents with --z FILE (.npy or
.safetensors, [N, z_dim]: one image per row). Style-based models (stylegan) also take the
truncation trick: --truncation_psi 0.7 --truncation_cutoff 8 as in the paper.
BigGAN: --weights DIR|G_ema.pth (BigGAN-PyTorch's weights), --sample_sheets,
--sample_interps, --sample_npz, --truncation, --z_var: see 'ganforge sample --weights x --help'.

With --network, an NVIDIA network pickle is read (tensors only: nothing in it runs) and
its G_ema draws one image per seed, written as generate.py writes them (DIR/seed0085.png);
z comes from numpy's RandomState(seed).randn(1, z_dim) (--seed_rng numpy, the default
here), so a seed gives the image generate.py gives. A conditional network needs --class K.

With --w FILE (style-based models, --run or --network), the images come from given w
rather than latents: one per w of the file ([N, num_ws, w_dim]: ganforge project's
projected_w.safetensors, projector.py's projected_w.npz), drawn with the noise maps the
file holds (a projection's optimised ones) under --noise fixed/const, so a projection's
proj.png comes out again.

Options:
${formatOptions(SCHEMA)}
`;

export async function sampleCommand(argv: string[]): Promise<number> {
  // BigGAN-PyTorch's weights and sample.py's sheets have their own options.
  if (isBigGANSample(argv)) return bigganSampleCommand(argv);
  const parsed = parseCommand(argv, SCHEMA, 'sample', SAMPLE_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (given.has('precision') && (o.w !== null || o.network !== null)) throw new UsageError('--precision applies with --run (a network pickle and --w are drawn in fp32)');
  if (o.w !== null) return sampleW(o, given);
  if (o.network !== null) return sampleNetwork(o, given);
  if (o.seeds !== null) throw new UsageError('--seeds applies with --network; a run draws --n images from --seed');
  if (!o.run) throw new UsageError('sample needs --run DIR (a folder written by ganforge train) or --network X.pkl');
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
    checkPrecision(o.precision as Precision, o.device);
    const note = precisionWarning(o.precision as Precision, o.device);
    if (note) process.stderr.write(`${note}\n`);
    const images = torch.scope(() => {
      const inputs = torch.withSeed(o.seed, () => recipe.sampleInputs(n, labels));
      const z = fromFile ?? (rng === 'numpy' ? numpyLatents(o.seed, n, shape, device) : inputs.z!);
      // In batches; a style model draws every image with its stored noise maps unless --noise random.
      // The generator under autocast; its last op may leave bf16, the grid is fp32 as always.
      return withPrecision(o.precision as Precision, o.device, () => renderLatents(recipe, z, inputs.labels, trunc, o.noise as NoiseMode, n)).to('float32');
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

type SampleOptions = OptionsOf<typeof SCHEMA>;


/** `sample --network`: one image per seed (or per row of --z) from a network pickle's G_ema, as generate.py. */
async function sampleNetwork(o: SampleOptions, given: ReadonlySet<string>): Promise<number> {
  if (given.has('run')) throw new UsageError('--run and --network each name a generator: give one or the other');
  for (const opt of ['checkpoint', 'n', 'seed', 'nrow'] as const) {
    if (given.has(opt)) throw new UsageError(`--${opt} applies to --run; with --network give --seeds (or --z FILE)`);
  }
  if (o.z !== null && (o.seeds !== null || given.has('seed_rng'))) throw new UsageError('--seeds draws latents, --z reads them from a file: give one or the other');
  if (o.z === null && o.seeds === null) throw new UsageError('sample --network needs --seeds (e.g. 85,100-105) or --z FILE');
  if (!o.out) throw new UsageError('sample --network needs --out DIR (the folder for the images)');
  if (given.has('truncation_cutoff') && o.truncation_psi === 1) throw new UsageError('--truncation_cutoff without --trunc (ψ) changes nothing: give --trunc too');
  const seeds = o.seeds !== null ? parseSeeds(o.seeds, 'seeds') : null;
  const rng: SeedRng = seedRngOf(o.seed_rng as SeedRng | null, true);
  checkOutputPath(o.out, '--out', 'folder');
  const G = loadNetworkGenerator(o.network!, o.device as torch.Device);
  try {
    let cls: number | null = null;
    if (G.cDim > 0) {
      if (o.class === null) throw new UsageError(`${o.network} is a conditional network (${G.cDim} classes): give --class K (0 to ${G.cDim - 1})`);
      if (!/^\d+$/.test(o.class) || Number(o.class) >= G.cDim) throw new UsageError(`--class ${o.class}: ${o.network} has classes 0 to ${G.cDim - 1}`);
      cls = Number(o.class);
    } else if (o.class !== null) {
      throw new UsageError(`--class applies to conditional networks; ${o.network} is unconditional`);
    }
    const device = o.device as torch.Device;
    const z = o.z !== null ? fileLatents(o.z, [G.zDim], device, `${o.network}'s`)
      : rng === 'numpy' ? numpySeedLatents(seeds!, [G.zDim], device)
      : torch.cat(seeds!.map((s) => torch.withSeed(s, () => torch.randn([1, G.zDim], { device })))).keep();
    const names = seeds ? seeds.map((s) => `seed${String(s).padStart(4, '0')}.png`) : Array.from({ length: z.size(0) }, (_, i) => `z${String(i).padStart(4, '0')}.png`);
    const files = names.map((f) => join(o.out!, f));
    try {
      for (const f of files) checkReplaceableFile(f, '--out', o.force, IMAGE_FILE);
      mkdirSync(o.out, { recursive: true });
      const noise = (o.noise === 'fixed' ? 'const' : o.noise) as NetworkNoise;
      // One image at a time, as generate.py draws them (a batch may round differently).
      for (let i = 0; i < files.length; i++) {
        const image = torch.scope(() => {
          const c = cls !== null ? oneHot(cls, 1, G.cDim, device) : null;
          return generatePyBytes(G.render(z.narrow(0, i, 1), c, o.truncation_psi, o.truncation_cutoff, noise));
        });
        await writeImage(image, files[i]!);
      }
    } finally {
      z.dispose();
    }
    const from = o.z !== null ? `latents from ${o.z}` : `seeds ${o.seeds} (${rng === 'numpy' ? 'numpy RandomState, as generate.py' : 'torch'})`;
    const tr = o.truncation_psi !== 1 ? `, ψ ${o.truncation_psi}` : '';
    process.stdout.write(`wrote ${files.length} images from ${o.network} (${from}${tr}) to ${o.out}\n`);
  } finally {
    G.dispose();
  }
  return 0;
}

/**
 * `sample --w FILE`: one image per w of the file, from a run's G_ema or a network's, with
 * the file's noise maps (a projection's) unless --noise says otherwise; a grid for --run,
 * one PNG per w (w0000.png, ...) in --out DIR for --network.
 */
async function sampleW(o: SampleOptions, given: ReadonlySet<string>): Promise<number> {
  for (const opt of ['z', 'seed', 'seeds', 'seed_rng', 'n', 'truncation_psi', 'truncation_cutoff', 'class'] as const) {
    if (given.has(opt)) throw new UsageError(`--${opt} shapes how latents become w; --w gives w itself: leave --${opt} out`);
  }
  if (o.network !== null && !o.out) throw new UsageError('sample --network needs --out DIR (the folder for the images)');
  const out = o.out ?? join(o.run ?? '.', 'samples', `sample-w-${basename(o.w!).replace(/\.[^.]*$/, '')}.png`);
  if (o.network === null) checkOutputImage(out, o.force);
  else checkOutputPath(out, '--out', 'folder');
  const src = openStyleSource({ ...o, checkpoint: o.checkpoint }, 'sample', given,
    (def, run) => `--w needs a style-based model (stylegan2, stylegan): ${run} is a ${def.name} run, whose generator has no w`);
  try {
    const { w, noise } = readWAgainst(src, o.w!, '--w');
    const mode = (o.noise === 'fixed' ? 'const' : o.noise) as NetworkNoise;
    const maps = mode === 'const' ? applyNoiseMaps(src, noise) : 0;
    const bytes = torch.scope(() => src.toBytes(synthesizeW(src.G, w, mode)));
    const n = w.size(0);
    w.dispose();
    if (src.network) {
      const files = Array.from({ length: n }, (_, i) => join(out, `w${String(i).padStart(4, '0')}.png`));
      for (const f of files) checkReplaceableFile(f, '--out', o.force, IMAGE_FILE);
      mkdirSync(out, { recursive: true });
      const per = bytes.height * bytes.width * bytes.channels;
      for (let i = 0; i < n; i++) await writeImage({ ...bytes, data: bytes.data.subarray(i * per, (i + 1) * per) }, files[i]!);
    } else {
      mkdirSync(dirname(out), { recursive: true });
      await writeImage(gridFromBytes(bytes, { nrow: o.nrow ?? Math.ceil(Math.sqrt(n)) }), out);
    }
    const noiseText = mode !== 'const' ? `${mode} noise` : maps > 0 ? `the file's ${maps} noise maps` : "the generator's stored noise maps";
    process.stdout.write(`wrote ${n} image${n === 1 ? '' : 's'} from ${src.name} (w from ${o.w}, ${noiseText}) to ${out}\n`);
  } finally {
    src.dispose();
  }
  return 0;
}
