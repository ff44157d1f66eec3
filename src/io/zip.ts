/**
 * A minimal, read-only ZIP reader: just what torch.save archives need.
 *
 * torch.save (since 1.6) writes a ZIP whose records are STORED and 64-byte aligned, with
 * ZIP64 fields once the file passes 4 GiB; other tools that repack checkpoints may
 * DEFLATE them. The archive is parsed from its central directory (the authoritative
 * index: local headers may carry zero sizes when a data descriptor follows), and entry
 * contents are only touched when asked for, so listing a 10 GB checkpoint is instant and
 * reading one record copies nothing for STORED entries.
 *
 * Everything read from the file is bounds-checked before use: a truncated download or a
 * hostile archive must produce a clear error, never a crash, a huge allocation or data
 * from the wrong place.
 */

import * as zlib from 'node:zlib';
import { plainBytes } from './raw.js';

export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATE; anything else is refused when read. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** DEFLATE cannot expand data by more than about 1032:1; a larger claimed ratio is a lie. */
const MAX_DEFLATE_RATIO = 1032;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export class ZipArchive {
  /** Entries in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  readonly #bytes: Uint8Array;
  readonly #dv: DataView;
  readonly #name: string;
  /** Where the central directory starts: no entry's data may reach into it. */
  readonly #dataLimit: number;

  constructor(bytes: Uint8Array, name = '<memory>') {
    this.#bytes = plainBytes(bytes);
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#name = name;
    const { entries, cdOffset } = this.#readCentralDirectory();
    this.entries = entries;
    this.#dataLimit = cdOffset;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The contents of one entry, CRC-checked. STORED entries are views into the archive
   * bytes (no copy); DEFLATE entries are inflated into a new buffer.
   */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw this.#error(`no entry '${name}' in the archive`);
    const at = `entry '${name}'`;
    const lh = e.localHeaderOffset;
    if (lh + LOCAL_SIZE > this.#dataLimit) throw this.#error(`${at}: local header offset ${lh} is outside the archive`);
    if (this.#dv.getUint32(lh, true) !== SIG_LOCAL) throw this.#error(`${at}: no local header at offset ${lh} (corrupt archive)`);
    const nameLen = this.#dv.getUint16(lh + 26, true);
    const extraLen = this.#dv.getUint16(lh + 28, true);
    const start = lh + LOCAL_SIZE + nameLen + extraLen;
    const end = start + e.compressedSize;
    if (end > this.#dataLimit) {
      throw this.#error(`${at}: data [${start}, ${end}) runs past the end of the entries (${this.#dataLimit}); file truncated?`);
    }
    const localName = this.#bytes.subarray(lh + LOCAL_SIZE, lh + LOCAL_SIZE + nameLen);
    if (Buffer.compare(localName, Buffer.from(name, 'utf8')) !== 0) {
      throw this.#error(`${at}: local header names a different file (corrupt archive)`);
    }
    const raw = this.#bytes.subarray(start, end);

    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) throw this.#error(`${at}: STORED entry with different stored and real sizes`);
      data = raw;
    } else if (e.method === 8) {
      if (e.size === 0) {
        data = new Uint8Array(0);
      } else {
        try {
          // maxOutputLength stops a lying size field from making us inflate a bomb.
          data = plainBytes(zlib.inflateRawSync(raw, { maxOutputLength: e.size }));
        } catch (err) {
          throw this.#error(`${at}: cannot inflate: ${(err as Error).message}`);
        }
        if (data.byteLength !== e.size) {
          throw this.#error(`${at}: inflated to ${data.byteLength} bytes, the directory says ${e.size}`);
        }
      }
    } else {
      throw this.#error(`${at}: unsupported compression method ${e.method} (only STORED and DEFLATE)`);
    }
    const crc = zlib.crc32(data) >>> 0;
    if (crc !== e.crc32) {
      throw this.#error(`${at}: CRC mismatch (stored ${hex(e.crc32)}, computed ${hex(crc)}); the file is corrupt`);
    }
    return data;
  }

  #error(msg: string): Error {
    return new Error(`${this.#name}: ${msg}`);
  }

  #u64(off: number, what: string): number {
    const v = this.#dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.#error(`absurd ${what} ${v} (corrupt archive)`);
    return Number(v);
  }

  #findEocd(): number {
    const len = this.#bytes.byteLength;
    if (len < EOCD_SIZE) throw this.#error(`not a zip archive (${len} bytes)`);
    // The record sits at the very end unless a comment follows it; scan back over the
    // longest possible comment. A match must also account for the bytes after it, which
    // rules out the signature occurring by chance inside data.
    const lowest = Math.max(0, len - EOCD_SIZE - MAX_COMMENT);
    for (let p = len - EOCD_SIZE; p >= lowest; p--) {
      if (this.#dv.getUint32(p, true) === SIG_EOCD && p + EOCD_SIZE + this.#dv.getUint16(p + 20, true) <= len) return p;
    }
    throw this.#error('not a zip archive or truncated: no end-of-central-directory record');
  }

  #readCentralDirectory(): { entries: Map<string, ZipEntry>; cdOffset: number } {
    const dv = this.#dv;
    const eocd = this.#findEocd();
    const disk = dv.getUint16(eocd + 4, true);
    const cdDisk = dv.getUint16(eocd + 6, true);
    let count = dv.getUint16(eocd + 10, true);
    let cdSize = dv.getUint32(eocd + 12, true);
    let cdOffset = dv.getUint32(eocd + 16, true);
    let recordsStart = eocd; // where the central directory must end

    // ZIP64: the classic fields saturate and the real values live in a second record,
    // found through a fixed-size locator just before the classic one.
    const loc = eocd - 20;
    if (loc >= 0 && dv.getUint32(loc, true) === SIG_ZIP64_LOCATOR) {
      const z = this.#u64(loc + 8, 'ZIP64 end-of-directory offset');
      if (z + 56 > loc || dv.getUint32(z, true) !== SIG_ZIP64_EOCD) {
        throw this.#error('ZIP64 end-of-central-directory record missing or corrupt');
      }
      if (dv.getUint32(z + 16, true) !== 0 || dv.getUint32(z + 20, true) !== 0) {
        throw this.#error('multi-disk zip archives are not supported');
      }
      count = this.#u64(z + 32, 'entry count');
      cdSize = this.#u64(z + 40, 'central directory size');
      cdOffset = this.#u64(z + 48, 'central directory offset');
      recordsStart = z;
    } else {
      if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
        throw this.#error('ZIP64 archive without a ZIP64 locator (corrupt or truncated)');
      }
      if (disk !== 0 || cdDisk !== 0) throw this.#error('multi-disk zip archives are not supported');
    }
    if (cdOffset + cdSize > recordsStart) {
      throw this.#error(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${recordsStart}; file truncated?`);
    }
    if (count * CENTRAL_SIZE > cdSize) {
      throw this.#error(`${count} entries cannot fit in a ${cdSize}-byte central directory (corrupt archive)`);
    }

    const decoder = new TextDecoder('utf-8');
    const entries = new Map<string, ZipEntry>();
    const cdEnd = cdOffset + cdSize;
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + CENTRAL_SIZE > cdEnd || dv.getUint32(p, true) !== SIG_CENTRAL) {
        throw this.#error(`central directory entry ${i} at offset ${p} is corrupt`);
      }
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      const crc32 = dv.getUint32(p + 16, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      const diskStart = dv.getUint16(p + 34, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
      if (next > cdEnd) throw this.#error(`central directory entry ${i} runs past the directory`);
      const name = decoder.decode(this.#bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
      if (flags & 0x1) throw this.#error(`entry '${name}' is encrypted`);

      // The ZIP64 extra field holds, in this order, exactly those values whose classic
      // field is saturated.
      if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff || diskStart === 0xffff) {
        let x = p + CENTRAL_SIZE + nameLen;
        const xEnd = x + extraLen;
        let found = false;
        while (x + 4 <= xEnd) {
          const id = dv.getUint16(x, true);
          const len = dv.getUint16(x + 2, true);
          if (x + 4 + len > xEnd) break;
          if (id === 0x0001) {
            let f = x + 4;
            const take = (what: string): number => {
              if (f + 8 > x + 4 + len) throw this.#error(`entry '${name}': ZIP64 extra field too short for ${what}`);
              const v = this.#u64(f, `${what} of '${name}'`);
              f += 8;
              return v;
            };
            if (size === 0xffffffff) size = take('size');
            if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
            if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
            found = true;
            break;
          }
          x += 4 + len;
        }
        if (!found) throw this.#error(`entry '${name}': saturated size fields but no ZIP64 extra field`);
      }
      if (diskStart !== 0 && diskStart !== 0xffff) throw this.#error('multi-disk zip archives are not supported');
      if (localHeaderOffset + LOCAL_SIZE + compressedSize > cdOffset) {
        throw this.#error(`entry '${name}': data would extend past the start of the central directory (corrupt archive)`);
      }
      if (method === 8 && size > Math.max(1024, compressedSize * MAX_DEFLATE_RATIO)) {
        throw this.#error(`entry '${name}': claims ${size} bytes from ${compressedSize} compressed, an impossible ratio`);
      }
      if (entries.has(name)) throw this.#error(`duplicate entry '${name}'`);
      entries.set(name, { name, method, compressedSize, size, crc32, localHeaderOffset });
      p = next;
    }
    return { entries, cdOffset };
  }
}

export function openZip(bytes: Uint8Array, name = '<memory>'): ZipArchive {
  return new ZipArchive(bytes, name);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
