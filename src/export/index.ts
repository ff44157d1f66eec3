// ONNX export of a forward pass (traced through the tensor layer, see graph.ts and ops.ts).
export { exportModel, type ExportSpec, type ExportInput, type Exported, type Sizes, type Axis } from './export.js';
export { ExportError } from './errors.js';
export { OPSET } from './onnx.js';
