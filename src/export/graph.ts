// One trace of a forward pass, turned into ONNX nodes as the ops happen. Values come in
// two kinds: live ones depend on a graph input and become node outputs; constants
// (weights, buffers, and whatever is computed from them alone, such as an equalized-lr
// weight times its gain) are folded: their contents are copied out when they are made
// and become initializers if a live op uses them.
import type { Handle } from '../torch/native.js';
import { handleMeta, isHandle, sharesStorage, snapshot, type TensorSnapshot, type TracedCall } from '../torch/trace.js';
import { ExportError } from './errors.js';
import { OPS, RANDOM_OPS, READS_VALUES, isBatchBroadcast } from './ops.js';

export type OnnxAttr = number | string | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttr>;
}

export interface Initializer {
  name: string;
  snap: TensorSnapshot;
}

/** What an op's mapping may do: name its inputs, read their shapes, emit nodes and constants. */
export interface MapContext {
  /** The ONNX value name of a tensor argument (a constant becomes an initializer). */
  input(h: Handle): string;
  isLive(h: unknown): boolean;
  shape(h: Handle): number[];
  dtype(h: Handle): string;
  emit(op: string, inputs: string[], attrs?: Record<string, OnnxAttr>, outputs?: number): string[];
  /** A small constant (int64 list for axes and shapes, or a float/int scalar matching a tensor). */
  int64(values: number[], scalar?: boolean): string;
  scalar(value: number, dtype: string): string;
  /** A 1-D float32 constant. */
  floats(values: number[]): string;
  /** How training-mode batch norm is exported: refused, or with each image's own statistics. */
  readonly batchNormTraining: 'per-image' | undefined;
  /** The batch size of this trace, and a value holding the graph's own (int64 [1]). */
  readonly batch: { size: number; dim(): string } | null;
  /** Fails the export: the op cannot be mapped with these arguments. */
  fail(why: string): never;
}

export type OpMapping = (ctx: MapContext, args: readonly unknown[], result: unknown) => string | string[];

type Value = { live: true; name: string } | { live: false; name: string | null; snap: TensorSnapshot; hint: string };

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly #values = new Map<Handle, Value>();
  #count = 0;
  #op = '';

  constructor(
    inputs: Record<string, Handle>,
    /** Names of weights and buffers (their handles), for the initializers' names. */
    private readonly names: Map<Handle, string>,
    private readonly options: {
      batchNormTraining?: 'per-image';
      /** The batch size of this trace and an input whose first axis is the batch. */
      batch?: { size: number; input: string };
    } = {},
  ) {
    for (const [name, h] of Object.entries(inputs)) this.#values.set(h, { live: true, name });
  }

  /** The graph output of a live handle, renamed. */
  output(h: Handle, name: string): void {
    const v = this.#values.get(h);
    if (!v?.live) throw new ExportError(`output '${name}' does not depend on any input of the graph`);
    this.nodes.push({ op: 'Identity', inputs: [v.name], outputs: [name], attrs: {} });
  }

  record(call: TracedCall): void {
    const { op, args, result } = call;
    if (RANDOM_OPS.has(op) || (op === 'dropout' && args[2] === true && (args[1] as number) > 0)) {
      throw new ExportError(`cannot export op '${op}': it draws random numbers, and a graph would bake one draw into a constant (pass noise as an input or use fixed noise)`);
    }
    const tensors = args.flatMap((a) => (Array.isArray(a) ? a.filter(isHandle) : isHandle(a) ? [a] : []));
    const live = tensors.some((t) => this.#values.get(t)?.live);
    if (READS_VALUES.has(op)) {
      if (live) throw new ExportError(`cannot export op '${op}': the forward pass reads the values of a tensor that depends on the inputs, so it branches on data a static graph cannot hold`);
      return;
    }
    const inPlace = op.endsWith('_') && isHandle(args[0]);
    if (!live && !this.#batchBroadcast(op, args)) {
      // Folded: snapshot what was made (an in-place op on a constant updates it).
      const outs = inPlace ? [args[0] as Handle] : Array.isArray(result) ? result.filter(isHandle) : isHandle(result) ? [result] : [];
      const hint = tensors.map((t) => this.#hintOf(t)).find((x) => x) ?? op;
      for (const o of outs) this.#values.set(o, { live: false, name: null, snap: snapshot(o), hint: `${hint}.${op}` });
      return;
    }
    const map = OPS[op];
    if (!map) throw new ExportError(`cannot export op '${op}': it has no ONNX mapping (src/export/ops.ts)`);
    if (inPlace) this.#checkNoAlias(op, args[0] as Handle);
    this.#op = op;
    const names = map(this.#context(), args, result);
    const outs = inPlace ? [args[0] as Handle] : Array.isArray(result) ? result : [result];
    const outNames = Array.isArray(names) ? names : [names];
    if (outs.length !== outNames.length) throw new Error(`internal: mapping of '${op}' gave ${outNames.length} outputs for ${outs.length}`);
    outs.forEach((o, i) => this.#values.set(o as Handle, { live: true, name: outNames[i] }));
  }

  /**
   * A constant broadcast to the batch (StyleGAN's learned 4×4 input, expanded to as many
   * images as w has rows; StyleGAN2's, repeated) is not folded: the graph expands it to
   * the batch of its input. The exporter probes at batch sizes that no weight has as a
   * dimension, so a constant broadcast to as many rows as the batch is one to the batch.
   */
  #batchBroadcast(op: string, args: readonly unknown[]): boolean {
    const b = this.options.batch;
    if (!b || !isHandle(args[0])) return false;
    const from = this.#context().shape(args[0]);
    return isBatchBroadcast(op, from, args[1], b.size);
  }

  /**
   * An in-place op on a view also changes its base (and the base's other views), which a
   * graph of values cannot show: refused unless the tensor is the only live one on its storage.
   */
  #checkNoAlias(op: string, target: Handle): void {
    for (const [h, v] of this.#values) {
      if (v.live && h !== target && sharesStorage(h, target)) {
        throw new ExportError(`cannot export op '${op}': it works in place on a tensor that shares its storage with another (a view), which a graph cannot express; use the out-of-place op`);
      }
    }
  }

  #hintOf(h: Handle): string | null {
    const v = this.#values.get(h);
    if (v && !v.live) return v.hint;
    return this.names.get(h) ?? null;
  }

  #fresh(prefix: string): string {
    return `${prefix}_${this.#count++}`;
  }

  #constantName(h: Handle): string {
    let v = this.#values.get(h);
    if (!v) {
      // A weight or buffer met for the first time.
      v = { live: false, name: null, snap: snapshot(h), hint: this.names.get(h) ?? 'const' };
      this.#values.set(h, v);
    }
    if (v.live) return v.name;
    if (v.name === null) {
      v.name = this.names.get(h) ?? this.#fresh(v.hint);
      this.initializers.push({ name: v.name, snap: v.snap });
    }
    return v.name;
  }

  #context(): MapContext {
    return {
      input: (h) => this.#constantName(h),
      isLive: (h) => isHandle(h) && this.#values.get(h)?.live === true,
      shape: (h) => {
        const v = this.#values.get(h);
        return v && !v.live ? [...v.snap.shape] : handleMeta(h).shape;
      },
      dtype: (h) => handleMeta(h).dtype,
      emit: (op, inputs, attrs = {}, outputs = 1) => {
        const outs = Array.from({ length: outputs }, () => this.#fresh(op));
        this.nodes.push({ op, inputs, outputs: outs, attrs });
        return outs;
      },
      int64: (values, scalar = false) => this.#literal(scalar ? [] : [values.length], 'int64', BigInt64Array.from(values.map(BigInt))),
      scalar: (value, dtype) => {
        if (dtype === 'float32') return this.#literal([], dtype, Float32Array.of(value));
        if (dtype === 'int64') return this.#literal([], dtype, BigInt64Array.of(BigInt(value)));
        throw new ExportError(`cannot export op '${this.#op}': a scalar operand on a ${dtype} tensor`);
      },
      floats: (values) => this.#literal([values.length], 'float32', Float32Array.from(values)),
      batchNormTraining: this.options.batchNormTraining,
      batch: this.options.batch ? { size: this.options.batch.size, dim: () => this.#batchDim() } : null,
      fail: (why) => {
        throw new ExportError(`cannot export op '${this.#op}': ${why}`);
      },
    };
  }

  #batchDimName: string | null = null;

  /** int64 [1]: the batch size, read from the input's shape. */
  #batchDim(): string {
    if (this.#batchDimName === null) {
      const ctx = this.#context();
      const shape = ctx.emit('Shape', [this.options.batch!.input])[0];
      this.#batchDimName = ctx.emit('Slice', [shape, ctx.int64([0]), ctx.int64([1])])[0];
    }
    return this.#batchDimName;
  }

  #literal(shape: number[], dtype: string, data: Float32Array | BigInt64Array): string {
    const name = this.#fresh('c');
    this.initializers.push({ name, snap: { shape, dtype, data: new Uint8Array(data.buffer.slice(0)) } });
    return name;
  }
}
