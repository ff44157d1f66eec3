// BigGAN's layers against BigGAN-PyTorch's own (layers.py): spectral norm (u, sv and the
// output after each of several power iterations, the weight's gradient through σ, eval
// mode leaving u alone), ccbn and bn (outputs and stored statistics in training mode,
// eval mode on the stored ones; myBN), and self-attention. Float64, so the comparison is
// tight on any CPU. Fixtures: test/fixtures/biggan/make_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import * as io from '../src/io/index.js';
import { assertClose, fromRoot } from './helpers.js';

const fx = io.loadSafetensors(fromRoot('test/fixtures/biggan/layers.safetensors')).tensors;

function get(name: string): torch.Tensor {
  const t = fx[name];
  assert.ok(t, `the fixture has ${name}`);
  return t;
}

function group(prefix: string): Record<string, torch.Tensor> {
  const p = `${prefix}.`;
  return Object.fromEntries(Object.entries(fx).filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}

function close(a: torch.Tensor, b: torch.Tensor, label: string, rtol = 1e-10, atol = 1e-12): void {
  assert.deepEqual(a.shape, b.shape, `${label}: shape`);
  assertClose(a.double().toTypedArray() as Float64Array, b.double().toTypedArray() as Float64Array, rtol, atol, label);
}

function assertState(m: nn.Module, expected: Record<string, torch.Tensor>, label: string, rtol?: number, atol?: number): void {
  const sd = m.stateDict();
  assert.deepEqual(Object.keys(sd).sort(), Object.keys(expected).sort(), `${label}: state-dict keys`);
  for (const [k, v] of Object.entries(expected)) close(sd[k], v, `${label} ${k}`, rtol, atol);
}

function snCase(name: string, layer: nn.Module & { weight: torch.Tensor; forward(x: torch.Tensor): torch.Tensor }): void {
  layer.to('float64');
  layer.loadStateDict(group(`${name}.sd`));
  layer.train();
  torch.scope(() => {
    for (let i = 0; i < 3; i++) {
      const y = layer.forward(get(`${name}.x${i}`));
      close(y, get(`${name}.y${i}`), `${name} output ${i}`);
      if (i === 0) {
        y.mul(get(`${name}.r`)).sum().backward();
        close(layer.weight.grad!, get(`${name}.grad_weight`), `${name} weight gradient through σ`);
      }
      assertState(layer, group(`${name}.after${i}`), `${name} after forward ${i}`);
    }
    layer.eval();
    close(layer.forward(get(`${name}.x_eval`)), get(`${name}.y_eval`), `${name} eval output`);
    assertState(layer, group(`${name}.after_eval`), `${name} eval leaves u and sv`);
  });
}

test('SNConv2d: u, sv and outputs after each power iteration (2 SVs, 2 iterations), σ gradient, eval', () => {
  const conv = new nn.SNConv2d(4, 6, 3, { padding: 1, numSvs: 2, numItrs: 2, eps: 1e-6 });
  assert.deepEqual(Object.keys(conv.stateDict()), ['weight', 'bias', 'u0', 'sv0', 'u1', 'sv1']);
  snCase('sn_conv', conv);
});

test('SNLinear without bias and SNEmbedding (u over the classes) match the reference', () => {
  snCase('sn_linear', new nn.SNLinear(7, 5, { bias: false }));
  snCase('sn_embed', new nn.SNEmbedding(6, 4));
});

test('the power iteration changes u only in training mode, and never records a graph', () => {
  torch.scope(() => {
    const l = new nn.SNLinear(5, 4);
    const u0 = l.sn.u[0].clone();
    l.eval();
    l.forward(torch.randn([2, 5]));
    assert.ok(l.sn.u[0].equal(u0), 'eval keeps u');
    l.train();
    const y = l.forward(torch.randn([2, 5]));
    assert.ok(!l.sn.u[0].equal(u0), 'training moves u');
    assert.equal(l.sn.u[0].requiresGrad, false);
    assert.ok(y.requiresGrad);
    assert.throws(() => new nn.SNLinear(3, 3, { numSvs: 0 }), /num_SVs/);
  });
});

function normCase(name: string, m: nn.Module, rtol?: number, atol?: number): void {
  const dtype = get(`${name}.in0_0`).dtype;
  m.to(dtype);
  m.loadStateDict(group(`${name}.sd`));
  const args = (p: string) => [0, 1].map((j) => fx[`${name}.${p}${j}`]).filter((t) => t !== undefined);
  torch.scope(() => {
    m.train();
    for (let i = 0; i < 2; i++) {
      close(m.forward(...args(`in${i}_`)), get(`${name}.out${i}`), `${name} training output ${i}`, rtol, atol);
      assertState(m, group(`${name}.after${i}`), `${name} stored statistics after ${i}`, rtol, atol);
    }
    m.eval();
    close(m.forward(...args('in_eval_')), get(`${name}.out_eval`), `${name} eval output`, rtol, atol);
  });
}

test('ccbn over [shared, z] with SNLinear gains, and over class indices with embeddings', () => {
  normCase('ccbn_linear', new nn.CCBN(6, 5, (i, o) => new nn.SNLinear(i, o, { bias: false })));
  normCase('ccbn_embed', new nn.CCBN(6, 3, (i, o) => new nn.Embedding(i, o)));
});

// Without gradients, training mode normalises by one scale and shift per (sample,
// channel) from the batch's own mean and variance, not through batch norm: the same
// outputs and stored statistics as the reference's.
test('ccbn and bn without gradients (the scale-and-shift form) match the reference in training and eval mode', () => {
  torch.noGrad(() => {
    normCase('ccbn_linear', new nn.CCBN(6, 5, (i, o) => new nn.SNLinear(i, o, { bias: false })));
    normCase('ccbn_embed', new nn.CCBN(6, 3, (i, o) => new nn.Embedding(i, o)));
    normCase('bn', new nn.BN(6));
  });
});

test('bn (output layer) and myBN-backed ccbn match the reference', () => {
  normCase('bn', new nn.BN(6));
  // myBN computes its statistics in float32 (the fixture's dtype here).
  normCase('ccbn_mybn', new nn.CCBN(6, 3, (i, o) => new nn.Embedding(i, o), { mybn: true }), 1e-5, 1e-5);
});

test('standing statistics: ccbn averages every batch equally; myBN sums and divides by its counter', () => {
  torch.scope(() => {
    for (const [mybn, grad] of [[false, true], [false, false], [true, true]]) {
      const m = new nn.CCBN(3, 2, (i, o) => new nn.Embedding(i, o), { mybn });
      const xs = [0, 1, 2].map((k) => torch.randn([8, 3, 2, 2]).mul(k + 1).add(k));
      const y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1], { dtype: 'int64' });
      m.beginStanding();
      m.train();
      for (const x of xs) (grad ? torch.enableGrad : torch.noGrad)(() => m.forward(x, y));
      m.endStanding();
      m.eval();
      // The expected statistics: each batch's mean and variance, averaged over the batches
      // (the unbiased variance for F.batch_norm's buffers, the biased one for myBN).
      const mean = torch.stack(xs.map((x) => x.mean([0, 2, 3]))).mean(0);
      const variance = torch.stack(xs.map((x) => x.var([0, 2, 3], { correction: mybn ? 0 : 1 }))).mean(0);
      const x = torch.randn([2, 3, 2, 2]);
      const yy = torch.tensor([0, 1], { dtype: 'int64' });
      const gain = m.gain.forward(yy).add(1).view(2, 3, 1, 1);
      const bias = m.bias.forward(yy).view(2, 3, 1, 1);
      const expected = x.sub(mean.view(1, 3, 1, 1)).div(variance.add(1e-5).sqrt().view(1, 3, 1, 1)).mul(gain).add(bias);
      close(m.forward(x, yy), expected, `standing statistics (mybn ${mybn}, grad ${grad})`, 1e-4, 1e-5);
    }
  });
});

test('self-attention (SNConv2d theta/phi/g/o, max-pooled keys, gamma): output and gradients', () => {
  const a = new nn.Attention(16, (i, o) => new nn.SNConv2d(i, o, 1, { bias: false }));
  assert.deepEqual(Object.keys(a.stateDict()).sort(), Object.keys(group('attn.sd')).sort());
  a.to('float64');
  a.loadStateDict(group('attn.sd'));
  a.train();
  torch.scope(() => {
    const x = get('attn.x').clone().requiresGrad_(true);
    const y = a.forward(x);
    close(y, get('attn.y'), 'attention output');
    y.mul(get('attn.r')).sum().backward();
    close(x.grad!, get('attn.grad_x'), 'attention input gradient');
    close(a.gamma.grad!.reshape([1]), get('attn.grad_gamma'), 'gamma gradient');
    assertState(a, group('attn.after'), 'attention after the step');
  });
});
