/**
 * The in-memory currency of the io layer: a tensor as plain bytes.
 *
 * Every reader and writer in src/io speaks RawTensor so that checkpoint formats stay
 * independent of the native engine: they can be tested, fuzzed and used by tools
 * (inspecting a checkpoint, converting a .pth) without loading libtorch at all.
 */

// One list of dtypes for the whole library (torch/dtype.ts has no native dependency).
export { type DType, DTYPES, isDType, itemSize } from '../torch/dtype.js';
import { type DType, isDType, itemSize } from '../torch/dtype.js';
import { readFileSync } from 'node:fs';
import { roundHalfEven } from '../util/round.js';

/**
 * A dense tensor: `data` holds numel * itemSize(dtype) bytes, row-major (C order),
 * little-endian, with no padding. `shape` [] is a 0-d (scalar) tensor with one element.
 *
 * Readers may return `data` as a view into a larger buffer (the file they parsed) to
 * avoid copying multi-gigabyte checkpoints; copy it before mutating if that matters.
 */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/**
 * Number of elements of a shape. Throws on anything that is not a list of non-negative
 * safe integers, and on products beyond 2^53, because every caller goes on to size a
 * buffer from it: a hostile file must not be able to make that overflow silently.
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`invalid dimension ${String(d)} in shape [${shape.join(', ')}]`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new Error(`shape [${shape.join(', ')}] has too many elements`);
    }
  }
  return n;
}

/** Bytes a dense tensor of this dtype and shape occupies. */
export function byteLength(dtype: DType, shape: readonly number[]): number {
  const n = numel(shape) * itemSize(dtype);
  if (!Number.isSafeInteger(n)) throw new Error(`shape [${shape.join(', ')}] is too large`);
  return n;
}

/** Throws a one-line error naming `name` unless `t` is a well-formed RawTensor. */
export function validateRawTensor(t: unknown, name = 'tensor'): asserts t is RawTensor {
  if (t === null || typeof t !== 'object') throw new Error(`${name}: not a tensor object`);
  const r = t as Partial<RawTensor>;
  if (!isDType(r.dtype)) throw new Error(`${name}: unknown dtype '${String(r.dtype)}'`);
  if (!Array.isArray(r.shape)) throw new Error(`${name}: shape is not an array`);
  if (!(r.data instanceof Uint8Array)) throw new Error(`${name}: data is not a Uint8Array`);
  let expected: number;
  try {
    expected = byteLength(r.dtype, r.shape);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
  if (r.data.byteLength !== expected) {
    throw new Error(
      `${name}: ${r.dtype} [${r.shape.join(', ')}] needs ${expected} bytes, data has ${r.data.byteLength}`,
    );
  }
}

/**
 * The same memory as a plain Uint8Array. Node hands out Buffers (from readFile, zlib),
 * whose `slice` does not copy, unlike Uint8Array's, and which compare unequal to plain
 * arrays in deep-equality checks; readers normalise so tensors never carry that surprise.
 */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function isRawTensor(x: unknown): x is RawTensor {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Partial<RawTensor>;
  return isDType(r.dtype) && Array.isArray(r.shape) && r.data instanceof Uint8Array;
}

// ---------------------------------------------------------------------------------
// Half-precision conversions. JS has no float16/bfloat16 arrays (Float16Array is not in
// Node 20), so values are converted bit by bit. Used by tests and by tools that print
// or compare checkpoints; the engine itself moves half tensors as raw bytes.
// ---------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits -> number (exact: every half is representable as a double). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number -> binary16 bits, rounding to nearest, ties to even (as torch's .half() does). */
export function floatToHalf(x: number): number {
  // Rounds from the double directly. For inputs that are float32 values (the usual case)
  // this equals torch's float->half; rounding a double via float32 could round twice.
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  // Largest finite half is 65504; anything that rounds above it becomes infinity.
  if (a >= 65520) return sign | 0x7c00;
  let e = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two; correct it exactly.
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  if (e < -14) {
    // Subnormal: value = m * 2^-24 with m < 1024.
    const m = roundHalfEven(a / 2 ** -24);
    return sign | m; // m may reach 1024, which is exactly the smallest normal's encoding
  }
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

/** bfloat16 bits -> number: bf16 is the top half of a float32. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** number -> bfloat16 bits, rounding the float32 value to nearest even (torch's rule). */
export function floatToBFloat16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if (Number.isNaN(f32[0]!)) return ((bits >>> 16) | 0x40) & 0xffff; // keep it a NaN
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}


/**
 * Element values as JS numbers, in row-major order. int64 values beyond 2^53 lose
 * precision (use `toBigInts` for those); bool gives 0/1.
 */
export function toNumbers(t: RawTensor): number[] {
  const n = numel(t.shape);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Array<number>(n);
  const size = itemSize(t.dtype);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (t.dtype) {
      case 'float32': out[i] = dv.getFloat32(o, true); break;
      case 'float64': out[i] = dv.getFloat64(o, true); break;
      case 'float16': out[i] = halfToFloat(dv.getUint16(o, true)); break;
      case 'bfloat16': out[i] = bfloat16ToFloat(dv.getUint16(o, true)); break;
      case 'int64': out[i] = Number(dv.getBigInt64(o, true)); break;
      case 'int32': out[i] = dv.getInt32(o, true); break;
      case 'int16': out[i] = dv.getInt16(o, true); break;
      case 'int8': out[i] = dv.getInt8(o); break;
      case 'uint8': out[i] = dv.getUint8(o); break;
      case 'bool': out[i] = dv.getUint8(o) ? 1 : 0; break;
    }
  }
  return out;
}

/** int64 element values without precision loss. */
export function toBigInts(t: RawTensor): bigint[] {
  if (t.dtype !== 'int64') throw new Error(`toBigInts needs an int64 tensor, got ${t.dtype}`);
  const n = numel(t.shape);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) out[i] = dv.getBigInt64(i * 8, true);
  return out;
}

/**
 * Builds a RawTensor from numbers (row-major). Floats round as torch does; integers
 * must be integral and in range, so a test or tool cannot silently write a wrapped value.
 */
export function fromNumbers(dtype: DType, shape: number[], values: ArrayLike<number | bigint>): RawTensor {
  const n = numel(shape);
  if (values.length !== n) {
    throw new Error(`fromNumbers: shape [${shape.join(', ')}] needs ${n} values, got ${values.length}`);
  }
  const size = itemSize(dtype);
  const data = new Uint8Array(n * size);
  const dv = new DataView(data.buffer);
  const int = (v: number | bigint, lo: number, hi: number): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < lo || x > hi) {
      throw new Error(`fromNumbers: ${String(v)} is not a valid ${dtype} value`);
    }
    return x;
  };
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const o = i * size;
    switch (dtype) {
      case 'float32': dv.setFloat32(o, Number(v), true); break;
      case 'float64': dv.setFloat64(o, Number(v), true); break;
      case 'float16': dv.setUint16(o, floatToHalf(Number(v)), true); break;
      case 'bfloat16': dv.setUint16(o, floatToBFloat16(Number(v)), true); break;
      case 'int64': {
        const b = typeof v === 'bigint' ? v : BigInt(int(v, -(2 ** 63), 2 ** 63));
        if (b < -(1n << 63n) || b >= 1n << 63n) throw new Error(`fromNumbers: ${String(v)} is not a valid int64 value`);
        dv.setBigInt64(o, b, true);
        break;
      }
      case 'int32': dv.setInt32(o, int(v, -(2 ** 31), 2 ** 31 - 1), true); break;
      case 'int16': dv.setInt16(o, int(v, -32768, 32767), true); break;
      case 'int8': dv.setInt8(o, int(v, -128, 127)); break;
      case 'uint8': dv.setUint8(o, int(v, 0, 255)); break;
      case 'bool': dv.setUint8(o, Number(v) ? 1 : 0); break;
    }
  }
  return { dtype, shape: [...shape], data };
}

/** A file's bytes, or an error that names the file (for readers of input formats). */
export function readInputFileSync(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}
