/**
 * TensorFlow StyleGAN2 networks (the original NVlabs/stylegan2 and stylegan2-ada TF
 * releases) converted to stylegan2-ada-pytorch's init kwargs and state_dict(), as its
 * legacy.py converts them, without TensorFlow and without running anything.
 *
 * A TF pickle is a tuple (G, D, Gs) of dnnlib.tflib.network.Network objects whose state
 * holds `version`, `static_kwargs`, `components` (sub-networks) and `variables`
 * ((name, ndarray) pairs). The conversion renames hyper-parameters (fmap_base·2 →
 * channel_base, ...), and moves each variable to its PyTorch key: dense weights
 * transposed, conv weights from [kh, kw, in, out] to [out, in, kh, kw] (flipped in space
 * for the transposed convolutions Conv0_up and the generator's Skip), modulation biases
 * + 1, noise{2·log2(r) − 5} / noise{2·log2(r) − 4} to conv0 / conv1's noise_const. The
 * resampling filters are not stored in TF; they are rebuilt from `resample_kernel`.
 *
 * Keys come out in the order PyTorch's state_dict() lists them, which follows the module
 * tree of training/networks.py: per module its parameters, then its buffers, then its
 * submodules in registration order.
 */

import { numpyArrayTensor } from './numpy_pickle.js';
import type { RawTensor } from './raw.js';
import type { JsonValue, PickledNetwork } from './nvidia_pickle.js';

/** What a TF Network's state holds, for the conversion. */
export interface TFNetworkState {
  version: number;
  name: string;
  /** The TF build function, e.g. 'training.networks_stylegan2.G_main'. */
  buildFuncName: string;
  staticKwargs: Map<unknown, unknown>;
  components: Map<unknown, unknown>;
  variables: unknown[];
}

/** Every variable of a network and its components, named 'component/.../variable' (legacy's _collect_tf_params). */
export function collectTFParams(net: TFNetworkState, toState: (x: unknown, where: string) => TFNetworkState, where: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const walk = (n: TFNetworkState, prefix: string, depth: number): void => {
    if (depth > 32) throw new Error(`${where}: components nested too deeply`);
    for (const pair of n.variables) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') throw new Error(`${where}: a variable is not a (name, array) pair`);
      const t = numpyArrayTensor(pair[1], `${where}: variable ${prefix}${pair[0]}`);
      if (t.dtype !== 'float32') throw new Error(`${where}: variable ${prefix}${pair[0]} is ${t.dtype}, not float32`);
      out.set(`${prefix}${pair[0]}`, t);
    }
    for (const [name, comp] of n.components) walk(toState(comp, `${where}: component ${String(name)}`), `${prefix}${String(name)}/`, depth + 1);
  };
  walk(net, '', 0);
  return out;
}

// ------------------------------------------------------------------------------------
// Tensor layout changes (float32 only: TF pickles hold float32 variables).
// ------------------------------------------------------------------------------------

function f32(t: RawTensor): Float32Array {
  return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
}
function raw(shape: number[], values: Float32Array): RawTensor {
  return { dtype: 'float32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** [in, out] → [out, in]. */
export function denseWeight(t: RawTensor, name: string): RawTensor {
  if (t.shape.length !== 2) throw new Error(`${name}: expected a 2-d weight, got [${t.shape.join(', ')}]`);
  const [n, m] = t.shape as [number, number];
  const a = f32(t);
  const o = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) o[j * n + i] = a[i * m + j]!;
  return raw([m, n], o);
}

/** [kh, kw, in, out] → [out, in, kh, kw], optionally flipped in kh and kw first. */
export function convWeight(t: RawTensor, name: string, flip = false): RawTensor {
  if (t.shape.length !== 4) throw new Error(`${name}: expected a 4-d weight, got [${t.shape.join(', ')}]`);
  const [kh, kw, ci, co] = t.shape as [number, number, number, number];
  const a = f32(t);
  const o = new Float32Array(a.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      const sy = flip ? kh - 1 - y : y;
      const sx = flip ? kw - 1 - x : x;
      for (let i = 0; i < ci; i++) {
        const src = ((sy * kw + sx) * ci + i) * co;
        for (let c = 0; c < co; c++) o[((c * ci + i) * kh + y) * kw + x] = a[src + c]!;
      }
    }
  }
  return raw([co, ci, kh, kw], o);
}

/** Leading size-1 dimensions dropped (TF's [1, C, 4, 4] const, [1, 1, r, r] noise). */
function squeezeLeading(t: RawTensor, count: number, name: string): RawTensor {
  if (t.shape.length < count || t.shape.slice(0, count).some((d) => d !== 1)) {
    throw new Error(`${name}: expected [${Array(count).fill(1).join(', ')}, ...], got [${t.shape.join(', ')}]`);
  }
  return { ...t, shape: t.shape.slice(count) };
}

/** + 1 in float32, as numpy adds to a float32 array. */
function plusOne(t: RawTensor): RawTensor {
  const o = f32(t).map((v) => Math.fround(v + 1));
  return raw([...t.shape], o);
}

/**
 * upfirdn2d.setup_filter(f) for a filter given as a list: a 1-d list of fewer than 8 taps
 * becomes the outer product with itself; the result is normalised to sum 1 (float32).
 */
export function setupFilter(f: JsonValue, name: string): RawTensor {
  const taps = Array.isArray(f) ? f : [f];
  const is2d = taps.every((r) => Array.isArray(r));
  let shape: number[];
  let values: number[];
  if (is2d) {
    const rows = taps as number[][];
    shape = [rows.length, rows[0]?.length ?? 0];
    values = rows.flat().map(Math.fround);
  } else {
    const v = (taps as number[]).map(Math.fround);
    if (v.length >= 8) {
      shape = [v.length];
      values = v;
    } else {
      shape = [v.length, v.length];
      values = v.flatMap((a) => v.map((b) => Math.fround(a * b)));
    }
  }
  if (!values.length || values.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Error(`${name}: resample filter ${JSON.stringify(f)} is not a list of numbers`);
  let sum = 0;
  for (const v of values) sum = Math.fround(sum + v);
  return raw(shape, Float32Array.from(values, (v) => Math.fround(v / sum)));
}

// ------------------------------------------------------------------------------------
// Hyper-parameters: legacy.py's kwarg() with its defaults, unknown names refused.
// ------------------------------------------------------------------------------------

class Kwargs {
  readonly known = new Set<string>();
  constructor(readonly src: Map<unknown, unknown>, readonly where: string, readonly toJson: (x: unknown, where: string) => JsonValue) {}
  get(name: string, def: JsonValue = null, none: JsonValue = null): JsonValue {
    this.known.add(name);
    const v = this.src.has(name) ? this.toJson(this.src.get(name), `${this.where}.${name}`) : def;
    return v !== null ? v : none;
  }
  checkUnknown(): void {
    for (const k of this.src.keys()) {
      if (!this.known.has(String(k))) throw new Error(`${this.where}: unknown TensorFlow kwarg '${String(k)}' (legacy.py refuses it too)`);
    }
  }
}

function intOf(v: JsonValue, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what} is ${JSON.stringify(v)}, not a size`);
  return v;
}

/** Builds the state dict in order, taking TF variables by name (each may be used once per key). */
class StateBuilder {
  readonly out: Record<string, RawTensor> = {};
  constructor(readonly tf: Map<string, RawTensor>, readonly where: string) {}
  has(name: string): boolean {
    return this.tf.has(name);
  }
  take(name: string): RawTensor {
    const t = this.tf.get(name);
    if (!t) throw new Error(`${this.where}: TensorFlow variable '${name}' is missing`);
    return t;
  }
  put(key: string, t: RawTensor): void {
    Object.defineProperty(this.out, key, { value: t, enumerable: true, writable: true, configurable: true });
  }
}

const log2 = (r: number) => Math.round(Math.log2(r));

/**
 * 'orig' networks name their image layers per level of detail (ToRGB_lod<k>,
 * FromRGB_lod<k>): these are also filed under their resolution ('<r>x<r>/ToRGB/...').
 * True when there were any.
 */
function renameLodLayers(tf: Map<string, RawTensor>, layer: 'ToRGB' | 'FromRGB', res: number): boolean {
  let found = false;
  for (const [name, t] of [...tf]) {
    const m = new RegExp(`^${layer}_lod(\\d+)/(.*)$`).exec(name);
    if (m) {
      const r = Math.floor(res / 2 ** Number(m[1]));
      tf.set(`${r}x${r}/${layer}/${m[2]}`, t);
      found = true;
    }
  }
  return found;
}

// ------------------------------------------------------------------------------------
// Generator (legacy.convert_tf_generator).
// ------------------------------------------------------------------------------------

export function convertTFGenerator(net: TFNetworkState, toState: (x: unknown, where: string) => TFNetworkState, toJson: (x: unknown, where: string) => JsonValue, where: string): PickledNetwork {
  if (!(net.version >= 4)) throw new Error(`${where}: TensorFlow pickle version ${net.version} is too low (StyleGAN2 networks are version 4 or later)`);
  const kw = new Kwargs(net.staticKwargs, `${where}.static_kwargs`, toJson);
  const channelBase = kw.get('fmap_base', 16384);
  const synthesis: { [k: string]: JsonValue } = {
    channel_base: typeof channelBase === 'number' ? channelBase * 2 : channelBase,
    channel_max: kw.get('fmap_max', 512),
    num_fp16_res: kw.get('num_fp16_res', 0),
    conv_clamp: kw.get('conv_clamp', null),
    architecture: kw.get('architecture', 'skip'),
    resample_filter: kw.get('resample_kernel', [1, 3, 3, 1]),
    use_noise: kw.get('use_noise', true),
    activation: kw.get('nonlinearity', 'lrelu'),
  };
  const kwargs: { [k: string]: JsonValue } = {
    z_dim: kw.get('latent_size', 512),
    c_dim: kw.get('label_size', 0),
    w_dim: kw.get('dlatent_size', 512),
    img_resolution: kw.get('resolution', 1024),
    img_channels: kw.get('num_channels', 3),
    mapping_kwargs: {
      num_layers: kw.get('mapping_layers', 8),
      embed_features: kw.get('label_fmaps', null),
      layer_features: kw.get('mapping_fmaps', null),
      activation: kw.get('mapping_nonlinearity', 'lrelu'),
      lr_multiplier: kw.get('mapping_lrmul', 0.01),
      w_avg_beta: kw.get('w_avg_beta', 0.995, 1),
    },
    synthesis_kwargs: synthesis,
  };
  for (const ignored of ['truncation_psi', 'truncation_cutoff', 'style_mixing_prob', 'structure']) kw.get(ignored);
  kw.checkUnknown();

  const res = intOf(kwargs.img_resolution!, `${where}: resolution`);
  const tf = collectTFParams(net, toState, where);
  // (legacy.py means to switch the architecture to 'orig' here, but its line
  // `kwargs.synthesis.kwargs.architecture = 'orig'` names a field that does not exist.)
  if (renameLodLayers(tf, 'ToRGB', res)) synthesis.architecture = 'orig';
  const arch = synthesis.architecture;
  const useNoise = synthesis.use_noise !== false;
  const filter = setupFilter(synthesis.resample_filter!, `${where}: resample_kernel`);
  const s = new StateBuilder(tf, where);

  const layer = (key: string, tfName: string, noise: string, flip: boolean): void => {
    s.put(`${key}.weight`, convWeight(s.take(`synthesis/${tfName}/weight`), tfName, flip));
    if (useNoise) s.put(`${key}.noise_strength`, s.take(`synthesis/${tfName}/noise_strength`));
    s.put(`${key}.bias`, s.take(`synthesis/${tfName}/bias`));
    s.put(`${key}.resample_filter`, filter);
    if (useNoise) s.put(`${key}.noise_const`, squeezeLeading(s.take(`synthesis/${noise}`), 2, noise));
    s.put(`${key}.affine.weight`, denseWeight(s.take(`synthesis/${tfName}/mod_weight`), tfName));
    s.put(`${key}.affine.bias`, plusOne(s.take(`synthesis/${tfName}/mod_bias`)));
  };
  for (let r = 4; r <= res; r *= 2) {
    const b = `synthesis.b${r}`;
    if (r === 4) s.put(`${b}.const`, squeezeLeading(s.take('synthesis/4x4/Const/const'), 1, 'Const'));
    s.put(`${b}.resample_filter`, filter);
    if (r === 4) {
      layer(`${b}.conv1`, '4x4/Conv', 'noise0', false);
    } else {
      layer(`${b}.conv0`, `${r}x${r}/Conv0_up`, `noise${2 * log2(r) - 5}`, true);
      layer(`${b}.conv1`, `${r}x${r}/Conv1`, `noise${2 * log2(r) - 4}`, false);
    }
    if (r === res || arch === 'skip') {
      const t = `synthesis/${r}x${r}/ToRGB`;
      s.put(`${b}.torgb.weight`, convWeight(s.take(`${t}/weight`), t));
      s.put(`${b}.torgb.bias`, s.take(`${t}/bias`));
      s.put(`${b}.torgb.affine.weight`, denseWeight(s.take(`${t}/mod_weight`), t));
      s.put(`${b}.torgb.affine.bias`, plusOne(s.take(`${t}/mod_bias`)));
    }
    if (r > 4 && arch === 'resnet') {
      s.put(`${b}.skip.weight`, convWeight(s.take(`synthesis/${r}x${r}/Skip/weight`), 'Skip', true));
      s.put(`${b}.skip.resample_filter`, filter);
    }
  }
  s.put('mapping.w_avg', s.take('dlatent_avg'));
  if (intOf(kwargs.c_dim!, `${where}: label_size`) > 0) {
    s.put('mapping.embed.weight', denseWeight(s.take('mapping/LabelEmbed/weight'), 'LabelEmbed'));
    s.put('mapping.embed.bias', s.take('mapping/LabelEmbed/bias'));
  }
  const mappingLayers = intOf((kwargs.mapping_kwargs as { num_layers: JsonValue }).num_layers, `${where}: mapping_layers`);
  for (let i = 0; i < mappingLayers; i++) {
    s.put(`mapping.fc${i}.weight`, denseWeight(s.take(`mapping/Dense${i}/weight`), `Dense${i}`));
    s.put(`mapping.fc${i}.bias`, s.take(`mapping/Dense${i}/bias`));
  }
  return { className: 'Generator', initArgs: [], initKwargs: kwargs, stateDict: s.out };
}

// ------------------------------------------------------------------------------------
// Discriminator (legacy.convert_tf_discriminator).
// ------------------------------------------------------------------------------------

export function convertTFDiscriminator(net: TFNetworkState, toState: (x: unknown, where: string) => TFNetworkState, toJson: (x: unknown, where: string) => JsonValue, where: string): PickledNetwork {
  if (!(net.version >= 4)) throw new Error(`${where}: TensorFlow pickle version ${net.version} is too low (StyleGAN2 networks are version 4 or later)`);
  const kw = new Kwargs(net.staticKwargs, `${where}.static_kwargs`, toJson);
  const channelBase = kw.get('fmap_base', 16384);
  const kwargs: { [k: string]: JsonValue } = {
    c_dim: kw.get('label_size', 0),
    img_resolution: kw.get('resolution', 1024),
    img_channels: kw.get('num_channels', 3),
    architecture: kw.get('architecture', 'resnet'),
    channel_base: typeof channelBase === 'number' ? channelBase * 2 : channelBase,
    channel_max: kw.get('fmap_max', 512),
    num_fp16_res: kw.get('num_fp16_res', 0),
    conv_clamp: kw.get('conv_clamp', null),
    cmap_dim: kw.get('mapping_fmaps', null),
    block_kwargs: {
      activation: kw.get('nonlinearity', 'lrelu'),
      resample_filter: kw.get('resample_kernel', [1, 3, 3, 1]),
      freeze_layers: kw.get('freeze_layers', 0),
    },
    mapping_kwargs: {
      num_layers: kw.get('mapping_layers', 0),
      embed_features: kw.get('mapping_fmaps', null),
      layer_features: kw.get('mapping_fmaps', null),
      activation: kw.get('nonlinearity', 'lrelu'),
      lr_multiplier: kw.get('mapping_lrmul', 0.1),
    },
    epilogue_kwargs: {
      mbstd_group_size: kw.get('mbstd_group_size', null),
      mbstd_num_channels: kw.get('mbstd_num_features', 1),
      activation: kw.get('nonlinearity', 'lrelu'),
    },
  };
  kw.get('structure');
  kw.checkUnknown();

  const res = intOf(kwargs.img_resolution!, `${where}: resolution`);
  const tf = collectTFParams(net, toState, where);
  if (renameLodLayers(tf, 'FromRGB', res)) kwargs.architecture = 'orig';
  const arch = kwargs.architecture;
  const block = kwargs.block_kwargs as { resample_filter: JsonValue; freeze_layers: JsonValue };
  const filter = setupFilter(block.resample_filter, `${where}: resample_kernel`);
  const freeze = intOf(block.freeze_layers, `${where}: freeze_layers`);
  const s = new StateBuilder(tf, where);

  // Conv2dLayer: weight and bias are parameters, or buffers after resample_filter when
  // the layer is frozen (Freeze-D: the first `freeze_layers` layers).
  let layerIdx = 0;
  const convLayer = (key: string, tfName: string, bias = true): void => {
    const trainable = layerIdx++ >= freeze;
    const w = convWeight(s.take(`${tfName}/weight`), tfName);
    const b = bias ? s.take(`${tfName}/bias`) : null;
    if (!trainable) s.put(`${key}.resample_filter`, filter);
    s.put(`${key}.weight`, w);
    if (b) s.put(`${key}.bias`, b);
    if (trainable) s.put(`${key}.resample_filter`, filter);
  };
  for (let r = res; r >= 8; r /= 2) {
    const b = `b${r}`;
    s.put(`${b}.resample_filter`, filter);
    if (r === res || arch === 'skip') convLayer(`${b}.fromrgb`, `${r}x${r}/FromRGB`);
    convLayer(`${b}.conv0`, `${r}x${r}/Conv0`);
    convLayer(`${b}.conv1`, `${r}x${r}/Conv1_down`);
    if (arch === 'resnet') convLayer(`${b}.skip`, `${r}x${r}/Skip`, false);
  }
  if (intOf(kwargs.c_dim!, `${where}: label_size`) > 0) {
    s.put('mapping.embed.weight', denseWeight(s.take('LabelEmbed/weight'), 'LabelEmbed'));
    s.put('mapping.embed.bias', s.take('LabelEmbed/bias'));
    const n = intOf((kwargs.mapping_kwargs as { num_layers: JsonValue }).num_layers, `${where}: mapping_layers`);
    for (let i = 0; i < n; i++) {
      s.put(`mapping.fc${i}.weight`, denseWeight(s.take(`Mapping${i}/weight`), `Mapping${i}`));
      s.put(`mapping.fc${i}.bias`, s.take(`Mapping${i}/bias`));
    }
  }
  // The epilogue's layers are never frozen: Freeze-D counts the blocks' layers only.
  layerIdx = Number.MAX_SAFE_INTEGER;
  if (arch === 'skip') convLayer('b4.fromrgb', '4x4/FromRGB');
  convLayer('b4.conv', '4x4/Conv');
  s.put('b4.fc.weight', denseWeight(s.take('4x4/Dense0/weight'), 'Dense0'));
  s.put('b4.fc.bias', s.take('4x4/Dense0/bias'));
  s.put('b4.out.weight', denseWeight(s.take('Output/weight'), 'Output'));
  s.put('b4.out.bias', s.take('Output/bias'));
  return { className: 'Discriminator', initArgs: [], initKwargs: kwargs, stateDict: s.out };
}
