// Progress of long work on a terminal: one redrawn line with img/s and ETA; plain lines
// when stderr is not a terminal (logs, CI).
import type { Progress } from '../recipes/trainer.js';

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

/** A progress callback drawing on `stream`; call `.done()` before printing anything else. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): { update: (p: Progress) => void; done: () => void } {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    update(p: Progress) {
      const line = progressLine(p);
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
