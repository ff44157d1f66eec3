/**
 * numpy's `.npy` files (np.save) as RawTensors, and numpy's dtype codes, which the
 * network-pickle readers meet too (numpy scalars and arrays inside pickles).
 *
 * Format (numpy/lib/format.py): the magic "\x93NUMPY", a version byte pair, the header
 * length (2 bytes in version 1, 4 in versions 2 and 3), then the header: a Python dict
 * literal with 'descr', 'fortran_order' and 'shape', then the raw data.
 */

import { type DType, byteLength, plainBytes, type RawTensor, readInputFileSync } from './raw.js';

/** A numpy dtype code such as '<f4' or '|u1', decoded. */
export interface NumpyDType {
  /** The code as numpy spells it without byte order: 'f4', 'i8', 'b1', 'u2'... */
  code: string;
  /** Our dtype, when there is one ('u2', 'u4', 'u8', complex and others have none). */
  dtype: DType | null;
  itemSize: number;
  littleEndian: boolean;
}

const CODES: Record<string, DType> = {
  f2: 'float16', f4: 'float32', f8: 'float64',
  i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', b1: 'bool',
};

/**
 * Decodes a numpy type string: a byte-order character ('<' little, '>' big, '|' not
 * applicable, '=' native, which is little on every machine we run on) and a kind+size
 * ('f4'). `?` is numpy's bool, 'f'/'d' and friends are not used in array headers.
 */
export function numpyDType(descr: string, order?: string): NumpyDType {
  const m = /^([<>|=]?)([fiub?])(\d*)$/.exec(descr);
  if (!m) throw new Error(`numpy dtype '${descr}' is not a plain number type`);
  const byteOrder = order ?? m[1];
  const code = m[2] === '?' ? 'b1' : `${m[2]}${m[3]}`;
  const size = Number(code.slice(1));
  if (!(size in { 1: 1, 2: 1, 4: 1, 8: 1 }) || (code[0] === 'f' && size === 1)) {
    throw new Error(`numpy dtype '${descr}' is not a plain number type`);
  }
  return { code, dtype: CODES[code] ?? null, itemSize: size, littleEndian: byteOrder !== '>' };
}

/** Copies `data` with every item's bytes reversed (big-endian → little-endian). */
export function swapItems(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  for (let i = 0; i < data.byteLength; i += size) {
    for (let b = 0; b < size; b++) out[i + b] = data[i + size - 1 - b]!;
  }
  return out;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Reads a .npy file's bytes. Fortran-ordered arrays and non-number dtypes are refused. */
export function decodeNpy(input: Uint8Array, name = '<memory>'): RawTensor {
  const bytes = plainBytes(input);
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${name}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new Error(`${name}: truncated .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${name}: unsupported .npy version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.byteLength) throw new Error(`${name}: truncated .npy header`);
  const header = Buffer.from(bytes.subarray(start, start + headerLen)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${name}: .npy header is not understood (${header.trim()})`);
  }
  let nd: NumpyDType;
  try {
    nd = numpyDType(descr);
  } catch {
    throw new Error(`${name}: .npy dtype '${descr}' is not supported (save float32 or float64)`);
  }
  if (!nd.dtype) throw new Error(`${name}: .npy dtype '${descr}' is not supported (save float32 or float64)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    if (!/^\d+L?$/.test(s)) throw new Error(`${name}: bad .npy shape (${shapeText})`);
    return Number(s.replace('L', ''));
  });
  const dataStart = start + headerLen;
  const need = byteLength(nd.dtype, shape);
  if (bytes.byteLength - dataStart !== need) {
    throw new Error(`${name}: .npy data has ${bytes.byteLength - dataStart} bytes, ${descr} [${shape.join(', ')}] needs ${need}`);
  }
  const nonTrivial = shape.filter((d) => d > 1).length > 1;
  if (fortran === 'True' && nonTrivial) {
    throw new Error(`${name}: the array is stored in Fortran order; save np.ascontiguousarray(z) instead`);
  }
  let data = bytes.subarray(dataStart, dataStart + need);
  if (!nd.littleEndian && nd.itemSize > 1) data = swapItems(data, nd.itemSize);
  return { dtype: nd.dtype, shape, data };
}

export function readNpyFileSync(path: string): RawTensor {
  return decodeNpy(readInputFileSync(path), path);
}
