// DiffAugment (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable Augmentation for
// Data-Efficient GAN Training"; mit-han-lab/data-efficient-gans DiffAugment_pytorch.py):
// the same random transforms applied to every image D sees, real or generated, built
// from differentiable ops so that G's gradient flows back through them. Three transforms
// make a policy, applied in the order the policy names them:
//   color        brightness + U(−½, ½), saturation × U(0, 2) about the pixel's mean
//                colour, contrast × U(½, 3⁄2) about the image's mean (one draw each per image)
//   translation  an integer shift of up to ⅛ of each side per image, zeros moving in
//   cutout       a square of ½ the sides set to zero, centred anywhere per image
// The draws come from the global generator in the reference's order and with its
// dtypes, so a seed gives the reference's augmentation, and a checkpoint's RNG state
// resumes it exactly. Every transform is linear (affine for brightness) in the image:
// R1 through it needs nothing beyond what its ops already differentiate twice.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';

export const DIFFAUGMENT_TRANSFORMS = ['color', 'translation', 'cutout'] as const;
export type DiffAugmentTransform = (typeof DIFFAUGMENT_TRANSFORMS)[number];
/** The reference's (and train.py's) default policy. */
export const DEFAULT_POLICY = 'color,translation,cutout';
/** The largest shift, as a fraction of each side (the reference's rand_translation ratio). */
export const TRANSLATION_RATIO = 1 / 8;
/** The cut-out square's side, as a fraction of each side (rand_cutout's ratio). */
export const CUTOUT_RATIO = 1 / 2;

/** What is wrong with a policy string, or null: names from DIFFAUGMENT_TRANSFORMS, comma-separated, each once. */
export function policyProblem(text: string): string | null {
  const names = text.split(',').map((s) => s.trim());
  const known = DIFFAUGMENT_TRANSFORMS.join(', ');
  if (names.every((n) => n === '')) return `names no transform: give a comma-separated list of ${known}`;
  for (const [i, n] of names.entries()) {
    if (n === '') return `has an empty entry in '${text}': give a comma-separated list of ${known}`;
    if (!(DIFFAUGMENT_TRANSFORMS as readonly string[]).includes(n)) return `has an unknown transform '${n}': choose from ${known}`;
    if (names.indexOf(n) !== i) return `names '${n}' twice`;
  }
  return null;
}

/** A policy string as the transforms it names, in its order; a UsageError for anything else. */
export function parsePolicy(text: string): DiffAugmentTransform[] {
  const problem = policyProblem(text);
  if (problem !== null) throw new UsageError(`DiffAugment policy '${text}' ${problem}`);
  return text.split(',').map((s) => s.trim() as DiffAugmentTransform);
}

function perImage(x: Tensor): number[] {
  return [x.size(0), 1, 1, 1];
}

// ---- the transforms, with their parameters given ----

/** x + b, b per image ([N] or [N, 1, 1, 1]). */
export function brightness(x: Tensor, b: Tensor): Tensor {
  return torch.scope(() => x.add(b.reshape(perImage(x))));
}

/** (x − mean over channels)·s + that mean, s per image: 0 greys the image, 1 keeps it. */
export function saturation(x: Tensor, s: Tensor): Tensor {
  return torch.scope(() => {
    const mean = x.mean(1, true);
    return x.sub(mean).mul(s.reshape(perImage(x))).add(mean);
  });
}

/** (x − the image's mean)·c + that mean, c per image. */
export function contrast(x: Tensor, c: Tensor): Tensor {
  return torch.scope(() => {
    const mean = x.mean([1, 2, 3], true);
    return x.sub(mean).mul(c.reshape(perImage(x))).add(mean);
  });
}

/**
 * out[n, :, i, j] = x[n, :, i + dy[n], j + dx[n]], zero where that falls outside the
 * image (int64 shifts per image: dy along the height, dx along the width). One gather
 * from the image padded by a zero border, every index outside clamped onto the border,
 * as the reference does; the gather's backward (a scatter-add) carries the gradient back.
 */
export function translate(x: Tensor, dy: Tensor, dx: Tensor): Tensor {
  return torch.scope(() => {
    const [n, c, h, w] = x.shape;
    const dev = { device: x.device };
    const rows = torch.arange(h, undefined, 1, dev).reshape([1, h, 1]).add(dy.reshape([n, 1, 1])).add(1).clamp(0, h + 1);
    const cols = torch.arange(w, undefined, 1, dev).reshape([1, 1, w]).add(dx.reshape([n, 1, 1])).add(1).clamp(0, w + 1);
    const index = rows.mul(w + 2).add(cols).reshape([n, 1, h * w]).expand([n, c, h * w]);
    const padded = torch.F.pad(x, [1, 1, 1, 1]).reshape([n, c, (h + 2) * (w + 2)]);
    return padded.gather(2, index).reshape([n, c, h, w]);
  });
}

/** The cut-out square's size for an image of h × w: round(side · ratio), halves up as the reference's int(v + 0.5). */
export function cutoutSize(h: number, w: number, ratio = CUTOUT_RATIO): [number, number] {
  return [Math.trunc(h * ratio + 0.5), Math.trunc(w * ratio + 0.5)];
}

/**
 * x with rows [cy − ⌊sh/2⌋, cy − ⌊sh/2⌋ + sh) × columns [cx − ⌊sw/2⌋, …+ sw) set to zero
 * (the part inside the image), centres per image (int64). The reference writes zeros at
 * clamped indices; as its centres keep the square overlapping the image, that is the
 * same as clipping the square.
 */
export function cutout(x: Tensor, cy: Tensor, cx: Tensor, size: readonly [number, number]): Tensor {
  return torch.scope(() => {
    const [n, , h, w] = x.shape;
    const dev = { device: x.device };
    const inside = (len: number, centre: Tensor, side: number, shape: number[]): Tensor => {
      const start = centre.reshape([n, 1]).sub(Math.floor(side / 2));
      const at = torch.arange(len, undefined, 1, dev).reshape([1, len]);
      return at.ge(start).logicalAnd(at.lt(start.add(side))).reshape(shape);
    };
    const cut = inside(h, cy, size[0], [n, 1, h, 1]).logicalAnd(inside(w, cx, size[1], [n, 1, 1, w]));
    // A multiplication, as the reference's x · mask: a NaN or ∞ pixel stays visible to D.
    return x.mul(cut.logicalNot().to(x.dtype));
  });
}

// ---- the random transforms, drawing as the reference ----

const draw = (x: Tensor): Tensor => torch.rand(perImage(x), { dtype: x.dtype, device: x.device });

/** rand_brightness: b ~ U(−½, ½). */
export function randBrightness(x: Tensor): Tensor {
  return torch.scope(() => brightness(x, draw(x).sub(0.5)));
}

/** rand_saturation: s ~ U(0, 2). */
export function randSaturation(x: Tensor): Tensor {
  return torch.scope(() => saturation(x, draw(x).mul(2)));
}

/** rand_contrast: c ~ U(½, 3⁄2). */
export function randContrast(x: Tensor): Tensor {
  return torch.scope(() => contrast(x, draw(x).add(0.5)));
}

/** rand_translation: shifts uniform in [−s, s] with s = round(side · ratio), the height's drawn first. */
export function randTranslation(x: Tensor, ratio = TRANSLATION_RATIO): Tensor {
  return torch.scope(() => {
    const [n, , h, w] = x.shape;
    const sh = Math.trunc(h * ratio + 0.5), sw = Math.trunc(w * ratio + 0.5);
    const dy = torch.randint(-sh, sh + 1, [n, 1, 1], { device: x.device });
    const dx = torch.randint(-sw, sw + 1, [n, 1, 1], { device: x.device });
    return translate(x, dy, dx);
  });
}

/**
 * rand_cutout: centres uniform in [0, side) for an odd square and [0, side] for an even
 * one (so that an even square's two halves reach both edges alike), the height's first.
 */
export function randCutout(x: Tensor, ratio = CUTOUT_RATIO): Tensor {
  return torch.scope(() => {
    const [n, , h, w] = x.shape;
    const size = cutoutSize(h, w, ratio);
    const cy = torch.randint(0, h + (1 - (size[0] % 2)), [n, 1, 1], { device: x.device });
    const cx = torch.randint(0, w + (1 - (size[1] % 2)), [n, 1, 1], { device: x.device });
    return cutout(x, cy, cx, size);
  });
}

const TRANSFORMS: Record<DiffAugmentTransform, readonly ((x: Tensor) => Tensor)[]> = {
  color: [randBrightness, randSaturation, randContrast],
  translation: [randTranslation],
  cutout: [randCutout],
};

/** The policy's transforms applied to a batch of NCHW images, each with its own draws. */
export function diffAugment(x: Tensor, policy: readonly DiffAugmentTransform[]): Tensor {
  if (x.ndim !== 4) throw new Error(`diffAugment(): expected NCHW images, got shape [${x.shape.join(', ')}]`);
  return torch.scope(() => {
    let y = x;
    for (const name of policy) for (const f of TRANSFORMS[name]) y = f(y);
    return y;
  });
}
