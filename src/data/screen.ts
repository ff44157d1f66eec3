// Decode-checking a dataset before training starts, so that a folder of unreadable files
// fails at once (no run folder, no checkpoint) and the counts a run reports are those of
// the images it can read. Small sets are checked whole; large ones by an even sample, the
// rest counted as the loader meets them (it steps past an unreadable file to the next).
// Files found unreadable are left out of the dataset returned.

import { Dataset, type DatasetSpec } from './dataset.js';
import { DataError, oneLine } from './errors.js';
import { ImageDecodeError, decodeImage } from './image.js';

export interface ScreenOptions {
  /** Sets with at most this many files are checked whole (default 256). */
  checkAll?: number;
  /** Larger sets: this many files, evenly spread, are checked (default 128). */
  sample?: number;
  /** Files decoded at once (default 8). */
  concurrency?: number;
}

export interface ImageSize {
  file: string;
  width: number;
  height: number;
}

export interface Screening {
  /** The dataset without the files found unreadable (the same object when none were). */
  dataset: Dataset;
  /** Files decoded, and how many the dataset had. */
  checked: number;
  total: number;
  /** Every file was checked (else only a sample). */
  complete: boolean;
  /** Files that could not be decoded, with the decoder's reason. */
  unreadable: { file: string; reason: string }[];
  /** The sizes of the readable files checked, in file order (of each list in turn). */
  sizes: ImageSize[];
}

/** The file lists of a dataset read from disk (none for caches and built-in sets). */
function fileLists(spec: DatasetSpec): string[][] {
  switch (spec.kind) {
    case 'folder': case 'aligned': case 'single': return [spec.files];
    case 'unaligned': return [spec.filesA, spec.filesB];
    default: return [];
  }
}

function without(spec: DatasetSpec, bad: ReadonlySet<string>): DatasetSpec {
  const keep = (files: string[]): string[] => files.filter((f) => !bad.has(f));
  switch (spec.kind) {
    case 'folder': {
      const idx = spec.files.map((f, i) => (bad.has(f) ? -1 : i)).filter((i) => i >= 0);
      return { ...spec, files: idx.map((i) => spec.files[i]), labels: spec.labels ? Int32Array.from(idx, (i) => spec.labels![i]) : null };
    }
    case 'aligned': case 'single': return { ...spec, files: keep(spec.files) };
    case 'unaligned': return { ...spec, filesA: keep(spec.filesA), filesB: keep(spec.filesB) };
    default: return spec;
  }
}

/** Indices of the files to check: all, or `n` spread evenly over the list. */
function picks(length: number, o: Required<ScreenOptions>): number[] {
  if (length <= o.checkAll) return Array.from({ length }, (_, i) => i);
  const n = Math.min(o.sample, length);
  return Array.from({ length: n }, (_, k) => Math.floor((k * length) / n));
}

/**
 * Decodes all of a small dataset, or a sample of a large one, and returns it without the
 * files that cannot be read. Throws a DataError when no file checked (of a list: of each
 * domain of an unaligned set) can be decoded.
 */
export async function screenDataset(ds: Dataset, opts: ScreenOptions = {}): Promise<Screening> {
  const o: Required<ScreenOptions> = { checkAll: opts.checkAll ?? 256, sample: opts.sample ?? 128, concurrency: opts.concurrency ?? 8 };
  const lists = fileLists(ds.spec);
  const result: Screening = { dataset: ds, checked: 0, total: 0, complete: true, unreadable: [], sizes: [] };
  const bad = new Set<string>();
  for (const files of lists) {
    const idx = picks(files.length, o);
    result.total += files.length;
    result.checked += idx.length;
    if (idx.length < files.length) result.complete = false;
    const sizes: (ImageSize | null)[] = new Array(idx.length).fill(null);
    for (let s = 0; s < idx.length; s += o.concurrency) {
      await Promise.all(idx.slice(s, s + o.concurrency).map(async (i, j) => {
        const file = files[i];
        try {
          const img = await decodeImage(file, 3);
          sizes[s + j] = { file, width: img.width, height: img.height };
        } catch (e) {
          bad.add(file);
          result.unreadable.push({ file, reason: e instanceof ImageDecodeError ? e.reason : oneLine(e) });
        }
      }));
    }
    const readable = sizes.filter((x): x is ImageSize => x !== null);
    if (readable.length === 0 && files.length > 0) {
      const what = idx.length === files.length ? `none of the ${files.length} image files` : `none of the ${idx.length} image files checked (of ${files.length})`;
      const first = result.unreadable.filter((u) => files.includes(u.file)).sort((a, b) => (a.file < b.file ? -1 : 1))[0];
      throw new DataError(`${what} of ${ds.source} can be decoded, ${first.file} included (${first.reason}); expected valid png, jpg or webp files`, first.file);
    }
    result.sizes.push(...readable);
  }
  result.unreadable.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  if (bad.size) result.dataset = new Dataset(without(ds.spec, bad));
  return result;
}
