// `ganforge demo`: the README's first run. A newcomer should see a model learn, clearly,
// in a few minutes on two CPU cores. Unconditional DCGAN on `shapes` shows coloured blobs
// after 3 minutes; pix2pix drawing the outlines of coloured scenes (shapes-pairs, B→A: the
// edges2shoes task reversed) has one right answer per input, so its grids go from grey
// noise to clean line drawings next to the real ones within the first epochs. The
// dashboard runs beside it (its own process) and the demo ends when training ends.
import { existsSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import { defineSchema, formatOptions, parseArgs, type Options } from '../config/options.js';
import { RECIPES } from '../families/registry.js';
import { train } from '../train/trainer.js';
import { fullSchema } from '../train/options.js';
import { progressPrinter } from './progress.js';
import { withStopSignals } from './stop.js';
import { selfcheck } from './selfcheck.js';
import { runPage, startDashboard } from './dashboard.js';

const SCHEMA = defineSchema({
  epochs: { type: 'int', default: 16, help: 'training length in epochs of the 1000 built-in pairs (half at the full rate, half decaying)', min: 2 },
  out: { type: 'string', default: null, help: 'run folder (default: runs/demo, or runs/demo-N when that exists)', metavar: 'DIR' },
  seed: { type: 'int', default: 0, help: 'seed', min: 0 },
  serve: { type: 'bool', default: true, help: 'serve the dashboard while it trains (--no-serve: train without it)' },
});

export const DEMO_HELP = `Usage: ganforge demo [options]

Checks the engine, then trains pix2pix to draw the outlines of the built-in coloured
'shapes-pairs' scenes (32×32, batch 16), writing a sample grid each epoch to the run's
samples/ folder (each row: the scene, the model's drawing, the real drawing), and serves
the live dashboard meanwhile. About 3 minutes on two idle CPU cores. Nothing is downloaded;
an existing run folder is never overwritten.

Options:
${formatOptions(SCHEMA)}`;

/** The demo's training options: pix2pix B→A on shapes-pairs at 32×32, `epochs` long. */
export function demoOptions(epochs: number, out: string, seed: number): Options {
  const options: Options = Object.fromEntries(Object.entries(fullSchema(RECIPES.pix2pix)).map(([k, s]) => [k, s.default]));
  const half = Math.floor(epochs / 2);
  return Object.assign(options, {
    model: 'pix2pix', data: 'shapes-pairs', direction: 'BtoA', out, seed,
    load_size: 32, crop_size: 32, netG: 'unet_32', ngf: 32, ndf: 32, batch: 16,
    n_epochs: epochs - half, n_epochs_decay: half, display_freq: 1000, save_epoch_freq: 4, log_every: 10,
  });
}

/**
 * Images per second of the demo's training on 2 idle cores, for the time it announces: the
 * fastest logged window of a demo run on the shared 2-core development machine was 90
 * img/s (its CPU time, 267 s for 16 epochs, puts the idle figure near 120).
 */
const IDLE_IMG_PER_S = 90;

function freshOut(): string {
  if (!existsSync('runs/demo')) return 'runs/demo';
  for (let i = 2; ; i++) if (!existsSync(`runs/demo-${i}`)) return `runs/demo-${i}`;
}

export async function demoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const { options: d, positional } = parseArgs(argv.map((a) => (a === '--no-serve' ? '--serve=false' : a)), SCHEMA, 'demo');
  if (positional.length) throw new UsageError(`demo takes no positional arguments, got '${positional[0]}'`);
  const out = d.out ?? freshOut();
  const line = (s: string): boolean => process.stdout.write(s + '\n');
  line('checking the engine...');
  if (!selfcheck()) return 1;
  const bar = progressPrinter();
  const say = (s: string): void => {
    bar.done();
    process.stderr.write(s + '\n');
  };
  const dashboard = d.serve ? await startDashboard(out, say) : null;
  const minutes = Math.max(1, Math.round((d.epochs * 1000) / IDLE_IMG_PER_S / 60));
  line(`training pix2pix on shapes-pairs (scene → outline drawing, 32×32), ${d.epochs} epochs, about ${minutes} minute${minutes === 1 ? '' : 's'} on 2 idle cores${dashboard ? `, open ${runPage(dashboard.url, out)}` : ''}`);
  const t0 = performance.now();
  let result;
  try {
    result = await withStopSignals((signal) => train(RECIPES.pix2pix, demoOptions(d.epochs, out, d.seed), new Set(['model', 'data', 'out']), { progress: bar.update, log: say, signal }), say);
  } finally {
    dashboard?.stop();
  }
  bar.done();
  const min = (performance.now() - t0) / 60000;
  line(`demo ${result.interrupted ? 'interrupted' : 'finished'} in ${min.toFixed(1)} min: ${result.steps} steps`);
  line(`  sample grids (one per epoch; rows: scene, model's drawing, real drawing): ${out}/samples/`);
  line(`  metrics (losses, L1 to the real drawing, img/s):                           ${out}/metrics.jsonl`);
  line(`  checkpoints (safetensors + state.json):                                    ${out}/checkpoints/`);
  line(`  draw your own:  node bin/ganforge.js translate --run ${out} --help`);
  line(`keep the dashboard up:  node bin/ganforge.js serve ${out}`);
  return 0;
}
