// Generators from weights files: a pix2pix/CycleGAN generator built from the reference's
// network options and filled from a .pth (torch.save of `net.state_dict()`, as
// pytorch-CycleGAN-and-pix2pix writes latest_net_G.pth) or a .safetensors file. When the
// weights do not fit the architecture asked for, the error names the first key that
// differs and both shapes, so the user can tell which option is wrong.
import { existsSync, statSync } from 'node:fs';
import * as torch from '../../torch/index.js';
import * as nn from '../../nn/index.js';
import { UsageError } from '../../config/errors.js';
import { loadPthStateDict, loadSafetensors } from '../../io/tensors.js';
import type { GeneratorName, NormKind } from '../../models/pix2pix.js';
import { buildG, type Generator } from './networks.js';

/** What builds a generator: the reference's option names and values. */
export interface GeneratorOptions {
  netG: GeneratorName;
  norm: NormKind;
  ngf: number;
  input_nc: number;
  output_nc: number;
  /**
   * null: as the weights show it. A ResNet block with dropout has its second conv one
   * index later (conv_block.6 instead of .5), so the keys tell; a U-Net's dropout
   * leaves no trace in them, and it then gets the reference's default (dropout on).
   */
  no_dropout: boolean | null;
}

export function describeGenerator(o: GeneratorOptions): string {
  const d = o.no_dropout ? ' --no_dropout' : '';
  return `--netG ${o.netG} --norm ${o.norm} --ngf ${o.ngf} --input_nc ${o.input_nc} --output_nc ${o.output_nc}${d}`;
}

const HINT = 'does --netG/--norm/--ngf/--input_nc/--output_nc match how the weights were trained?';

function shapeOf(t: torch.Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/**
 * Drops what checkpoints from PyTorch < 0.4 carry for InstanceNorm layers that keep no
 * running statistics (running_mean, running_var, num_batches_tracked), as the
 * reference's load_networks does (its __patch_instance_norm_state_dict). Only keys whose
 * module in `net` is such an InstanceNorm are dropped; returns their names.
 */
export function patchInstanceNormKeys(net: nn.Module, sd: nn.StateDict): string[] {
  const untracked = new Set<string>();
  for (const [name, m] of net.namedModules()) {
    if (m instanceof nn.InstanceNorm2d && !m.trackRunningStats) untracked.add(name);
  }
  const dropped: string[] = [];
  for (const k of Object.keys(sd)) {
    const dot = k.lastIndexOf('.');
    const leaf = k.slice(dot + 1);
    if ((leaf === 'running_mean' || leaf === 'running_var' || leaf === 'num_batches_tracked') && untracked.has(dot < 0 ? '' : k.slice(0, dot))) {
      dropped.push(k);
      delete sd[k];
    }
  }
  return dropped;
}

/**
 * The first difference between a module's state dict and `sd`, in the module's key order
 * (a shape mismatch or a key the file lacks), else the file's first key the module does
 * not have; null when they match. `what` names the architecture in the message.
 */
export function stateDictMismatch(net: nn.Module, sd: nn.StateDict, what: string, file: string): string | null {
  const own = net.stateDict();
  const missing = Object.keys(own).filter((k) => !(k in sd));
  const unexpected = Object.keys(sd).filter((k) => !(k in own));
  const counts = (): string => {
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} of the model's keys are not in the file`);
    if (unexpected.length) parts.push(`${unexpected.length} of the file's are not in the model${missing.length ? `, the first ${unexpected[0]} ${shapeOf(sd[unexpected[0]])}` : ''}`);
    return parts.length ? ` (${parts.join('; ')})` : '';
  };
  for (const [k, t] of Object.entries(own)) {
    const src = sd[k];
    if (!src) {
      return `${file} does not fit ${what}: the model has ${k} ${shapeOf(t)}, the file has no such key${counts()}; ${HINT}${prefixHint(own, sd)}`;
    }
    const a = src.shape, b = t.shape;
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      return `${file} does not fit ${what}: ${k} is ${shapeOf(t)} in the model but ${shapeOf(src)} in the file; ${HINT}`;
    }
  }
  if (unexpected.length) {
    const k = unexpected[0];
    return `${file} does not fit ${what}: the file has ${k} ${shapeOf(sd[k])}, which the model does not${counts()}; ${HINT}`;
  }
  return null;
}

/** How many keys differ (missing, unexpected, or of another shape): 0 when `sd` fits `net`. */
export function mismatchCount(net: nn.Module, sd: nn.StateDict): number {
  const own = net.stateDict();
  let n = Object.keys(sd).filter((k) => !(k in own)).length;
  for (const [k, t] of Object.entries(own)) {
    const src = sd[k];
    if (!src || src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) n++;
  }
  return n;
}

/**
 * When the file's names, less a first 'name.', fit the model's (a checkpoint holding
 * several networks, such as a ganforge model.safetensors), say to pick one with --key.
 */
function prefixHint(own: nn.StateDict, sd: nn.StateDict): string {
  const groups = new Map<string, Set<string>>();
  for (const k of Object.keys(sd)) {
    const dot = k.indexOf('.');
    if (dot <= 0) continue;
    const g = k.slice(0, dot);
    if (!groups.has(g)) groups.set(g, new Set());
    groups.get(g)!.add(k.slice(dot + 1));
  }
  const ownKeys = Object.keys(own);
  const fit = [...groups].filter(([, inner]) => ownKeys.filter((k) => inner.has(k)).length * 2 >= ownKeys.length).map(([g]) => g);
  if (fit.length === 0) return '';
  if (fit.length === 1) return ` (the file's keys under '${fit[0]}.' have this model's names: pass --key ${fit[0]})`;
  return ` (the file holds several networks with this model's names: pass --key with one of ${fit.join(', ')})`;
}

/**
 * Reads a weights file as a flat state dict. `key` picks one network in a file holding
 * several: a nested entry of a .pth ('state_dict', 'G.ema'), or the 'key.' prefix of a
 * .safetensors file's names (a ganforge checkpoint's model.safetensors holds 'G_A.*',
 * 'G_B.*', ...).
 */
export function readWeights(file: string, key?: string | null): nn.StateDict {
  if (!existsSync(file)) throw new UsageError(`weights file ${file} does not exist`);
  if (!statSync(file).isFile()) throw new UsageError(`${file} is not a file (expected a .pth or .safetensors weights file)`);
  try {
    if (file.endsWith('.safetensors')) {
      const { tensors } = loadSafetensors(file);
      if (!key) return tensors;
      const out: nn.StateDict = {};
      for (const [k, t] of Object.entries(tensors)) {
        if (k.startsWith(`${key}.`)) out[k.slice(key.length + 1)] = t;
        else t.dispose();
      }
      if (Object.keys(out).length === 0) {
        const prefixes = [...new Set(Object.keys(tensors).map((k) => k.split('.')[0]))];
        throw new UsageError(`${file} has no keys starting with '${key}.' (its keys start with: ${prefixes.slice(0, 8).join(', ')})`);
      }
      return out;
    }
    return loadPthStateDict(file, key ?? undefined);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read weights from ${file}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

/**
 * Copies `sd` into `net` after dropping stale InstanceNorm statistics, or throws a
 * UsageError naming the first key that does not fit (see stateDictMismatch).
 */
export function loadInto(net: nn.Module, sd: nn.StateDict, what: string, file: string): void {
  patchInstanceNormKeys(net, sd);
  const msg = stateDictMismatch(net, sd, what, file);
  if (msg) throw new UsageError(msg);
  try {
    net.loadStateDict(sd);
  } catch (e) {
    if (e instanceof nn.StateDictError) throw new UsageError(`${file} does not fit ${what}: ${e.message}; ${HINT}`);
    throw e;
  }
}

/**
 * A generator built from `o` with the weights of `file` (.pth or .safetensors), on
 * `device`. Left in training mode, as a freshly built network; translateImages decides
 * how it runs. When the weights do not fit, the error names the first key that differs;
 * when they would fit with the other dropout setting, it says so (or, with `no_dropout`
 * null, that setting is used: loadGeneratorWithInfo's `noDropout` tells which).
 */
export function loadGenerator(file: string, o: GeneratorOptions, opts: { device?: string; key?: string | null } = {}): Generator {
  return loadGeneratorWithInfo(file, o, opts).G;
}

export function loadGeneratorWithInfo(
  file: string, o: GeneratorOptions, opts: { device?: string; key?: string | null } = {},
): { G: Generator; noDropout: boolean } {
  const device = opts.device ?? 'cpu';
  return torch.scope(() => {
    const raw = readWeights(file, opts.key);
    // Each candidate gets its own copy: which keys are stale InstanceNorm statistics
    // depends on where the architecture puts its norm layers.
    const candidate = (noDropout: boolean) => {
      const G = buildG({ ...o, no_dropout: noDropout, init_type: 'normal', init_gain: 0.02 }, o.input_nc, o.output_nc, 'cpu');
      const sd = { ...raw };
      patchInstanceNormKeys(G, sd);
      const msg = stateDictMismatch(G, sd, describeGenerator({ ...o, no_dropout: noDropout }), file);
      return { G, sd, msg, noDropout };
    };
    let c = candidate(o.no_dropout ?? false);
    if (c.msg) {
      // Would the other dropout setting fit? Only ResNet keys can tell.
      const other = candidate(!c.noDropout);
      if (o.no_dropout === null && (other.msg === null || mismatchCount(other.G, other.sd) < mismatchCount(c.G, c.sd))) {
        // Inferring: take the setting that fits, or whose mismatch says more about the rest.
        c.G.dispose();
        c = other;
      } else {
        other.G.dispose();
        if (other.msg === null) {
          c.msg += ` (they fit ${c.noDropout ? 'without --no_dropout' : 'with --no_dropout'}: the generator was trained ${c.noDropout ? 'with' : 'without'} dropout)`;
        }
      }
    }
    try {
      if (c.msg) throw new UsageError(c.msg);
      loadInto(c.G, c.sd, describeGenerator({ ...o, no_dropout: c.noDropout }), file);
      c.G.to(device);
    } catch (e) {
      c.G.dispose();
      throw e;
    }
    return { G: c.G, noDropout: c.noDropout };
  });
}
