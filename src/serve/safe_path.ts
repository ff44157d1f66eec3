// The one way a URL becomes a file: the URL's path, taken raw (before any normalisation
// could fold a `..` away), is split into segments that are decoded one by one; a segment
// that is or decodes to `.`/`..`, holds a slash, a backslash or a NUL, or starts with a dot
// (hidden files, the trainer's temporary names) is refused, and the file found is refused
// unless its real path (symlinks followed) lies under the real path of the served root.
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isWithin } from '../run/output.js';

/** Why a URL path was refused: the server answers 400 or 403 with this text, never a file. */
export class RefusedPath extends Error {
  override name = 'RefusedPath';
  constructor(readonly status: 400 | 403 | 404, message: string) {
    super(message);
  }
}

/** The decoded segments of a raw URL path (`/a/b%20c` → ['a', 'b c']); throws RefusedPath. */
export function pathSegments(rawPath: string): string[] {
  if (!rawPath.startsWith('/') || rawPath.startsWith('//')) throw new RefusedPath(400, 'refused: not a path under this server');
  const out: string[] = [];
  const parts = rawPath.slice(1).split('/');
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i];
    if (raw === '' && i === parts.length - 1) break; // a trailing slash
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new RefusedPath(400, 'refused: malformed percent-encoding');
    }
    if (seg === '' || seg === '.' || seg === '..') throw new RefusedPath(403, `refused: '${raw}' in a path`);
    if (/[/\\\0]/.test(seg)) throw new RefusedPath(403, 'refused: an encoded slash, backslash or NUL in a path');
    if (seg.startsWith('.')) throw new RefusedPath(403, 'refused: hidden files are not served');
    out.push(seg);
  }
  return out;
}

/**
 * The file `segments` name under `root`, or a RefusedPath: 404 when there is none (or it
 * is a folder), 403 when its real path leaves the root (a symlink out).
 */
export function fileUnder(root: string, segments: readonly string[]): string {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    throw new RefusedPath(404, 'not found');
  }
  let real: string;
  try {
    real = realpathSync(join(realRoot, ...segments));
  } catch {
    throw new RefusedPath(404, 'not found');
  }
  if (!isWithin(real, realRoot)) throw new RefusedPath(403, 'refused: the file lies outside the served folder');
  let isFile = false;
  try {
    isFile = statSync(real).isFile();
  } catch {
    /* vanished meanwhile */
  }
  if (!isFile) throw new RefusedPath(404, 'not found');
  return real;
}
