// BigGAN-deep training: BigGAN's recipe (families/biggan.ts: the reference trains both
// models with the same train_fns) with BigGANdeep.py's networks, as the reference's
// `--model BigGANdeep`. The options are BigGAN's less --D_wide (the deep D has one block
// form) plus --G_depth / --D_depth; --config imagenet128 is launch_BigGAN_deep.sh.
import type { Options } from '../config/options.js';
import { defineSchema, type OptionsOf } from '../config/options.js';
import { UsageError } from '../config/errors.js';
import { presetResolver } from '../train/options.js';
import { defineRecipe, type RecipeEnv } from '../train/recipe.js';
import { BigGANDeepGenerator, BigGANDeepDiscriminator, BIGGAN_DEEP_ARCH_DEFAULTS, type BigGANDeepArch } from '../models/biggan_deep.js';
import { BIGGAN_SCHEMA, BigGANRecipe, RESOLUTIONS, bigganArch, bigganClasses } from './biggan.js';

// eslint-disable-next-line @typescript-eslint/no-unused-vars
const { D_wide: _thin, ...SHARED } = BIGGAN_SCHEMA;

export const BIGGAN_DEEP_SCHEMA = defineSchema({
  ...SHARED,
  config: { type: 'string', default: 'none', choices: ['none', 'imagenet128'], help: "a launch script's settings (imagenet128: launch_BigGAN_deep.sh) for every option not given" },
  // The deep G sizes its first layer and every ccbn for [shared embedding, z]: both are required.
  G_shared: { ...BIGGAN_SCHEMA.G_shared, default: true, help: "one class embedding shared by G's conditional batch norms (BigGAN-deep needs it)" },
  hier: { type: 'bool', default: true, help: 'the whole z joins the shared embedding at every block of G (BigGAN-deep needs it)' },
  G_depth: { type: 'int', default: 2, help: 'residual blocks per resolution in G (the reference parser says 1, which its deep G builds only at 32 px; 2 as launch_BigGAN_deep.sh)', min: 1 },
  D_depth: { type: 'int', default: 2, help: 'residual blocks per resolution in D (2 as launch_BigGAN_deep.sh)', min: 1 },
});

export type BigGANDeepOptions = OptionsOf<typeof BIGGAN_DEEP_SCHEMA>;

/** The networks' architecture from a run's options. */
export function bigganDeepArch(o: BigGANDeepOptions, resolution: number, nClasses: number, channels: number): BigGANDeepArch {
  return { ...bigganArch({ ...o, D_wide: BIGGAN_DEEP_ARCH_DEFAULTS.D_wide }, resolution, nClasses, channels), G_depth: o.G_depth, D_depth: o.D_depth };
}

/** launch_BigGAN_deep.sh (inplace_relu is ReLU; --ema --use_ema --G_eval_mode: G_ema is always kept and sampled in eval mode here). */
export const BIGGAN_DEEP_CONFIGS: Readonly<Record<string, Options>> = {
  imagenet128: {
    resolution: 128, batch: 256, num_G_accumulations: 8, num_D_accumulations: 8, num_D_steps: 1, G_lr: 1e-4, D_lr: 4e-4,
    D_B2: 0.999, G_B2: 0.999, G_attn: '64', D_attn: '64', G_ch: 128, D_ch: 128, G_depth: 2, D_depth: 2,
    SN_eps: 1e-6, BN_eps: 1e-5, adam_eps: 1e-6, G_ortho: 0, G_shared: true, G_init: 'ortho', D_init: 'ortho',
    hier: true, dim_z: 128, shared_dim: 128, ema_start: 20000, seed: 0,
  },
};

function create(o: BigGANDeepOptions, env: RecipeEnv): BigGANRecipe {
  if (!RESOLUTIONS.includes(env.resolution)) throw new UsageError(`--model biggan_deep supports --resolution ${RESOLUTIONS.join(', ')}, got ${env.resolution}`);
  if (!o.G_shared || !o.hier) throw new UsageError('--model biggan_deep needs --G_shared and --hier (its G conditions every block on [shared embedding, z])');
  const arch = bigganDeepArch(o, env.resolution, bigganClasses(env), env.channels);
  const build = <T>(make: () => T): T => {
    try {
      return make();
    } catch (e) {
      // Architecture choices the reference cannot build either (depth, widths) are the user's.
      throw new UsageError(`--model biggan_deep: ${(e as Error).message}`);
    }
  };
  return new BigGANRecipe(o, env, {
    generator: () => build(() => new BigGANDeepGenerator(arch)),
    discriminator: () => build(() => new BigGANDeepDiscriminator(arch)),
  });
}

export const bigganDeep = defineRecipe({
  name: 'biggan_deep',
  summary: 'BigGAN-deep (Brock et al. 2019): BigGAN with bottleneck residual blocks, G_depth/D_depth per resolution, the whole z to every block',
  trainerDefaults: { resolution: 32, batch: 64 },
  schema: BIGGAN_DEEP_SCHEMA,
  resolveOptions: presetResolver('config', BIGGAN_DEEP_CONFIGS),
  create,
});
