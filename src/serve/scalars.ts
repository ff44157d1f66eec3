// What each column of metrics.jsonl is, for the dashboard: the x axes, the bookkeeping
// that is never plotted, the training schedule (learning rate, lod, minibatch, speed),
// the quality metrics (FID and friends, named as stylegan2-ada-pytorch names them:
// fid50k_full, kid10k, is50k, pr50k3_precision...), and the losses: every other number.

export type ScalarKind = 'x' | 'bookkeeping' | 'schedule' | 'metric' | 'loss';

const X = new Set(['step', 'kimg', 'epoch', 'sec']);
const BOOKKEEPING = new Set(['window_steps', 'resumed_at_step', 'skipped_files']);
const SCHEDULE = /^(lr($|_)|lod$|alpha$|minibatch$|batch$|img_per_s$)/;
const METRIC = /^(fid|kid|is|pr|ppl|precision|recall)(\d+k?\d*)?(_|$)/;

export function scalarKind(name: string): ScalarKind {
  if (X.has(name)) return 'x';
  if (BOOKKEEPING.has(name)) return 'bookkeeping';
  if (SCHEDULE.test(name)) return 'schedule';
  if (METRIC.test(name)) return 'metric';
  return 'loss';
}

/** FID, KID and PPL are better low; IS, precision and recall high. */
export function lowerIsBetter(metric: string): boolean {
  return /^(fid|kid|ppl)/.test(metric);
}

export type Row = Record<string, unknown>;

export interface Best {
  metric: string;
  value: number;
  kimg: number | null;
}

/** The best value of the run's first metric (the one --keep_best ranks by), or null. */
export function bestMetric(rows: readonly Row[]): Best | null {
  let metric: string | null = null;
  let best: Best | null = null;
  for (const r of rows) {
    if (metric === null) metric = Object.keys(r).find((k) => scalarKind(k) === 'metric' && typeof r[k] === 'number') ?? null;
    if (metric === null) continue;
    const v = r[metric];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (!best || (lowerIsBetter(metric) ? v < best.value : v > best.value)) best = { metric, value: v, kimg: typeof r.kimg === 'number' ? r.kimg : null };
  }
  return best;
}
