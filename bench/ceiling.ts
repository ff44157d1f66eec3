// The machine's convolution ceiling, measured in the benchmark's own process (same
// threads, same allocator, same moment's load): 3×3 stride-1 convolutions at sizes the
// GAN families train at, forward plus both gradients (input and weight), as a training
// step runs them, in fp32 NCHW, fp32 channels-last and bf16 channels-last. A case's
// achieved GFLOP/s is then read as a fraction of what the hardware and oneDNN reach on
// their best layer. In fp32 NCHW on AVX-512 CPUs these run by Winograd's algorithm
// (native/conv_winograd.cc), counted as the direct convolution's FLOPs, as the cases are.
import * as torch from '../src/torch/index.js';

export type ConvFormat = 'fp32 NCHW' | 'fp32 channels-last' | 'bf16 channels-last';
export const CONV_FORMATS: readonly ConvFormat[] = ['fp32 NCHW', 'fp32 channels-last', 'bf16 channels-last'];

/** Batch, channels (in = out) and side: PGGAN/StyleGAN's 512 ch at 8², 256 ch at 32², 128 at 64², CycleGAN's 64 ch at 128². */
export const CEILING_SIZES = [
  { n: 16, c: 512, hw: 8 },
  { n: 4, c: 256, hw: 32 },
  { n: 4, c: 128, hw: 64 },
  { n: 2, c: 64, hw: 128 },
] as const;

export interface CeilingResult {
  format: ConvFormat;
  /** GFLOP/s per size (CEILING_SIZES order); null where the format cannot run here (reason in `error`). */
  gflops: (number | null)[];
  best: number | null;
  error?: string;
}

/** FLOPs of one forward + input gradient + weight gradient of a 3×3 stride-1 'same' convolution (2 per multiply-add). */
export function convStepFlops(s: { n: number; c: number; hw: number }): number {
  return 3 * 2 * s.n * s.c * s.hw * s.hw * s.c * 9;
}

/** Best seconds of `iters` timed forward+backward passes after one warm-up. */
function timeConv(s: { n: number; c: number; hw: number }, format: ConvFormat, iters: number): number {
  return torch.scope(() => {
    const dtype = format.startsWith('bf16') ? 'bfloat16' : 'float32';
    const layout = (t: torch.Tensor) => (format === 'fp32 NCHW' ? t : t.channelsLast());
    const x = layout(torch.randn([s.n, s.c, s.hw, s.hw]).to(dtype)).detach();
    const w = layout(torch.randn([s.c, s.c, 3, 3]).mul(0.05).to(dtype)).detach();
    const gy = layout(torch.randn([s.n, s.c, s.hw, s.hw]).to(dtype));
    x.requiresGrad = true;
    w.requiresGrad = true;
    const pass = () => torch.scope(() => {
      torch.F.conv2d(x, w, null, { padding: 1 }).backward(gy);
      x.grad = null;
      w.grad = null;
    });
    pass();
    let best = Infinity;
    for (let i = 0; i < iters; i++) {
      const t0 = performance.now();
      pass();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    return best;
  });
}

/**
 * GFLOP/s of each format at each size (the best of `iters` passes: a ceiling is what the
 * machine can do, so the least disturbed pass stands for it). About 2–4 s in all on 2 cores.
 */
export function measureConvCeiling(iters = 3): CeilingResult[] {
  return CONV_FORMATS.map((format) => {
    try {
      const gflops = CEILING_SIZES.map((s) => convStepFlops(s) / timeConv(s, format, iters) / 1e9);
      return { format, gflops, best: Math.max(...gflops) };
    } catch (e) {
      return { format, gflops: CEILING_SIZES.map(() => null), best: null, error: (e as Error).message };
    }
  });
}

/** The fp32 ceiling (the better layout) or the bf16 one. */
export function ceilingFor(results: readonly CeilingResult[], precision: 'fp32' | 'bf16'): number | null {
  const xs = results.filter((r) => r.format.startsWith(precision) && r.best !== null).map((r) => r.best!);
  return xs.length ? Math.max(...xs) : null;
}

/** The ceiling as printed at the top of a benchmark run. */
export function formatCeiling(results: readonly CeilingResult[], iters: number): string {
  const head = `conv ceiling (3×3 stride 1 'same', forward + input and weight gradients, best of ${iters} after a warm-up, ${torch.getNumThreads()} threads; GFLOP/s):`;
  const sizes = CEILING_SIZES.map((s) => `${s.c}ch ${s.hw}² b${s.n}`);
  const lines = results.map((r) => `  ${r.format.padEnd(19)} ` + (r.error
    ? `not measured: ${r.error}`
    : r.gflops.map((g, i) => `${sizes[i]} ${g!.toFixed(0)}`).join(', ') + ` → best ${r.best!.toFixed(0)}`));
  return [head, ...lines].join('\n');
}
