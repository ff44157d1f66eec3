/**
 * TensorFlow StyleGAN (v1) networks (NVlabs/stylegan: G_style with its mapping and
 * synthesis components, D_basic) as state dicts of our StyleGAN model
 * (src/models/stylegan*.ts), whose keys follow the original's scopes:
 *   'mapping/Dense0/weight' → 'mapping.Dense0.weight' (dense weights transposed to
 *   [out, in]; LabelConcat's [labels, latent] kept as an embedding table),
 *   'synthesis/8x8/Conv0_up/weight' → 'synthesis.8x8.Conv0_up.conv.weight' ([kh, kw, in,
 *   out] → [out, in, kh, kw]; a layer's convolution sits one level down),
 *   'synthesis/noise3' → 'synthesis.noise3', 'dlatent_avg' → 'dlatent_avg'.
 * The 'lod' variables (the progressive-growing level TF kept as a variable) are dropped:
 * our networks take the level as an argument. Hyper-parameters are the networks'
 * static_kwargs under their TF names, which our StyleGAN options spell in camelCase.
 */

import type { RawTensor } from './raw.js';
import type { JsonValue, PickledNetwork } from './nvidia_pickle.js';
import { collectTFParams, convWeight, denseWeight, type TFNetworkState } from './tf_stylegan2.js';

const LAYER_CONVS = new Set(['Conv', 'Conv0_up', 'Conv1']);

export function convertTFStyleGAN1(net: TFNetworkState, toState: (x: unknown, where: string) => TFNetworkState, toJson: (x: unknown, where: string) => JsonValue, where: string): PickledNetwork {
  const kwargs = toJson(net.staticKwargs, `${where}.static_kwargs`) as { [k: string]: JsonValue };
  const stateDict: Record<string, RawTensor> = {};
  for (const [name, t] of collectTFParams(net, toState, where)) {
    const parts = name.split('/');
    if (parts[parts.length - 1] === 'lod') continue;
    let v = t;
    if (parts[parts.length - 1] === 'weight' && t.shape.length === 4) v = convWeight(t, name);
    else if (parts[parts.length - 1] === 'weight' && t.shape.length === 2 && !parts.includes('LabelConcat')) v = denseWeight(t, name);
    if (parts[0] === 'synthesis' && parts.length === 4 && parts[3] === 'weight' && LAYER_CONVS.has(parts[2]!)) parts.splice(3, 0, 'conv');
    Object.defineProperty(stateDict, parts.join('.'), { value: v, enumerable: true, writable: true, configurable: true });
  }
  const func = net.buildFuncName.split('.').pop() ?? '';
  return { className: func, initArgs: [], initKwargs: kwargs, stateDict };
}
