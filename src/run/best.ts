// The best checkpoints of a run by one metric, named in <run>/best.json (best first), so
// pruning spares them and a user finds them: BigGAN-PyTorch keeps its best the same way.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../io/atomic.js';

export interface BestEntry {
  checkpoint: string;
  step: number;
  kimg: number;
  value: number;
}

export interface BestList {
  /** The result key ranked by (fid10k, is10k_mean …). */
  metric: string;
  lower_is_better: boolean;
  /** Best first; at most keep_best. */
  best: BestEntry[];
}

export function bestFile(runDir: string): string {
  return join(runDir, 'best.json');
}

/**
 * The run's list for `metric`: read from best.json (entries whose checkpoint no longer
 * exists dropped), or empty when there is none or it ranks another metric.
 */
export function readBest(runDir: string, checkpoints: string, metric: string, lowerIsBetter: boolean): BestList {
  const empty: BestList = { metric, lower_is_better: lowerIsBetter, best: [] };
  const file = bestFile(runDir);
  if (!existsSync(file)) return empty;
  try {
    const b = JSON.parse(readFileSync(file, 'utf8')) as BestList;
    if (b.metric !== metric || !Array.isArray(b.best)) return empty;
    return { ...empty, best: b.best.filter((e) => existsSync(join(checkpoints, e.checkpoint, 'state.json'))) };
  } catch {
    return empty;
  }
}

/**
 * Adds a measured checkpoint and keeps the best `keep` (a tie keeps the earlier one);
 * returns the new list, written to best.json. A NaN result never ranks.
 */
export function addBest(runDir: string, list: BestList, entry: BestEntry, keep: number): BestList {
  const others = list.best.filter((e) => e.checkpoint !== entry.checkpoint);
  const all = Number.isFinite(entry.value) ? [...others, entry] : others;
  const sign = list.lower_is_better ? 1 : -1;
  all.sort((a, b) => sign * (a.value - b.value) || a.step - b.step);
  const next: BestList = { ...list, best: all.slice(0, keep) };
  writeFileAtomicSync(bestFile(runDir), new TextEncoder().encode(JSON.stringify(next, null, 2) + '\n'));
  return next;
}
