// `ganforge sample --weights DIR|FILE` (and BigGAN runs with --run): BigGAN-PyTorch's
// sample.py. A reference weights folder brings its architecture in state_dict.pth's
// config; a lone G.pth / G_ema.pth takes it from --config (the launch scripts) and the
// architecture options. Writes into --out DIR: one PNG per image, and on request sample
// sheets (one class per row), interpolation sheets (z, y, or both moving per row) and
// samples.npz (x uint8 NCHW, y) for the metric tools.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { defineSchema, formatOptions, type Options } from '../config/options.js';
import { saveGrid, saveImages } from '../data/index.js';
import { encodeNpz } from '../io/npz.js';
import { BIGGAN_CONFIGS, BIGGAN_SCHEMA } from '../families/biggan.js';
import { BIGGAN_DEEP_CONFIGS, BIGGAN_DEEP_SCHEMA } from '../families/biggan_deep.js';
import { generatorFromConfig, isWeightsFolder, readReferenceState, readWeightFile, type ReferenceState } from '../families/biggan_weights.js';
import { generate, interpSheet, sampleLatents, sampleSheet, type ClassGenerator, type LatentOptions } from '../families/biggan_sampling.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { accumulateStandingStats } from '../train/standing_stats.js';
import { parseCommand } from './command.js';
import { checkOutputPath } from '../run/output.js';

const A = BIGGAN_SCHEMA;

/** Classes of the datasets the presets were made for. */
const PRESET_CLASSES: Record<string, number> = { cifar: 10, imagenet128: 1000 };

const SCHEMA = defineSchema({
  weights: { type: 'string', default: null, help: "a BigGAN-PyTorch weights folder (its state_dict.pth gives the architecture) or a lone G.pth / G_ema.pth (with --config and the architecture options)", metavar: 'PATH' },
  run: { type: 'string', default: null, help: 'or a biggan run folder written by ganforge train', metavar: 'DIR' },
  checkpoint: { type: 'string', default: null, help: 'checkpoint name of --run (default: the latest)', metavar: 'NAME' },
  out: { type: 'string', default: null, help: 'folder for the images and sheets', metavar: 'DIR' },
  use_ema: { type: 'bool', default: true, help: "a weights folder's G_ema.pth (false: G.pth)" },
  n: { type: 'int', default: 16, help: 'images to write, one PNG each (0: none)', min: 0, max: 100000 },
  seed: { type: 'int', default: 0, help: 'seed of latents and classes', min: 0 },
  class: { type: 'int', default: null, help: 'class of every image (default: classes in turn)', min: 0, metavar: 'K' },
  z_var: A.z_var,
  truncation: { type: 'float', default: null, help: 'redraw latent entries beyond ±t (a truncated normal; smaller: cleaner, less varied)', min: 0 },
  batch: { type: 'int', default: 32, help: 'images per forward', min: 1 },
  sample_sheets: { type: 'bool', default: false, help: 'sample sheets samples<i>.png: classes_per_sheet rows (one class each) of samples_per_class' },
  classes_per_sheet: { type: 'int', default: 10, help: 'rows of a sample sheet', min: 1 },
  samples_per_class: { type: 'int', default: 10, help: 'columns of a sample sheet', min: 1 },
  sample_interps: { type: 'bool', default: false, help: 'interpolation sheets interpZY0.png, interpZ0.png (fixed class), interpY0.png (fixed z)' },
  num_per_sheet: { type: 'int', default: 16, help: 'rows of an interpolation sheet', min: 1 },
  num_midpoints: { type: 'int', default: 8, help: 'steps between the ends of an interpolation row', min: 0 },
  sample_npz: { type: 'bool', default: false, help: 'samples.npz: sample_num_npz images (x, uint8 NCHW) and classes (y)' },
  sample_num_npz: { type: 'int', default: 1000, help: 'images in samples.npz', min: 1 },
  accumulate_stats: { type: 'bool', default: false, help: "standing statistics: G's batch norms re-estimated on num_standing_accumulations batches first" },
  num_standing_accumulations: A.num_standing_accumulations,
  device: { type: 'string', default: 'cpu', help: "'cpu' or 'cuda[:N]'" },
  // A lone weights file's architecture.
  model: { type: 'string', default: 'biggan', choices: ['biggan', 'biggan_deep'], help: "lone file: BigGAN.py's generator, or BigGANdeep.py's (train.py --model BigGANdeep)" },
  config: { ...A.config, choices: ['none', 'cifar', 'imagenet128'], help: "lone file: a launch script's architecture (cifar: launch_cifar_ema.sh; imagenet128: launch_BigGAN_bs256x8.sh, or launch_BigGAN_deep.sh with --model biggan_deep)" },
  resolution: { type: 'int', default: null, help: "lone file: output size (default: --config's)", min: 4 },
  n_classes: { type: 'int', default: null, help: "lone file: number of classes (default: --config's)", min: 1 },
  G_ch: A.G_ch, dim_z: A.dim_z, G_shared: A.G_shared, shared_dim: A.shared_dim, hier: A.hier, G_attn: A.G_attn,
  mybn: A.mybn, BN_eps: A.BN_eps, SN_eps: A.SN_eps, num_G_SVs: A.num_G_SVs, num_G_SV_itrs: A.num_G_SV_itrs,
  G_depth: { ...BIGGAN_DEEP_SCHEMA.G_depth, help: 'lone file with --model biggan_deep: residual blocks per resolution in G' },
});

const ARCH_KEYS = ['G_ch', 'dim_z', 'G_shared', 'shared_dim', 'hier', 'G_attn', 'mybn', 'BN_eps', 'SN_eps', 'num_G_SVs', 'num_G_SV_itrs'] as const;
/** What a lone deep file takes besides (G_depth), and what a weights folder refuses. */
const DEEP_KEYS = ['G_depth'] as const;

export const BIGGAN_SAMPLE_HELP = `Usage: ganforge sample --weights DIR|G_ema.pth --out DIR [options]
       ganforge sample --run DIR --out DIR --sample_sheets ... (a biggan run)

BigGAN sampling as BigGAN-PyTorch's sample.py: from one of its weights folders (the
architecture, BigGAN.py's or BigGANdeep.py's, comes from state_dict.pth), from a lone
G.pth/G_ema.pth with --config cifar or --config imagenet128 and any architecture option
(--model biggan_deep for BigGANdeep.py's), or from a ganforge biggan or biggan_deep run.

Options:
${formatOptions(SCHEMA)}
`;

/** Whether `sample` should hand `argv` to this command. */
export function isBigGANSample(argv: readonly string[]): boolean {
  const flags = ['weights', 'sample_sheets', 'sample_interps', 'sample_npz', 'truncation', 'z_var'];
  return argv.some((a) => flags.some((f) => a === `--${f}` || a.startsWith(`--${f}=`)));
}

/**
 * The reference-style config of a lone weights file: the parser's defaults (BigGAN-deep's
 * for --model biggan_deep), the preset, then what was given.
 */
function loneConfig(o: Options, given: Set<string>): ReferenceState {
  const deep = o.model === 'biggan_deep';
  if (!deep && given.has('G_depth')) throw new UsageError('--G_depth is BigGAN-deep\'s: add --model biggan_deep');
  const name = String(o.config);
  const presets = deep ? BIGGAN_DEEP_CONFIGS : BIGGAN_CONFIGS;
  if (name !== 'none' && !presets[name]) throw new UsageError(`--config ${name} is not a ${deep ? 'BigGAN-deep' : 'BigGAN'} preset (${Object.keys(presets).join(', ')})`);
  const preset = name === 'none' ? {} : presets[name];
  const schema: Record<string, { default: unknown }> = deep ? BIGGAN_DEEP_SCHEMA : A;
  const c: ReferenceState = { model: deep ? 'BigGANdeep' : 'BigGAN' };
  for (const k of deep ? [...ARCH_KEYS, ...DEEP_KEYS] : ARCH_KEYS) {
    c[k] = (given.has(k) ? o[k] : (preset[k] ?? schema[k].default)) as number | string | boolean;
  }
  c.resolution = (o.resolution ?? preset.resolution ?? null) as number | null;
  c.n_classes = (o.n_classes ?? PRESET_CLASSES[name] ?? null) as number | null;
  if (c.resolution === null || c.n_classes === null) throw new UsageError('a lone weights file needs --config cifar|imagenet128, or --resolution and --n_classes');
  return c;
}

function loadGenerator(o: Options, given: Set<string>): { G: ClassGenerator; source: string } {
  const device = String(o.device);
  if (o.run !== null) {
    if (o.weights !== null) throw new UsageError('give --weights or --run, not both');
    const { def } = readRunOptions(String(o.run));
    if (def.name !== 'biggan' && def.name !== 'biggan_deep') throw new UsageError(`${o.run} is a ${def.name} run: these options are BigGAN's (use ganforge sample --run without them)`);
    const loaded = loadRun(String(o.run), { checkpoint: o.checkpoint as string | null, device });
    const nets = loaded.recipe.networks();
    for (const [k, n] of Object.entries(nets)) if (k !== 'G_ema') n.dispose();
    return { G: nets.G_ema as ClassGenerator, source: loaded.checkpoint };
  }
  if (o.weights === null) throw new UsageError('sample needs --weights PATH (a BigGAN-PyTorch weights folder or G.pth) or --run DIR');
  const path = String(o.weights);
  if (!existsSync(path)) throw new UsageError(`--weights ${path} does not exist`);
  let config: ReferenceState, file: string, sd: Record<string, torch.Tensor>;
  if (isWeightsFolder(path)) {
    const refused = [...ARCH_KEYS, ...DEEP_KEYS, 'config', 'model', 'resolution', 'n_classes'].filter((k) => given.has(k));
    if (refused.length) throw new UsageError(`--${refused[0]}: a weights folder's architecture comes from its state_dict.pth`);
    config = readReferenceState(path).config as ReferenceState;
    const name = o.use_ema && existsSync(join(path, 'G_ema.pth')) ? 'G_ema' : 'G';
    file = join(path, `${name}.pth`);
    sd = readWeightFile(path, name);
  } else {
    config = loneConfig(o, given);
    file = path;
    sd = torch.scope(() => readLone(path));
  }
  let G: ClassGenerator;
  try {
    G = generatorFromConfig(config);
  } catch (e) {
    for (const t of Object.values(sd)) t.dispose();
    throw e;
  }
  try {
    G.loadStateDict(sd);
  } catch (e) {
    G.dispose();
    throw new UsageError(`${file} does not fit the architecture (${(e as Error).message.split('\n')[0]}): check --model, --config and the architecture options`);
  } finally {
    for (const t of Object.values(sd)) t.dispose();
  }
  return { G: G.to(device).eval(), source: file };
}

function readLone(path: string): Record<string, torch.Tensor> {
  const dir = dirname(path);
  const name = basename(path).replace(/\.pth$/, '');
  if (name === 'G' || name === 'G_ema') return readWeightFile(dir, name);
  throw new UsageError(`--weights ${path}: expected a weights folder, G.pth or G_ema.pth`);
}

export async function bigganSampleCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'sample', BIGGAN_SAMPLE_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (o.out === null) throw new UsageError('sample --weights needs --out DIR (one PNG per image, and the sheets)');
  const out = checkOutputPath(o.out, '--out', 'folder');
  const { G, source } = loadGenerator(o as Options, given);
  const lat: LatentOptions = { zVar: o.z_var, truncation: o.truncation };
  const nClasses = G.cfg.n_classes;
  if (o.class !== null && o.class >= nClasses) throw new UsageError(`--class ${o.class}: the model has ${nClasses} classes (0 to ${nClasses - 1})`);
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  try {
    torch.manualSeed(o.seed);
    {
      if (o.accumulate_stats) {
        const n = o.batch;
        accumulateStandingStats(G, () => G.generate(sampleLatents(n, G.dimZ, lat, o.device), torch.randint(0, nClasses, [n], { dtype: 'int64', device: o.device })),
          { batches: o.num_standing_accumulations, seed: o.seed + 1, trainMode: true });
      }
      if (o.n > 0) {
        const classes = Array.from({ length: o.n }, (_, i) => o.class ?? i % nClasses);
        const images = torch.scope(() => generate(G, sampleLatents(o.n, G.dimZ, lat, o.device), torch.tensor(classes, { dtype: 'int64', device: o.device }), o.batch));
        const files = classes.map((k, i) => join(out, `${String(i).padStart(6, '0')}_class${k}.png`));
        await saveImages(images, files);
        images.dispose();
        written.push(`${o.n} images`);
      }
      if (o.sample_sheets) {
        const per = Math.min(o.classes_per_sheet, nClasses);
        for (let s = 0; s < Math.floor(nClasses / per); s++) {
          const rows = Array.from({ length: per }, (_, i) => s * per + i);
          const sheet = sampleSheet(G, rows, o.samples_per_class, lat);
          await saveGrid(sheet, join(out, `samples${s}.png`), { nrow: o.samples_per_class });
          sheet.dispose();
        }
        written.push(`${Math.floor(nClasses / per)} sample sheet(s)`);
      }
      if (o.sample_interps) {
        const kinds: [boolean, boolean][] = G.cfg.G_shared ? [[false, false], [false, true], [true, false]] : [[false, true]];
        for (const [fixZ, fixY] of kinds) {
          const sheet = interpSheet(G, { ...lat, rows: o.num_per_sheet, numMidpoints: o.num_midpoints, numClasses: nClasses, fixZ, fixY });
          await saveGrid(sheet, join(out, `interp${fixZ ? '' : 'Z'}${fixY ? '' : 'Y'}0.png`), { nrow: o.num_midpoints + 2 });
          sheet.dispose();
        }
        written.push('interpolation sheets');
      }
      if (o.sample_npz) {
        writeFileSync(join(out, 'samples.npz'), npzOf(G, o.sample_num_npz, nClasses, lat, o.batch, o.device));
        written.push(`samples.npz (${o.sample_num_npz})`);
      }
    }
  } finally {
    G.dispose();
  }
  process.stdout.write(`wrote ${written.join(', ') || 'nothing'} from ${source} to ${out}\n`);
  return 0;
}

/** sample.py's npz: random classes, x = uint8(255·(img + 1)/2) in NCHW, y int64. */
function npzOf(G: ClassGenerator, n: number, nClasses: number, lat: LatentOptions, batch: number, device: string): Uint8Array {
  const x = new Uint8Array(n * G.cfg.channels * G.cfg.resolution ** 2);
  const y = new BigInt64Array(n);
  let at = 0;
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    torch.scope(() => {
      const cls = torch.randint(0, nClasses, [m], { dtype: 'int64', device });
      const img = torch.noGrad(() => G.generate(sampleLatents(m, G.dimZ, lat, device), cls));
      const bytes = img.add(1).mul(127.5).floor().clamp(0, 255).to({ dtype: 'uint8', device: 'cpu' }).toTypedArray() as Uint8Array;
      x.set(bytes, at);
      at += bytes.length;
      y.set(cls.cpu().toTypedArray() as BigInt64Array, i);
    });
  }
  const shape = [n, G.cfg.channels, G.cfg.resolution, G.cfg.resolution];
  return encodeNpz({ x: { dtype: 'uint8', shape, data: x }, y: { dtype: 'int64', shape: [n], data: y } });
}
