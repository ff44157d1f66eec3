// `ganforge sample --run DIR`: a grid of images from a trained generator (its EMA copy).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseArgs, formatOptions, type Schema } from '../config/options.js';
import { saveGrid } from '../data/index.js';
import { loadRun, readRunOptions } from '../recipes/load.js';

const SCHEMA: Schema = {
  run: { type: 'string', default: null, help: 'run folder written by ganforge train', metavar: 'DIR' },
  checkpoint: { type: 'string', default: null, help: 'checkpoint name under checkpoints/ (default: the latest)', metavar: 'NAME' },
  n: { type: 'int', default: 64, help: 'number of images', min: 1, max: 4096 },
  seed: { type: 'int', default: 1, help: 'seed of the latents', min: 0 },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: all classes in turn)', metavar: 'C' },
  out: { type: 'string', default: null, help: 'PNG file (default: <run>/samples/sample-seed<seed>.png)', metavar: 'FILE' },
  nrow: { type: 'int', default: null, help: 'images per row (default: √n)', min: 1 },
  device: { type: 'string', default: 'cpu', help: "'cpu' or 'cuda[:N]'" },
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
};

export const SAMPLE_HELP = `Usage: ganforge sample --run DIR [options]\n\nGenerates a grid of images with a trained run's generator (the EMA weights when the\nfamily keeps them), from latents drawn with --seed.\n\nOptions:\n${formatOptions(SCHEMA)}\n`;

export async function sampleCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SAMPLE_HELP);
    return 0;
  }
  const { options: o, positional } = parseArgs(argv, SCHEMA, 'sample');
  if (positional.length) throw new UsageError(`sample takes no positional arguments, got '${positional[0]}'`);
  if (!o.run) throw new UsageError('sample needs --run DIR (a folder written by ganforge train)');
  const run = o.run as string;
  const { def } = readRunOptions(run);
  if (def.data === 'aligned' || def.data === 'unaligned') {
    throw new UsageError(`${run} is a ${def.name} run, which translates images rather than drawing them from latents: use 'ganforge translate --run ${run} --input IMAGES --out DIR'`);
  }
  const n = o.n as number;
  const out = (o.out as string | null) ?? join(run, 'samples', `sample-seed${o.seed}.png`);
  if (existsSync(out) && !o.force) throw new UsageError(`${out} exists: use --force to overwrite it, or another --out`);
  const loaded = loadRun(run, { checkpoint: o.checkpoint as string | null, device: o.device as string });
  let labels: number[] | null = null;
  if (loaded.classes) {
    const k = loaded.classes.length;
    if (o.class !== null) {
      const c = String(o.class);
      const idx = /^\d+$/.test(c) ? Number(c) : loaded.classes.indexOf(c);
      if (idx < 0 || idx >= k) throw new UsageError(`--class ${c}: the run's classes are ${loaded.classes.map((x, i) => `${i}:${x}`).join(', ')}`);
      labels = Array(n).fill(idx);
    } else labels = Array.from({ length: n }, (_, i) => Math.floor((i * k) / n));
  } else if (o.class !== null) {
    throw new UsageError('--class applies to class-conditional runs only (this one was trained without --classes)');
  }
  const images = torch.scope(() => {
    const inputs = torch.withSeed(o.seed as number, () => loaded.recipe.sampleInputs(n, labels));
    return torch.noGrad(() => loaded.recipe.generate(inputs));
  });
  mkdirSync(dirname(out), { recursive: true });
  await saveGrid(images, out, { nrow: (o.nrow as number | null) ?? Math.ceil(Math.sqrt(n)) });
  process.stdout.write(`wrote ${n} samples from ${loaded.checkpoint} to ${out}\n`);
  for (const net of Object.values(loaded.recipe.networks())) net.dispose();
  return 0;
}
