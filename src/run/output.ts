// Where a command may write, and what --force may replace. Every command that writes
// (train, sample, interpolate, mix, translate, dataset prepare, and export and eval when
// they come) checks its output here, before any work, so that a bad --out fails in one
// line instead of after minutes of training, and --force never deletes a user's files.
//
// The --force rule: a folder is replaced only when it is a ganforge run (it has our
// config.json) or empty, and never when it holds (or is inside) the training data, or
// holds the working folder or the home folder; a file is replaced only when it is of the
// kind the command writes (an image, a dataset cache) or empty. Anything else is refused
// with a line saying what is there.
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, realpathSync, rmSync, rmdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, parse, relative, resolve, sep, isAbsolute } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../config/errors.js';

/** Linux's limits: one name (NAME_MAX) and a whole path (PATH_MAX), in bytes. */
const NAME_MAX = 255;
const PATH_MAX = 4095;

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'disk quota exceeded';
    case 'ENAMETOOLONG': return 'name too long';
    case 'ENOENT': return 'this file system takes no new entries there';
    default: return code ? `${code}: ${(e as Error).message.split(':').slice(1).join(':').trim() || (e as Error).message}` : String(e);
  }
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Checks that `path` (given as `option`, e.g. --out) can be written: a folder that exists
 * or can be created (kind 'folder'), or a file in one (kind 'file'). Refuses an empty
 * name, a name too long for the file system, a path under a file, and a location where
 * nothing can be created (permissions, a read-only or virtual file system such as /proc)
 * with one line; creates nothing. Returns the absolute path.
 */
export function checkOutputPath(path: string, option: string, kind: 'folder' | 'file'): string {
  if (path.trim() === '') throw new UsageError(`${option} is empty: give a ${kind} name`);
  const abs = resolve(path);
  if (Buffer.byteLength(abs) > PATH_MAX) throw new UsageError(`${option} ${path}: the path is too long (${Buffer.byteLength(abs)} bytes; at most ${PATH_MAX})`);
  const long = abs.split(sep).find((part) => Buffer.byteLength(part) > NAME_MAX);
  if (long !== undefined) throw new UsageError(`${option} ${path}: the name '${long.slice(0, 24)}...' is too long (${Buffer.byteLength(long)} bytes; at most ${NAME_MAX})`);

  // The nearest part of the path that exists.
  let existing = abs;
  let st: Stats | null;
  for (;;) {
    try {
      st = statOrNull(existing);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') {
        existing = dirname(existing);
        continue;
      }
      throw new UsageError(`${option} ${path}: cannot reach ${existing} (${reason(e)})`);
    }
    if (st || dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  if (!st) throw new UsageError(`${option} ${path}: no part of this path exists`);
  if (existing === abs) {
    if (kind === 'folder' && !st.isDirectory()) throw new UsageError(`${option} ${path} is a file, not a folder: give a folder name`);
    if (kind === 'file' && st.isDirectory()) throw new UsageError(`${option} ${path} is a folder: give a file name`);
    if (kind === 'file' && !st.isFile()) throw new UsageError(`${option} ${path} is not a regular file`);
  } else if (!st.isDirectory()) {
    throw new UsageError(`${option} ${path} cannot be created: ${existing} is a file, not a folder`);
  }
  // Try it: create (and remove) a folder or file where the output goes.
  const where = st.isDirectory() ? existing : dirname(existing);
  const probe = join(where, `.ganforge-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    if (kind === 'folder' || existing !== abs) {
      mkdirSync(probe);
      rmdirSync(probe);
    } else {
      closeSync(openSync(probe, 'wx'));
      unlinkSync(probe);
    }
  } catch (e) {
    throw new UsageError(`${option} ${path} cannot be written: nothing can be created in ${where} (${reason(e)})`);
  }
  return abs;
}

/**
 * Creates a checked output folder (and its parents) one level at a time: Node's recursive
 * mkdir loops forever on some virtual file systems instead of failing.
 */
export function makeFolder(dir: string): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  for (let p = abs; statOrNull(p) === null; p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`cannot create ${p} (${reason(e)})`);
    }
  }
}

/** Whether `inner` is `outer` or somewhere under it (both absolute, resolved). */
export function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Whether `dir` holds a ganforge run: a config.json with our fields. */
export function isRunFolder(dir: string): boolean {
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { ganforge?: unknown; options?: unknown };
    return typeof cfg.ganforge === 'string' && typeof cfg.options === 'object' && cfg.options !== null;
  } catch {
    return false;
  }
}

/** "1414 files (a.png, b.png, c.png, ...) and 2 folders": what a folder holds, for messages. */
export function describeFolder(dir: string): string {
  let files = 0, folders = 0;
  const names: string[] = [];
  const walk = (d: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) {
        folders++;
        if (depth < 8 && files + folders < 100_000) walk(join(d, e.name), depth + 1);
      } else {
        files++;
        if (names.length < 3) names.push(relative(dir, join(d, e.name)));
      }
    }
  };
  walk(dir, 0);
  const f = `${files} file${files === 1 ? '' : 's'}${names.length ? ` (${names.join(', ')}${files > names.length ? ', ...' : ''})` : ''}`;
  return folders ? `${f} and ${folders} folder${folders === 1 ? '' : 's'}` : f;
}

export interface ProtectedPath {
  path: string;
  /** How messages name it: 'the --data folder', 'the working folder'. */
  what: string;
  /** Also refuse a folder inside it (the data), not only one that holds it. */
  inside?: boolean;
}

/** The folders no --force may ever delete: the working folder and the home folder, plus `extra` (the data). */
export function protectedPaths(extra: ProtectedPath[] = []): ProtectedPath[] {
  return [{ path: process.cwd(), what: 'the working folder' }, { path: homedir(), what: 'your home folder' }, ...extra];
}

/**
 * Whether `--force` may replace the folder `dir`: only a ganforge run folder or an empty
 * folder, and never one that holds a protected path (or, for the data, lies inside it).
 * Throws a UsageError saying what the folder holds; returns true when `dir` exists (and
 * will be replaced), false when there is nothing to replace.
 */
export function checkReplaceableFolder(dir: string, option: string, protect: ProtectedPath[], ignore: readonly string[] = []): boolean {
  const st = statOrNull(dir);
  if (!st) return false;
  if (!st.isDirectory()) throw new UsageError(`${option} ${dir} is a file, not a folder: --force replaces only a ganforge run folder`);
  const target = real(dir);
  if (parse(target).root === target) throw new UsageError(`${option} ${dir} is the root of the file system: --force never replaces it`);
  for (const p of protect) {
    const q = real(p.path);
    if (isWithin(q, target)) {
      throw new UsageError(`${option} ${dir} ${q === target ? 'is' : 'holds'} ${p.what}${q === target ? '' : ` (${p.path})`}: --force never deletes it; choose another --out`);
    }
    if (p.inside && isWithin(target, q)) throw new UsageError(`${option} ${dir} is inside ${p.what} (${p.path}): --force never deletes it; choose another --out`);
  }
  if (isRunFolder(dir)) return true;
  if (readdirSync(dir).every((n) => ignore.includes(n))) return true;
  throw new UsageError(`${option} ${dir} is not a ganforge run (it has no config.json of ours) and holds ${describeFolder(dir)}: --force replaces only a run folder or an empty folder; choose another --out`);
}

/** Empties a run folder that checkReplaceableFolder accepted, keeping the entries named in `keep` (its lock). */
export function emptyRunFolder(dir: string, option: string, protect: ProtectedPath[], keep: readonly string[]): void {
  // Checked again now, under the lock: the folder may have changed since the first check.
  checkReplaceableFolder(dir, option, protect, keep);
  for (const name of readdirSync(dir)) {
    if (keep.includes(name)) continue;
    // Entries are removed, never followed: a link inside the run is deleted, not its target.
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) rmSync(p, { recursive: true, force: true });
    else unlinkSync(p);
  }
}

/** What --force may overwrite for a file output: a file of the kind the command writes, or an empty one. */
export interface FileKind {
  /** 'an image', 'a dataset cache'. */
  name: string;
  test: (file: string) => boolean;
}

function head(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** PNG, JPEG, GIF or WebP, by their first bytes. */
export const IMAGE_FILE: FileKind = {
  name: 'an image (png, jpg, gif or webp)',
  test: (file) => {
    try {
      const b = head(file, 12);
      const s = b.toString('latin1');
      return s.startsWith('\x89PNG') || (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) || s.startsWith('GIF8') || (s.startsWith('RIFF') && s.slice(8, 12) === 'WEBP');
    } catch {
      return false;
    }
  },
};

function sizeText(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * The file rule of --force: an existing `file` is refused without `force`, and with it
 * replaced only when it is of `kind` (or empty); never a folder or anything else.
 */
export function checkReplaceableFile(file: string, option: string, force: boolean, kind: FileKind): void {
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new UsageError(`${option} ${file} is a folder: give a file name`);
  if (!force) throw new UsageError(`${file} exists: use --force to overwrite it, or another ${option}`);
  if (!st.isFile()) throw new UsageError(`${option} ${file} is not a regular file: --force replaces only ${kind.name}`);
  if (st.size > 0 && !kind.test(file)) {
    throw new UsageError(`${option} ${file} is a file of ${sizeText(st.size)} that is not ${kind.name}: --force replaces only such files; choose another ${option}`);
  }
}
