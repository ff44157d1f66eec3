// `ganforge dataset info`: what a folder or cache holds, decoding every image so that a
// broken file is found now rather than hours into training.

import sharp from 'sharp';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCacheIndex, isCacheFile } from './cache.js';
import { DataError, oneLine } from './errors.js';
import { BUILTIN_SETS, DEFAULT_COUNT, SHAPE_CLASSES, isBuiltinSet } from './procedural.js';
import { listImages, requireFolder, requireImages } from './scan.js';
import { hasDomainFolders } from './unaligned.js';

export interface FolderStats {
  path: string;
  /** Readable images. */
  count: number;
  /** "WxH" -> how many images have it, most common first. */
  sizes: [string, number][];
  /** "rgb", "rgba", "gray", "gray+alpha" -> count. */
  channels: [string, number][];
  formats: [string, number][];
  /** Class (first-level sub-folder) -> readable images in it; "" for images directly in the folder. */
  classes: [string, number][];
  /** Images that could not be decoded: [path, reason]. */
  unreadable: [string, string][];
  /** Files that are not images (ignored). */
  ignored: number;
}

export type DatasetInfo =
  | { kind: 'folder'; folder: FolderStats }
  | { kind: 'unaligned'; path: string; domains: Record<string, FolderStats> }
  | { kind: 'cache'; path: string; count: number; resolution: number; width: number; channels: number; classes: [string, number][] | null; source: string; skipped: string[]; bytes: number; created: string }
  | { kind: 'builtin'; name: string; count: number; classes: string[] | null; description: string };

const CHANNEL_NAMES: Record<number, string> = { 1: 'gray', 2: 'gray+alpha', 3: 'rgb', 4: 'rgba' };

function tally(m: Map<string, number>): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export async function folderStats(root: string, opts: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<FolderStats> {
  const abs = path.resolve(root);
  const { files, ignored } = requireImages(abs);
  const sizes = new Map<string, number>();
  const channels = new Map<string, number>();
  const formats = new Map<string, number>();
  const classes = new Map<string, number>();
  const unreadable: [string, string][] = [];
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++];
      try {
        // metadata() reads the header only; a full decode is what catches truncation.
        const img = sharp(f, { failOn: 'truncated' });
        const meta = await img.metadata();
        await img.raw().toBuffer();
        bump(sizes, `${meta.width}x${meta.height}`);
        bump(channels, CHANNEL_NAMES[meta.channels ?? 3] ?? `${meta.channels}`);
        bump(formats, meta.format === 'jpeg' ? 'jpg' : String(meta.format));
        const rel = path.relative(abs, f);
        const i = rel.indexOf(path.sep);
        bump(classes, i < 0 ? '' : rel.slice(0, i));
      } catch (e) {
        unreadable.push([f, oneLine(e)]);
      }
      opts.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 16) }, lane));
  unreadable.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const count = files.length - unreadable.length;
  const cls = [...classes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { path: abs, count, sizes: tally(sizes), channels: tally(channels), formats: tally(formats), classes: cls, unreadable, ignored };
}

export async function inspectDataset(source: string, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<DatasetInfo> {
  if (isBuiltinSet(source)) {
    const description = {
      shapes: 'one to three circles, squares and triangles on a coloured ground; class = the main shape',
      'shapes-pairs': 'pix2pix pairs: A = outline drawing, B = filled render',
      'shapes-domains': 'CycleGAN domains: A = circles, B = squares, same colours',
    }[source];
    return { kind: 'builtin', name: source, count: DEFAULT_COUNT[source], classes: source === 'shapes' ? [...SHAPE_CLASSES] : null, description };
  }
  const p = path.resolve(source);
  if (!fs.existsSync(p)) {
    throw new DataError(`${source}: no such file or folder (expected an image folder, a dataset cache, or one of ${BUILTIN_SETS.join(', ')})`, p);
  }
  if (fs.statSync(p).isFile()) {
    if (!isCacheFile(p)) throw new DataError(`${p} is a file: expected an image folder or a dataset cache (made by 'ganforge dataset prepare')`, p);
    const ix = readCacheIndex(p);
    let classes: [string, number][] | null = null;
    if (ix.classes && ix.labelsOffset !== null) {
      const fd = fs.openSync(p, 'r');
      try {
        const buf = Buffer.alloc(ix.count * 4);
        fs.readSync(fd, buf, 0, buf.length, ix.labelsOffset);
        const labels = new Int32Array(buf.buffer, buf.byteOffset, ix.count);
        const counts = new Array<number>(ix.classes.length).fill(0);
        for (const l of labels) counts[l]++;
        classes = ix.classes.map((c, i) => [c, counts[i]]);
      } finally {
        fs.closeSync(fd);
      }
    }
    return {
      kind: 'cache', path: p, count: ix.count, resolution: ix.height, width: ix.width, channels: ix.channels, classes, source: ix.source,
      skipped: ix.skipped, bytes: fs.statSync(p).size, created: ix.created,
    };
  }
  requireFolder(p, 'an image folder');
  if (hasDomainFolders(p, 'train') || hasDomainFolders(p, 'test')) {
    const domains: Record<string, FolderStats> = {};
    for (const d of ['trainA', 'trainB', 'testA', 'testB']) {
      const dir = path.join(p, d);
      if (fs.existsSync(dir) && listImages(dir).files.length > 0) domains[d] = await folderStats(dir, opts);
    }
    for (const [x, y] of [['trainA', 'trainB'], ['testA', 'testB']]) {
      if ((x in domains) !== (y in domains)) {
        const [have, miss] = x in domains ? [x, y] : [y, x];
        throw new DataError(`${p} has ${have}/ but no ${miss}/ with images (an unaligned (CycleGAN) dataset needs both)`, p);
      }
    }
    return { kind: 'unaligned', path: p, domains };
  }
  return { kind: 'folder', folder: await folderStats(p, opts) };
}

function list(entries: [string, number][], max = 6): string {
  const shown = entries.slice(0, max).map(([k, v]) => `${k} (${v})`).join(', ');
  return entries.length > max ? `${shown}, ... ${entries.length - max} more` : shown;
}

function formatFolder(s: FolderStats, indent = ''): string[] {
  const lines = [
    `${indent}images:      ${s.count}`,
    `${indent}sizes:       ${s.sizes.length ? list(s.sizes) : '-'}`,
    `${indent}channels:    ${s.channels.length ? list(s.channels) : '-'}`,
    `${indent}formats:     ${s.formats.length ? list(s.formats) : '-'}`,
  ];
  const named = s.classes.filter(([c]) => c !== '');
  if (named.length > 0) {
    const loose = s.classes.find(([c]) => c === '')?.[1] ?? 0;
    lines.push(`${indent}classes:     ${named.length} sub-folders: ${list(named, 10)}${loose ? `; ${loose} image(s) directly in the folder (no class)` : ''}`);
  } else {
    lines.push(`${indent}classes:     none (no sub-folders with images)`);
  }
  lines.push(`${indent}unreadable:  ${s.unreadable.length}`);
  for (const [f, why] of s.unreadable.slice(0, 10)) lines.push(`${indent}  ${f}: ${why}`);
  if (s.unreadable.length > 10) lines.push(`${indent}  ... ${s.unreadable.length - 10} more`);
  lines.push(`${indent}other files: ${s.ignored} (ignored)`);
  return lines;
}

/** Human-readable report. */
export function formatInfo(info: DatasetInfo): string {
  switch (info.kind) {
    case 'folder':
      return [`${info.folder.path}: image folder`, ...formatFolder(info.folder, '  ')].join('\n');
    case 'unaligned': {
      const lines = [`${info.path}: unaligned (CycleGAN) dataset`];
      for (const [d, s] of Object.entries(info.domains)) lines.push(`  ${d}/`, ...formatFolder(s, '    '));
      return lines.join('\n');
    }
    case 'cache':
      return [
        `${info.path}: dataset cache (${(info.bytes / 2 ** 20).toFixed(1)} MiB, prepared ${info.created})`,
        `  images:      ${info.count}`,
        `  sizes:       ${info.width}x${info.resolution}`,
        `  channels:    ${info.channels === 1 ? 'gray' : 'rgb'}`,
        `  classes:     ${info.classes ? `${info.classes.length}: ${list(info.classes, 10)}` : 'none'}`,
        `  unreadable:  ${info.skipped.length} (left out when prepared)`,
        `  source:      ${info.source}`,
      ].join('\n');
    case 'builtin':
      return [
        `${info.name}: built-in procedural set (rendered on the fly, any power-of-two resolution from 8 to 256)`,
        `  ${info.description}`,
        `  images:      ${info.count} per epoch by default`,
        `  classes:     ${info.classes ? info.classes.join(', ') : 'none'}`,
      ].join('\n');
  }
}
