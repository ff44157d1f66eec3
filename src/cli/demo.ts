// `ganforge demo`: the README's main job. Trains a small DCGAN on the built-in shapes for
// a few minutes on CPU, writing sample grids that show it learning, then says where
// everything is.
import { existsSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import { defineSchema, formatOptions, parseArgs } from '../config/options.js';
import { RECIPES } from '../families/registry.js';
import { train } from '../train/trainer.js';
import { fullSchema } from '../train/options.js';
import { progressPrinter } from './progress.js';
import { withStopSignals } from './stop.js';
import { selfcheck } from './selfcheck.js';

const SCHEMA = defineSchema({
  kimg: { type: 'float', default: 48, help: 'training length in thousands of images', min: 0.064 },
  out: { type: 'string', default: null, help: 'run folder (default: runs/demo, or runs/demo-N when that exists)', metavar: 'DIR' },
  seed: { type: 'int', default: 0, help: 'seed', min: 0 },
});

export const DEMO_HELP = `Usage: ganforge demo [options]\n\nChecks the engine, then trains a DCGAN on the built-in 'shapes' images (32×32, batch 32)\nand writes a sample grid every 4 kimg to the run's samples/ folder. Takes a few minutes on\ntwo CPU cores. Nothing is downloaded; an existing run folder is never overwritten.\n\nOptions:\n${formatOptions(SCHEMA)}\n`;

function freshOut(): string {
  if (!existsSync('runs/demo')) return 'runs/demo';
  for (let i = 2; ; i++) if (!existsSync(`runs/demo-${i}`)) return `runs/demo-${i}`;
}

export async function demoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const { options: d, positional } = parseArgs(argv, SCHEMA, 'demo');
  if (positional.length) throw new UsageError(`demo takes no positional arguments, got '${positional[0]}'`);
  if (!selfcheck()) return 1;
  const out = d.out ?? freshOut();
  const def = RECIPES.dcgan;
  const schema = fullSchema(def);
  const options = Object.fromEntries(Object.entries(schema).map(([k, s]) => [k, s.default]));
  Object.assign(options, {
    model: 'dcgan', data: 'shapes', resolution: 32, batch: 32, kimg: d.kimg, seed: d.seed, out,
    sample_kimg: 4, snapshot_kimg: 16, ema_kimg: 2, ngf: 48, ndf: 48, log_every: 20,
  });
  process.stdout.write(`\ntraining DCGAN on the built-in shapes (32×32) for ${d.kimg} kimg...\n`);
  const bar = progressPrinter();
  const t0 = performance.now();
  const say = (line: string): void => {
    bar.done();
    process.stderr.write(line + '\n');
  };
  const result = await withStopSignals((signal) => train(def, options, new Set(['model', 'data', 'out']), { progress: bar.update, log: say, signal }), say);
  bar.done();
  const min = (performance.now() - t0) / 60000;
  process.stdout.write(`\ndemo ${result.interrupted ? 'interrupted' : 'finished'} in ${min.toFixed(1)} min: ${result.steps} steps, ${result.kimg.toFixed(1)} kimg\n`);
  process.stdout.write(`  sample grids (one per 4 kimg, the same latents each time): ${out}/samples/\n`);
  process.stdout.write(`  metrics (losses, img/s per logged step):                  ${out}/metrics.jsonl\n`);
  process.stdout.write(`  checkpoints (safetensors + state.json):                   ${out}/checkpoints/\n`);
  process.stdout.write(`  more samples:  node bin/ganforge.js sample --run ${out} --n 64 --seed 7\n`);
  process.stdout.write(`  train longer:  node bin/ganforge.js train --model dcgan --resume --out ${out} --kimg ${Number(d.kimg) * 2}\n`);
  return 0;
}
