/**
 * The numpy globals a network pickle may name, as data-only stand-ins for the restricted
 * unpickler (src/io/pickle.ts):
 *   numpy.dtype(code, align, copy) + BUILD (byte order)  -> a NumpyDTypeObject
 *   numpy.core.multiarray.scalar(dtype, bytes)           -> number (bigint beyond 2^53, boolean for bool_)
 *   numpy.core.multiarray._reconstruct(ndarray, ...) + BUILD (shape, dtype, order, bytes)
 *                                                         -> a NumpyArray, read with numpyArrayTensor
 * numpy 2 spells the module numpy._core.multiarray; both are accepted. Nothing here calls
 * into numpy or anything else: each stand-in decodes bytes.
 */

import type { PickleGlobal } from './pickle.js';
import { numel, type RawTensor } from './raw.js';
import { type NumpyDType, numpyDType, swapItems } from './npy.js';
import { stridedView } from './pth.js';

export class NumpyDTypeObject {
  order = '=';
  constructor(readonly code: string) {}
  decoded(): NumpyDType {
    return numpyDType(this.code, this.order);
  }
}

/** An ndarray being rebuilt: `_reconstruct` makes it empty, BUILD fills it in place. */
export class NumpyArray {
  tensor: RawTensor | null = null;
}

const ndarrayType: PickleGlobal = {};

function decodeScalar(nd: NumpyDType, b: Uint8Array): number | bigint | boolean {
  if (b.byteLength !== nd.itemSize) throw new Error(`a ${nd.code} scalar needs ${nd.itemSize} bytes, got ${b.byteLength}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = nd.littleEndian;
  switch (nd.code) {
    case 'f8': return dv.getFloat64(0, le);
    case 'f4': return dv.getFloat32(0, le);
    case 'f2': {
      const h = dv.getUint16(0, le);
      const e = (h >> 10) & 0x1f, f = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
      if (e === 0) return s * f * 2 ** -24;
      if (e === 31) return f ? NaN : s * Infinity;
      return s * (1 + f / 1024) * 2 ** (e - 15);
    }
    case 'b1': return b[0] !== 0;
    case 'i1': return dv.getInt8(0);
    case 'u1': return dv.getUint8(0);
    case 'i2': return dv.getInt16(0, le);
    case 'u2': return dv.getUint16(0, le);
    case 'i4': return dv.getInt32(0, le);
    case 'u4': return dv.getUint32(0, le);
    case 'i8': case 'u8': {
      const v = nd.code === 'i8' ? dv.getBigInt64(0, le) : dv.getBigUint64(0, le);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    default: throw new Error(`numpy scalar of type ${nd.code} is not supported`);
  }
}

function buildArray(obj: unknown, state: unknown): unknown {
  if (!(obj instanceof NumpyArray)) throw new Error('BUILD on something that is not an ndarray');
  if (!Array.isArray(state)) throw new Error('ndarray state is not a tuple');
  // (version, shape, dtype, is_fortran, data); very old numpy wrote it without the version.
  const [shape, dtype, fortran, raw] = state.length === 5 ? state.slice(1) : state;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new Error('ndarray shape is not a tuple of sizes');
  }
  if (!(dtype instanceof NumpyDTypeObject)) throw new Error('ndarray dtype is not a numpy dtype');
  if (!(raw instanceof Uint8Array)) throw new Error(`ndarray of dtype ${dtype.code} holds Python objects, not numbers`);
  const nd = dtype.decoded();
  if (!nd.dtype) throw new Error(`ndarray dtype ${dtype.code} is not supported`);
  const dims = shape as number[];
  const n = numel(dims);
  if (raw.byteLength !== n * nd.itemSize) {
    throw new Error(`ndarray ${dtype.code} [${dims.join(', ')}] needs ${n * nd.itemSize} bytes, has ${raw.byteLength}`);
  }
  const data = !nd.littleEndian && nd.itemSize > 1 ? swapItems(raw, nd.itemSize) : raw;
  let t: RawTensor = { dtype: nd.dtype, shape: [...dims], data };
  if (fortran === true && dims.length > 1) {
    // Column-major bytes: read them through the strides that order implies.
    const strides = dims.map((_, i) => dims.slice(0, i).reduce((a, b) => a * b, 1));
    t = stridedView({ dtype: nd.dtype, shape: [n], data }, 0, dims, strides, 'ndarray');
  }
  obj.tensor = t;
  return obj;
}

/** The allow-list entries for numpy scalars, dtypes and arrays. */
export function numpyGlobals(): Map<string, PickleGlobal> {
  const g = new Map<string, PickleGlobal>();
  g.set('numpy.dtype', {
    call(args) {
      if (typeof args[0] !== 'string') throw new Error('dtype code is not a string');
      numpyDType(args[0]); // refuses structured, object and string dtypes up front
      return new NumpyDTypeObject(args[0]);
    },
    build(obj, state) {
      if (!(obj instanceof NumpyDTypeObject)) throw new Error('BUILD on something that is not a dtype');
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      if (!Array.isArray(state) || typeof state[1] !== 'string') throw new Error('dtype state is not understood');
      if (state[3] !== null && state[3] !== undefined) throw new Error('structured numpy dtypes are not supported');
      obj.order = state[1];
      return obj;
    },
  });
  const scalar: PickleGlobal = {
    call(args) {
      const [dtype, bytes] = args;
      if (!(dtype instanceof NumpyDTypeObject)) throw new Error('scalar without a numpy dtype');
      if (!(bytes instanceof Uint8Array)) throw new Error(`numpy scalar of type ${dtype.code} holds a Python object`);
      return decodeScalar(dtype.decoded(), bytes);
    },
  };
  const reconstruct: PickleGlobal = {
    call(args) {
      if (args[0] !== ndarrayType) throw new Error('only numpy.ndarray can be reconstructed');
      return new NumpyArray();
    },
    build: buildArray,
  };
  for (const mod of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    g.set(`${mod}.scalar`, scalar);
    g.set(`${mod}._reconstruct`, reconstruct);
  }
  g.set('numpy.ndarray', ndarrayType);
  return g;
}

/** The tensor of an unpickled ndarray. */
export function numpyArrayTensor(x: unknown, what: string): RawTensor {
  if (!(x instanceof NumpyArray) || !x.tensor) throw new Error(`${what} is not a numpy array`);
  return x.tensor;
}
