// Projection of an image into W (Karras et al. 2020, StyleGAN2 §5 and appendix D; the
// steps of stylegan2-ada-pytorch's projector.py): one w, broadcast to every layer, starts
// at the average of 10k mapped latents and is optimised with Adam (β 0.9, 0.999), together
// with the stored noise maps, to bring the synthesised image close to the target.
//   - the learning rate ramps up over the first 5 % of the steps and down along a cosine
//     over the last 25 %;
//   - w gets Gaussian noise of w_std · 0.05 · (1 − t/0.75)², gone after 75 % of the steps,
//     which keeps the early steps exploring;
//   - the noise maps are drawn fresh, renormalised to zero mean and unit variance after
//     every step, and regularised (weight 1e5) towards no autocorrelation, at their own
//     size and down an average-pooled pyramid to 8 px, so they cannot carry the image;
//   - the distance is whatever `ImageDistance` measures (LPIPS in the reference).
// What differs: z for the w statistics comes from numpy's RandomState(123) as in the
// reference, but the noise maps and w's noise from ganforge's torch generator seeded with
// `seed` (the reference's torch.manual_seed(seed) draws with PyTorch's), so results match
// the reference in distribution, not bit for bit. The optimised noise maps are returned
// (the reference optimises a copy and forgets them).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { NumpyRandomState } from '../util/numpy_random.js';
import { featureDistance, type ImageDistance } from '../losses/image_distance.js';
import type { StyleGenerator } from './style_generator.js';

export interface ProjectorOptions {
  numSteps: number;
  /** Latents mapped to estimate w's average and spread. */
  wAvgSamples: number;
  initialLearningRate: number;
  /** w's noise at the start, in units of w_std. */
  initialNoiseFactor: number;
  /** Fractions of the steps: the cosine ramp-down at the end, the linear ramp-up at the start, the fade of w's noise. */
  lrRampdownLength: number;
  lrRampupLength: number;
  noiseRampLength: number;
  regularizeNoiseWeight: number;
  /** Seeds the noise maps' start and w's noise. */
  seed: number;
}

/** projector.py's defaults (its project() arguments and its --seed). */
export const PROJECTOR_DEFAULTS: Readonly<ProjectorOptions> = Object.freeze({
  numSteps: 1000, wAvgSamples: 10000, initialLearningRate: 0.1, initialNoiseFactor: 0.05,
  lrRampdownLength: 0.25, lrRampupLength: 0.05, noiseRampLength: 0.75, regularizeNoiseWeight: 1e5, seed: 303,
});

export interface ProjectionStep {
  step: number;
  numSteps: number;
  dist: number;
  loss: number;
}

export interface Projection {
  /** The projected w, broadcast: [1, numWs, wDim]. */
  w: Tensor;
  /** w after each step in `keepSteps` (0-based), broadcast [1, numWs, wDim]. */
  kept: Map<number, Tensor>;
  /** Distance and loss (distance + weighted noise regulariser) at each step, before its update. */
  dist: number[];
  loss: number[];
}

/** The learning rate at fraction t of the steps. */
export function learningRate(t: number, o: Pick<ProjectorOptions, 'initialLearningRate' | 'lrRampdownLength' | 'lrRampupLength'>): number {
  let ramp = Math.min(1, (1 - t) / o.lrRampdownLength);
  ramp = 0.5 - 0.5 * Math.cos(ramp * Math.PI);
  ramp *= Math.min(1, t / o.lrRampupLength);
  return o.initialLearningRate * ramp;
}

/** The standard deviation of w's noise at fraction t of the steps. */
export function wNoiseScale(t: number, wStd: number, o: Pick<ProjectorOptions, 'initialNoiseFactor' | 'noiseRampLength'>): number {
  return wStd * o.initialNoiseFactor * Math.max(0, 1 - t / o.noiseRampLength) ** 2;
}

/**
 * w's average [1, 1, wDim] over `samples` latents from numpy's RandomState(123) (as
 * projector.py), mapped without truncation, and its spread: the root mean squared
 * distance of the samples from the average (summed over w's dimensions).
 */
export function wStats(G: StyleGenerator, samples: number, cls: number | null): { wAvg: Tensor; wStd: number } {
  return torch.scope(() => torch.noGrad(() => {
    const rs = new NumpyRandomState(123);
    const chunk = 1000;
    const ws: Tensor[] = [];
    for (let i = 0; i < samples; i += chunk) {
      const n = Math.min(chunk, samples - i);
      const z = torch.fromTypedArray(Float32Array.from(rs.randn(n * G.zDim)), [n, G.zDim]);
      ws.push(torch.scope(() => G.mapping(G.device === 'cpu' ? z : z.to(G.device), cls, 1, null).select(1, 0).to('float32')));
    }
    const w = torch.cat(ws);
    const wAvg = w.mean(0).reshape([1, 1, G.wDim]).clone();
    const wStd = Math.sqrt(w.sub(wAvg.reshape([1, G.wDim])).square().sum().item() / samples);
    return { wAvg, wStd };
  }));
}

/**
 * The noise regulariser: for each map and each level of its 2× average-pooled pyramid
 * (down to 8 px), the squared mean of its product with itself shifted by one pixel,
 * horizontally and vertically (wrapping around).
 */
export function noiseRegularization(maps: readonly Tensor[]): Tensor {
  return torch.scope(() => {
    let reg: Tensor | null = null;
    const add = (t: Tensor) => (reg = reg ? reg.add(t) : t);
    for (const m of maps) {
      let x = m.reshape([1, 1, m.size(-2), m.size(-1)]);
      for (;;) {
        add(x.mul(x.roll(1, 3)).mean().square());
        add(x.mul(x.roll(1, 2)).mean().square());
        // The reference stops on the height; a non-square map stops on its smaller side.
        if (Math.min(x.size(2), x.size(3)) <= 8) break;
        x = torch.F.avgPool2d(x, 2);
      }
    }
    return reg ?? torch.zeros([]);
  });
}

/** Zero mean and unit variance, in place. */
function normalizeNoise(maps: readonly Tensor[]): void {
  torch.noGrad(() => torch.scope(() => {
    for (const m of maps) {
      m.add_(m.mean().neg());
      m.mul_(m.square().mean().rsqrt());
    }
  }));
}

/**
 * Projects `target` [1, C, H, W] (values in [0, 255], the generator's image size) into
 * G's W. G's stored noise maps are overwritten with the optimised ones (G draws with them
 * when asked for 'const' noise). The returned tensors belong to the caller's scope.
 */
export function project(
  G: StyleGenerator, target: Tensor, distance: ImageDistance,
  opts: Partial<ProjectorOptions> & { cls?: number | null; keepSteps?: ReadonlySet<number>; onStep?: (s: ProjectionStep) => void } = {},
): Projection {
  const o: ProjectorOptions = { ...PROJECTOR_DEFAULTS, ...opts };
  const { wAvg: wOpt, wStd } = wStats(G, o.wAvgSamples, opts.cls ?? null);
  const maps = G.noiseMaps().map(([, t]) => t);
  const targetFeatures = torch.noGrad(() => torch.scope(() => distance.features(target.to({ dtype: 'float32', device: G.device }))));
  const broadcast = () => torch.scope(() => torch.noGrad(() => wOpt.detach().repeat([1, G.numWs, 1])));
  const kept = new Map<number, Tensor>();
  const dist: number[] = [], loss: number[] = [];
  wOpt.requiresGrad_(true);
  const optimizer = new torch.optim.Adam([wOpt, ...maps], { lr: o.initialLearningRate, betas: [0.9, 0.999] });
  try {
    torch.withSeed(o.seed, () => {
      torch.noGrad(() => torch.scope(() => {
        for (const m of maps) m.copy_(torch.randnLike(m));
      }));
      for (const m of maps) m.requiresGrad = true;
      for (let step = 0; step < o.numSteps; step++) {
        const t = step / o.numSteps;
        optimizer.lr = learningRate(t, o);
        const noiseScale = wNoiseScale(t, wStd, o);
        torch.scope(() => {
          const ws = wOpt.add(torch.randnLike(wOpt).mul(noiseScale)).repeat([1, G.numWs, 1]);
          const synth = G.synthesis(ws, 'const').add(1).mul(255 / 2);
          const d = featureDistance(targetFeatures, distance.features(synth));
          const l = d.add(noiseRegularization(maps).mul(o.regularizeNoiseWeight));
          optimizer.zeroGrad();
          l.backward();
          optimizer.step();
          dist.push(d.item());
          loss.push(l.item());
        });
        if (opts.keepSteps?.has(step)) kept.set(step, broadcast());
        normalizeNoise(maps);
        opts.onStep?.({ step, numSteps: o.numSteps, dist: dist[step]!, loss: loss[step]! });
      }
    });
  } finally {
    optimizer.zeroGrad();
    for (const m of maps) m.requiresGrad = false;
    optimizer.dispose();
    targetFeatures.dispose();
  }
  const w = broadcast();
  wOpt.dispose();
  return { w, kept, dist, loss };
}
