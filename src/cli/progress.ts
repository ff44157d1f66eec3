// Progress of long work on a terminal: one redrawn line with img/s and ETA; plain lines
// when stderr is not a terminal (logs, CI).
import type { Progress } from '../train/trainer.js';

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressLine(p: Progress, width = 20): string {
  const frac = p.totalKimg > 0 ? Math.min(1, p.kimg / p.totalKimg) : 1;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const losses = Object.entries(p.metrics)
    .filter(([k]) => k.startsWith('loss_') || k === 'gp' || k === 'r1' || k === 'l1')
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join('  ');
  const where = p.totalEpochs ? `epoch ${p.epoch}/${p.totalEpochs}` : `${p.kimg.toFixed(2)}/${p.totalKimg} kimg`;
  return `[${bar}] ${where}  step ${p.step}  ${p.imgPerSec.toFixed(1)} img/s  ETA ${formatDuration(p.etaSec)}  ${losses}`;
}

/** Progress of a fixed amount of work counted in items (translate's images). */
export interface CountProgress {
  done: number;
  total: number;
  seconds: number;
  /** What is counted, plural (default 'images'). */
  unit?: string;
}

/** `[#####.....] 120/400 images  35.2 images/s  ETA 8s`. */
export function countLine(p: CountProgress, width = 20): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const unit = p.unit ?? 'images';
  const rate = p.seconds > 0 ? p.done / p.seconds : 0;
  const eta = rate > 0 ? (p.total - p.done) / rate : NaN;
  return `[${bar}] ${p.done}/${p.total} ${unit}  ${rate.toFixed(1)} ${unit}/s  ETA ${formatDuration(eta)}`;
}

/**
 * A progress callback drawing on `stream`; call `.done()` before printing anything else.
 * `format` turns an update into the line (default: the trainer's progressLine).
 */
export function progressPrinter<T = Progress>(
  stream: NodeJS.WriteStream = process.stderr,
  format: (p: T) => string = progressLine as unknown as (p: T) => string,
): { update: (p: T) => void; done: () => void } {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    update(p: T) {
      const line = format(p);
      if (tty) {
        const cols = stream.columns || 120;
        stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
        drawn = true;
      } else {
        stream.write(line + '\n');
      }
    },
    done() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
