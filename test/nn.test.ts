// nn modules against PyTorch: seeded initialisation, state-dict keys, normalisation
// statistics, loading, and the Module bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nn, manualSeed, tensor, randn, empty, scope, liveTensors, Tensor, optim, F, noGrad } from '../src/index.js';
import { loadJson, assertClose, assertSameDraws } from './helpers.js';

interface Vals { shape: number[]; values: number[] }
interface Fixture {
  inits: Record<string, Record<string, Vals>>;
  init_fns: Record<string, Vals>;
  gains: Record<string, number>;
  batchnorm: BN;
  batchnorm_cumulative: BN;
  instancenorm: { keys: string[]; weight: number[]; bias: number[]; x: number[]; y: number[]; y_eval: number[]; running_mean: number[]; running_var: number[] };
  instancenorm_plain_keys: string[];
  sequential: { state: Record<string, Vals>; keys: string[]; x: number[]; y: number[]; y_shape: number[] };
}
interface BN { weight: number[]; bias: number[]; x1: number[]; x2: number[]; y1: number[]; y2: number[]; y_eval: number[]; running_mean: number[]; running_var: number[]; num_batches_tracked: number }

const fx = loadJson<Fixture>('test/fixtures/nn/nn.json');

function f32(v: number[], shape: number[]): Tensor {
  return tensor(v, { dtype: 'float32' }).reshape(shape);
}

function assertState(m: nn.Module, expected: Record<string, Vals>, what: string): void {
  const sd = m.stateDict();
  assert.deepEqual(Object.keys(sd), Object.keys(expected), `${what}: state-dict keys`);
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(sd[k].shape, v.shape, `${what}.${k} shape`);
    // Same generator and draws as PyTorch; the float32 transforms round per CPU kernel.
    assertSameDraws(sd[k].toTypedArray() as Float32Array, v.values, `${what}.${k}`);
  }
}

test('seeded default init of Linear, Conv2d, ConvTranspose2d, Embedding equals PyTorch\'s draws', () => {
  manualSeed(0); assertState(new nn.Linear(5, 3), fx.inits.linear, 'linear');
  manualSeed(1); assertState(new nn.Linear(4, 2, { bias: false }), fx.inits.linear_nobias, 'linear_nobias');
  manualSeed(2); assertState(new nn.Conv2d(3, 4, 3, { padding: 1 }), fx.inits.conv, 'conv');
  manualSeed(3); assertState(new nn.Conv2d(4, 6, 3, { groups: 2 }), fx.inits.conv_groups, 'conv_groups');
  manualSeed(4); assertState(new nn.ConvTranspose2d(4, 2, 4, { stride: 2, padding: 1 }), fx.inits.convt, 'convt');
  manualSeed(5); assertState(new nn.Embedding(5, 3), fx.inits.embedding, 'embedding');
});

test('nn.init functions follow torch.nn.init (values and gains)', () => {
  const cases: [string, (t: Tensor) => void][] = [
    ['xavier_uniform', (t) => nn.init.xavierUniform_(t, 2)],
    ['xavier_normal', (t) => nn.init.xavierNormal_(t)],
    ['kaiming_uniform', (t) => nn.init.kaimingUniform_(t, { a: 0.2 })],
    ['kaiming_normal', (t) => nn.init.kaimingNormal_(t, { mode: 'fan_out', nonlinearity: 'relu' })],
    ['orthogonal_tall', (t) => nn.init.orthogonal_(t)],
    ['orthogonal_wide', (t) => nn.init.orthogonal_(t, 2)],
    ['orthogonal_conv', (t) => nn.init.orthogonal_(t)],
    ['normal', (t) => nn.init.normal_(t, 0, 0.02)],
  ];
  for (const [name, fn] of cases) {
    const want = fx.init_fns[name];
    manualSeed(10);
    const t = empty(want.shape);
    fn(t);
    // QR goes through LAPACK in both, but allow float32 rounding for the orthogonal cases;
    // the others are draws (see assertSameDraws).
    if (name.startsWith('orthogonal')) assertClose(t.toTypedArray() as Float32Array, want.values, 1e-5, 1e-6, name);
    else assertSameDraws(t.toTypedArray() as Float32Array, want.values, name);
  }
  assertClose([nn.init.calculateGain('relu'), nn.init.calculateGain('tanh'), nn.init.calculateGain('leaky_relu', 0.2), nn.init.calculateGain('selu')],
    [fx.gains.relu, fx.gains.tanh, fx.gains['leaky_relu_0.2'], fx.gains.selu], 1e-12, 0, 'gains');
});

test('an orthogonal init is orthogonal', () => {
  manualSeed(3);
  const w = nn.init.orthogonal_(empty([8, 5]), 1);
  const wtw = w.t().matmul(w);
  assertClose(wtw.toTypedArray() as Float32Array, Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)), 0, 1e-5, 'WᵀW = I');
});

function runBatchNorm(c: BN, momentum: number | null): void {
  const bn = new nn.BatchNorm2d(3, { momentum });
  noGrad(() => {
    bn.weight!.copy_(f32(c.weight, [3]));
    bn.bias!.copy_(f32(c.bias, [3]));
  });
  const x1 = f32(c.x1, [4, 3, 2, 2]);
  const x2 = f32(c.x2, [4, 3, 2, 2]);
  assertClose(bn.forward(x1).toTypedArray() as Float32Array, c.y1, 1e-5, 1e-5, 'train step 1');
  assertClose(bn.forward(x2).toTypedArray() as Float32Array, c.y2, 1e-5, 1e-5, 'train step 2');
  bn.eval();
  assertClose(bn.forward(x1).toTypedArray() as Float32Array, c.y_eval, 1e-5, 1e-5, 'eval');
  assertClose(bn.runningMean!.toTypedArray() as Float32Array, c.running_mean, 1e-5, 1e-6, 'running_mean');
  assertClose(bn.runningVar!.toTypedArray() as Float32Array, c.running_var, 1e-5, 1e-6, 'running_var');
  assert.equal(bn.numBatchesTracked!.item(), c.num_batches_tracked);
  assert.equal(bn.numBatchesTracked!.dtype, 'int64');
}

test('BatchNorm2d: batch statistics, running averages and num_batches_tracked as PyTorch', () => {
  runBatchNorm(fx.batchnorm, 0.1);
});

test('BatchNorm2d with momentum=null keeps a cumulative average', () => {
  runBatchNorm(fx.batchnorm_cumulative, null);
});

test('InstanceNorm2d: keys, affine output and tracked statistics as PyTorch', () => {
  const c = fx.instancenorm;
  const inn = new nn.InstanceNorm2d(2, { affine: true, trackRunningStats: true });
  assert.deepEqual(Object.keys(inn.stateDict()), c.keys);
  assert.deepEqual(Object.keys(new nn.InstanceNorm2d(4).stateDict()), fx.instancenorm_plain_keys);
  noGrad(() => {
    inn.weight!.copy_(f32(c.weight, [2]));
    inn.bias!.copy_(f32(c.bias, [2]));
  });
  const x = f32(c.x, [3, 2, 4, 4]);
  assertClose(inn.forward(x).toTypedArray() as Float32Array, c.y, 1e-5, 1e-5, 'train');
  inn.eval();
  assertClose(inn.forward(x).toTypedArray() as Float32Array, c.y_eval, 1e-5, 1e-5, 'eval');
  assertClose(inn.runningMean!.toTypedArray() as Float32Array, c.running_mean, 1e-5, 1e-6, 'running_mean');
  assertClose(inn.runningVar!.toTypedArray() as Float32Array, c.running_var, 1e-5, 1e-6, 'running_var');
});

function makeNet(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1, paddingMode: 'reflect' }), new nn.BatchNorm2d(4), new nn.LeakyReLU(0.2),
    new nn.ConvTranspose2d(4, 2, 4, { stride: 2, padding: 1 }), new nn.Tanh(),
  );
}

test('a Sequential has PyTorch keys, loads PyTorch values and gives PyTorch outputs', () => {
  const c = fx.sequential;
  const net = makeNet();
  assert.deepEqual(Object.keys(net.stateDict()), c.keys);
  const sd: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.state)) {
    sd[k] = tensor(v.values, { dtype: k.endsWith('num_batches_tracked') ? 'int64' : 'float32' }).reshape(v.shape);
  }
  const res = net.loadStateDict(sd);
  assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
  net.eval();
  const y = net.forward(f32(c.x, [2, 3, 5, 5]));
  assert.deepEqual(y.shape, c.y_shape);
  assertClose(y.toTypedArray() as Float32Array, c.y, 1e-5, 1e-6, 'output');
});

test('loadStateDict names missing keys, unexpected keys and shape mismatches', () => {
  const net = makeNet();
  const sd = { ...net.stateDict() };
  delete sd['1.running_var'];
  assert.throws(() => net.loadStateDict(sd), /missing keys: '1\.running_var'/);
  const extra = { ...net.stateDict(), 'head.weight': randn([2]) };
  assert.throws(() => net.loadStateDict(extra), /unexpected keys: 'head\.weight'/);
  assert.deepEqual(net.loadStateDict(extra, { strict: false }).unexpectedKeys, ['head.weight']);
  const wrong = { ...net.stateDict(), '0.weight': randn([4, 3, 5, 5]) };
  assert.throws(() => net.loadStateDict(wrong), /size mismatch for 0\.weight: the checkpoint has shape \[4, 3, 5, 5\], the model has \[4, 3, 3, 3\]/);
  // Nothing was copied by the failed loads: a shape mismatch is caught before any write.
  const before = net.stateDict()['0.bias'].toTypedArray();
  assert.throws(() => net.loadStateDict({ ...net.stateDict(), '0.bias': randn([4]), '3.weight': randn([1]) }));
  assert.deepEqual(net.stateDict()['0.bias'].toTypedArray(), before);
});

test('train()/eval() reach every child; Dropout acts only in training', () => {
  const net = new nn.Sequential(new nn.Linear(4, 4), new nn.Dropout(0.5));
  assert.ok(net.modules().every((m) => m.training));
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  const x = randn([64, 4]);
  const lin = net.at(0).forward(x);
  assert.ok(net.forward(x).equal(lin), 'eval: dropout is the identity');
  net.train();
  const y = net.forward(x).toTypedArray() as Float32Array;
  const ref = lin.toTypedArray() as Float32Array;
  const zeros = y.filter((v) => v === 0).length;
  assert.ok(zeros > 64 && zeros < 192, `about half dropped, got ${zeros} of 256`);
  for (let i = 0; i < y.length; i++) if (y[i] !== 0) assert.ok(Math.abs(y[i] - 2 * ref[i]) < 1e-5, 'kept values scaled by 1/(1-p)');
});

test('parameters, buffers, requiresGrad_ and to(dtype)', () => {
  const net = makeNet();
  assert.deepEqual(net.namedParameters().map(([k]) => k), ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
  assert.deepEqual(net.namedBuffers().map(([k]) => k), ['1.running_mean', '1.running_var', '1.num_batches_tracked']);
  assert.equal(net.numParameters(), 4 * 3 * 9 + 4 + 4 + 4 + 4 * 2 * 16 + 2);
  assert.ok(net.parameters().every((p) => p.requiresGrad && p.isLeaf));
  net.requiresGrad_(false);
  assert.ok(net.parameters().every((p) => !p.requiresGrad));
  net.requiresGrad_(true);
  const w = net.parameters()[0];
  net.to('float64');
  assert.equal(w.dtype, 'float64', 'the same parameter object now holds float64 data');
  assert.ok(w.requiresGrad && w.isLeaf);
  assert.equal(net.stateDict()['1.num_batches_tracked'].dtype, 'int64', 'integer buffers are not cast');
  const y = net.forward(randn([1, 3, 4, 4], { dtype: 'float64' }));
  assert.equal(y.dtype, 'float64');
});

test('a training step of a module inside scope() leaks no tensor', () => {
  manualSeed(0);
  const net = makeNet();
  const opt = new optim.Adam(net.parameters(), { lr: 1e-3 });
  const x = randn([2, 3, 6, 6]).keep();
  const step = (): number => scope(() => {
    opt.zeroGrad();
    const loss = net.forward(x).square().mean();
    loss.backward();
    opt.step();
    return loss.item();
  });
  step();
  const live = liveTensors();
  for (let i = 0; i < 20; i++) step();
  assert.equal(liveTensors(), live);
  net.dispose();
  opt.dispose();
  x.dispose();
});

test('registering the same name twice, or a bad name, throws', () => {
  class Bad extends nn.Module {
    constructor() {
      super();
      this.registerParameter('w', randn([2]));
      this.registerBuffer('w', randn([2]));
    }
    forward(x: Tensor): Tensor { return x; }
  }
  assert.throws(() => new Bad(), /'w' is already registered/);
  assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /groups=2 must divide in_channels=3/);
  assert.throws(() => new nn.BatchNorm2d(4).forward(randn([2, 3, 4, 4])), /BatchNorm2d\(4\) got an input with 3 channels/);
  void F;
});

test('`using` frees a tensor at the end of its block', () => {
  const live = liveTensors();
  {
    using t = randn([4, 4]);
    assert.equal(liveTensors(), live + 1);
    assert.equal(t.shape.length, 2);
  }
  assert.equal(liveTensors(), live);
});
