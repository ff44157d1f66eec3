// A fast path for the most common training image: a plain 8-bit RGB, grayscale or
// palette PNG. sharp serialises small images within one process (about 2,200 decodes/s
// whatever the number of threads, measured on 2 and 16 cores), so loader workers could
// not add throughput; zlib's inflate plus the PNG row filters, done here, run truly in
// parallel in each worker. Anything else (alpha, 16-bit, interlacing, colour profiles,
// gamma, a bad checksum, truncation) returns null and goes to sharp, which stays the
// decoder of record: the results of the two are byte-identical (tested).

import { crc32, inflateSync } from 'node:zlib';
import type { RawImage } from './image.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

// Ancillary chunks that do not change how libvips renders the pixels.
const HARMLESS = new Set(['sRGB', 'pHYs', 'tEXt', 'zTXt', 'iTXt', 'tIME', 'bKGD', 'sBIT', 'eXIf']);

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function chunkType(b: Uint8Array, o: number): string {
  return String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
}

/** Decodes to 8-bit RGB, or returns null when the file should go to sharp instead. */
export function decodePngFast(b: Uint8Array): RawImage | null {
  if (b.length < 8 + 25 + 12) return null;
  for (let i = 0; i < 8; i++) if (b[i] !== SIGNATURE[i]) return null;
  let width = 0;
  let height = 0;
  let colorType = -1;
  let depth = 8;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let o = 8; o + 12 <= b.length;) {
    const len = u32(b, o);
    const type = chunkType(b, o + 4);
    const end = o + 12 + len;
    if (end > b.length) return null;
    if (crc32(b.subarray(o + 4, o + 8 + len)) !== u32(b, o + 8 + len)) return null;
    const data = b.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      if (len !== 13) return null;
      width = u32(data, 0);
      height = u32(data, 4);
      const [d, ct, comp, filter, interlace] = [data[8], data[9], data[10], data[11], data[12]];
      // 8-bit gray and RGB; palettes of 1 to 8 bits (what pngquant and sharp's palette mode write).
      const ok = ct === 3 ? d === 1 || d === 2 || d === 4 || d === 8 : (ct === 0 || ct === 2) && d === 8;
      if (!ok || comp !== 0 || filter !== 0 || interlace !== 0) return null;
      colorType = ct;
      depth = d;
    } else if (type === 'PLTE') {
      palette = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
      break;
    } else if (!HARMLESS.has(type)) {
      return null;
    }
    o = end;
  }
  if (!ended || colorType < 0 || width === 0 || height === 0 || idat.length === 0) return null;
  if (colorType === 3 && !palette) return null;
  const channels = colorType === 2 ? 3 : 1;
  const stride = Math.ceil((width * channels * depth) / 8);
  let raw: Uint8Array;
  try {
    raw = inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat));
  } catch {
    return null;
  }
  if (raw.length !== height * (stride + 1)) return null;
  let px = unfilter(raw, height, stride, channels);
  if (!px) return null;
  if (depth < 8) px = unpack(px, width, height, stride, depth);
  if (colorType === 2) return { data: px, width, height, channels: 3 };
  const out = new Uint8Array(width * height * 3);
  if (colorType === 0) {
    for (let i = 0, j = 0; i < px.length; i++, j += 3) out[j] = out[j + 1] = out[j + 2] = px[i];
  } else {
    const pal = palette!;
    const n = pal.length / 3;
    for (let i = 0, j = 0; i < px.length; i++, j += 3) {
      const k = px[i];
      if (k >= n) return null;
      out[j] = pal[k * 3];
      out[j + 1] = pal[k * 3 + 1];
      out[j + 2] = pal[k * 3 + 2];
    }
  }
  return { data: out, width, height, channels: 3 };
}

/** Spreads packed palette indices (1, 2 or 4 bits, most significant first) to one byte each. */
function unpack(packed: Uint8Array, width: number, height: number, stride: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * stride + Math.floor(x / perByte)];
      out[y * width + x] = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
    }
  }
  return out;
}

/** Undoes the per-row filters (None, Sub, Up, Average, Paeth) of 8-bit samples. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array | null {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    switch (f) {
      case 0:
        out.set(raw.subarray(src, src + stride), row);
        break;
      case 1:
        for (let x = 0; x < stride; x++) out[row + x] = (raw[src + x] + (x >= bpp ? out[row + x - bpp] : 0)) & 255;
        break;
      case 2:
        for (let x = 0; x < stride; x++) out[row + x] = (raw[src + x] + (y > 0 ? out[prev + x] : 0)) & 255;
        break;
      case 3:
        for (let x = 0; x < stride; x++) {
          const left = x >= bpp ? out[row + x - bpp] : 0;
          const up = y > 0 ? out[prev + x] : 0;
          out[row + x] = (raw[src + x] + ((left + up) >> 1)) & 255;
        }
        break;
      case 4:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp] : 0;
          const bb = y > 0 ? out[prev + x] : 0;
          const c = x >= bpp && y > 0 ? out[prev + x - bpp] : 0;
          const p = a + bb - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - bb);
          const pc = Math.abs(p - c);
          out[row + x] = (raw[src + x] + (pa <= pb && pa <= pc ? a : pb <= pc ? bb : c)) & 255;
        }
        break;
      default:
        return null;
    }
  }
  return out;
}
