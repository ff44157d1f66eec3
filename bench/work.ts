// A bench case's arithmetic: the FLOPs of its training step and of its sampling call,
// counted from the ops libtorch runs (torch.countFlops), and the GFLOP/s its timings
// reach, ours and PyTorch's (the same networks and maths, so the same FLOPs), as a
// fraction of the machine's measured conv ceiling (bench/ceiling.ts).
import type { FlopCount, FlopKinds } from '../src/torch/index.js';

/** FLOPs of pieces of work that are added up (amortised phases) with weights. */
export function addFlops(parts: readonly { flops: FlopCount; weight: number }[]): FlopCount {
  const zero = (): FlopKinds => ({ conv: 0, convTranspose: 0, matmul: 0 });
  const out: FlopCount = { forward: zero(), backward: zero(), calls: { forward: zero(), backward: zero() }, total: 0 };
  for (const { flops, weight } of parts) {
    for (const dir of ['forward', 'backward'] as const) {
      for (const k of ['conv', 'convTranspose', 'matmul'] as const) {
        out[dir][k] += flops[dir][k] * weight;
        out.calls[dir][k] += flops.calls[dir][k] * weight;
      }
    }
    out.total += flops.total * weight;
  }
  return out;
}

const gf = (f: number) => (f / 1e9 >= 100 ? (f / 1e9).toFixed(0) : (f / 1e9).toPrecision(3));

/** What a count is made of: the kinds present and the backward's share. */
function breakdown(f: FlopCount): string {
  const kind = (k: keyof FlopKinds) => f.forward[k] + f.backward[k];
  const parts = (['conv', 'convTranspose', 'matmul'] as const).filter((k) => kind(k) > 0)
    .map((k) => `${{ conv: 'conv', convTranspose: 'transposed conv', matmul: 'matmul' }[k]} ${((100 * kind(k)) / f.total).toFixed(0)} %`);
  const bwd = f.backward.conv + f.backward.convTranspose + f.backward.matmul;
  return `${parts.join(', ')}; backward ${((100 * bwd) / f.total).toFixed(0)} %`;
}

export interface WorkLine {
  what: 'train' | 'sample';
  flops: FlopCount | null;
  oursS: number;
  refS?: number;
}

/**
 * Lines like
 *   work: train 61.2 GFLOP/step (conv 90 %, transposed conv 10 %; backward 66 %), sample 10.2 GFLOP/call
 *   GFLOP/s: train ours 210 = 0.50 of the fp32 ceiling 420, PyTorch 205 = 0.49; sample ours …
 */
export function formatWork(lines: readonly WorkLine[], ceiling: { value: number | null; what: string }): string[] {
  const counted = lines.filter((l) => l.flops && l.flops.total > 0);
  if (!counted.length) return ['  work: no convolution or matmul FLOPs counted'];
  const work = counted.map((l) => `${l.what} ${gf(l.flops!.total)} GFLOP/${l.what === 'train' ? 'step' : 'call'} (${breakdown(l.flops!)})`);
  const rate = (f: number, s: number) => {
    const g = f / s / 1e9;
    return `${g.toFixed(g >= 10 ? 0 : 1)}` + (ceiling.value ? ` = ${(g / ceiling.value).toFixed(2)}` : '');
  };
  const rates = counted.map((l) => `${l.what} ours ${rate(l.flops!.total, l.oursS)}` + (l.refS !== undefined ? `, PyTorch ${rate(l.flops!.total, l.refS)}` : ''));
  const of = ceiling.value ? ` (fraction of the ${ceiling.what} ${ceiling.value.toFixed(0)} GFLOP/s)` : ' (no ceiling measured)';
  return [`  work: ${work.join('; ')}`, `  GFLOP/s${of}: ${rates.join('; ')}`];
}
