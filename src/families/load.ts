// Rebuilding a trained model from its run folder: the recipe from config.json, the
// weights from a checkpoint (the latest, or one named).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { type Options, optionsView, validateOptions } from '../config/options.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import { RECIPES } from './registry.js';
import { COMMON_SCHEMA, fullSchema, recipeEnv } from '../train/options.js';
import type { Recipe, RecipeDef } from '../train/recipe.js';
import { readConfig, readableCheckpoint, runPaths } from '../run/folder.js';
import { standEma } from '../train/standing_stats.js';

export interface LoadedRun {
  def: RecipeDef;
  recipe: Recipe;
  options: Options;
  classes: string[] | null;
  checkpoint: string;
}

/** A run's family and its validated options (every default filled), without loading weights. */
export function readRunOptions(dir: string): { def: RecipeDef; options: Options; classes: string[] | null } {
  if (!existsSync(dir)) throw new UsageError(`run folder ${dir} does not exist`);
  const cfg = readConfig(dir);
  const model = cfg.options.model;
  const def = typeof model === 'string' ? RECIPES[model] : undefined;
  if (!def) throw new UsageError(`${join(dir, 'config.json')} names no known model (${String(model)})`);
  return { def, options: validateOptions(cfg.options, fullSchema(def), join(dir, 'config.json')), classes: cfg.classes };
}

/**
 * Rebuilds a run's model with a checkpoint's weights: `opts.checkpoint`, or the newest
 * intact one (damaged newer ones are passed over with a warning, told to `opts.warn`,
 * stderr by default). Reads without the run's lock: checkpoints are written whole.
 */
export function loadRun(dir: string, opts: { checkpoint?: string | null; device?: string; warn?: (line: string) => void } = {}): LoadedRun {
  const { def, options, classes } = readRunOptions(dir);
  const paths = runPaths(dir);
  const name = readableCheckpoint(dir, opts.checkpoint ?? null, opts.warn ?? ((line) => process.stderr.write(line + '\n')));
  const device = opts.device ?? 'cpu';
  const env = recipeEnv(options, options.classes && classes ? classes.length : 0, device);
  const recipe = def.create(options, env);
  const checkpoint = join(paths.checkpoints, name);
  torch.scope(() => {
    const ck = loadCheckpoint(checkpoint);
    for (const [k, net] of Object.entries(recipe.networks())) {
      if (ck.networks[k]) net.loadStateDict(ck.networks[k]);
      net.eval();
    }
    const state = ck.state as { recipe?: Record<string, unknown>; emaStanding?: boolean };
    // What sampling needs of the training state (a progressive run's level of detail); not
    // the tensors only training uses (CycleGAN's image pools).
    recipe.loadState(state.recipe ?? {});
    // A checkpoint written before standing statistics holds G's batch-norm statistics (or
    // their average) in G_ema: estimate G_ema's own, as training now does before saving.
    const ema = recipe.networks().G_ema;
    if (recipe.emaBuffers === 'standing' && ema && !state.emaStanding) {
      standEma(recipe, ema, { batch: env.batchSize || 64, numClasses: env.numClasses, runSeed: optionsView(COMMON_SCHEMA, options).seed });
    }
  });
  return { def, recipe, options, classes: options.classes ? classes : null, checkpoint };
}
