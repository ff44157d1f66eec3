/**
 * Crash-safe file replacement.
 *
 * A checkpoint that is half written when the process dies (Ctrl-C, OOM kill, power loss)
 * is worse than none: resume would load garbage. So the bytes go to a temporary file in
 * the same directory (rename is only atomic within one filesystem), are fsynced so they
 * are on disk before the name points at them, and then renamed over the target. A reader
 * therefore sees either the old file or the complete new one, never a torn one.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

function tempNameFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes `bytes` to `target` atomically (see module comment). Resolves once durable. */
export async function writeFileAtomic(target: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempNameFor(target);
  let handle: fsp.FileHandle | undefined;
  try {
    // 'wx' so two writers can never share one temporary file.
    handle = await fsp.open(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await handle.write(bytes, off, bytes.byteLength - off);
      off += bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, target);
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new Error(`cannot write ${target}: ${(e as Error).message}`);
  }
  await syncDirectory(path.dirname(target));
}

/** Synchronous twin of writeFileAtomic, for exit paths where the event loop is going away. */
export function writeFileAtomicSync(target: string, bytes: Uint8Array): void {
  const tmp = tempNameFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.byteLength) off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing; report the first error */ }
    }
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot write ${target}: ${(e as Error).message}`);
  }
  syncDirectorySync(path.dirname(target));
}

// The rename itself is only durable once the directory entry is flushed. Some platforms
// and filesystems refuse to open or fsync a directory; the data is already safe by then,
// so that is not worth failing the write for.
async function syncDirectory(dir: string): Promise<void> {
  try {
    const h = await fsp.open(dir, 'r');
    try { await h.sync(); } finally { await h.close(); }
  } catch { /* best effort, see above */ }
}

export function syncDirectorySync(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* best effort, see above */ }
}
