// Exporting a forward pass as an ONNX model: trace it at two sizes, map each trace to
// ONNX nodes, and keep the inputs' batch (and height and width) dynamic only when both
// graphs come out identical, i.e. no op baked a size in. Otherwise the model is fixed at
// the size asked for, and the note says which op decided it.
import * as torch from '../torch/index.js';
import type { Handle } from '../torch/native.js';
import { traceCalls } from '../torch/trace.js';
import type { Module } from '../nn/index.js';
import { GraphBuilder } from './graph.js';
import { encodeModel, type ValueSpec } from './onnx.js';
import { ExportError } from './errors.js';

/** The sizes an input's axes may take: 'batch', 'height', 'width'. */
export interface Sizes {
  batch: number;
  height: number;
  width: number;
}

export type Axis = keyof Sizes;

export interface ExportInput {
  name: string;
  /** An example input at these sizes (values matter only where the forward pass reads them). */
  make(s: Sizes): torch.Tensor;
  /** Which size each axis is (null: a fixed axis). */
  axes: (Axis | null)[];
}

export interface ExportSpec {
  name: string;
  inputs: ExportInput[];
  /** Output names, in the order forward returns them. */
  outputs: string[];
  forward(inputs: Record<string, torch.Tensor>): torch.Tensor[];
  /** Networks whose parameters and buffers name the initializers. */
  modules: Record<string, Module>;
  /** The size of a fixed model, and of the first probe (a dynamic batch is probed at sizes no weight has as a dimension, from this one up). */
  size: Sizes;
  /** Axes that may be dynamic (they change between the two probes). */
  dynamic: Axis[];
  /** How training-mode batch norm is exported (default: refused). */
  batchNormTraining?: 'per-image';
  metadata?: Record<string, string>;
}

export interface Exported {
  model: Uint8Array;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  /** The axes left dynamic. */
  dynamic: Axis[];
  /** Why the model has fixed sizes, when it was asked for dynamic ones. */
  note: string | null;
  /** ONNX operator types used, sorted. */
  opTypes: string[];
}

interface Traced {
  builder: GraphBuilder;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
}

function names(modules: Record<string, Module>): Map<Handle, string> {
  const m = new Map<Handle, string>();
  for (const [prefix, net] of Object.entries(modules)) {
    for (const [k, t] of [...net.namedParameters(), ...net.namedBuffers()]) m.set(t.handle, `${prefix}.${k}`);
  }
  return m;
}

function traceAt(spec: ExportSpec, s: Sizes, named: Map<Handle, string>): Traced {
  return torch.scope(() => torch.noGrad(() => {
    const xs: Record<string, torch.Tensor> = {};
    for (const i of spec.inputs) xs[i.name] = i.make(s);
    const handles = Object.fromEntries(Object.entries(xs).map(([k, t]) => [k, t.handle]));
    const batched = spec.inputs.find((i) => i.axes[0] === 'batch');
    const batch = batched ? { size: s.batch, input: batched.name } : undefined;
    const builder = new GraphBuilder(handles, named, { batchNormTraining: spec.batchNormTraining, batch });
    const ys = traceCalls(() => spec.forward(xs), (call) => builder.record(call));
    if (ys.length !== spec.outputs.length) throw new Error(`internal: forward gave ${ys.length} outputs for ${spec.outputs.length} names`);
    ys.forEach((y, i) => builder.output(y.handle, spec.outputs[i]));
    const inputs = spec.inputs.map((i) => ({ name: i.name, dtype: xs[i.name].dtype, dims: xs[i.name].shape as (number | string)[] }));
    const outputs = ys.map((y, i) => ({ name: spec.outputs[i], dtype: y.dtype, dims: y.shape as (number | string)[] }));
    return { builder, inputs, outputs };
  }));
}

/** The first place two traces differ, or null when they are the same graph. */
function difference(a: GraphBuilder, b: GraphBuilder): string | null {
  const n = Math.max(a.nodes.length, b.nodes.length);
  for (let i = 0; i < n; i++) {
    const x = a.nodes[i], y = b.nodes[i];
    if (!x || !y || JSON.stringify(x) !== JSON.stringify(y)) return `node ${i} (${(x ?? y).op})`;
  }
  if (a.initializers.length !== b.initializers.length) return 'the number of constants';
  for (let i = 0; i < a.initializers.length; i++) {
    const x = a.initializers[i], y = b.initializers[i];
    if (x.name !== y.name || x.snap.shape.join() !== y.snap.shape.join() || Buffer.compare(x.snap.data, y.snap.data) !== 0) {
      return `the constant ${x.name}`;
    }
  }
  return null;
}

/** Names the dimensions that changed between the probes after the axis they follow. */
function symbolic(v: ValueSpec, other: ValueSpec, a: Sizes, b: Sizes, axes: Axis[]): ValueSpec {
  const dims = v.dims.map((d, i) => {
    if (d === other.dims[i]) return d;
    const axis = axes.find((k) => a[k] === d && b[k] === other.dims[i]);
    return axis ?? `${v.name}_${i}`;
  });
  return { ...v, dims };
}

/**
 * The smallest batch size ≥ n that no weight or buffer has as a dimension: a constant
 * broadcast to as many rows as the probe's batch is then one to the batch, not (say) a
 * filter expanded to an image's 3 channels at a probe of batch 3.
 */
function probeBatch(n: number, modules: Record<string, Module>): number {
  const taken = new Set<number>();
  for (const net of Object.values(modules)) for (const t of [...net.parameters(), ...net.buffers()]) for (const d of t.shape) taken.add(d);
  while (taken.has(n)) n++;
  return n;
}

export function exportModel(spec: ExportSpec): Exported {
  const named = names(spec.modules);
  const dynamicBatch = spec.dynamic.includes('batch');
  const a: Sizes = dynamicBatch ? { ...spec.size, batch: probeBatch(spec.size.batch, spec.modules) } : spec.size;
  let dynamic: Axis[] = [];
  let note: string | null = null;
  let traced = traceAt(spec, a, named);
  if (spec.dynamic.length > 0) {
    // The second probe: each dynamic axis larger, by different factors so that no two
    // axes can be mistaken for each other (spatial ones by whole multiples, so they stay
    // multiples of the network's stride).
    const grow: Record<Axis, (n: number) => number> = { batch: (n) => probeBatch(n + 1, spec.modules), height: (n) => n * 2, width: (n) => n * 3 };
    const b: Sizes = { ...a };
    for (const k of spec.dynamic) b[k] = grow[k](a[k]);
    const other = traceAt(spec, b, named);
    const diff = difference(traced.builder, other.builder);
    if (diff === null) {
      dynamic = [...spec.dynamic];
      traced = {
        ...traced,
        inputs: traced.inputs.map((v, i) => ({ ...v, dims: v.dims.map((d, j) => spec.inputs[i].axes[j] ?? d) })),
        outputs: traced.outputs.map((v, i) => symbolic(v, other.outputs[i], a, b, dynamic)),
      };
    } else {
      note = `fixed at ${spec.dynamic.map((k) => `${k} ${a[k]}`).join(', ')}: the graph changes with the size at ${diff}`;
    }
  }
  const { builder } = traced;
  if (builder.nodes.length === 0) throw new ExportError('the forward pass made no ops');
  const model = encodeModel({
    name: spec.name, nodes: builder.nodes, initializers: builder.initializers,
    inputs: traced.inputs, outputs: traced.outputs, metadata: spec.metadata,
  });
  return { model, inputs: traced.inputs, outputs: traced.outputs, dynamic, note, opTypes: [...new Set(builder.nodes.map((n) => n.op))].sort() };
}
