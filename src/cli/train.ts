// `ganforge train --model NAME ...`: every option of the trainer and of the family.
import { UsageError } from '../config/errors.js';
import { existsSync } from 'node:fs';
import { parseArgs, formatOptions, optionsView, type Options } from '../config/options.js';
import { readConfig, runPaths } from '../run/folder.js';
import { cacheDir, openDetectors, parseMetricList } from '../metrics/index.js';
import { trainingEvaluator } from '../families/evaluate.js';
import { RECIPES, recipeNames } from '../families/registry.js';
import { train } from '../train/trainer.js';
import { COMMON_SCHEMA, METRICS_SCHEMA, fullSchema, type MetricsOptions } from '../train/options.js';
import type { RecipeDef } from '../train/recipe.js';
import { progressPrinter } from './progress.js';
import { withStopSignals } from './stop.js';
import { launchWorkers, watchLauncher } from './launch.js';
import { distributedEnv, joinJob, type Job } from '../distributed/index.js';
import { requireC10d } from '../torch/index.js';
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
    return `${head}\nModels:\n${recipeNames().map((n) => `  ${n.padEnd(Math.max(10, ...recipeNames().map((m) => m.length)))} ${RECIPES[n].summary}`).join('\n')}\n\nSee 'ganforge train --model NAME --help' for a model's options.\n`;
  }
  return `${head}\n${def.name}: ${def.summary}\n\nOptions:\n${formatOptions(fullSchema(def))}\n`;
}

/** --metrics and its networks: as given, and on --resume as the run's config.json has them unless given anew. */
function metricsOptions(options: Options, given: Set<string>): MetricsOptions {
  const m = optionsView(METRICS_SCHEMA, options);
  const out = options.out;
  if (options.resume !== true || typeof out !== 'string' || !existsSync(runPaths(out).config)) return m;
  const saved = readConfig(out).options;
  const merged: Record<string, unknown> = { ...m };
  for (const k of Object.keys(METRICS_SCHEMA)) if (!given.has(k) && k in saved) merged[k] = saved[k];
  return merged as MetricsOptions;
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
  const c = optionsView(COMMON_SCHEMA, options);
  // Inside a job (torchrun's variables, or a worker of --nproc) this process is one rank;
  // otherwise --nproc N > 1 makes it the launcher of N workers on this machine.
  const env = distributedEnv();
  if (!env && c.nproc !== null && c.nproc > 1) {
    requireC10d();
    const batch = (options as { batch?: number }).batch;
    if (typeof batch === 'number' && batch % c.nproc !== 0) throw new UsageError(`--batch ${batch} is the global batch and must split evenly over --nproc ${c.nproc}: use a multiple of ${c.nproc}`);
    return launchWorkers(argv, { nproc: c.nproc, timeoutSec: c.dist_timeout, say: (line) => process.stderr.write(line + '\n') });
  }
  let job: Job | undefined;
  if (env) job = joinJob(env, { timeoutMs: c.dist_timeout * 1000 });
  const lead = !job || job.rank === 0;
  // Rank 0 speaks for the job; the others only report their errors (named by rank).
  const bar = lead ? progressPrinter() : null;
  const say = (line: string): void => {
    bar?.done();
    if (lead) process.stderr.write(line + '\n');
  };
  // --metrics: the feature networks are found before any training (a missing Inception
  // file is a mistake to fix first, not an error after the first interval). Rank 0 alone
  // measures, as it alone writes the run.
  const m = metricsOptions(options, given);
  const specs = m.metrics ? parseMetricList(m.metrics) : null;
  if (!specs && (given.has('inception') || given.has('features') || given.has('vgg'))) throw new UsageError('--inception, --features and --vgg apply with --metrics');
  if (m.features && given.has('inception')) throw new UsageError('give --inception or --features, not both');
  const nets = specs && lead ? await openDetectors(specs, { ...m, device: String(options.device) }) : null;
  const evaluate = specs && nets ? trainingEvaluator(def, specs, nets, { cacheDir: cacheDir() }) : undefined;
  // Without --out the run goes under runs/: the dashboard shows that folder.
  const served = typeof options.out === 'string' ? options.out : 'runs';
  const dashboard = serve && lead ? await startDashboard(served, say) : null;
  const unwatch = job ? watchLauncher(say) : null;
  if (dashboard) process.stdout.write(`dashboard: ${typeof options.out === 'string' ? runPage(dashboard.url, options.out) : dashboard.url}\n`);
  try {
    const result = await withStopSignals((signal) => train(def, options, given, { progress: bar?.update, log: say, signal, evaluate, distributed: job }), say);
    bar?.done();
    if (lead) process.stdout.write(`${result.interrupted ? 'interrupted' : 'done'}: ${result.steps} steps, ${result.kimg.toFixed(3)} kimg in ${result.runDir}${job ? ` (${job.size} processes)` : ''}\n`);
    if (dashboard) process.stdout.write(`the dashboard stopped with the training; to keep it up: ganforge serve ${served}\n`);
    return 0;
  } finally {
    unwatch?.();
    dashboard?.stop();
    nets?.dispose();
    job?.group.destroy();
  }
}
