// A style-based generator seen through w — StyleGAN2 or StyleGAN, from a run folder or an
// NVIDIA network pickle — with what projection, `sample --w` and the w-space figures
// (interpolate, mix) need: z → w, w → image, and the stored noise maps ('const' noise)
// under their state-dict names, so a projection's optimised maps can be saved beside its
// w and put back later.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import type { Module } from '../nn/index.js';
import type { Recipe } from '../train/recipe.js';

/** generate.py's noise modes: the stored maps ('const'), fresh per image ('random'), or none. */
export type StyleNoise = 'const' | 'random' | 'none';

export interface StyleGenerator {
  readonly zDim: number;
  /** Number of classes (0: unconditional). */
  readonly cDim: number;
  /** Copies of w the synthesis reads (one per layer). */
  readonly numWs: number;
  readonly wDim: number;
  /**
   * z [N, zDim] → w [N, numWs, wDim] for class `cls` (null when unconditional), truncated
   * towards the tracked average with ψ `psi` (1: none) on the first `cutoff` layers (null:
   * the model's default, every layer for StyleGAN2, the original's 8 for StyleGAN).
   */
  mapping(z: Tensor, cls: number | null, psi: number, cutoff: number | null): Tensor;
  /** w [N, numWs, wDim] → images [N, C, H, W] in about [-1, 1]; differentiable. */
  synthesis(ws: Tensor, noise: StyleNoise): Tensor;
  /** The stored noise maps 'const' draws with, by state-dict name: the buffers themselves. */
  noiseMaps(): [string, Tensor][];
  /** Where a new tensor for this generator goes. */
  readonly device: torch.Device;
}

/** Noise buffers by name: StyleGAN2's `…convN.noise_const`, StyleGAN's `synthesis.noiseN`. */
export function isNoiseMap(name: string): boolean {
  return /(^|\.)noise_const$/.test(name) || /(^|\.)noise\d+$/.test(name);
}

/** The named noise buffers of a generator module. */
export function noiseBuffersOf(G: Module): [string, Tensor][] {
  return G.namedBuffers().filter(([k]) => isNoiseMap(k));
}

/** The shape [C, H, W] of the generator's images (one synthesis of the average-ish w of z = 0). */
export function imageShapeOf(G: StyleGenerator): [number, number, number] {
  return torch.scope(() => torch.noGrad(() => {
    const ws = G.mapping(torch.zeros([1, G.zDim], { device: G.device }), G.cDim > 0 ? 0 : null, 1, null);
    const s = G.synthesis(ws, 'const').shape;
    return [s[1], s[2], s[3]] as [number, number, number];
  }));
}

/**
 * A trained run's style-based generator (its G_ema, frozen), or null for a family without
 * w. `numClasses` is the run's class count (0 when unconditional).
 */
export function runStyleGenerator(recipe: Recipe, numClasses: number): StyleGenerator | null {
  const style = recipe.style;
  const G = recipe.networks().G_ema;
  if (!style || !G) return null;
  G.requiresGrad_(false);
  const { zDim, device } = torch.scope(() => torch.withSeed(0, () => {
    const z = recipe.sampleInputs(1, null).z;
    if (!z) throw new Error('internal: a style-based recipe draws no latents');
    return { zDim: z.size(1), device: z.device };
  }));
  const L = style.numLayers;
  return {
    zDim, cDim: numClasses, numWs: L, wDim: style.dlatentSize, device,
    mapping: (z, cls, psi, cutoff) => torch.scope(() => {
      const labels = cls === null ? null : torch.full([z.size(0)], cls, { dtype: 'int64', device: z.device });
      return psi === 1 ? style.dlatents(z, labels, null, null) : style.dlatents(z, labels, psi, Math.min(cutoff ?? L, L));
    }),
    synthesis: (ws, noise) => {
      if (noise !== 'none') return style.synthesize(ws, noise === 'random');
      if (!style.synthesizeNoiseless) throw new UsageError("--noise none: this model's noise inputs cannot be switched off (use const or random)");
      return style.synthesizeNoiseless(ws);
    },
    noiseMaps: () => noiseBuffersOf(G),
  };
}
