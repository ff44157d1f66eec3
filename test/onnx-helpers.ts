// What the export tests share: our tensors as onnxruntime inputs, a model run once, and
// the largest difference between our output and the model's.
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import * as torch from '../src/torch/index.js';

export const f32 = (t: torch.Tensor): ort.Tensor => new ort.Tensor('float32', t.contiguous().toTypedArray() as Float32Array, t.shape);
export const i64 = (t: torch.Tensor): ort.Tensor => new ort.Tensor('int64', t.contiguous().toTypedArray() as BigInt64Array, t.shape);

/** Runs `model` once on `feeds` in onnxruntime-node: every output by name. */
export async function runOnnx(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(model);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Max |ours − onnx|, after checking the shapes agree. */
export function maxDiff(ours: torch.Tensor, theirs: ort.Tensor): number {
  assert.deepEqual([...theirs.dims], ours.shape, 'output shape');
  const a = ours.contiguous().toTypedArray() as Float32Array, b = theirs.data as Float32Array;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  // A constant image would hide a wrong graph: the output must vary.
  assert.ok(Math.max(...a) - Math.min(...a) > 1e-3, 'the generator output is not flat');
  return m;
}
