// The Tensor: a typed face over one native at::Tensor handle. Methods follow PyTorch's
// names (camelCase) and semantics, including broadcasting and type promotion, because
// libtorch does the work.
import { N, type Handle } from './native.js';
import { track, untrack } from './scope.js';
import { type DType, type Device, type TypedArray, isFloating } from './dtype.js';

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
export type Shape = readonly number[];

function h(x: TensorOrScalar): Handle | Scalar {
  return x instanceof Tensor ? x.handle : x;
}

function dimList(dim: number | readonly number[] | undefined | null): number[] | null {
  if (dim === undefined || dim === null) return null;
  return typeof dim === 'number' ? [dim] : [...dim];
}

/** Shape arguments may be spread (`reshape(2, 3)`) or given as one array (`reshape([2, 3])`). */
export function shapeArg(args: readonly (number | Shape)[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as Shape)];
  return args as number[];
}

export interface ToOptions {
  dtype?: DType;
  device?: Device;
  /** Always return a new tensor, even when nothing changes. */
  copy?: boolean;
}

export interface VarOptions {
  /** Bessel's correction (1 = unbiased, PyTorch's default; 0 = population). */
  correction?: number;
  keepdim?: boolean;
}

// Native handles have no finalizer of their own (one N-API finalizer per handle cost about a
// quarter of a tiny op): scopes free what they own, and a tensor no scope owns (made outside
// every scope, kept, or returned out of the outermost) is registered here, so that if it is
// collected without dispose() its native memory is freed all the same.
const unowned = new FinalizationRegistry<Handle>((handle) => N.dispose(handle));

export class Tensor {
  #h: Handle | null;
  #kept = false;
  #registered = false;
  #shape: number[] | null = null;

  /** @internal Wraps a native handle; use the creation functions instead. */
  constructor(handle: Handle) {
    this.#h = handle;
    if (!track(this)) this.leftScopes();
  }

  /** @internal No scope owns this tensor any more: the garbage collector frees it if dispose() never does. */
  leftScopes(): void {
    if (this.#registered || this.#h === null) return;
    unowned.register(this, this.#h, this);
    this.#registered = true;
  }

  /** @internal The native handle; throws when the tensor was disposed. */
  get handle(): Handle {
    if (this.#h === null) throw new Error('this tensor was disposed and can no longer be used');
    return this.#h;
  }

  // ---- memory ----

  /** Frees the native tensor now (other views of the same storage stay valid). */
  dispose(): void {
    if (this.#h !== null) {
      if (this.#registered) unowned.unregister(this);
      this.#registered = false;
      N.dispose(this.#h);
      this.#h = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get isDisposed(): boolean {
    return this.#h === null;
  }

  /** Escapes every enclosing scope: the caller now owns the tensor (and disposes it). */
  keep(): this {
    if (!this.#kept) {
      this.#kept = true;
      untrack(this);
      this.leftScopes();
    }
    return this;
  }

  get isKept(): boolean {
    return this.#kept;
  }

  // ---- properties ----

  get shape(): number[] {
    if (this.#shape === null) this.#shape = N.shape(this.handle) as number[];
    return [...this.#shape];
  }

  /** Size of one dimension (negative counts from the end). */
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`dimension ${dim} out of range for a ${s.length}-D tensor`);
    return s[d];
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return N.numel(this.handle);
  }

  get dtype(): DType {
    return N.dtype(this.handle);
  }

  get device(): Device {
    return N.device(this.handle);
  }

  get strides(): number[] {
    return N.strides(this.handle);
  }

  get isContiguous(): boolean {
    return N.isContiguous(this.handle);
  }

  // ---- autograd ----

  get requiresGrad(): boolean {
    return N.requiresGrad(this.handle);
  }

  set requiresGrad(v: boolean) {
    N.setRequiresGrad(this.handle, v);
  }

  /** In-place `requires_grad_`, returning this tensor. */
  requiresGrad_(v = true): this {
    N.setRequiresGrad(this.handle, v);
    return this;
  }

  /** The accumulated gradient (a new handle on it each time), or null. */
  get grad(): Tensor | null {
    return wrapOpt(N.gradOf(this.handle));
  }

  set grad(g: Tensor | null) {
    N.setGrad(this.handle, g === null ? null : g.handle);
  }

  get isLeaf(): boolean {
    return N.isLeaf(this.handle);
  }

  /** Name of the autograd node that made this tensor (e.g. 'AddBackward0'), or null. */
  get gradFn(): string | null {
    return N.gradFnName(this.handle);
  }

  backward(gradient?: Tensor | null, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    N.backward(this.handle, gradient?.handle ?? null, opts.retainGraph ?? null, opts.createGraph ?? false);
  }

  // ---- conversion ----

  to(target: DType | Device | ToOptions): Tensor {
    const o: ToOptions = typeof target === 'string' ? (isDTypeName(target) ? { dtype: target } : { device: target }) : target;
    return wrap(N.to(this.handle, o.dtype ?? null, o.device ?? null, o.copy ?? false));
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }
  cpu(): Tensor { return this.to({ device: 'cpu' }); }
  cuda(index = 0): Tensor { return this.to({ device: `cuda:${index}` }); }

  clone(): Tensor { return wrap(N.clone(this.handle)); }
  detach(): Tensor { return wrap(N.detach(this.handle)); }
  contiguous(): Tensor { return wrap(N.contiguous(this.handle)); }
  /** NHWC memory layout for 4-D tensors (faster convolutions on CPU); the shape stays NCHW. */
  channelsLast(): Tensor { return wrap(N.channelsLast(this.handle)); }
  /** A second handle on the same tensor (shares data and autograd history). */
  alias(): Tensor { return wrap(N.alias(this.handle)); }

  /** The single value of a one-element tensor. */
  item(): number {
    const v = N.item(this.handle);
    return typeof v === 'boolean' ? Number(v) : v;
  }

  /** The elements as a typed array in row-major order (float16/bfloat16 come back as float32). */
  toTypedArray(): TypedArray {
    const dt = this.dtype;
    if (dt === 'float16' || dt === 'bfloat16') {
      const f = this.to('float32');
      try {
        return f.toTypedArray();
      } finally {
        f.dispose();
      }
    }
    const buf: ArrayBuffer = N.toBytes(this.handle);
    switch (dt) {
      case 'float32': return new Float32Array(buf);
      case 'float64': return new Float64Array(buf);
      case 'int64': return new BigInt64Array(buf);
      case 'int32': return new Int32Array(buf);
      case 'int16': return new Int16Array(buf);
      case 'int8': return new Int8Array(buf);
      default: return new Uint8Array(buf);
    }
  }

  /** The raw little-endian bytes of the elements, row-major (for serialisation). */
  toBytes(): Uint8Array {
    return new Uint8Array(N.toBytes(this.handle) as ArrayBuffer);
  }

  /** The elements as (nested) JS numbers, like PyTorch's `tolist()`. */
  toArray(): NestedArray {
    const flat = Array.from(this.toTypedArray() as ArrayLike<number | bigint>, (v) => Number(v));
    const shape = this.shape;
    if (shape.length === 0) return flat[0];
    const build = (d: number, off: number): NestedArray => {
      const n = shape[d];
      if (d === shape.length - 1) return flat.slice(off, off + n);
      const stride = shape.slice(d + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => build(d + 1, off + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    if (this.#h === null) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- arithmetic ----

  add(other: TensorOrScalar, alpha?: number): Tensor { return wrap(N.add(this.handle, h(other), alpha ?? null)); }
  sub(other: TensorOrScalar, alpha?: number): Tensor { return wrap(N.sub(this.handle, h(other), alpha ?? null)); }
  mul(other: TensorOrScalar): Tensor { return wrap(N.mul(this.handle, h(other))); }
  div(other: TensorOrScalar): Tensor { return wrap(N.div(this.handle, h(other))); }
  pow(exponent: TensorOrScalar): Tensor { return wrap(N.pow(this.handle, h(exponent))); }
  remainder(other: TensorOrScalar): Tensor { return wrap(N.remainder(this.handle, h(other))); }
  /** `s - this` */
  rsub(s: number): Tensor { return wrap(N.rsub(this.handle, s)); }
  /** `s / this` */
  rdiv(s: number): Tensor { return wrap(N.rdiv(this.handle, s)); }
  /** `base ** this` */
  rpow(base: number): Tensor { return wrap(N.rpow(this.handle, base)); }
  maximum(other: Tensor): Tensor { return wrap(N.maximum(this.handle, other.handle)); }
  minimum(other: Tensor): Tensor { return wrap(N.minimum(this.handle, other.handle)); }
  neg(): Tensor { return wrap(N.neg(this.handle)); }
  abs(): Tensor { return wrap(N.abs(this.handle)); }
  sign(): Tensor { return wrap(N.sign(this.handle)); }
  sqrt(): Tensor { return wrap(N.sqrt(this.handle)); }
  rsqrt(): Tensor { return wrap(N.rsqrt(this.handle)); }
  square(): Tensor { return wrap(N.square(this.handle)); }
  exp(): Tensor { return wrap(N.exp(this.handle)); }
  log(): Tensor { return wrap(N.log(this.handle)); }
  log1p(): Tensor { return wrap(N.log1p(this.handle)); }
  sin(): Tensor { return wrap(N.sin(this.handle)); }
  cos(): Tensor { return wrap(N.cos(this.handle)); }
  floor(): Tensor { return wrap(N.floor(this.handle)); }
  ceil(): Tensor { return wrap(N.ceil(this.handle)); }
  round(): Tensor { return wrap(N.round(this.handle)); }
  reciprocal(): Tensor { return wrap(N.reciprocal(this.handle)); }
  erf(): Tensor { return wrap(N.erf(this.handle)); }
  /** Bounds may be numbers, tensors or null (unbounded). */
  clamp(min: TensorOrScalar | null, max: TensorOrScalar | null = null): Tensor {
    return wrap(N.clamp(this.handle, min === null ? null : h(min), max === null ? null : h(max)));
  }
  /** `this + weight * (end - this)` */
  lerp(end: Tensor, weight: TensorOrScalar): Tensor { return wrap(N.lerp(this.handle, end.handle, h(weight))); }

  // ---- comparison and logic ----

  eq(other: TensorOrScalar): Tensor { return wrap(N.eq(this.handle, h(other))); }
  ne(other: TensorOrScalar): Tensor { return wrap(N.ne(this.handle, h(other))); }
  lt(other: TensorOrScalar): Tensor { return wrap(N.lt(this.handle, h(other))); }
  le(other: TensorOrScalar): Tensor { return wrap(N.le(this.handle, h(other))); }
  gt(other: TensorOrScalar): Tensor { return wrap(N.gt(this.handle, h(other))); }
  ge(other: TensorOrScalar): Tensor { return wrap(N.ge(this.handle, h(other))); }
  logicalNot(): Tensor { return wrap(N.logicalNot(this.handle)); }
  logicalAnd(other: Tensor): Tensor { return wrap(N.logicalAnd(this.handle, other.handle)); }
  logicalOr(other: Tensor): Tensor { return wrap(N.logicalOr(this.handle, other.handle)); }
  isfinite(): Tensor { return wrap(N.isfinite(this.handle)); }
  isnan(): Tensor { return wrap(N.isnan(this.handle)); }
  /** Exact equality of shape and values. */
  equal(other: Tensor): boolean { return N.equal(this.handle, other.handle); }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return N.allclose(this.handle, other.handle, rtol, atol); }
  /** `mask ? value : this` */
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(N.maskedFill(this.handle, mask.handle, value)); }

  // ---- reductions ----

  sum(dim?: number | readonly number[] | null, keepdim = false): Tensor { return wrap(N.sum(this.handle, dimList(dim), keepdim)); }
  mean(dim?: number | readonly number[] | null, keepdim = false): Tensor { return wrap(N.mean(this.handle, dimList(dim), keepdim)); }
  var(dim?: number | readonly number[] | null, opts: VarOptions = {}): Tensor {
    return wrap(N.var(this.handle, dimList(dim), opts.correction ?? 1, opts.keepdim ?? false));
  }
  std(dim?: number | readonly number[] | null, opts: VarOptions = {}): Tensor {
    return wrap(N.std(this.handle, dimList(dim), opts.correction ?? 1, opts.keepdim ?? false));
  }
  amax(dim?: number | readonly number[] | null, keepdim = false): Tensor { return wrap(N.amax(this.handle, dimList(dim), keepdim)); }
  amin(dim?: number | readonly number[] | null, keepdim = false): Tensor { return wrap(N.amin(this.handle, dimList(dim), keepdim)); }
  /** The largest element; with a dim, `[values, indices]` along it. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return this.amax();
    const [v, i] = N.maxDim(this.handle, dim, keepdim);
    return [wrap(v), wrap(i)];
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return this.amin();
    const [v, i] = N.minDim(this.handle, dim, keepdim);
    return [wrap(v), wrap(i)];
  }
  argmax(dim: number | null = null, keepdim = false): Tensor { return wrap(N.argmax(this.handle, dim, keepdim)); }
  argmin(dim: number | null = null, keepdim = false): Tensor { return wrap(N.argmin(this.handle, dim, keepdim)); }
  norm(p = 2, dim?: number | readonly number[] | null, keepdim = false): Tensor {
    return wrap(N.norm(this.handle, p, dimList(dim), keepdim));
  }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor { return wrap(N.logsumexp(this.handle, dimList(dim), keepdim)); }
  cumsum(dim: number): Tensor { return wrap(N.cumsum(this.handle, dim)); }
  prod(): Tensor { return wrap(N.prod(this.handle)); }
  all(): Tensor { return wrap(N.all(this.handle)); }
  any(): Tensor { return wrap(N.any(this.handle)); }

  // ---- linear algebra ----

  matmul(other: Tensor): Tensor { return wrap(N.matmul(this.handle, other.handle)); }
  mm(other: Tensor): Tensor { return wrap(N.mm(this.handle, other.handle)); }
  bmm(other: Tensor): Tensor { return wrap(N.bmm(this.handle, other.handle)); }
  outer(other: Tensor): Tensor { return wrap(N.outer(this.handle, other.handle)); }
  /** Transpose of a 2-D tensor. */
  t(): Tensor {
    if (this.ndim !== 2) throw new Error(`t() expects a 2-D tensor, got shape [${this.shape.join(', ')}]`);
    return this.transpose(0, 1);
  }
  diag(offset = 0): Tensor { return wrap(N.diag(this.handle, offset)); }
  trace(): Tensor { return wrap(N.trace(this.handle)); }
  triu(offset = 0): Tensor { return wrap(N.triu(this.handle, offset)); }
  tril(offset = 0): Tensor { return wrap(N.tril(this.handle, offset)); }

  // ---- shape ----

  reshape(...shape: (number | Shape)[]): Tensor { return wrap(N.reshape(this.handle, shapeArg(shape))); }
  view(...shape: (number | Shape)[]): Tensor { return wrap(N.view(this.handle, shapeArg(shape))); }
  permute(...dims: (number | Shape)[]): Tensor { return wrap(N.permute(this.handle, shapeArg(dims))); }
  transpose(dim0: number, dim1: number): Tensor { return wrap(N.transpose(this.handle, dim0, dim1)); }
  flatten(startDim = 0, endDim = -1): Tensor { return wrap(N.flatten(this.handle, startDim, endDim)); }
  squeeze(dim?: number): Tensor { return wrap(N.squeeze(this.handle, dim ?? null)); }
  unsqueeze(dim: number): Tensor { return wrap(N.unsqueeze(this.handle, dim)); }
  expand(...shape: (number | Shape)[]): Tensor { return wrap(N.expand(this.handle, shapeArg(shape))); }
  expandAs(other: Tensor): Tensor { return this.expand(other.shape); }
  repeat(...reps: (number | Shape)[]): Tensor { return wrap(N.repeat(this.handle, shapeArg(reps))); }
  narrow(dim: number, start: number, length: number): Tensor { return wrap(N.narrow(this.handle, dim, start, length)); }
  /** Python's `x[..., start:end:step]` along `dim` (a view). */
  slice(dim: number, start = 0, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return wrap(N.slice(this.handle, dim, start, end, step));
  }
  /** `x[..., index]` along `dim`, removing that dimension (a view). */
  select(dim: number, index: number): Tensor { return wrap(N.select(this.handle, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(N.indexSelect(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(N.gather(this.handle, dim, index.handle)); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(N.scatter(this.handle, dim, index.handle, src.handle)); }
  flip(...dims: (number | Shape)[]): Tensor { return wrap(N.flip(this.handle, shapeArg(dims))); }
  roll(shifts: number | Shape, dims: number | Shape): Tensor {
    return wrap(N.roll(this.handle, typeof shifts === 'number' ? [shifts] : [...shifts], typeof dims === 'number' ? [dims] : [...dims]));
  }
  /** Pieces of `size` (or of the listed sizes) along `dim`. */
  split(size: number | Shape, dim = 0): Tensor[] { return wrapList(N.split(this.handle, typeof size === 'number' ? size : [...size], dim)); }
  chunk(chunks: number, dim = 0): Tensor[] { return wrapList(N.chunk(this.handle, chunks, dim)); }
  unbind(dim = 0): Tensor[] { return wrapList(N.unbind(this.handle, dim)); }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    const [v, i] = N.sort(this.handle, dim, descending);
    return [wrap(v), wrap(i)];
  }
  topk(k: number, dim = -1): [Tensor, Tensor] {
    const [v, i] = N.topk(this.handle, k, dim);
    return [wrap(v), wrap(i)];
  }

  // ---- activations (also in F) ----

  relu(): Tensor { return wrap(N.relu(this.handle)); }
  leakyRelu(negativeSlope = 0.01): Tensor { return wrap(N.leakyRelu(this.handle, negativeSlope)); }
  tanh(): Tensor { return wrap(N.tanh(this.handle)); }
  sigmoid(): Tensor { return wrap(N.sigmoid(this.handle)); }
  softmax(dim: number): Tensor { return wrap(N.softmax(this.handle, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(N.logSoftmax(this.handle, dim)); }

  // ---- in place (no autograd history is wanted here: init, optimisers, EMA, loading) ----

  copy_(src: Tensor): this { N.copy_(this.handle, src.handle); return this; }
  fill_(value: Scalar): this { N.fill_(this.handle, value); return this; }
  zero_(): this { N.zero_(this.handle); return this; }
  normal_(mean = 0, std = 1): this { N.normal_(this.handle, mean, std); return this; }
  uniform_(from = 0, to = 1): this { N.uniform_(this.handle, from, to); return this; }
  mul_(other: TensorOrScalar): this { N.mul_(this.handle, h(other)); return this; }
  add_(other: TensorOrScalar, alpha?: number): this { N.add_(this.handle, h(other), alpha ?? null); return this; }
  lerp_(end: Tensor, weight: TensorOrScalar): this { N.lerp_(this.handle, end.handle, h(weight)); return this; }
  clamp_(min: number | null, max: number | null = null): this { N.clamp_(this.handle, min, max); return this; }
  /** In-place ReLU (recorded by autograd like PyTorch's inplace=True). */
  relu_(): this { N.relu_(this.handle); return this; }
  leakyRelu_(negativeSlope = 0.01): this { N.leakyRelu_(this.handle, negativeSlope); return this; }

  /**
   * Replaces this tensor's data with `src`'s (detached), keeping this object and its
   * requiresGrad flag: PyTorch's `param.data = src`. Modules use it to move parameters
   * between devices and dtypes without breaking references held by optimisers.
   */
  setData(src: Tensor): this {
    const next: Handle = N.detach(src.handle);
    N.setRequiresGrad(next, this.requiresGrad);
    N.dispose(this.handle);
    this.#h = next;
    this.#shape = null;
    return this;
  }

  /** True when both handles look at the same storage (one is a view of the other, or the same). */
  sharesStorageWith(other: Tensor): boolean { return N.sameStorage(this.handle, other.handle); }

  get isFloatingPoint(): boolean { return isFloating(this.dtype); }
}

export type NestedArray = number | NestedArray[];

function isDTypeName(s: string): s is DType {
  return !s.startsWith('cpu') && !s.startsWith('cuda') && !s.startsWith('mps') && !s.startsWith('meta');
}

/** @internal */
export function wrap(handle: Handle): Tensor {
  return new Tensor(handle);
}

/** @internal */
export function wrapOpt(handle: Handle | null): Tensor | null {
  return handle === null ? null : new Tensor(handle);
}

/** @internal */
export function wrapList(handles: (Handle | null)[]): Tensor[] {
  return handles.map((x) => {
    if (x === null) throw new Error('internal: unexpected undefined tensor');
    return new Tensor(x);
  });
}

/** @internal */
export function handles(ts: readonly Tensor[]): Handle[] {
  return ts.map((t) => t.handle);
}
