/**
 * Reads PyTorch `torch.save` files (.pth/.pt/.ckpt) as data, without Python and without
 * executing anything.
 *
 * Two container layouts exist:
 *  - zip (torch >= 1.6 default): `<top>/data.pkl` is a pickle of the saved object in
 *    which every storage is a persistent id ('storage', <type>, key, location, numel);
 *    the bytes of storage `key` are the record `<top>/data/<key>`. The top folder is
 *    named after the file it was saved as (or 'archive'), so it is discovered.
 *  - legacy (`_use_new_zipfile_serialization=False`, and torch < 1.6): consecutive
 *    pickles (magic number, protocol version, system info, the object, the sorted list
 *    of storage keys), then each storage as an 8-byte element count and its raw bytes.
 *
 * The object pickle is read by the restricted unpickler with a short allow-list: tensors
 * (and parameters) are rebuilt here in TypeScript, dicts become plain objects, and any
 * other global - which in Python could run arbitrary code - is refused by name.
 *
 * Reading happens in two phases, because in the legacy layout storage bytes come after
 * the pickle: unpickling yields a tree with placeholder tensors, then storages are
 * attached and the placeholders materialised as contiguous RawTensors.
 */

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { type PickleGlobal, unpickle } from './pickle.js';
import { type DType, isRawTensor, itemSize, numel, plainBytes, type RawTensor } from './raw.js';
import { isZip, ZipArchive } from './zip.js';

/**
 * What a checkpoint holds, as plain data: tensors (always contiguous), Python scalars
 * (int -> number, or bigint beyond 2^53), str, bytes, None -> null, lists and tuples ->
 * arrays, dicts and OrderedDicts -> objects in insertion order (non-string keys turned
 * into strings), torch.dtype -> its name ('float16'), torch.device -> 'cuda:1'.
 */
export type PthValue =
  | RawTensor
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | PthValue[]
  | { [k: string]: PthValue };

const REFUSAL = '.pth files may only contain tensors and plain containers';

// ------------------------------------------------------------------------------------
// Placeholders produced while unpickling.
// ------------------------------------------------------------------------------------

/** A storage type such as torch.FloatStorage; only ever used as a value, never called. */
interface StorageType extends PickleGlobal {
  readonly storageDtype: DType;
  readonly pyName: string;
}

/** One storage of the file; `bytes` is attached in phase two. */
interface StorageRef {
  readonly key: string;
  readonly dtype: DType;
  readonly numel: number;
  /**
   * Legacy files (torch < 0.4 era) could save a view into a bigger storage: elements
   * [offset, offset + numel) of `root`. Its bytes are cut from the root's.
   */
  readonly view?: { readonly root: StorageRef; readonly offset: number };
  bytes?: Uint8Array;
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

/** A torch.dtype object such as torch.float16. */
interface DTypeObject extends PickleGlobal {
  readonly dtypeName: DType;
}

/** Marker for the type objects _rebuild_from_type_v2 may name. */
interface TensorType extends PickleGlobal {
  readonly tensorType: true;
}

// ------------------------------------------------------------------------------------
// The allow-list. Each entry is what torch.save emits for tensors, parameters and the
// state-dict container; nothing here touches the filesystem, imports or evaluates.
// ------------------------------------------------------------------------------------

function buildGlobals(): Map<string, PickleGlobal> {
  const g = new Map<string, PickleGlobal>();

  // state_dict() returns an OrderedDict; its BUILD state is the `_metadata` attribute
  // (per-module version numbers torch uses for migrations), which we drop.
  g.set('collections.OrderedDict', {
    call(args) {
      const m = new Map<unknown, unknown>();
      if (args.length > 0 && Array.isArray(args[0])) {
        for (const pair of args[0] as unknown[]) {
          if (!Array.isArray(pair) || pair.length !== 2) throw new Error('OrderedDict items must be pairs');
          m.set(pair[0], pair[1]);
        }
      }
      return m;
    },
    build: (obj) => obj,
  });

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  // backward_hooks[, metadata]): the reduce of every plain tensor. requires_grad, hooks
  // and metadata describe autograd state we do not carry.
  const rebuildTensor: PickleGlobal = {
    call(args) {
      if (args.length < 4) throw new Error(`expected at least 4 arguments, got ${args.length}`);
      const [storage, offset, size, stride] = args;
      if (!isStorageRef(storage)) throw new Error('first argument is not a storage');
      return new TensorRef(storage, checkInt(offset, 'storage_offset'), checkInts(size, 'size'), checkInts(stride, 'stride'));
    },
  };
  g.set('torch._utils._rebuild_tensor_v2', rebuildTensor);

  // nn.Parameter pickles as _rebuild_parameter(data, requires_grad, backward_hooks) and,
  // in newer torch when it carries Python attributes, _rebuild_parameter_with_state(...,
  // state). A parameter is its data for our purposes.
  const rebuildParameter: PickleGlobal = {
    call(args) {
      if (!(args[0] instanceof TensorRef)) throw new Error('first argument is not a tensor');
      return args[0];
    },
  };
  g.set('torch._utils._rebuild_parameter', rebuildParameter);
  g.set('torch._utils._rebuild_parameter_with_state', rebuildParameter);

  // Tensor subclasses and tensors with Python attributes pickle as
  // _rebuild_from_type_v2(func, type, args, state). Only plain tensor types, and only the
  // rebuild functions above as func, are accepted.
  const tensorType: TensorType = { tensorType: true };
  g.set('torch.Tensor', tensorType);
  g.set('torch.nn.parameter.Parameter', tensorType);
  g.set('torch._tensor._rebuild_from_type_v2', {
    call(args) {
      const [func, type, fargs] = args;
      if (func !== rebuildTensor && func !== rebuildParameter) throw new Error('unsupported rebuild function');
      if (type !== tensorType) throw new Error('unsupported tensor type');
      if (!Array.isArray(fargs)) throw new Error('arguments are not a tuple');
      return rebuildTensor === func ? rebuildTensor.call!(fargs) : rebuildParameter.call!(fargs);
    },
  });

  // Storage types appear inside persistent ids to give the element type.
  const storages: [string, DType][] = [
    ['FloatStorage', 'float32'],
    ['DoubleStorage', 'float64'],
    ['HalfStorage', 'float16'],
    ['BFloat16Storage', 'bfloat16'],
    ['LongStorage', 'int64'],
    ['IntStorage', 'int32'],
    ['ShortStorage', 'int16'],
    ['CharStorage', 'int8'],
    ['ByteStorage', 'uint8'],
    ['BoolStorage', 'bool'],
    // Untyped storages (torch >= 1.13 when a storage itself is saved) count bytes.
    ['UntypedStorage', 'uint8'],
  ];
  for (const [name, dtype] of storages) {
    const t: StorageType = { storageDtype: dtype, pyName: `torch.${name}` };
    g.set(`torch.${name}`, t);
  }

  // Checkpoints sometimes record a dtype, a device or a shape next to the weights. A
  // dtype pickles as a bare global ('torch float16') and reads back as its name.
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'] as const) {
    const t: DTypeObject = { dtypeName: dtype };
    g.set(`torch.${dtype}`, t);
  }
  g.set('torch.device', {
    call(args) {
      if (typeof args[0] !== 'string') throw new Error('device type is not a string');
      return args.length > 1 && args[1] !== null ? `${args[0]}:${String(args[1])}` : args[0];
    },
  });
  g.set('torch.Size', {
    call(args) {
      return checkInts(args[0] ?? [], 'size');
    },
  });

  // Pickle protocols 0-2 (torch.save's default is 2) cannot spell Python 3 bytes
  // directly: they write _codecs.encode(text, 'latin1'), or bytes() when empty (under
  // its Python 2 name in protocols below 3). Both are pure conversions.
  g.set('_codecs.encode', {
    call(args) {
      const [text, encoding] = args;
      if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
        throw new Error('only latin1-encoded bytes are supported');
      }
      return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    },
  });
  const emptyBytes: PickleGlobal = {
    call(args) {
      if (args.length !== 0) throw new Error('only bytes() without arguments is supported');
      return new Uint8Array(0);
    },
  };
  g.set('builtins.bytes', emptyBytes);
  g.set('__builtin__.bytes', emptyBytes);
  return g;
}

const GLOBALS = buildGlobals();

export interface PthReadOptions {
  /**
   * Python classes (nn.Module subclasses without tensors, such as the nn.ReLU objects
   * BigGAN-PyTorch's state_dict.pth keeps in its config) accepted as inert stubs:
   * constructing one makes `{ __class__: 'module.Name' }` and its pickled state is
   * discarded. Only for files known to hold them; nothing of the class runs. A module's
   * state pickles its hook sets as Python sets, so sets are accepted alongside.
   */
  moduleStubs?: readonly string[];
}

/** The allow-list for a read: the default one, plus any module stubs asked for. */
function globalsFor(o: PthReadOptions): ReadonlyMap<string, PickleGlobal> {
  if (!o.moduleStubs?.length) return GLOBALS;
  const g = new Map(GLOBALS);
  for (const name of o.moduleStubs) {
    const stub: PickleGlobal & { moduleStub: string } = {
      moduleStub: name,
      call: () => new Map<string, unknown>([['__class__', name]]),
      build: (obj) => obj,
    };
    g.set(name, stub);
  }
  const set: PickleGlobal = {
    call(args) {
      if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0]))) throw new Error('set() takes one list');
      return new Set((args[0] as unknown[] | undefined) ?? []);
    },
  };
  g.set('builtins.set', set);
  g.set('__builtin__.set', set);
  return g;
}

function isStorageRef(x: unknown): x is StorageRef {
  return x !== null && typeof x === 'object' && 'key' in x && 'dtype' in x && 'numel' in x && !(x instanceof TensorRef);
}

function isStorageType(x: unknown): x is StorageType {
  return x !== null && typeof x === 'object' && 'storageDtype' in x;
}

function checkInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw new Error(`${what} ${String(x)} is not a non-negative integer`);
  }
  return x;
}

function checkInts(x: unknown, what: string): number[] {
  if (!Array.isArray(x)) throw new Error(`${what} is not a tuple`);
  return x.map((v) => checkInt(v, what));
}

/** Every storage the pickle referenced: whole storages by key, plus legacy views. */
interface Storages {
  roots: Map<string, StorageRef>;
  views: StorageRef[];
}

/**
 * Turns persistent ids into StorageRefs, one per key: tensors that viewed one storage in
 * Python get the same bytes, as they did there.
 */
function storageLoader(storages: Storages): (pid: unknown) => StorageRef {
  const viewsByKey = new Map<string, StorageRef>();
  return (pid) => {
    if (!Array.isArray(pid)) throw new Error('unsupported persistent id');
    const [kind, type, key, , count, viewMeta] = pid as unknown[];
    if (kind === 'module') {
      // The legacy format records a pickled module's class with its source code; an
      // allowed stub class stands for itself (the source is never looked at).
      if (type !== null && typeof type === 'object' && 'moduleStub' in type) return type as unknown as StorageRef;
      throw new Error('the file pickles a whole nn.Module; save and load model.state_dict() instead');
    }
    if (pid.length < 5) throw new Error('unsupported persistent id');
    if (kind !== 'storage') throw new Error(`unsupported persistent id kind '${String(kind)}'`);
    if (!isStorageType(type)) throw new Error('storage persistent id without a storage type');
    if (typeof key !== 'string') throw new Error('storage key is not a string');
    const dtype = type.storageDtype;
    let root = storages.roots.get(key);
    if (!root) {
      root = { key, dtype, numel: checkInt(count, 'storage size') };
      storages.roots.set(key, root);
    } else if (root.dtype !== dtype) {
      throw new Error(`storage '${key}' is used with two element types`);
    }
    if (viewMeta === undefined || viewMeta === null) return root;

    // Legacy view metadata: (view_key, offset, size), in elements of the root.
    if (!Array.isArray(viewMeta) || viewMeta.length !== 3 || typeof viewMeta[0] !== 'string') {
      throw new Error('corrupt storage view metadata');
    }
    const viewKey = viewMeta[0] as string;
    const existing = viewsByKey.get(viewKey);
    if (existing) return existing;
    const view: StorageRef = {
      key: viewKey,
      dtype,
      numel: checkInt(viewMeta[2], 'storage view size'),
      view: { root, offset: checkInt(viewMeta[1], 'storage view offset') },
    };
    viewsByKey.set(viewKey, view);
    storages.views.push(view);
    return view;
  };
}

// ------------------------------------------------------------------------------------
// Container layouts.
// ------------------------------------------------------------------------------------

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export function readPth(input: Uint8Array, name = '<memory>', o: PthReadOptions = {}): PthValue {
  const bytes = plainBytes(input);
  const globals = globalsFor(o);
  if (isZip(bytes)) return readZipPth(bytes, name, globals);
  if (bytes.byteLength > 262 && latin1(bytes.subarray(257, 262)) === 'ustar') {
    throw new Error(`${name}: tar-format checkpoint (PyTorch < 0.4) is not supported; re-save it with a newer torch`);
  }
  if (bytes.byteLength >= 2 && bytes[0] === 0x80) return readLegacyPth(bytes, name, globals);
  throw new Error(`${name}: not a PyTorch checkpoint (neither a torch zip archive nor a legacy pickle)`);
}

export async function readPthFile(path: string, o: PthReadOptions = {}): Promise<PthValue> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  return readPth(bytes, path, o);
}

export function readPthFileSync(path: string, o: PthReadOptions = {}): PthValue {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  return readPth(bytes, path, o);
}

function readZipPth(bytes: Uint8Array, name: string, globals: ReadonlyMap<string, PickleGlobal>): PthValue {
  const zip = new ZipArchive(bytes, name);
  const names = zip.names();
  if (names.length === 0) throw new Error(`${name}: empty zip archive`);
  // torch writes every record under one top folder and finds it from the first record.
  const slash = names[0]!.indexOf('/');
  const prefix = slash >= 0 ? names[0]!.slice(0, slash + 1) : '';
  const pklName = `${prefix}data.pkl`;
  if (!zip.has(pklName)) {
    if (zip.has(`${prefix}constants.pkl`) || names.some((n) => n.startsWith(`${prefix}code/`))) {
      throw new Error(`${name}: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint`);
    }
    throw new Error(`${name}: no ${pklName} in the archive; not a torch.save checkpoint`);
  }
  let bigEndian = false;
  const orderName = `${prefix}byteorder`;
  if (zip.has(orderName)) {
    const order = latin1(zip.read(orderName)).trim();
    if (order !== 'little' && order !== 'big') throw new Error(`${name}: unknown byteorder '${order}'`);
    bigEndian = order === 'big';
  }

  const storages: Storages = { roots: new Map(), views: [] };
  const { value } = unpickle(zip.read(pklName), {
    globals,
    persistentLoad: storageLoader(storages),
    file: name,
    refusalReason: REFUSAL,
  });

  // The zip layout has no storage views; each storage is a record of its own.
  if (storages.views.length) throw new Error(`${name}: storage views are not valid in a zip checkpoint`);
  for (const s of storages.roots.values()) {
    const rec = `${prefix}data/${s.key}`;
    if (!zip.has(rec)) throw new Error(`${name}: storage record '${rec}' is missing`);
    const data = zip.read(rec);
    const need = s.numel * itemSize(s.dtype);
    if (data.byteLength !== need) {
      throw new Error(`${name}: storage '${s.key}' has ${data.byteLength} bytes, expected ${need} (${s.numel} x ${s.dtype})`);
    }
    s.bytes = bigEndian ? swapBytes(data, itemSize(s.dtype)) : data;
  }
  return toPthValue(value, name);
}

function readLegacyPth(bytes: Uint8Array, name: string, globals: ReadonlyMap<string, PickleGlobal>): PthValue {
  const opts = { globals, file: name, refusalReason: REFUSAL };
  const magic = unpickle(bytes, opts, 0);
  if (magic.value !== LEGACY_MAGIC) {
    throw new Error(`${name}: a pickle, but not a torch.save checkpoint (wrong magic number)`);
  }
  const proto = unpickle(bytes, opts, magic.end);
  if (proto.value !== LEGACY_PROTOCOL) throw new Error(`${name}: unsupported legacy protocol version ${String(proto.value)}`);
  const sys = unpickle(bytes, opts, proto.end);
  const sysInfo = sys.value instanceof Map ? sys.value : new Map();
  const little = sysInfo.get('little_endian') !== false;

  const storages: Storages = { roots: new Map(), views: [] };
  const main = unpickle(bytes, { ...opts, persistentLoad: storageLoader(storages) }, sys.end);
  const keysPickle = unpickle(bytes, opts, main.end);
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
    throw new Error(`${name}: storage key list is corrupt`);
  }

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keysPickle.end;
  for (const key of keys as string[]) {
    const s = storages.roots.get(key);
    if (!s) throw new Error(`${name}: storage '${key}' is listed but never used`);
    if (s.bytes) throw new Error(`${name}: storage '${key}' is listed twice`);
    if (pos + 8 > bytes.byteLength) throw new Error(`${name}: truncated before storage '${key}'`);
    const count = dv.getBigInt64(pos, little);
    if (count !== BigInt(s.numel)) {
      throw new Error(`${name}: storage '${key}' has ${count} elements on disk, the pickle says ${s.numel}`);
    }
    pos += 8;
    const len = s.numel * itemSize(s.dtype);
    if (pos + len > bytes.byteLength) throw new Error(`${name}: truncated inside storage '${key}'`);
    const data = bytes.subarray(pos, pos + len);
    s.bytes = little ? data : swapBytes(data, itemSize(s.dtype));
    pos += len;
  }
  if (pos !== bytes.byteLength) throw new Error(`${name}: ${bytes.byteLength - pos} bytes of trailing data`);

  for (const v of storages.views) {
    const { root, offset } = v.view!;
    const is = itemSize(v.dtype);
    if (!root.bytes || (offset + v.numel) * is > root.bytes.byteLength) {
      throw new Error(`${name}: storage view '${v.key}' of '${root.key}' is out of range`);
    }
    v.bytes = root.bytes.subarray(offset * is, (offset + v.numel) * is);
  }
  return toPthValue(main.value, name);
}

// ------------------------------------------------------------------------------------
// Phase two: placeholders -> PthValue.
// ------------------------------------------------------------------------------------

/** Deep enough for any real checkpoint; a deeper one is an attack on the call stack. */
const MAX_DEPTH = 500;

function toPthValue(root: unknown, file: string): PthValue {
  // Python objects can be shared (and even cyclic) through the memo; converting each one
  // once keeps sharing and terminates on cycles.
  const done = new Map<object, PthValue>();

  const convert = (x: unknown, path: string, depth: number): PthValue => {
    if (depth > MAX_DEPTH) throw new Error(`${file}: nesting deeper than ${MAX_DEPTH} at ${path}`);
    if (x === null || typeof x === 'number' || typeof x === 'bigint' || typeof x === 'string' || typeof x === 'boolean') {
      return x;
    }
    if (typeof x !== 'object') throw new Error(`${file}: unsupported value at ${path}`);
    if ('dtypeName' in x) return (x as DTypeObject).dtypeName;
    const seen = done.get(x);
    if (seen !== undefined) return seen;
    if (x instanceof Uint8Array) return x;
    if (x instanceof TensorRef) {
      const t = materialize(x, `${file}: tensor ${path}`);
      done.set(x, t);
      return t;
    }
    if (isStorageRef(x)) {
      // A storage saved on its own: expose it as a 1-d tensor of its elements.
      const t: RawTensor = { dtype: x.dtype, shape: [x.numel], data: x.bytes! };
      done.set(x, t);
      return t;
    }
    if (Array.isArray(x) || x instanceof Set) {
      const out: PthValue[] = [];
      done.set(x, out);
      let i = 0;
      for (const v of x) out.push(convert(v, `${path}[${i++}]`, depth + 1));
      return out;
    }
    if (x instanceof Map) {
      const out: { [k: string]: PthValue } = {};
      done.set(x, out);
      for (const [k, v] of x) {
        const key = dictKey(k, file, path);
        Object.defineProperty(out, key, {
          value: convert(v, path ? `${path}.${key}` : key, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    const what = isStorageType(x) ? `type object ${x.pyName}` : 'an object';
    throw new Error(`${file}: unsupported value at ${path || 'top level'}: ${what}`);
  };
  return convert(root, '', 0);
}

/**
 * Python dict keys may be ints (optimizer state is keyed by parameter index) and other
 * hashables; PthValue objects have string keys. Note JS objects list integer-like keys
 * first in ascending order, whatever their insertion order.
 */
function dictKey(k: unknown, file: string, path: string): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k === null) return String(k);
  throw new Error(`${file}: dict at ${path || 'top level'} has a key of unsupported type`);
}

/**
 * A contiguous RawTensor from a (storage, offset, size, stride) view. Contiguous views
 * are returned as zero-copy subarrays; anything else (slices, transposes, expands) is
 * gathered element by element, which is exact for any dtype since it moves bytes.
 */
function materialize(t: TensorRef, where: string): RawTensor {
  const { storage, offset, size, stride } = t;
  if (!storage.bytes) throw new Error(`${where}: storage '${storage.key}' was never loaded`);
  return stridedView({ dtype: storage.dtype, shape: [storage.numel], data: storage.bytes }, offset, size, stride, where);
}

/**
 * The tensor a (storage, offset, size, stride) view of a 1-d storage tensor shows, as a
 * contiguous RawTensor: how torch rebuilds a pickled tensor (_rebuild_tensor_v2). Also
 * used by readers of other pickles that embed torch storages (src/io/nvidia_pickle.ts).
 */
export function stridedView(storage: RawTensor, offset: number, size: number[], stride: number[], where: string): RawTensor {
  const dtype = storage.dtype;
  const is = itemSize(dtype);
  const src = storage.data;
  if (size.length !== stride.length) throw new Error(`${where}: size and stride have different lengths`);
  const n = numel(size);
  const shape = [...size];
  if (n === 0) return { dtype, shape, data: new Uint8Array(0) };

  const storageNumel = src.byteLength / is;
  let last = offset;
  for (let d = 0; d < size.length; d++) last += (size[d]! - 1) * stride[d]!;
  if (last >= storageNumel) {
    throw new Error(`${where}: view (offset ${offset}, size [${size.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} of a ${storageNumel}-element storage`);
  }

  if (isContiguous(size, stride)) return { dtype, shape, data: src.subarray(offset * is, (offset + n) * is) };

  const out = new Uint8Array(n * is);
  const nd = size.length;
  const inner = size[nd - 1]!;
  const innerStride = stride[nd - 1]!;
  const idx = new Array<number>(nd - 1).fill(0); // odometer over all but the last dimension
  let base = offset;
  let o = 0;
  for (;;) {
    if (innerStride === 1) {
      out.set(src.subarray(base * is, (base + inner) * is), o);
      o += inner * is;
    } else {
      for (let j = 0, s = base * is; j < inner; j++, s += innerStride * is) {
        for (let b = 0; b < is; b++) out[o++] = src[s + b]!;
      }
    }
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < size[d]!) break;
      base -= stride[d]! * size[d]!;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return { dtype, shape, data: out };
}

function isContiguous(size: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) return false;
    expect *= size[d]!;
  }
  return true;
}

function swapBytes(data: Uint8Array, is: number): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  for (let i = 0; i < data.byteLength; i += is) {
    for (let b = 0; b < is; b++) out[i + b] = data[i + is - 1 - b]!;
  }
  return out;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

// ------------------------------------------------------------------------------------
// State-dict helpers.
// ------------------------------------------------------------------------------------

function isDict(v: PthValue | undefined): v is { [k: string]: PthValue } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !isRawTensor(v);
}

/**
 * Every tensor in a nested structure, keyed by its path joined with '.' (list items by
 * index), which is how torch names nested module parameters. Non-tensor leaves (epoch
 * counters, names, hyper-parameters) are skipped.
 */
export function flattenStateDict(v: PthValue, prefix = ''): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  const seen = new Set<object>();
  const walk = (x: PthValue, path: string): void => {
    if (isRawTensor(x)) {
      if (path === '') throw new Error('flattenStateDict: a bare tensor has no name; give a prefix');
      Object.defineProperty(out, path, { value: x, enumerable: true, writable: true, configurable: true });
      return;
    }
    if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return;
    if (seen.has(x)) return; // cyclic or shared containers: each is flattened once
    seen.add(x);
    const join = (k: string) => (path ? `${path}.${k}` : k);
    if (Array.isArray(x)) x.forEach((item, i) => walk(item, join(String(i))));
    else for (const k of Object.keys(x)) walk(x[k]!, join(k));
  };
  walk(v, prefix);
  return out;
}

/** Keys under which training scripts commonly nest the weights, tried in order. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model'];

/**
 * The weights of a checkpoint as a flat name -> tensor map.
 *
 * With `key`, takes that entry (dotted paths like 'G.ema' descend). Without it, takes
 * the top level if it is a dict whose values are all tensors, else the first of
 * 'state_dict', 'model_state_dict', 'model' that holds tensors; anything else is an error
 * that lists what the file does contain, so the user can pick a key.
 */
export function stateDictFrom(v: PthValue, key?: string): Record<string, RawTensor> {
  if (!isDict(v)) throw new Error(`checkpoint is ${describe(v)}, not a dict of tensors`);
  if (key !== undefined) {
    let cur: PthValue = v;
    for (const part of key.split('.')) {
      if (!isDict(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) {
        throw new Error(`no '${key}' in checkpoint; top-level keys: ${summarize(v)}`);
      }
      cur = cur[part]!;
    }
    const sd = flattenStateDict(cur);
    if (Object.keys(sd).length === 0) throw new Error(`'${key}' in checkpoint holds no tensors (${describe(cur)})`);
    return sd;
  }
  const values = Object.values(v);
  if (values.length > 0 && values.every(isRawTensor)) return flattenStateDict(v);
  for (const k of STATE_DICT_KEYS) {
    const sub = v[k];
    if (isDict(sub)) {
      const sd = flattenStateDict(sub);
      if (Object.keys(sd).length > 0) return sd;
    }
  }
  throw new Error(
    `checkpoint is not a flat state dict and has no 'state_dict' entry; top-level keys: ${summarize(v)}. ` +
      'Name the entry that holds the weights.',
  );
}

function describe(v: PthValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'None';
  if (isRawTensor(v)) return `a ${v.dtype} tensor [${v.shape.join(', ')}]`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (typeof v === 'object') return `a dict of ${Object.keys(v).length}`;
  return `a ${typeof v}`;
}

function summarize(v: { [k: string]: PthValue }): string {
  const keys = Object.keys(v);
  const shown = keys.slice(0, 12).map((k) => `${k} (${describe(v[k])})`);
  return shown.join(', ') + (keys.length > 12 ? `, ... ${keys.length - 12} more` : '') || '(none)';
}
