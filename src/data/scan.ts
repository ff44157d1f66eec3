// Finding images on disk. Lists are sorted by code units (not locale) so that a dataset
// has the same order, and so the same shuffles and labels, on every machine.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './errors.js';
import { IMAGE_EXTENSIONS, isImageFile } from './image.js';

export interface ImageList {
  /** Absolute paths of the images, sorted. */
  files: string[];
  /** How many other files were passed over (text files, hidden files, ...). */
  ignored: number;
}

const WANT = `${IMAGE_EXTENSIONS.map((e) => e.slice(1)).join(', ')} images`;

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/** Throws a DataError unless `p` is an existing folder; `expected` says what it should hold. */
export function requireFolder(p: string, expected: string): void {
  const st = statOrNull(p);
  if (!st) throw new DataError(`${p}: no such folder (expected ${expected})`, p);
  if (!st.isDirectory()) throw new DataError(`${p} is not a folder (expected ${expected})`, p);
}

/**
 * Every image under `root`, recursively (symbolic links followed, each real folder
 * visited once). Hidden entries (names starting with '.') are skipped: they hold
 * editor and notebook leftovers, not data.
 */
export function listImages(root: string, opts: { recursive?: boolean } = {}): ImageList {
  const recursive = opts.recursive ?? true;
  const files: string[] = [];
  let ignored = 0;
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    let real: string;
    try {
      real = fs.realpathSync(dir);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new DataError(`cannot read folder ${dir}: ${(e as Error).message.split('\n')[0]}`, dir);
    }
    for (const ent of entries) {
      if (ent.name.startsWith('.')) {
        ignored++;
        continue;
      }
      const full = path.join(dir, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        const st = statOrNull(full);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) {
        if (recursive) walk(full);
      } else if (isFile && isImageFile(ent.name)) {
        files.push(full);
      } else {
        ignored++;
      }
    }
  };
  walk(path.resolve(root));
  files.sort(byCodeUnits);
  return { files, ignored };
}

/** Like listImages, but a folder with no images is an error that says what it did find. */
export function requireImages(root: string, what = WANT, opts: { recursive?: boolean } = {}): ImageList {
  requireFolder(root, what);
  const list = listImages(root, opts);
  if (list.files.length === 0) {
    if (list.ignored === 0 && fs.readdirSync(root).length === 0) throw new DataError(`${root} is empty (expected ${what})`, root);
    const found = list.ignored > 0 ? `only ${list.ignored} other file${list.ignored === 1 ? '' : 's'}` : 'only empty sub-folders';
    throw new DataError(`${root} has no images: found ${found} (expected ${what}${opts.recursive === false ? '' : ', searched recursively'})`, root);
  }
  return list;
}

export interface LabeledImages extends ImageList {
  /** Class names: the first-level sub-folders that hold images, sorted. */
  classes: string[];
  /** The class index of each file. */
  labels: Int32Array;
  /** Images directly in the root, which belong to no class and are left out. */
  unlabeled: number;
}

/** Images labelled by their first-level sub-folder (torchvision's ImageFolder layout). */
export function listLabeledImages(root: string): LabeledImages {
  const all = requireImages(root, `one sub-folder of ${WANT} per class`);
  const abs = path.resolve(root);
  const classOf = (f: string): string | null => {
    const rel = path.relative(abs, f);
    const i = rel.indexOf(path.sep);
    return i < 0 ? null : rel.slice(0, i);
  };
  const names = new Set<string>();
  let unlabeled = 0;
  const files: string[] = [];
  for (const f of all.files) {
    const c = classOf(f);
    if (c === null) unlabeled++;
    else {
      names.add(c);
      files.push(f);
    }
  }
  if (names.size === 0) {
    throw new DataError(`${root} has no class sub-folders: class labels need one sub-folder of images per class (or train without --classes)`, root);
  }
  const classes = [...names].sort(byCodeUnits);
  const index = new Map(classes.map((c, i) => [c, i]));
  const labels = Int32Array.from(files, (f) => index.get(classOf(f)!)!);
  return { files, ignored: all.ignored, classes, labels, unlabeled };
}
