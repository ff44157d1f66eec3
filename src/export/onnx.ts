// Serialising a graph as an ONNX ModelProto with the generated protobuf classes of the
// `onnx-proto` package (the onnx.proto schema compiled by protobufjs).
import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';
import { VERSION } from '../version.js';
import type { Initializer, OnnxAttr, OnnxNode } from './graph.js';
import { ExportError } from './errors.js';

const { onnx } = onnxProto;

/** The opset every exported model declares; onnxruntime-web 1.30 implements all of it. */
export const OPSET = 17;
/** ONNX IR version 8 (ONNX 1.12, the release of opset 17). */
const IR_VERSION = 8;

const ELEM: Record<string, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};

export function elemType(dtype: string): number {
  const t = ELEM[dtype];
  if (t === undefined) throw new ExportError(`cannot export a ${dtype} tensor`);
  return t;
}

/** A graph input or output: its element type and dimensions (a string names a dynamic one). */
export interface ValueSpec {
  name: string;
  dtype: string;
  dims: (number | string)[];
}

function attribute(name: string, v: OnnxAttr): O.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  return { name, type: T.FLOAT, f: v.float };
}

function valueInfo(v: ValueSpec): O.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: elemType(v.dtype),
        shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export interface ModelParts {
  name: string;
  nodes: OnnxNode[];
  initializers: Initializer[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  /** Key/value pairs stored with the model (what it is, how it was made). */
  metadata?: Record<string, string>;
}

export function encodeModel(m: ModelParts): Uint8Array {
  const graph: O.IGraphProto = {
    name: m.name,
    node: m.nodes.map((n, i) => ({
      opType: n.op, input: n.inputs, output: n.outputs, name: `${n.op}_${i}`,
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
    })),
    initializer: m.initializers.map((t) => ({ name: t.name, dims: t.snap.shape, dataType: elemType(t.snap.dtype), rawData: t.snap.data })),
    input: m.inputs.map(valueInfo),
    output: m.outputs.map(valueInfo),
  };
  const model: O.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'ganforge',
    producerVersion: VERSION,
    graph,
    metadataProps: Object.entries(m.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`internal: invalid ONNX model: ${err}`);
  return onnx.ModelProto.encode(model).finish();
}
