// StyleGAN2's training configurations by name, as stylegan2-ada-pytorch's train.py
// defines them (cfg_specs), and how a --cfg fills in the options the user did not give.
// As in train.py, 'auto' derives its values from the resolution (with one GPU): the
// minibatch, the mbstd group, the widths, the learning rate, γ and the EMA half-life; a
// --batch given by the user replaces the minibatch only, the values derived from the
// preset's minibatch stay (train.py does the same).
import { UsageError } from '../../config/errors.js';
import { type Options, sizeOf } from '../../config/options.js';

export const CFG_NAMES = ['auto', 'stylegan2', 'paper256', 'paper512', 'paper1024', 'cifar'] as const;
export type CfgName = (typeof CFG_NAMES)[number];

export interface CfgSpec {
  kimg: number;
  mb: number;
  mbstd: number;
  fmaps: number;
  lrate: number;
  gamma: number;
  ema: number;
  /** EMA ramp-up (null: none). */
  ramp: number | null;
  map: number;
}

const FIXED: Record<Exclude<CfgName, 'auto'>, CfgSpec> = {
  stylegan2: { kimg: 25000, mb: 32, mbstd: 4, fmaps: 1, lrate: 0.002, gamma: 10, ema: 10, ramp: null, map: 8 },
  paper256: { kimg: 25000, mb: 64, mbstd: 8, fmaps: 0.5, lrate: 0.0025, gamma: 1, ema: 20, ramp: null, map: 8 },
  paper512: { kimg: 25000, mb: 64, mbstd: 8, fmaps: 1, lrate: 0.0025, gamma: 0.5, ema: 20, ramp: null, map: 8 },
  paper1024: { kimg: 25000, mb: 32, mbstd: 4, fmaps: 1, lrate: 0.002, gamma: 2, ema: 10, ramp: null, map: 8 },
  cifar: { kimg: 100000, mb: 64, mbstd: 32, fmaps: 1, lrate: 0.0025, gamma: 0.01, ema: 500, ramp: 0.05, map: 2 },
};

/**
 * The preset's values at `resolution` (one GPU). A non-square model counts by its shorter
 * side (the one its blocks and widths follow), except γ, which scales with the pixels.
 */
export function cfgSpec(cfg: CfgName, resolution: number, pixels = resolution * resolution): CfgSpec {
  if (cfg !== 'auto') return FIXED[cfg];
  const mb = Math.max(Math.min(Math.floor(4096 / resolution), 32), 1);
  return {
    kimg: 25000, mb, mbstd: Math.min(mb, 4), fmaps: resolution >= 512 ? 1 : 0.5, lrate: resolution >= 1024 ? 0.002 : 0.0025,
    gamma: (0.0002 * pixels) / mb, ema: (mb * 10) / 32, ramp: 0.05, map: 2,
  };
}

/**
 * Fills in what --cfg sets, for every option not in `given`: the trainer's --batch,
 * --kimg, --ema_kimg, --ema_rampup and --no_flip (from --mirror), and the family's
 * --gamma, --map, --mbstd_group, --channel_base, --glr, --dlr, --pl_weight,
 * --style_mixing_prob and the D architecture; --fp32 clears num_fp16_res and conv_clamp.
 */
export function resolveStyleGAN2Options(o: Options, given: ReadonlySet<string>): Options {
  const cfg = o.cfg as CfgName;
  if (!CFG_NAMES.includes(cfg)) throw new UsageError(`--cfg must be one of ${CFG_NAMES.join(', ')}, got '${String(cfg)}'`);
  const { width, height } = sizeOf(o.resolution as number | string);
  const spec = cfgSpec(cfg, Math.min(width, height), width * height);
  const r: Options = { ...o };
  const set = (k: string, v: number | string | boolean | null): void => {
    if (!given.has(k)) r[k] = v;
  };
  set('batch', spec.mb);
  set('kimg', spec.kimg);
  set('ema_kimg', spec.ema);
  set('ema_rampup', spec.ramp ?? 0);
  set('gamma', spec.gamma);
  set('map', spec.map);
  set('mbstd_group', spec.mbstd);
  set('channel_base', Math.trunc(spec.fmaps * 32768));
  set('glr', spec.lrate);
  set('dlr', spec.lrate);
  // cifar: no path-length regularisation, no style mixing, D without residual connections.
  set('pl_weight', cfg === 'cifar' ? 0 : 2);
  set('style_mixing_prob', cfg === 'cifar' ? 0 : 0.9);
  set('d_architecture', cfg === 'cifar' ? 'orig' : 'resnet');
  // The reference trains every preset in mixed precision with conv_clamp 256; --fp32 clears both.
  set('num_fp16_res', o.fp32 ? 0 : 4);
  set('conv_clamp', o.fp32 ? null : 256);
  // train.py's --mirror (off by default) is the trainer's horizontal flip.
  if (given.has('mirror') && given.has('no_flip') && o.mirror === o.no_flip) {
    throw new UsageError('--mirror and --no_flip contradict each other: give one');
  }
  set('no_flip', !o.mirror);
  return r;
}
