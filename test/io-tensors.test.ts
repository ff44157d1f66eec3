// The io formats meeting the engine: reference .pth weights load into our modules and
// give PyTorch's outputs; safetensors checkpoints round-trip bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nn, tensor, randn, manualSeed, io, noGrad, Tensor } from '../src/index.js';
import { fromRoot, loadJson, assertClose } from './helpers.js';

interface Arr { dtype: string; shape: number[]; values: number[] }
const fx = loadJson<{ input: Arr; output: Arr }>('test/fixtures/pth/convnet_io.json');

function convnet(): nn.Sequential {
  return new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.Conv2d(4, 2, 3));
}

test('a torch.save state dict loads into the same architecture and gives identical outputs', () => {
  const net = convnet();
  const sd = io.loadPthStateDict(fromRoot('test/fixtures/pth/convnet.pth'));
  assert.deepEqual(Object.keys(sd), Object.keys(net.stateDict()));
  assert.equal(sd['1.num_batches_tracked'].dtype, 'int64');
  net.loadStateDict(sd);
  net.eval();
  const x = tensor(fx.input.values, { dtype: 'float32' }).reshape(fx.input.shape);
  const y = noGrad(() => net.forward(x));
  assert.deepEqual(y.shape, fx.output.shape);
  assertClose(y.toTypedArray() as Float32Array, fx.output.values, 1e-5, 1e-6, 'output');
});

test('a float16 .pth loads (values cast to the model dtype) and stays close to the float32 output', () => {
  const net = convnet();
  const sd = io.loadPthStateDict(fromRoot('test/fixtures/pth/convnet_half.pth'));
  assert.equal(sd['0.weight'].dtype, 'float16');
  net.loadStateDict(sd);
  assert.equal(net.stateDict()['0.weight'].dtype, 'float32');
  net.eval();
  const x = tensor(fx.input.values, { dtype: 'float32' }).reshape(fx.input.shape);
  const y = noGrad(() => net.forward(x));
  // Half-precision weights: agreement to about 1e-3 relative.
  assertClose(y.toTypedArray() as Float32Array, fx.output.values, 5e-3, 5e-3, 'fp16 output');
});

test('a malicious .pth is refused before anything runs', () => {
  assert.throws(() => io.loadPthStateDict(fromRoot('test/fixtures/pth/malicious.pth')), /refusing pickle global 'os\.system'/);
  assert.equal(existsSync('/tmp/should_not_exist'), false);
});

test('a module state dict round-trips through safetensors bit for bit, every dtype kept', () => {
  manualSeed(7);
  const net = convnet();
  noGrad(() => net.stateDict()['1.running_var'].uniform_(0.5, 2));
  const dir = mkdtempSync(join(tmpdir(), 'gf-st-'));
  const file = join(dir, 'model.safetensors');
  io.saveSafetensors(file, net.stateDict(), { format: 'pt' });
  assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temporary file left behind');
  const { tensors, metadata } = io.loadSafetensors(file);
  assert.deepEqual(metadata, { format: 'pt' });
  const own = net.stateDict();
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(own).sort());
  for (const [k, t] of Object.entries(own)) {
    assert.equal(tensors[k].dtype, t.dtype, k);
    assert.ok(tensors[k].equal(t), `${k} equal`);
  }
  const other = convnet();
  other.loadStateDict(tensors);
  const x = randn([1, 3, 6, 6]);
  net.eval(); other.eval();
  assert.ok(noGrad(() => net.forward(x).equal(other.forward(x))));
});

test('tensors of every dtype survive safetensors (including bfloat16 and bool)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gf-st-'));
  const file = join(dir, 'all.safetensors');
  const src: Record<string, Tensor> = {
    f32: randn([2, 3]), f64: randn([3], { dtype: 'float64' }), f16: randn([4]).half(), bf16: randn([2, 2]).bfloat16(),
    i64: tensor([1, -2, 3]), i32: tensor([7, 8], { dtype: 'int32' }), u8: tensor([0, 255], { dtype: 'uint8' }),
    b: tensor([true, false, true]), scalar: tensor(3.5), empty: randn([0, 4]),
  };
  io.saveSafetensors(file, src);
  const back = io.loadSafetensors(file).tensors;
  for (const [k, t] of Object.entries(src)) {
    assert.equal(back[k].dtype, t.dtype, k);
    assert.deepEqual(back[k].shape, t.shape, k);
    assert.ok(back[k].equal(t), k);
  }
});
