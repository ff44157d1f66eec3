// `ganforge train --model NAME ...`: every option of the trainer and of the family.
import { UsageError } from '../config/errors.js';
import { parseArgs, formatOptions } from '../config/options.js';
import { RECIPES, recipeNames } from '../families/registry.js';
import { train } from '../train/trainer.js';
import { fullSchema } from '../train/options.js';
import type { RecipeDef } from '../train/recipe.js';
import { progressPrinter } from './progress.js';
import { withStopSignals } from './stop.js';
import { runPage, startDashboard } from './dashboard.js';

function modelOf(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--model') return argv[i + 1] ?? null;
    if (argv[i].startsWith('--model=')) return argv[i].slice('--model='.length);
  }
  return null;
}

export function recipeFor(name: string | null, command: string): RecipeDef {
  if (name === null) throw new UsageError(`${command} needs --model (one of: ${recipeNames().join(', ')})`);
  const def = RECIPES[name];
  if (!def) throw new UsageError(`unknown --model '${name}' (one of: ${recipeNames().join(', ')})`);
  return def;
}

export function trainHelp(def: RecipeDef | null): string {
  const head = 'Usage: ganforge train --model NAME [options] [--serve]\n\nTrains a GAN and writes runs/<name>/: config.json, metrics.jsonl, samples/, checkpoints/.\nCtrl-C finishes the step, writes a checkpoint and exits; --resume continues exactly.\n--serve starts the dashboard (ganforge serve) beside the training and prints its URL.\n';
  if (!def) {
    return `${head}\nModels:\n${recipeNames().map((n) => `  ${n.padEnd(10)} ${RECIPES[n].summary}`).join('\n')}\n\nSee 'ganforge train --model NAME --help' for a model's options.\n`;
  }
  return `${head}\n${def.name}: ${def.summary}\n\nOptions:\n${formatOptions(fullSchema(def))}\n`;
}

export async function trainCommand(argv: string[]): Promise<number> {
  const name = modelOf(argv);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(trainHelp(name && RECIPES[name] ? RECIPES[name] : null));
    return 0;
  }
  const def = recipeFor(name, 'train');
  // --serve is the command's, not the run's: it is not an option of the training.
  const serve = argv.includes('--serve');
  const { options, given, positional } = parseArgs(argv.filter((a) => a !== '--serve'), fullSchema(def), 'train');
  if (positional.length) throw new UsageError(`train takes no positional arguments, got '${positional[0]}'`);
  const bar = progressPrinter();
  const say = (line: string): void => {
    bar.done();
    process.stderr.write(line + '\n');
  };
  // Without --out the run goes under runs/: the dashboard shows that folder.
  const served = typeof options.out === 'string' ? options.out : 'runs';
  const dashboard = serve ? await startDashboard(served, say) : null;
  if (dashboard) process.stdout.write(`dashboard: ${typeof options.out === 'string' ? runPage(dashboard.url, options.out) : dashboard.url}\n`);
  let result;
  try {
    result = await withStopSignals((signal) => train(def, options, given, { progress: bar.update, log: say, signal }), say);
  } finally {
    dashboard?.stop();
  }
  bar.done();
  process.stdout.write(`${result.interrupted ? 'interrupted' : 'done'}: ${result.steps} steps, ${result.kimg.toFixed(3)} kimg in ${result.runDir}\n`);
  if (dashboard) process.stdout.write(`the dashboard stopped with the training; to keep it up: ganforge serve ${served}\n`);
  return 0;
}
