// `ganforge translate`: runs an image-to-image generator (a pix2pix or CycleGAN run's, or
// weights imported from pytorch-CycleGAN-and-pix2pix) over an image or a folder, and
// writes one PNG per input under the input's name, as the reference's test.py does.
import { existsSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions, optionsView, type OptionsOf } from '../config/options.js';
import {
  Dataset, Loader, PREPROCESS_MODES, checkPreprocess, defaultWorkers, fixedOutputSize, openDataset, tensorToImages, toTensorBatch,
  isImageFile, writeImage, type Direction, type ImageBytes, type PreprocessMode,
} from '../data/index.js';
import { generatorStride, type GeneratorName, type NormKind } from '../models/pix2pix.js';
import { TRANSLATION_DATA_SCHEMA } from '../train/options.js';
import { loadGeneratorWithInfo, type GeneratorOptions } from '../families/translation/import.js';
import { loadRun, readRunOptions } from '../families/load.js';
import { NETWORK_SCHEMA, checkGeneratorSize, translateImages, type Generator } from '../families/translation/networks.js';
import { countLine, progressPrinter, type CountProgress } from './progress.js';
import { IMAGE_FILE, checkOutputPath, checkReplaceableFile } from '../run/output.js';

const GENERATOR_OPTIONS = ['netG', 'norm', 'ngf', 'input_nc', 'output_nc', 'no_dropout', 'key'] as const;

const SCHEMA = defineSchema({
  run: { type: 'string', default: null, help: 'a pix2pix or cyclegan run folder written by ganforge train', metavar: 'DIR' },
  checkpoint: { type: 'string', default: null, help: 'with --run: checkpoint name under checkpoints/ (default: the latest)', metavar: 'NAME' },
  weights: { type: 'string', default: null, help: 'instead of --run: generator weights, .pth (e.g. the reference\'s latest_net_G.pth) or .safetensors', metavar: 'FILE' },
  key: { type: 'string', default: null, help: "with --weights: the entry holding the generator in a file with several ('state_dict', or 'G_A' of a ganforge model.safetensors)", metavar: 'NAME' },
  netG: { ...NETWORK_SCHEMA.netG, help: 'with --weights: generator architecture' },
  norm: { ...NETWORK_SCHEMA.norm, help: 'with --weights: normalisation layers of the generator' },
  ngf: { ...NETWORK_SCHEMA.ngf, help: 'with --weights: generator filters in the last conv layer' },
  input_nc: { ...TRANSLATION_DATA_SCHEMA.input_nc, help: 'with --weights: channels of the input images (1 or 3)' },
  output_nc: { ...TRANSLATION_DATA_SCHEMA.output_nc, help: 'with --weights: channels of the output images (1 or 3)' },
  no_dropout: {
    ...NETWORK_SCHEMA.no_dropout,
    help: "with --weights: no dropout in the generator (default: as the weights show for ResNet generators, whose keys differ; dropout for U-Nets, as the reference)",
  },
  input: { type: 'string', default: null, help: 'an image, or a folder of images (searched recursively)', metavar: 'PATH' },
  out: { type: 'string', default: null, help: 'folder for the outputs: one PNG per input, named after it (created)', metavar: 'DIR' },
  direction: {
    type: 'string', default: null, choices: ['AtoB', 'BtoA'],
    help: "cyclegan run: the run's own --direction (the default) translates with G_A, the other with G_B (trained AtoB: AtoB = G_A, BtoA = G_B); pix2pix run: only the run's; with --weights: which half of an aligned pair is the input (default AtoB)",
  },
  dataset_mode: { type: 'string', default: 'single', choices: ['single', 'aligned'], help: "'single': each file is an input; 'aligned': each file is an A|B pair side by side, the input half chosen by --direction" },
  phase: { type: 'string', default: 'test', help: "aligned: read <input>/<phase>/ when it exists, as the reference does", metavar: 'NAME' },
  preprocess: {
    type: 'string', default: 'resize_and_crop', choices: PREPROCESS_MODES,
    help: 'how inputs are scaled (with the default --load_size, resize_and_crop is a plain resize to --crop_size, as the reference\'s test.py)',
  },
  load_size: { type: 'int', default: null, help: 'scale inputs to this size before cropping (default: --crop_size)', min: 4 },
  crop_size: { type: 'int', default: null, help: "the generator's input size (default: the run's --crop_size, or 256 with --weights)", min: 4, max: 8192 },
  eval: { type: 'bool', default: false, help: "eval mode: batch norm's running statistics, no dropout (default: training mode, one image at a time, as the reference's test.py without --eval)" },
  batch: { type: 'int', default: 1, help: 'images per forward pass (more than 1 needs --eval)', min: 1, aliases: ['batch_size'] },
  seed: { type: 'int', default: 0, help: 'seed of the dropout noise (training mode) and of any random crop', min: 0 },
  device: { type: 'string', default: 'cpu', help: "'cpu', 'cuda' or 'cuda:N'", check: (v) => (/^(cpu|cuda(:\d+)?)$/.test(String(v)) ? null : `must be cpu, cuda or cuda:N, got '${v}'`) },
  workers: { type: 'int', default: null, help: 'image-decoding worker threads (default: none for a few images, else cores − 1, at most 4)', min: 0 },
  force: { type: 'bool', default: false, help: 'overwrite output files that exist' },
});

type TranslateOptions = OptionsOf<typeof SCHEMA>;

/** Image channels as the data layer types them. */
function channelsOf(n: number): 1 | 3 {
  return n === 1 ? 1 : 3;
}

export const TRANSLATE_HELP = `Usage: ganforge translate (--run DIR | --weights FILE [generator options]) --input PATH --out DIR [options]

Runs an image-to-image generator over an image or a folder of images and writes one PNG
per input into --out, named after it (photo.jpg -> <out>/photo.png; sub-folders kept).
The generator is a pix2pix or CycleGAN run's (--run), or imported weights (--weights):
a .pth saved by junyanz/pytorch-CycleGAN-and-pix2pix (latest_net_G.pth,
latest_net_G_A.pth ...) or a .safetensors file, built with --netG/--norm/--ngf/
--input_nc/--output_nc as they were trained. By default the generator runs as the
reference's test.py runs it: training mode, one image at a time.

Examples:
  ganforge translate --run runs/pix2pix-facades-256 --input photos/ --out results/
  ganforge translate --run runs/cyclegan-horse2zebra-256 --direction BtoA --input zebras/ --out horses/
  ganforge translate --weights horse2zebra_pretrained/latest_net_G.pth --input horse.jpg --out out/
  ganforge translate --weights facades_label2photo_pretrained/latest_net_G.pth --netG unet_256 --norm batch \\
      --dataset_mode aligned --direction BtoA --input datasets/facades --out out/

Options:
${formatOptions(SCHEMA)}
`;

/** What runs: the generator, its channels, the direction of aligned inputs, its default size. */
interface Plan {
  inputNc: 1 | 3;
  outputNc: 1 | 3;
  direction: Direction;
  cropSize: number;
  netG: GeneratorName;
  /** How to get the generator once the inputs are checked. */
  load: () => { G: Generator; dispose: () => void; from: string };
}

function planFromWeights(o: TranslateOptions, given: Set<string>, file: string): Plan {
  if (given.has('checkpoint')) throw new UsageError('--checkpoint applies to --run; with --weights the file is the checkpoint');
  const mode = o.dataset_mode;
  if (given.has('direction') && mode !== 'aligned') {
    throw new UsageError("--direction with --weights applies to --dataset_mode aligned only (which half of each pair is the input); the generator maps whatever --input holds");
  }
  const g: GeneratorOptions = {
    netG: o.netG, norm: o.norm, ngf: o.ngf,
    input_nc: o.input_nc, output_nc: o.output_nc, no_dropout: given.has('no_dropout') ? o.no_dropout : null,
  };
  if (!existsSync(file)) throw new UsageError(`weights file ${file} does not exist`);
  return {
    inputNc: channelsOf(g.input_nc), outputNc: channelsOf(g.output_nc), direction: o.direction ?? 'AtoB', cropSize: 256, netG: g.netG,
    load: () => {
      const { G, noDropout } = loadGeneratorWithInfo(file, g, { device: o.device, key: o.key });
      const inferred = g.no_dropout === null && noDropout ? ' (trained without dropout, as its keys show)' : '';
      return { G, dispose: () => G.dispose(), from: `${file}${inferred}` };
    },
  };
}

function planFromRun(o: TranslateOptions, given: Set<string>, dir: string): Plan {
  const bad = GENERATOR_OPTIONS.find((k) => given.has(k));
  if (bad) throw new UsageError(`--${bad} applies to --weights; a run's generator is built from its config.json`);
  const { def, options } = readRunOptions(dir);
  if (def.data !== 'aligned' && def.data !== 'unaligned') {
    throw new UsageError(`${dir} is a ${def.name} run, which makes images from latents: use 'ganforge sample --run ${dir}' (translate needs a pix2pix or cyclegan run)`);
  }
  const r = { ...optionsView(TRANSLATION_DATA_SCHEMA, options), ...optionsView(NETWORK_SCHEMA, options) };
  const trained = r.direction;
  const direction = o.direction ?? trained;
  let net: string;
  let inputNc = channelsOf(r.input_nc), outputNc = channelsOf(r.output_nc);
  if (def.data === 'aligned') {
    if (direction !== trained) {
      throw new UsageError(`${dir} is a pix2pix run trained --direction ${trained}: its generator only translates that way (train another run for ${direction})`);
    }
    net = 'G';
  } else {
    // G_A maps the side the run was trained to take as input; G_B maps back.
    net = direction === trained ? 'G_A' : 'G_B';
    if (net === 'G_B') [inputNc, outputNc] = [outputNc, inputNc];
  }
  return {
    inputNc, outputNc, direction, cropSize: r.crop_size, netG: r.netG,
    load: () => {
      const loaded = loadRun(dir, { checkpoint: o.checkpoint, device: o.device });
      const nets = loaded.recipe.networks();
      const dispose = (): void => {
        for (const m of Object.values(nets)) m.dispose();
        loaded.recipe.dispose?.();
      };
      const G = nets[net] as Generator | undefined;
      if (!G) {
        dispose();
        throw new UsageError(`${dir} has no network ${net}`);
      }
      return { G, dispose, from: `${net} of ${loaded.checkpoint}` };
    },
  };
}

/** Opens the inputs: a folder or one file, read as single images or A|B pairs. */
async function openInputs(o: TranslateOptions, plan: Plan, input: string): Promise<Dataset> {
  if (!existsSync(input)) throw new UsageError(`--input ${input}: no such file or folder`);
  const cropSize = o.crop_size ?? plan.cropSize;
  const transform = {
    preprocess: o.preprocess, loadSize: o.load_size ?? cropSize, cropSize, noFlip: true,
  };
  if (o.dataset_mode === 'aligned') {
    if (statSync(input).isFile()) {
      const p = resolve(input);
      if (!isImageFile(p)) throw new UsageError(`--input ${input} is not an image: expected a png, jpg or webp file, or a folder of them`);
      return new Dataset({
        kind: 'aligned', root: p, files: [p], direction: plan.direction, inputNc: plan.inputNc, outputNc: plan.outputNc,
        transform: checkPreprocess(transform),
      });
    }
    return openDataset(input, {
      mode: 'aligned', phase: o.phase, direction: plan.direction, inputNc: plan.inputNc, outputNc: plan.outputNc,
      preprocess: transform.preprocess, loadSize: transform.loadSize, cropSize, noFlip: true,
    });
  }
  return openDataset(input, { mode: 'single', inputNc: plan.inputNc, preprocess: transform.preprocess, loadSize: transform.loadSize, cropSize, noFlip: true });
}

/** <out>/<path of the input relative to the input folder, extension .png>. */
function outputPaths(ds: Dataset, out: string): Map<string, string> {
  const spec = ds.spec as { root: string; files: string[] };
  const rootIsFile = spec.files.length === 1 && resolve(spec.files[0]) === resolve(spec.root);
  const map = new Map<string, string>();
  const byOutput = new Map<string, string>();
  for (const f of spec.files) {
    const rel = rootIsFile ? basename(f) : relative(spec.root, f);
    const target = join(out, rel.slice(0, rel.length - extname(rel).length) + '.png');
    const other = byOutput.get(target);
    if (other !== undefined) throw new UsageError(`${other} and ${f} would both be written to ${target}: rename one of them`);
    if (resolve(target) === resolve(f)) throw new UsageError(`${f} would be overwritten by its own translation: choose another --out`);
    byOutput.set(target, f);
    map.set(f, target);
  }
  return map;
}

export async function translateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'translate', TRANSLATE_HELP, ' (the inputs go after --input)');
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (o.run === null && o.weights === null) throw new UsageError('translate needs --run DIR (a pix2pix or cyclegan run) or --weights FILE (a generator\'s .pth or .safetensors)');
  if (o.run !== null && o.weights !== null) throw new UsageError('give --run or --weights, not both');
  if (o.input === null) throw new UsageError('translate needs --input PATH (an image or a folder of images)');
  if (o.out === null) throw new UsageError('translate needs --out DIR (where the translated PNGs go)');
  const evalMode = o.eval;
  const batchSize = o.batch;
  if (batchSize > 1 && !evalMode) {
    throw new UsageError('--batch above 1 needs --eval: in training mode (the default) each image is normalised by itself, one at a time, as the reference\'s test.py does');
  }
  const out = o.out;
  checkOutputPath(out, '--out', 'folder');

  const plan = o.weights !== null ? planFromWeights(o, given, o.weights) : planFromRun(o, given, o.run!);
  const dataset = await openInputs(o, plan, o.input);
  const targets = outputPaths(dataset, out);
  const existing = [...targets.values()].filter((t) => existsSync(t));
  if (!o.force && existing.length) {
    const more = existing.length > 1 ? ` (and ${existing.length - 1} more)` : '';
    throw new UsageError(`${existing[0]} exists${more}: use --force to overwrite, or another --out`);
  }
  // --force overwrites translations (images), never a file of another kind.
  for (const t of existing) checkReplaceableFile(t, '--out', true, IMAGE_FILE);
  const stride = generatorStride(plan.netG);
  const fixed = fixedOutputSize((dataset.spec as { transform: Parameters<typeof fixedOutputSize>[0] }).transform);
  if (fixed !== null) checkGeneratorSize(plan.netG, fixed);

  const { G, dispose, from } = plan.load();
  const device = o.device;
  const workers = o.workers ?? (dataset.length < 8 ? 0 : defaultWorkers());
  const loader = new Loader(dataset, { batchSize, shuffle: false, seed: o.seed, workers, prefetch: Math.max(1, Math.min(Math.ceil(dataset.length / batchSize), 2 * Math.max(1, workers))) });
  const bar = progressPrinter<CountProgress>(process.stderr, countLine);
  const total = dataset.length;
  const t0 = performance.now();
  let done = 0;
  let lastDraw = 0;
  const drawEvery = process.stderr.isTTY ? 200 : 10_000;
  const written = new Set<string>();
  let writing: Promise<unknown> = Promise.resolve();
  process.stderr.write(`translating ${total} image${total === 1 ? '' : 's'} from ${dataset.source} with ${from}${evalMode ? ', in eval mode' : ''}\n`);
  try {
    torch.manualSeed(o.seed);
    for await (const batch of loader.epochBatches()) {
      if (batch.height % stride !== 0 || batch.width % stride !== 0) {
        throw new UsageError(`${batch.pathsA[0]} is ${batch.width}x${batch.height} after --preprocess ${o.preprocess}: --netG ${plan.netG} needs sides that are multiples of ${stride} (use --preprocess resize_and_crop with a --crop_size that is)`);
      }
      const images: ImageBytes = torch.scope(() => {
        const x = toTensorBatch(batch, { device }).a;
        return tensorToImages(torch.noGrad(() => translateImages(G, x, evalMode)));
      });
      await writing;
      const per = images.height * images.width * images.channels;
      writing = Promise.all(batch.pathsA.map((file, i) => {
        const target = targets.get(file)!;
        written.add(target);
        return writeImage({ data: images.data.subarray(i * per, (i + 1) * per), width: images.width, height: images.height, channels: images.channels }, target);
      }));
      done += batch.size;
      const now = performance.now();
      if (now - lastDraw >= drawEvery || done === total) {
        bar.update({ done, total, seconds: (now - t0) / 1000 });
        lastDraw = now;
      }
    }
    await writing;
  } finally {
    await writing.catch(() => {});
    bar.done();
    await loader.close();
    dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const skipped = loader.skipped.length;
  process.stdout.write(
    `translated ${written.size} image${written.size === 1 ? '' : 's'} in ${seconds.toFixed(2)} s (${(written.size / Math.max(seconds, 1e-9)).toFixed(1)} images/s) into ${out}` +
      `${skipped ? `; skipped ${skipped} unreadable file${skipped === 1 ? '' : 's'}` : ''}\n`,
  );
  return 0;
}
