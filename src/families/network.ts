// An NVIDIA network pickle (stylegan2-ada-pytorch snapshot, or a TensorFlow StyleGAN2 /
// StyleGAN pickle, converted as legacy.py does) as a generator to draw images from: the
// pickle's G_ema built from its own constructor arguments and given its weights. Used
// by `sample --network` (and `train --resume_from` for the whole G, D, G_ema triple).
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { readNetworkPickleFile, type NetworkPickle, type PickledNetwork } from '../io/nvidia_pickle.js';
import { toTensors } from '../io/tensors.js';
import { generatorFromInitKwargs, type Generator } from '../models/stylegan2.js';
import { StyleGANGenerator } from '../models/stylegan.js';
import type * as nn from '../nn/index.js';
import { noiseBuffersOf, type StyleGenerator, type StyleNoise } from './style_generator.js';

/** generate.py's noise modes ('const': the stored maps; 'random': fresh; 'none': no noise). */
export type NetworkNoise = StyleNoise;

export interface NetworkGenerator {
  file: string;
  family: NetworkPickle['family'];
  source: NetworkPickle['source'];
  zDim: number;
  /** Number of classes (0: unconditional). */
  cDim: number;
  /**
   * z [N, zDim] (float32), c one-hot [N, cDim] or null → images [N, C, R, R] in about
   * [-1, 1]. `cutoff` null: the network's own default (StyleGAN2: every layer; StyleGAN:
   * the original's 8).
   */
  render(z: torch.Tensor, c: torch.Tensor | null, psi: number, cutoff: number | null, noise: NetworkNoise): torch.Tensor;
  /** The same G_ema through w (frozen; synthesis differentiable), for projection and the w-space figures. */
  style: StyleGenerator;
  dispose(): void;
}

/** The pickle read, with user-facing errors naming the file. */
export function readNetworkFile(path: string): NetworkPickle {
  try {
    return readNetworkPickleFile(path);
  } catch (e) {
    const msg = (e as Error).message;
    throw new UsageError(msg.includes(path) ? msg : `--network ${path}: ${msg}`);
  }
}

/** Loads `net`'s weights into `module` (strict: every key, no other), in eval mode, on `device`. */
export function loadPickledWeights<M extends nn.Module>(module: M, net: PickledNetwork, where: string, device: torch.Device): M {
  try {
    torch.scope(() => module.loadStateDict(toTensors(net.stateDict)));
  } catch (e) {
    module.dispose();
    throw new UsageError(`${where}: its weights do not fit the network its init kwargs describe: ${(e as Error).message}`);
  }
  return device === 'cpu' ? module : module.to(device);
}

/** Builds a network from the pickle's init kwargs; an unsupported argument is a user error. */
export function buildFromKwargs<T>(make: () => T, where: string): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${where}: ${(e as Error).message}`);
  }
}

const camelKwargs = (kw: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(kw).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, ch: string) => ch.toUpperCase()), v]));

function styleGAN2Generator(file: string, p: NetworkPickle, net: PickledNetwork, device: torch.Device): NetworkGenerator {
  const where = `${file} (G_ema)`;
  const G: Generator = loadPickledWeights(buildFromKwargs(() => generatorFromInitKwargs(net.initKwargs), where), net, where, device);
  G.eval().requiresGrad_(false);
  const { zDim, cDim } = G.cfg;
  return {
    file, family: p.family, source: p.source, zDim, cDim,
    render: (z, c, psi, cutoff, noise) => torch.noGrad(() => G.forward(z, c, { truncationPsi: psi, truncationCutoff: cutoff, noiseMode: noise })),
    style: {
      zDim, cDim, numWs: G.numWs, wDim: G.cfg.wDim, device,
      mapping: (z, cls, psi, cutoff) => torch.scope(() =>
        G.mapping.forward(z, cls === null ? null : oneHot(cls, z.size(0), cDim, z.device), { truncationPsi: psi, truncationCutoff: cutoff })),
      synthesis: (ws, noise) => G.synthesis.forward(ws, { noiseMode: noise }),
      noiseMaps: () => noiseBuffersOf(G),
    },
    dispose: () => G.dispose(),
  };
}

function styleGANGenerator(file: string, p: NetworkPickle, net: PickledNetwork, device: torch.Device): NetworkGenerator {
  const where = `${file} (G_ema)`;
  // tf_stylegan1.ts keeps the original's G_style argument names; our model takes them camelCased.
  const G = loadPickledWeights(buildFromKwargs(() => new StyleGANGenerator(camelKwargs(net.initKwargs) as never), where), net, where, device);
  G.eval().requiresGrad_(false);
  const { latentSize: zDim, labelSize: cDim } = G.cfg;
  const noNone = (noise: NetworkNoise): void => {
    if (noise === 'none') throw new UsageError(`--noise none: ${file} is a StyleGAN (v1) network, whose noise inputs cannot be switched off (use const or random)`);
  };
  const truncation = (psi: number, cutoff: number | null) => ({ truncationPsi: psi === 1 ? null : psi, ...(cutoff !== null ? { truncationCutoff: cutoff } : {}) });
  return {
    file, family: p.family, source: p.source, zDim, cDim,
    render: (z, c, psi, cutoff, noise) => {
      noNone(noise);
      return torch.noGrad(() => G.forward(z, c, { ...truncation(psi, cutoff), randomizeNoise: noise === 'random' }));
    },
    style: {
      zDim, cDim, numWs: G.numLayers, wDim: G.cfg.dlatentSize, device,
      mapping: (z, cls, psi, cutoff) => torch.scope(() =>
        G.dlatents(z, cls === null ? null : oneHot(cls, z.size(0), cDim, z.device), truncation(psi, cutoff))),
      synthesis: (ws, noise) => {
        noNone(noise);
        return G.synthesis.forward(ws, { randomizeNoise: noise === 'random' });
      },
      noiseMaps: () => noiseBuffersOf(G),
    },
    dispose: () => G.dispose(),
  };
}

/** The G_ema of a network pickle, ready to draw images on `device`. */
export function loadNetworkGenerator(file: string, device: torch.Device = 'cpu'): NetworkGenerator {
  const p = readNetworkFile(file);
  const net = p.G_ema ?? p.G;
  if (!net) throw new UsageError(`--network ${file} holds no generator (neither G_ema nor G)`);
  return p.family === 'stylegan' ? styleGANGenerator(file, p, net, device) : styleGAN2Generator(file, p, net, device);
}

/** generate.py's label: a one-hot row per image for class `cls` of `cDim`. */
export function oneHot(cls: number, n: number, cDim: number, device: torch.Device = 'cpu'): torch.Tensor {
  return torch.scope(() => torch.F.oneHot(torch.full([n], cls, { dtype: 'int64', device }), cDim).to('float32'));
}
