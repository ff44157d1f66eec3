// Making tensors: from JS data, from bytes, and the factory functions.
import { N } from './native.js';
import { Tensor, wrap, handles, shapeArg, type Shape, type NestedArray } from './tensor.js';
import { type DType, type Device, type TypedArray, dtypeOfArray, itemSize } from './dtype.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function finish(t: Tensor, o: TensorOptions): Tensor {
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

function placed(t: Tensor, o: TensorOptions): Tensor {
  if (!o.device || o.device === 'cpu') return finish(t, o);
  const moved = t.to({ device: o.device });
  t.dispose();
  return finish(moved, o);
}

function inferShape(data: unknown): number[] {
  const shape: number[] = [];
  let v: unknown = data;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function flattenNested(data: unknown, shape: number[], d: number, out: unknown[]): void {
  if (d === shape.length) {
    if (Array.isArray(data)) throw new Error('tensor(): ragged nested array (more nesting than the first element has)');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[d]) {
    throw new Error(`tensor(): ragged nested array: expected length ${shape[d]} at depth ${d}`);
  }
  for (const x of data) flattenNested(x, shape, d + 1, out);
}

/**
 * A tensor from a number, a nested array, or a typed array (copied). As in PyTorch, the
 * dtype is inferred when not given: booleans → bool, integers → int64, else float32.
 */
export function tensor(data: NestedArray | boolean | boolean[] | TypedArray | readonly unknown[], opts: TensorOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) return fromTypedArray(data as TypedArray, [(data as TypedArray).length], opts);
  const shape = inferShape(data);
  const flat: unknown[] = [];
  flattenNested(data, shape, 0, flat);
  let dtype = opts.dtype;
  if (!dtype) {
    if (flat.length > 0 && flat.every((x) => typeof x === 'boolean')) dtype = 'bool';
    else if (flat.length > 0 && flat.every((x) => typeof x === 'number' && Number.isInteger(x))) dtype = 'int64';
    else dtype = 'float32';
  }
  for (const x of flat) {
    if (typeof x !== 'number' && typeof x !== 'boolean') throw new TypeError(`tensor(): expected numbers or booleans, got ${typeof x}`);
  }
  const nums = Float64Array.from(flat as (number | boolean)[], Number);
  const t64 = wrap(N.fromBytes(nums, shape, 'float64'));
  if (dtype === 'float64') return placed(t64, opts);
  const t = t64.to(dtype);
  t64.dispose();
  return placed(t, { ...opts, dtype });
}

/**
 * A tensor of the given shape from a typed array (copied). A Uint16Array with dtype
 * float16 or bfloat16 is taken as raw bits; any other dtype mismatch converts values.
 */
export function fromTypedArray(data: TypedArray, shape: Shape, opts: TensorOptions = {}): Tensor {
  const natural = dtypeOfArray(data);
  const want = opts.dtype ?? natural;
  if (natural === null) {
    if (want === 'float16' || want === 'bfloat16') return placed(wrap(N.fromBytes(data, [...shape], want)), opts);
    throw new TypeError('fromTypedArray(): a Uint16Array needs dtype float16 or bfloat16');
  }
  if (want === null) throw new TypeError('fromTypedArray(): unsupported typed array');
  const t = wrap(N.fromBytes(data, [...shape], natural));
  if (want === natural) return placed(t, opts);
  const c = t.to(want);
  t.dispose();
  return placed(c, opts);
}

/** A tensor over a copy of raw little-endian bytes (the inverse of `t.toBytes()`). */
export function fromBytes(bytes: Uint8Array, shape: Shape, dtype: DType, opts: Omit<TensorOptions, 'dtype'> = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== n * itemSize(dtype)) {
    throw new RangeError(`fromBytes(): ${bytes.byteLength} bytes cannot hold shape [${shape.join(', ')}] of ${dtype}`);
  }
  return placed(wrap(N.fromBytes(bytes, [...shape], dtype)), opts);
}

type ShapeArgs = (number | Shape)[];

function splitOpts(args: (number | Shape | TensorOptions)[]): [number[], TensorOptions] {
  const last = args[args.length - 1];
  if (last !== undefined && typeof last === 'object' && !Array.isArray(last)) {
    return [shapeArg(args.slice(0, -1) as ShapeArgs), last as TensorOptions];
  }
  return [shapeArg(args as ShapeArgs), {}];
}

export function zeros(...args: (number | Shape | TensorOptions)[]): Tensor {
  const [s, o] = splitOpts(args);
  return finish(wrap(N.zeros(s, o.dtype ?? null, o.device ?? null)), o);
}
export function ones(...args: (number | Shape | TensorOptions)[]): Tensor {
  const [s, o] = splitOpts(args);
  return finish(wrap(N.ones(s, o.dtype ?? null, o.device ?? null)), o);
}
/** Uninitialised memory: fill it before reading. */
export function empty(...args: (number | Shape | TensorOptions)[]): Tensor {
  const [s, o] = splitOpts(args);
  return finish(wrap(N.empty(s, o.dtype ?? null, o.device ?? null)), o);
}
/** Filled with `value`; float32 unless a dtype is given (JS cannot tell 1 from 1.0). */
export function full(shape: Shape, value: number | boolean, opts: TensorOptions = {}): Tensor {
  return finish(wrap(N.full([...shape], value, opts.dtype ?? 'float32', opts.device ?? null)), opts);
}
/** Standard normal samples from the global generator. */
export function randn(...args: (number | Shape | TensorOptions)[]): Tensor {
  const [s, o] = splitOpts(args);
  return finish(wrap(N.randn(s, o.dtype ?? null, o.device ?? null)), o);
}
/** Uniform samples in [0, 1). */
export function rand(...args: (number | Shape | TensorOptions)[]): Tensor {
  const [s, o] = splitOpts(args);
  return finish(wrap(N.rand(s, o.dtype ?? null, o.device ?? null)), o);
}
/** Integers uniform in [low, high); int64 unless a dtype is given. */
export function randint(low: number, high: number, shape: Shape, opts: TensorOptions = {}): Tensor {
  return finish(wrap(N.randint(low, high, [...shape], opts.dtype ?? null, opts.device ?? null)), opts);
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: TensorOptions = {}): Tensor {
  return wrap(N.randperm(n, opts.dtype ?? null, opts.device ?? null));
}
/** `arange(end)` or `arange(start, end, step)`; int64 for integer arguments, else float32. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  return finish(wrap(N.arange(start, end, step, opts.dtype ?? null, opts.device ?? null)), opts);
}
export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  return finish(wrap(N.linspace(start, end, steps, opts.dtype ?? null, opts.device ?? null)), opts);
}
export function eye(n: number, m = n, opts: TensorOptions = {}): Tensor {
  return finish(wrap(N.eye(n, m, opts.dtype ?? null, opts.device ?? null)), opts);
}

function like(t: Tensor, o: TensorOptions): TensorOptions {
  return { dtype: o.dtype ?? t.dtype, device: o.device ?? t.device, requiresGrad: o.requiresGrad };
}
export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor { return zeros(t.shape, like(t, opts)); }
export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor { return ones(t.shape, like(t, opts)); }
export function fullLike(t: Tensor, v: number, opts: TensorOptions = {}): Tensor { return full(t.shape, v, like(t, opts)); }
export function randnLike(t: Tensor, opts: TensorOptions = {}): Tensor { return randn(t.shape, like(t, opts)); }
export function randLike(t: Tensor, opts: TensorOptions = {}): Tensor { return rand(t.shape, like(t, opts)); }

// ---- functions over several tensors ----

export function cat(ts: readonly Tensor[], dim = 0): Tensor { return wrap(N.cat(handles(ts), dim)); }
export function stack(ts: readonly Tensor[], dim = 0): Tensor { return wrap(N.stack(handles(ts), dim)); }
/** `cond ? a : b`, elementwise with broadcasting; a and b may be numbers. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return wrap(N.where(cond.handle, a instanceof Tensor ? a.handle : a, b instanceof Tensor ? b.handle : b));
}
/** Samples `n` indices per row from (unnormalised) probabilities. */
export function multinomial(probs: Tensor, n: number, replacement = false): Tensor {
  return wrap(N.multinomial(probs.handle, n, replacement));
}
/** Bernoulli draws with the given probabilities (a tensor of p, or one p for every element of `like`). */
export function bernoulli(probsOrLike: Tensor, p?: number): Tensor {
  return wrap(N.bernoulli(probsOrLike.handle, p ?? null));
}
