// BigGAN-PyTorch's weights folders (utils.save_weights): G.pth, G_ema.pth, D.pth,
// G_optim.pth, D_optim.pth and state_dict.pth, read through our restricted .pth reader in
// either torch.save format. state_dict.pth holds {itr, epoch, save_num, save_best_num,
// best_IS, best_FID, config}, and the config the nn.ReLU objects train.py put there
// (G_activation, D_activation): that file alone is read with an inert stub for that class.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import { readPthFileSync, type PthValue } from '../io/pth.js';
import { loadPthStateDict } from '../io/tensors.js';
import type { Tensor, optim } from '../torch/index.js';
import { rawToTensor } from '../io/tensors.js';
import { isRawTensor } from '../io/raw.js';
import { BIGGAN_ARCH_DEFAULTS, BIGGAN_INITS, BigGANGenerator, type BigGANArch, type BigGANInit } from '../models/biggan.js';
import { BigGANDeepGenerator } from '../models/biggan_deep.js';

/** The classes state_dict.pth may pickle (train.py's activations); nothing else is accepted. */
export const STATE_DICT_STUBS = ['torch.nn.modules.activation.ReLU'] as const;

export const WEIGHT_FILES = ['G', 'G_ema', 'D', 'G_optim', 'D_optim', 'state_dict'] as const;

export type ReferenceState = { [k: string]: PthValue };

/** Whether `path` is a folder holding a reference weights set (at least G.pth or G_ema.pth). */
export function isWeightsFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && (existsSync(join(path, 'G.pth')) || existsSync(join(path, 'G_ema.pth')));
}

/** state_dict.pth of a weights folder: the training counters and the config. */
export function readReferenceState(dir: string): ReferenceState {
  const file = join(dir, 'state_dict.pth');
  if (!existsSync(file)) throw new UsageError(`${dir} has no state_dict.pth (the reference's config): pass --weights G_ema.pth --config NAME instead`);
  const v = readPthFileSync(file, { moduleStubs: STATE_DICT_STUBS });
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || !('config' in v)) {
    throw new UsageError(`${file} is not a BigGAN-PyTorch state_dict.pth (no config)`);
  }
  return v as ReferenceState;
}

/** One network's (or optimiser's) file of a weights folder, as tensors. */
export function readWeightFile(dir: string, name: (typeof WEIGHT_FILES)[number]): Record<string, Tensor> {
  const file = join(dir, `${name}.pth`);
  if (!existsSync(file)) throw new UsageError(`${dir} has no ${name}.pth`);
  return loadPthStateDict(file);
}

function num(c: ReferenceState, k: string, dflt: number): number {
  const v = c[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number') throw new UsageError(`state_dict.pth: config.${k} is not a number (${String(v)})`);
  return v;
}

function bool(c: ReferenceState, k: string, dflt: boolean): boolean {
  const v = c[k];
  return v === undefined || v === null ? dflt : Boolean(v);
}

function str(c: ReferenceState, k: string, dflt: string): string {
  const v = c[k];
  return v === undefined || v === null ? dflt : String(v);
}

function init(c: ReferenceState, k: string): BigGANInit {
  const v = str(c, k, 'ortho');
  if (!(BIGGAN_INITS as readonly string[]).includes(v)) throw new UsageError(`state_dict.pth: config.${k} '${v}' is not one of ${BIGGAN_INITS.join(', ')}`);
  return v as BigGANInit;
}

/** The architecture a reference config (state_dict.pth's, or options spelled the same) describes; missing keys take utils.prepare_parser's defaults. */
export function archFromConfig(c: ReferenceState): BigGANArch {
  const d = BIGGAN_ARCH_DEFAULTS;
  if (c.resolution === undefined || c.n_classes === undefined) throw new UsageError('the config names no resolution or n_classes');
  return {
    ...d,
    resolution: num(c, 'resolution', d.resolution), n_classes: num(c, 'n_classes', d.n_classes),
    G_ch: num(c, 'G_ch', d.G_ch), D_ch: num(c, 'D_ch', d.D_ch), dim_z: num(c, 'dim_z', d.dim_z),
    G_attn: str(c, 'G_attn', d.G_attn), D_attn: str(c, 'D_attn', d.D_attn), G_shared: bool(c, 'G_shared', d.G_shared),
    shared_dim: num(c, 'shared_dim', d.shared_dim), hier: bool(c, 'hier', d.hier), mybn: bool(c, 'mybn', d.mybn),
    BN_eps: num(c, 'BN_eps', d.BN_eps), SN_eps: num(c, 'SN_eps', d.SN_eps), num_G_SVs: num(c, 'num_G_SVs', d.num_G_SVs),
    num_G_SV_itrs: num(c, 'num_G_SV_itrs', d.num_G_SV_itrs), num_D_SVs: num(c, 'num_D_SVs', d.num_D_SVs),
    num_D_SV_itrs: num(c, 'num_D_SV_itrs', d.num_D_SV_itrs), G_param: str(c, 'G_param', d.G_param),
    D_wide: bool(c, 'D_wide', d.D_wide), G_init: init(c, 'G_init'), D_init: init(c, 'D_init'),
  };
}

/** Whether a config is BigGANdeep.py's (train.py's --model BigGANdeep; BigGAN.py's otherwise). */
export function isDeepConfig(c: ReferenceState): boolean {
  const model = str(c, 'model', 'BigGAN');
  if (model !== 'BigGAN' && model !== 'BigGANdeep') throw new UsageError(`the config's model '${model}' is neither BigGAN nor BigGANdeep`);
  return model === 'BigGANdeep';
}

/** The generator a reference config describes (BigGAN.py's or BigGANdeep.py's), freshly initialised. */
export function generatorFromConfig(c: ReferenceState): BigGANGenerator | BigGANDeepGenerator {
  const arch = archFromConfig(c);
  if (!isDeepConfig(c)) return new BigGANGenerator(arch);
  try {
    // Depths default as the reference's parser (1).
    return new BigGANDeepGenerator({ ...arch, G_depth: num(c, 'G_depth', 1), D_depth: num(c, 'D_depth', 1) });
  } catch (e) {
    throw new UsageError(`the config's BigGAN-deep generator cannot be built: ${(e as Error).message}`);
  }
}

/**
 * Loads a reference Adam state (G_optim.pth / D_optim.pth: torch's {state, param_groups})
 * into `opt`, whose parameters are in the same order (both follow the module's
 * registration order). Moments and step counts only: learning rates and betas stay the
 * run's options.
 */
export function loadReferenceAdam(dir: string, name: 'G_optim' | 'D_optim', opt: optim.Adam): void {
  const file = join(dir, `${name}.pth`);
  if (!existsSync(file)) throw new UsageError(`${dir} has no ${name}.pth`);
  const v = readPthFileSync(file) as { state?: Record<string, Record<string, PthValue>>; param_groups?: { params: number[] }[] };
  const params = v.param_groups?.flatMap((g) => g.params) ?? [];
  if (params.length !== opt.params.length) throw new UsageError(`${file} is for ${params.length} parameters, the model has ${opt.params.length}`);
  const tensors: Record<string, Tensor> = {};
  const step: number[] = [];
  params.forEach((pid, i) => {
    const st = v.state?.[String(pid)];
    if (!st) {
      step.push(0);
      return;
    }
    for (const k of ['exp_avg', 'exp_avg_sq']) {
      const t = st[k];
      if (!isRawTensor(t)) throw new UsageError(`${file}: parameter ${pid} has no ${k}`);
      tensors[`${i}.${k}`] = rawToTensor(t);
    }
    const s = st.step;
    step.push(isRawTensor(s) ? rawToTensor(s).item() : Number(s));
  });
  // Parameters the reference never stepped keep zero moments.
  opt.params.forEach((p, i) => {
    for (const k of ['exp_avg', 'exp_avg_sq']) if (!tensors[`${i}.${k}`]) tensors[`${i}.${k}`] = p.detach().mul(0);
  });
  const { hyper } = opt.stateDict();
  try {
    opt.loadStateDict({ tensors, hyper: { ...hyper, step } });
  } catch (e) {
    throw new UsageError(`${file} does not fit the model: ${(e as Error).message}`);
  }
}
