// Metric names as stylegan2-ada-pytorch spells them (fid50k_full, kid50k_full, is50k,
// pr50k3_full, and the legacy fid50k, kid50k, pr50k3), with any count: fid10k, kid5k,
// is2k, and counts without 'k' for small sets (fid500, pr500_3).
import { UsageError } from '../config/errors.js';

export type MetricKind = 'fid' | 'kid' | 'is' | 'pr';

export interface MetricSpec {
  name: string;
  kind: MetricKind;
  /** Generated images measured. */
  numGen: number;
  /** Real images measured (null: the whole dataset, the `_full` metrics). */
  maxReal: number | null;
  /** Precision/recall: the neighbourhood size. */
  k: number;
  /** The result keys, the first being the one `--keep_best` ranks by. */
  keys: string[];
  /** Whether a smaller first result is better (FID, KID) or a larger one (IS, precision). */
  lowerIsBetter: boolean;
}

const PATTERN = /^(fid|kid|is|pr)(\d+)(k)?(?:(?<=pr\d+k)(\d+)|_(\d+))?(_full)?$/;

/** Parses one metric name; a UsageError names what is wrong. */
export function parseMetric(name: string): MetricSpec {
  const m = PATTERN.exec(name.trim());
  const hint = 'metrics are named as in stylegan2-ada-pytorch: fid50k_full, fid10k, kid50k_full, is50k, pr50k3 (or a plain count: fid500, pr500_3)';
  if (!m) throw new UsageError(`unknown metric '${name}': ${hint}`);
  const kind = m[1] as MetricKind;
  const count = Number(m[2]) * (m[3] ? 1000 : 1);
  const k = Number(m[4] ?? m[5] ?? 0);
  const full = m[6] !== undefined;
  if (kind === 'pr' && !k) throw new UsageError(`metric '${name}' needs a neighbourhood size: pr50k3 or pr500_3`);
  if (kind !== 'pr' && k) throw new UsageError(`unknown metric '${name}': ${hint}`);
  if (kind === 'is' && full) throw new UsageError(`metric '${name}': the Inception Score measures generated images only, so there is no _full variant (is50k)`);
  if (count < 2) throw new UsageError(`metric '${name}' measures too few images`);
  // pr50k3_full compares with 200k real images (metric_main.py); the other _full ones with all.
  const maxReal = full ? (kind === 'pr' ? 4 * count : null) : kind === 'is' ? 0 : count;
  const keys = kind === 'is' ? [`${name}_mean`, `${name}_std`] : kind === 'pr' ? [`${name}_precision`, `${name}_recall`] : [name];
  return { name: name.trim(), kind, numGen: count, maxReal, k, keys, lowerIsBetter: kind === 'fid' || kind === 'kid' };
}

/** A comma-separated list of metrics, each once. */
export function parseMetricList(spec: string): MetricSpec[] {
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new UsageError('--metrics names no metric');
  const out = names.map(parseMetric);
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.name)) throw new UsageError(`--metrics names ${s.name} twice`);
    seen.add(s.name);
  }
  return out;
}
