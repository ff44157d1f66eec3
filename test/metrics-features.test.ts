// The feature network through the addon: a TorchScript file scripted by Debian's torch
// 1.13 (test/fixtures/metrics/make_features_net.py, NVIDIA's call convention) gives
// through torch::jit::load the features and probabilities Python gave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { loadSafetensors } from '../src/io/index.js';
import { assertClose, fromRoot } from './helpers.js';

const NET = fromRoot('test/fixtures/metrics/features_net.pt');
const fixture = () => loadSafetensors(fromRoot('test/fixtures/metrics/features_net.safetensors')).tensors;

test('the stand-in network gives through the addon the features Python gave (uint8 NCHW in, return_features=True)', () => {
  const net = torch.ScriptModule.load(NET);
  try {
    torch.scope(() => {
      const f = fixture();
      const img = f.images.to('uint8');
      assert.deepEqual(img.shape, [5, 3, 20, 28]);
      const feats = net.forward([img], { return_features: true });
      assert.deepEqual(feats.shape, [5, 32]);
      assert.equal(feats.dtype, 'float32');
      assertClose(feats.toTypedArray() as Float32Array, f.features.toTypedArray() as Float64Array, 1e-5, 1e-6, 'features');
      const probs = net.forward([img], { no_output_bias: true });
      assertClose(probs.toTypedArray() as Float32Array, f.probs.toTypedArray() as Float64Array, 1e-5, 1e-7, 'probabilities without the output bias');
      const withBias = net.forward([img]);
      assertClose(withBias.toTypedArray() as Float32Array, f.probs_bias.toTypedArray() as Float64Array, 1e-5, 1e-7, 'probabilities with the bias');
      // The bias really matters here, so the keyword is really passed.
      assert.ok(probs.sub(withBias).abs().amax().item() > 1e-3);
    });
  } finally {
    net.dispose();
  }
});

test('the method schema lists the keyword arguments after self', () => {
  const net = torch.ScriptModule.load(NET);
  try {
    const args = net.arguments('forward');
    assert.deepEqual(args.map((a) => [a.name, a.type, a.hasDefault]), [
      ['img', 'Tensor', false],
      ['return_features', 'bool', true],
      ['no_output_bias', 'bool', true],
    ]);
  } finally {
    net.dispose();
  }
});

test('a forward leaves no tensor behind, and a disposed module refuses calls', () => {
  const net = torch.ScriptModule.load(NET);
  const before = torch.liveTensors();
  torch.scope(() => {
    const img = torch.randint(0, 256, [2, 3, 8, 8]).to('uint8');
    net.forward([img], { return_features: true });
  });
  assert.equal(torch.liveTensors(), before);
  net.dispose();
  assert.ok(net.isDisposed);
  net.dispose(); // twice is harmless
  assert.throws(() => torch.scope(() => net.forward([torch.zeros([1, 3, 8, 8], { dtype: 'uint8' })])), /disposed/);
});

test('errors from TorchScript are one-line JS errors', () => {
  assert.throws(() => torch.ScriptModule.load('/nonexistent/net.pt'), (e: Error) => e instanceof Error && !e.message.includes('\n') && /open|exist|file/i.test(e.message));
  assert.throws(() => torch.ScriptModule.load(fromRoot('package.json')), (e: Error) => !e.message.includes('\n'));
  const net = torch.ScriptModule.load(NET);
  try {
    torch.scope(() => {
      const img = torch.zeros([1, 3, 8, 8], { dtype: 'uint8' });
      assert.throws(() => net.forward([img], { return_feature: true }), (e: Error) => /return_feature/.test(e.message) && !e.message.includes('\n'));
      assert.throws(() => net.forward([img.reshape([3, 8, 8])], { return_features: true }), (e: Error) => !e.message.includes('\n'));
      assert.throws(() => net.call('nope', [img]), /no method 'nope'/);
      assert.throws(() => net.arguments('nope'), /no method 'nope'/);
    });
  } finally {
    net.dispose();
  }
});
