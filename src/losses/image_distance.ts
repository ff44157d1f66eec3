// The distance projection minimises between a synthesised image and its target, as
// features whose squared L2 distance is the distance (projector.py's
// `(target_features - synth_features).square().sum()`):
//   - LPIPS through NVIDIA's TorchScript vgg16.pt, called as projector.py calls it
//     (float images in [0, 255], resize_images=False, return_lpips=True; images larger
//     than 256 px are first area-downsampled to 256, as VGG was built for 224 px);
//   - without that file, a pixel + multi-scale L2 distance: the mean squared error of the
//     image in [0, 1] and of each 2× average-pooled level of its pyramid, averaged over
//     the levels. The coarse levels weigh colour and layout as much as the fine ones weigh
//     edges, which keeps the early steps from chasing detail; no perceptual weighting, so
//     projections are blurrier than with LPIPS.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';

export interface ImageDistance {
  /** One line for the user: what is measured. */
  readonly description: string;
  /**
   * Features of images [N, C, H, W] with values in [0, 255] (float, differentiable):
   * the distance of two images is the sum of the squared differences of their features.
   */
  features(images: Tensor): Tensor;
  dispose(): void;
}

/** The distance of two feature tensors from `features` (a 0-d tensor). */
export function featureDistance(a: Tensor, b: Tensor): Tensor {
  return torch.scope(() => a.sub(b).square().sum());
}

/** Greyscale images repeated to RGB: the networks take three channels. */
function rgb(images: Tensor): Tensor {
  return images.size(1) === 1 ? images.repeat([1, 3, 1, 1]) : images;
}

/** LPIPS (Zhang et al. 2018) from NVIDIA's TorchScript VGG16, as projector.py measures it. */
export class LpipsDistance implements ImageDistance {
  readonly description: string;
  readonly #net: torch.ScriptModule;

  private constructor(readonly path: string, net: torch.ScriptModule) {
    this.#net = net;
    this.description = `LPIPS with ${path}`;
  }

  static open(path: string, device: torch.Device = 'cpu'): LpipsDistance {
    let net: torch.ScriptModule;
    try {
      net = torch.ScriptModule.load(path, device);
    } catch (e) {
      throw new UsageError(`--vgg ${path} is not a TorchScript file this libtorch can load (${(e as Error).message.split('\n')[0]})`);
    }
    const names = net.arguments('forward').map((a) => a.name);
    if (!names.includes('return_lpips') || !names.includes('resize_images')) {
      net.dispose();
      throw new UsageError(`--vgg ${path}: its forward takes no return_lpips/resize_images arguments, so it is not NVIDIA's vgg16.pt (forward(img, resize_images, return_lpips))`);
    }
    return new LpipsDistance(path, net);
  }

  features(images: Tensor): Tensor {
    return torch.scope(() => {
      let x = rgb(images);
      const [h, w] = [x.size(2), x.size(3)];
      if (Math.max(h, w) > 256) {
        const s = 256 / Math.max(h, w);
        x = torch.F.interpolate(x, { size: [Math.max(1, Math.round(h * s)), Math.max(1, Math.round(w * s))], mode: 'area' });
      }
      return this.#net.forward([x], { resize_images: false, return_lpips: true }, { grad: true });
    });
  }

  dispose(): void {
    this.#net.dispose();
  }
}

/** Pixel + multi-scale L2: every level of the 2× average-pooling pyramid down to 4 px. */
export class PyramidDistance implements ImageDistance {
  readonly description = 'pixel + multi-scale L2 (mean squared error of the image and its 2× downsampled pyramid, in [0, 1])';

  /** The pyramid's levels for an image of h × w: halving while the smaller side stays ≥ 4. */
  static levels(h: number, w: number): number {
    let n = 1;
    while (Math.min(h, w) >= 8) {
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      n++;
    }
    return n;
  }

  features(images: Tensor): Tensor {
    return torch.scope(() => {
      let x = images.div(255);
      const levels = PyramidDistance.levels(x.size(2), x.size(3));
      const parts: Tensor[] = [];
      for (let k = 0; k < levels; k++) {
        if (k > 0) x = torch.F.avgPool2d(x, 2);
        // Scaled so that the sum of squares over all features is the mean over the levels of each level's MSE.
        parts.push(x.flatten(1).mul(1 / Math.sqrt(x.size(1) * x.size(2) * x.size(3) * levels)));
      }
      return torch.cat(parts, 1);
    });
  }

  dispose(): void {}
}
