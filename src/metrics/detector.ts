// A feature network called as NVIDIA's TorchScript detectors are (inception-2015-12-05.pt,
// vgg16.pt, or any network with their convention): uint8 NCHW RGB images of any size in,
// the network resizes them itself; `return_features=True` gives features [N, D], and
// without it class probabilities (for IS, asked with `no_output_bias=True` where the
// network takes it, as stylegan2-ada-pytorch does).
import { existsSync, statSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { INCEPTION, VGG16, networkFile, sha256File } from './network_file.js';
import type { MetricSpec } from './names.js';

export class Detector {
  readonly path: string;
  /** SHA-256 of the file: part of the key of cached dataset statistics. */
  readonly sha256: string;
  readonly #net: torch.ScriptModule;
  readonly #noOutputBias: boolean;

  private constructor(path: string, sha256: string, net: torch.ScriptModule) {
    this.path = path;
    this.sha256 = sha256;
    this.#net = net;
    const args = net.arguments('forward');
    if (!args.some((a) => a.name === 'return_features')) {
      net.dispose();
      throw new UsageError(`${path}: its forward takes no return_features argument, so it is not a feature network with NVIDIA's convention (forward(img: uint8 NCHW, return_features: bool = False))`);
    }
    this.#noOutputBias = args.some((a) => a.name === 'no_output_bias');
  }

  static async open(path: string, device = 'cpu'): Promise<Detector> {
    const sha = await sha256File(path);
    let net: torch.ScriptModule;
    try {
      net = torch.ScriptModule.load(path, device);
    } catch (e) {
      throw new UsageError(`${path} is not a TorchScript file this libtorch can load (${(e as Error).message})`);
    }
    return new Detector(path, sha, net);
  }

  /** Features [N, D] float32 of uint8 images [N, C, H, W] (greyscale repeated to RGB). */
  features(images: Tensor): Tensor {
    return torch.scope(() => this.#net.forward([rgb(images)], { return_features: true }).to('float32'));
  }

  /** Class probabilities [N, C] for the Inception Score. */
  probabilities(images: Tensor): Tensor {
    return torch.scope(() => this.#net.forward([rgb(images)], this.#noOutputBias ? { no_output_bias: true } : {}).to('float32'));
  }

  dispose(): void {
    this.#net.dispose();
  }
}

function rgb(images: Tensor): Tensor {
  if (images.dtype !== 'uint8' || images.ndim !== 4) throw new Error(`a feature network takes uint8 images [N, C, H, W], got ${images.dtype} [${images.shape.join(', ')}]`);
  return images.shape[1] === 1 ? images.repeat([1, 3, 1, 1]) : images;
}

/** Generator output in [-1, 1] → uint8, as stylegan2-ada-pytorch quantises it (x·127.5 + 128, clamped, truncated). */
export function toUint8(images: Tensor): Tensor {
  return torch.scope(() => images.mul(127.5).add(128).clamp(0, 255).to('uint8'));
}

/** The networks a list of metrics needs: Inception (or a stand-in) for FID/KID/IS, VGG16 for precision/recall. */
export interface Detectors {
  inception: Detector | null;
  vgg: Detector | null;
  dispose(): void;
}

/**
 * Opens them: `features` (any network with the convention) instead of Inception, else
 * `inception` or its default (environment, cache, download once); `vgg` likewise.
 */
export async function openDetectors(specs: readonly MetricSpec[], o: { inception: string | null; features: string | null; vgg: string | null; device?: string }): Promise<Detectors> {
  if (o.features && !(existsSync(o.features) && statSync(o.features).isFile())) throw new UsageError(`--features ${o.features}: no such file`);
  const needInception = specs.some((s) => s.kind !== 'pr');
  const needVgg = specs.some((s) => s.kind === 'pr');
  const inception = needInception ? await Detector.open(o.features ?? (await networkFile(INCEPTION, o.inception)), o.device) : null;
  try {
    const vgg = needVgg ? await Detector.open(await networkFile(VGG16, o.vgg), o.device) : null;
    return { inception, vgg, dispose: () => { inception?.dispose(); vgg?.dispose(); } };
  } catch (e) {
    inception?.dispose();
    throw e;
  }
}
