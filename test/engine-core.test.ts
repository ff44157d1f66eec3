// The engine's core: creation and dtypes, host transfer, conversions, errors that stay JS
// errors, deterministic memory (scope/keep/liveTensors), random state, and the optimisers
// against PyTorch's torch.optim (test/fixtures/ops/optim.json).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { type Tensor, type DType } from '../src/torch/index.js';
import { assertClose, assertEqualArrays, assertSameDraws, loadJson } from './helpers.js';

const { F, optim } = T;

interface FT {
  shape: number[];
  dtype: string;
  data: number[];
}
interface OptimCase {
  kind: 'adam' | 'sgd';
  options: Record<string, number | boolean | number[]>;
  param: FT;
  grads: FT[];
  params: FT[];
}
interface OptimFixture {
  cases: Record<string, OptimCase>;
  rng: { seed: number; randn_5: FT; randn_20: FT; rand_6: FT };
}

const ofx = loadJson<OptimFixture>('test/fixtures/ops/optim.json');

function f32(s: FT): Tensor {
  assert.equal(s.dtype, 'float32');
  return T.fromTypedArray(Float32Array.from(s.data), s.shape);
}

function bytesEqual(a: Tensor, b: Tensor): boolean {
  const x = a.toBytes();
  const y = b.toBytes();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Asserts that fn throws a JS Error whose message matches re (and is one line, not a backtrace). */
function throwsUseful(fn: () => unknown, re: RegExp, what: string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `${what}: expected a JS Error, got ${String(caught)}`);
  assert.match(caught.message, re, `${what}: message`);
  assert.ok(!caught.message.includes('\n'), `${what}: the message should be one line, got: ${caught.message}`);
}

describe('creation', () => {
  test('zeros/ones/full/empty: shapes, dtypes, values', () => {
    T.scope(() => {
      const z = T.zeros(2, 3);
      assert.deepEqual(z.shape, [2, 3]);
      assert.equal(z.dtype, 'float32');
      assert.equal(z.device, 'cpu');
      assert.deepEqual(z.toArray(), [[0, 0, 0], [0, 0, 0]]);
      const zi = T.zeros([4], { dtype: 'int32' });
      assert.equal(zi.dtype, 'int32');
      assert.ok(zi.toTypedArray() instanceof Int32Array);
      const o = T.ones([2, 1, 2], { dtype: 'float64' });
      assert.deepEqual(o.toArray(), [[[1, 1]], [[1, 1]]]);
      assert.equal(o.dtype, 'float64');
      const f = T.full([2, 2], 7.5, { dtype: 'float64' });
      assert.deepEqual(f.toArray(), [[7.5, 7.5], [7.5, 7.5]]);
      const e = T.empty(3, 0, 2);
      assert.deepEqual(e.shape, [3, 0, 2]);
      assert.equal(e.numel, 0);
      const s = T.zeros([]);
      assert.deepEqual(s.shape, []);
      assert.equal(s.ndim, 0);
      assert.equal(s.numel, 1);
      const like = T.onesLike(zi);
      assert.equal(like.dtype, 'int32');
      assert.deepEqual(like.toArray(), [1, 1, 1, 1]);
      assert.deepEqual(T.fullLike(o, -2).toArray(), [[[-2, -2]], [[-2, -2]]]);
      assert.equal(T.zerosLike(o, { dtype: 'float16' }).dtype, 'float16');
    });
  });

  test('arange: values, and float32 for fractional arguments', () => {
    T.scope(() => {
      assert.deepEqual(T.arange(5).toArray(), [0, 1, 2, 3, 4]);
      assert.deepEqual(T.arange(1, 10, 3).toArray(), [1, 4, 7]);
      assert.deepEqual(T.arange(3, 0, -1).toArray(), [3, 2, 1]);
      const fr = T.arange(0, 1, 0.25);
      assert.equal(fr.dtype, 'float32');
      assert.deepEqual(fr.toArray(), [0, 0.25, 0.5, 0.75]);
      assert.equal(T.arange(4, undefined, 1, { dtype: 'float64' }).dtype, 'float64');
    });
  });

  // creation.ts documents "int64 for integer arguments", as torch.arange(5) is int64.
  test('arange with integer arguments is int64 (as documented and as PyTorch)', () => {
    T.scope(() => {
      assert.equal(T.arange(5).dtype, 'int64');
      assert.equal(T.arange(1, 10, 3).dtype, 'int64');
    });
  });

  test('linspace and eye', () => {
    T.scope(() => {
      const l = T.linspace(0, 1, 5);
      assert.equal(l.dtype, 'float32');
      assert.deepEqual(l.toArray(), [0, 0.25, 0.5, 0.75, 1]);
      const l64 = T.linspace(-1, 2, 4, { dtype: 'float64' });
      assert.deepEqual(l64.toArray(), [-1, 0, 1, 2]);
      assert.deepEqual(T.linspace(3, 3, 1).toArray(), [3]);
      assert.deepEqual(T.eye(3).toArray(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
      assert.deepEqual(T.eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);
      assert.equal(T.eye(2, 2, { dtype: 'int64' }).dtype, 'int64');
    });
  });

  test('random factories: shapes, dtypes, ranges', () => {
    T.scope(() => {
      T.manualSeed(3);
      const n = T.randn(4, 5);
      assert.deepEqual(n.shape, [4, 5]);
      assert.equal(n.dtype, 'float32');
      const big = T.randn([20000], { dtype: 'float64' });
      assert.ok(Math.abs(big.mean().item()) < 0.05, 'randn mean ≈ 0');
      assert.ok(Math.abs(big.std().item() - 1) < 0.05, 'randn std ≈ 1');
      const u = T.rand([10000]);
      assert.ok(u.min().item() >= 0 && u.max().item() < 1, 'rand in [0, 1)');
      assert.ok(Math.abs(u.mean().item() - 0.5) < 0.02);
      const ri = T.randint(-3, 4, [1000]);
      assert.equal(ri.dtype, 'int64');
      assert.equal(ri.min().item(), -3);
      assert.equal(ri.max().item(), 3);
      const p = T.randperm(10);
      assert.equal(p.dtype, 'int64');
      assert.deepEqual((p.sort()[0].toArray() as number[]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(T.randnLike(T.zeros([2, 3], { dtype: 'float64' })).dtype, 'float64');
    });
  });

  test('tensor(): dtype inference, nesting, scalars, explicit dtype, bad input', () => {
    T.scope(() => {
      const i = T.tensor([1, 2, 3]);
      assert.equal(i.dtype, 'int64');
      assert.deepEqual(i.toArray(), [1, 2, 3]);
      assert.equal(T.tensor([1.5, 2]).dtype, 'float32');
      assert.equal(T.tensor([1, 2.5]).dtype, 'float32', 'one fractional value makes it float');
      const b = T.tensor([true, false, true]);
      assert.equal(b.dtype, 'bool');
      assert.deepEqual(b.toArray(), [1, 0, 1]);
      const nested = T.tensor([[1, 2, 3], [4, 5, 6]]);
      assert.deepEqual(nested.shape, [2, 3]);
      assert.deepEqual(nested.toArray(), [[1, 2, 3], [4, 5, 6]]);
      const s = T.tensor(3.5);
      assert.deepEqual(s.shape, []);
      assert.equal(s.item(), 3.5);
      assert.equal(T.tensor([1, 2], { dtype: 'float64' }).dtype, 'float64');
      assert.equal(T.tensor([0.1], { dtype: 'float64' }).item(), 0.1, 'float64 keeps every bit');
      assert.equal(T.tensor(Float64Array.of(1, 2)).dtype, 'float64');
      assert.equal(T.tensor(Int32Array.of(1, 2)).dtype, 'int32');
      assert.deepEqual(T.tensor([]).shape, [0]);
      throwsUseful(() => T.tensor([[1, 2], [3]]), /ragged/, 'ragged array');
      assert.throws(() => T.tensor(['a'] as never), TypeError);
    });
  });

  test('toArray nests like tolist(); a 0-d tensor gives a number', () => {
    T.scope(() => {
      const t = T.arange(12, undefined, 1, { dtype: 'int64' }).reshape(2, 3, 2);
      assert.deepEqual(t.toArray(), [[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9], [10, 11]]]);
      assert.deepEqual(t.permute(2, 0, 1).toArray(), [[[0, 2, 4], [6, 8, 10]], [[1, 3, 5], [7, 9, 11]]], 'non-contiguous views read in logical order');
      assert.equal(T.tensor(2.25).toArray(), 2.25);
      assert.deepEqual(T.zeros(2, 0).toArray(), [[], []]);
    });
  });
});

describe('host transfer', () => {
  test('fromTypedArray → toTypedArray round trips for every dtype', () => {
    T.scope(() => {
      const cases: [DType, ArrayLike<number | bigint> & { constructor: unknown }][] = [
        ['float32', Float32Array.of(1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, -0, 0.1)],
        ['float64', Float64Array.of(0.1, -1e-300, 1.7976931348623157e308, Math.PI, 5e-324, -0)],
        ['int64', BigInt64Array.of(-(2n ** 62n), 2n ** 62n + 1n, 0n, -1n, 9007199254740993n, 7n)],
        ['int32', Int32Array.of(2 ** 31 - 1, -(2 ** 31), 0, -1, 123456, 7)],
        ['int16', Int16Array.of(32767, -32768, 0, -1, 1234, 7)],
        ['int8', Int8Array.of(127, -128, 0, -1, 12, 7)],
        ['uint8', Uint8Array.of(0, 255, 128, 1, 12, 7)],
      ];
      for (const [dtype, data] of cases) {
        const t = T.fromTypedArray(data as never, [2, 3]);
        assert.equal(t.dtype, dtype, dtype);
        assert.deepEqual(t.shape, [2, 3]);
        const back = t.toTypedArray();
        assert.equal(back.constructor, data.constructor, `${dtype}: typed array kind`);
        assert.deepEqual(Array.from(back as ArrayLike<number | bigint>), Array.from(data), `${dtype}: values`);
        assert.ok(Object.is((back as Float64Array)[4], (data as Float64Array)[4]), `${dtype}: element 4 bit pattern (incl. -0)`);
        // raw bytes round trip too
        const again = T.fromBytes(t.toBytes(), [2, 3], dtype);
        assert.ok(again.equal(t), `${dtype}: fromBytes(toBytes())`);
      }
    });
  });

  test('bool from a Uint8Array, and float16/bfloat16 as raw Uint16Array bits', () => {
    T.scope(() => {
      const b = T.fromTypedArray(Uint8Array.of(1, 0, 1, 1), [4], { dtype: 'bool' });
      assert.equal(b.dtype, 'bool');
      assert.deepEqual(Array.from(b.toTypedArray() as Uint8Array), [1, 0, 1, 1]);
      assert.equal(b.sum().item(), 3);

      // 1, -2, 1/3 (nearest), 65504 (max), 2^-24 (smallest subnormal), -0
      const hbits = Uint16Array.of(0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x8000);
      const h = T.fromTypedArray(hbits, [2, 3], { dtype: 'float16' });
      assert.equal(h.dtype, 'float16');
      assert.deepEqual(h.shape, [2, 3]);
      const hv = h.toTypedArray();
      assert.ok(hv instanceof Float32Array, 'float16 reads back as float32');
      assertEqualArrays(hv, [1, -2, 0.333251953125, 65504, 2 ** -24, -0], 'float16 values');
      assert.deepEqual(Array.from(new Uint16Array(h.toBytes().slice().buffer)), Array.from(hbits), 'float16 bits');

      // 1, -2, 1/3 (nearest), 3.140625, -inf, the smallest normal
      const bbits = Uint16Array.of(0x3f80, 0xc000, 0x3eab, 0x4049, 0xff80, 0x0080);
      const bf = T.fromTypedArray(bbits, [6], { dtype: 'bfloat16' });
      assert.equal(bf.dtype, 'bfloat16');
      assertEqualArrays(bf.toTypedArray(), [1, -2, 0.333984375, 3.140625, -Infinity, 2 ** -126], 'bfloat16 values');
      assert.deepEqual(Array.from(new Uint16Array(bf.toBytes().slice().buffer)), Array.from(bbits), 'bfloat16 bits');

      throwsUseful(() => T.fromTypedArray(Uint16Array.of(1), [1]), /float16 or bfloat16/, 'Uint16Array without dtype');
    });
  });

  test('fromTypedArray converts when a different dtype is asked; wrong sizes throw', () => {
    T.scope(() => {
      const t = T.fromTypedArray(Float64Array.of(0.1, 2.5), [2], { dtype: 'float32' });
      assert.equal(t.dtype, 'float32');
      assertEqualArrays(t.toTypedArray(), [Math.fround(0.1), 2.5]);
      const sub = new Float32Array([9, 1, 2, 3, 9]).subarray(1, 4);
      assert.deepEqual(T.fromTypedArray(sub, [3]).toArray(), [1, 2, 3], 'a subarray view copies only its own elements');
      throwsUseful(() => T.fromTypedArray(new Float32Array(5), [2, 3]), /bytes|needs|shape/, 'size mismatch');
      throwsUseful(() => T.fromBytes(new Uint8Array(7), [2], 'float32'), /bytes/, 'fromBytes size mismatch');
    });
  });
});

describe('conversions and item()', () => {
  test('.to() between dtypes follows PyTorch (truncation toward zero, nonzero → true, round to nearest)', () => {
    T.scope(() => {
      const f = T.tensor([-1.7, 1.7, 2.5, 0]);
      const i = f.to('int32');
      assert.equal(i.dtype, 'int32');
      assert.deepEqual(i.toArray(), [-1, 1, 2, 0]);
      assert.deepEqual(f.long().toArray(), [-1, 1, 2, 0]);
      assert.equal(f.long().dtype, 'int64');
      assert.deepEqual(f.bool().toArray(), [1, 1, 1, 0]);
      assert.equal(f.bool().dtype, 'bool');
      assert.deepEqual(T.tensor([true, false]).float().toArray(), [1, 0]);
      const third = T.tensor([1 / 3], { dtype: 'float64' });
      assert.equal(third.half().item(), 0.333251953125);
      assert.equal(third.bfloat16().item(), 0.333984375);
      assert.equal(third.float().item(), Math.fround(1 / 3));
      assert.equal(third.float().double().item(), Math.fround(1 / 3), 'float32 → float64 is exact');
      assert.equal(T.tensor([300]).to('uint8').dtype, 'uint8');
      assert.equal(T.tensor([-1.5]).to({ dtype: 'float64' }).item(), -1.5);
      assert.equal(f.to('cpu').device, 'cpu');
    });
  });

  test('.to() of the same dtype shares storage unless copy is asked', () => {
    T.scope(() => {
      const f = T.tensor([1, 2], { dtype: 'float32' });
      assert.ok(f.to('float32').sharesStorageWith(f));
      const c = f.to({ dtype: 'float32', copy: true });
      assert.ok(!c.sharesStorageWith(f));
      c.fill_(9);
      assert.deepEqual(f.toArray(), [1, 2]);
    });
  });

  test('item()', () => {
    T.scope(() => {
      assert.equal(T.tensor(0.5).item(), 0.5);
      assert.equal(T.tensor([[7]]).item(), 7);
      assert.equal(T.tensor(7).item(), 7);
      assert.equal(T.tensor(true).item(), 1);
      assert.equal(T.tensor([1, 2, 3], { dtype: 'float64' }).sum().item(), 6);
      throwsUseful(() => T.tensor([1, 2]).item(), /one element/, 'item() of two elements');
    });
  });

  // tensor.ts: "Methods follow PyTorch's ... semantics, including ... type promotion".
  // In PyTorch an integer tensor with an integral Python scalar stays integer.
  test('integer tensor op integral number keeps the integer dtype (PyTorch type promotion)', () => {
    T.scope(() => {
      const i = T.tensor([1, 2, 3]);
      assert.equal(i.add(1).dtype, 'int64', 'int64 + 1');
      assert.equal(i.mul(2).dtype, 'int64', 'int64 * 2');
      assert.equal(i.sub(1).dtype, 'int64', 'int64 - 1');
      assert.equal(i.add(0.5).dtype, 'float32', 'int64 + 0.5 promotes to the default float');
    });
  });
});

describe('errors stay JS errors', () => {
  test('shape mismatches and bad arguments throw Errors with a useful one-line message', () => {
    T.scope(() => {
      const x = T.randn(1, 3, 5, 5);
      const w = T.randn(8, 4, 3, 3);
      throwsUseful(() => F.conv2d(x, w), /channels/, 'conv2d with 3 input channels and a 4-channel weight');
      throwsUseful(() => T.randn(2, 3).matmul(T.randn(4, 5)), /cannot be multiplied|shape/, 'matmul 2x3 @ 4x5');
      throwsUseful(() => T.randn(2, 3).add(T.randn(4)), /size|match/, 'add of non-broadcastable shapes');
      throwsUseful(() => T.randn(2, 3).reshape(4, 2), /shape|invalid/, 'reshape to a wrong element count');
      throwsUseful(() => T.cat([T.randn(2, 3), T.randn(2, 4)], 0), /[Ss]izes|size/, 'cat of mismatched shapes');
      throwsUseful(() => T.randn(3, 4).t().view(12), /view|stride|contiguous/, 'view of a transposed tensor');
      throwsUseful(() => T.randn(3).indexSelect(0, T.tensor([5])), /index|range/, 'index_select out of range');
      throwsUseful(() => T.randn(2, 3).gather(1, T.tensor([[0, 7]])), /index|bounds|range/, 'gather out of bounds');
      throwsUseful(() => F.embedding(T.tensor([9]), T.randn(4, 2)), /index|range/, 'embedding index out of range');
      throwsUseful(() => T.zeros([2], { dtype: 'float33' as DType }), /dtype/, 'unknown dtype');
      throwsUseful(() => F.interpolate(T.randn(2, 3, 4), { size: 8 }), /4-D|NCHW/, 'interpolate of a 3-D tensor');
      throwsUseful(() => F.crossEntropy(T.randn(3, 4), T.tensor([0, 1, 9])), /[Tt]arget|bounds|range/, 'cross entropy class out of range');
      throwsUseful(() => T.randn(2, 3).transpose(0, 5), /[Dd]imension|range/, 'transpose of a missing dim');
      throwsUseful(() => T.randn(2).size(3), /out of range/, 'size() of a missing dim');
      throwsUseful(() => F.pad(T.randn(1, 1, 2, 2), [3, 3, 3, 3], { mode: 'reflect' }), /[Pp]adding|size|dim/, 'reflect pad wider than the input');
      throwsUseful(() => T.randn(2, 2).t().t().t().squeeze(7), /[Dd]imension|range/, 'squeeze of a missing dim');
      throwsUseful(() => T.randn(4).t(), /2-D/, 't() of a 1-D tensor');
      // and the engine keeps working afterwards
      assert.deepEqual(T.ones(2).add(1).toArray(), [2, 2]);
    });
  });

  // PyTorch raises a TypeError for torch.zeros(2.5); silently truncating a computed size
  // (e.g. channels * 1.5) hides a bug in the caller.
  test('a fractional or NaN size is an error, not silently truncated', () => {
    T.scope(() => {
      throwsUseful(() => T.zeros(2.5), /integer|size|shape/, 'zeros(2.5)');
      throwsUseful(() => T.randn([2, NaN]), /integer|size|shape/, 'randn([2, NaN])');
      throwsUseful(() => T.ones(6).reshape(1.5, 4), /integer|size|shape/, 'reshape(1.5, 4)');
    });
  });

  test('a disposed tensor throws when used, and only that handle is gone', () => {
    T.scope(() => {
      const a = T.ones(3);
      const view = a.alias();
      a.dispose();
      assert.ok(a.isDisposed);
      throwsUseful(() => a.add(1), /disposed/, 'op on a disposed tensor');
      throwsUseful(() => T.ones(3).add(a), /disposed/, 'disposed tensor as the second operand');
      throwsUseful(() => a.shape, /disposed/, 'shape of a disposed tensor');
      assert.equal(String(a), 'Tensor(disposed)');
      a.dispose(); // disposing twice is harmless
      assert.deepEqual(view.toArray(), [1, 1, 1], 'another handle on the same tensor stays valid');
    });
  });
});

describe('memory: scope(), keep(), liveTensors()', () => {
  test('scope frees everything except what it returns', () => {
    const before = T.liveTensors();
    let inner: Tensor | null = null;
    const r = T.scope(() => {
      inner = T.randn(3);
      const b = inner.mul(2).add(1);
      assert.equal(T.scopeDepth(), 1);
      return b;
    });
    assert.equal(T.scopeDepth(), 0);
    assert.ok(inner!.isDisposed, 'intermediate freed');
    assert.ok(!r.isDisposed, 'returned tensor survives');
    assert.equal(T.liveTensors(), before + 1);
    r.dispose();
    assert.equal(T.liveTensors(), before);
  });

  test('tensors returned inside arrays, objects and Maps survive; other values pass through', () => {
    const before = T.liveTensors();
    const out = T.scope(() => {
      T.ones(5); // garbage
      return { list: [T.ones(1), T.zeros(1)], nested: { t: T.full([1], 3) }, map: new Map([['k', T.ones(2)]]), n: 4 };
    });
    assert.equal(out.n, 4);
    assert.equal(T.liveTensors(), before + 4);
    assert.deepEqual(out.nested.t.toArray(), [3]);
    for (const t of [...out.list, out.nested.t, ...out.map.values()]) t.dispose();
    assert.equal(T.liveTensors(), before);
  });

  test('nested scopes: an inner result belongs to the outer scope', () => {
    const before = T.liveTensors();
    let fromInner: Tensor | null = null;
    const r = T.scope(() => {
      fromInner = T.scope(() => {
        T.ones(2);
        assert.equal(T.scopeDepth(), 2);
        return T.zeros(2);
      });
      assert.ok(!fromInner.isDisposed);
      return fromInner.add(1);
    });
    assert.ok(fromInner!.isDisposed, 'the inner result was freed with the outer scope');
    assert.deepEqual(r.toArray(), [1, 1]);
    r.dispose();
    assert.equal(T.liveTensors(), before);
  });

  test('keep() escapes every enclosing scope; the caller disposes it', () => {
    const before = T.liveTensors();
    let kept: Tensor | null = null;
    T.scope(() => {
      T.scope(() => {
        kept = T.ones(4).keep();
        assert.ok(kept.isKept);
      });
    });
    assert.ok(!kept!.isDisposed);
    assert.equal(T.liveTensors(), before + 1);
    kept!.dispose();
    assert.equal(T.liveTensors(), before);
  });

  test('an exception inside a scope frees its tensors and propagates', () => {
    const before = T.liveTensors();
    assert.throws(() => T.scope(() => {
      T.randn(10);
      T.randn(10).mul(3);
      F.conv2d(T.randn(1, 2, 3, 3), T.randn(1, 5, 1, 1)); // a native error
    }), /channels/);
    assert.equal(T.scopeDepth(), 0);
    assert.equal(T.liveTensors(), before);
    assert.throws(() => T.scope(() => {
      T.ones(1);
      throw new RangeError('mine');
    }), RangeError);
    assert.equal(T.liveTensors(), before);
  });

  test('a scope whose fn returns a Promise throws and frees', () => {
    const before = T.liveTensors();
    assert.throws(() => T.scope(() => {
      T.ones(2);
      return Promise.resolve(1);
    }), /synchronous/);
    assert.equal(T.liveTensors(), before);
  });

  test('100 Adam steps of a 2-layer MLP inside scope() leave liveTensors() unchanged', () => {
    T.manualSeed(5);
    const w1 = T.randn([16, 4]).mul(0.3).keep().requiresGrad_();
    const b1 = T.zeros([16], { requiresGrad: true });
    const w2 = T.randn([1, 16]).mul(0.3).keep().requiresGrad_();
    const b2 = T.zeros([1], { requiresGrad: true });
    const x = T.randn(32, 4);
    const y = T.scope(() => x.sum(1, true).sin());
    const opt = new optim.Adam([w1, b1, w2, b2], { lr: 0.01 });
    const before = T.liveTensors();
    const losses: number[] = [];
    for (let i = 0; i < 100; i++) {
      losses.push(T.scope(() => {
        opt.zeroGrad();
        const pred = F.linear(F.leakyRelu(F.linear(x, w1, b1), 0.2), w2, b2);
        const loss = F.mseLoss(pred, y);
        loss.backward();
        opt.step();
        void w1.grad; // a getter that makes a new handle each call
        return loss.item();
      }));
      assert.equal(T.liveTensors(), before, `step ${i} leaked`);
    }
    assert.ok(losses[99] < losses[0], `loss went down: ${losses[0]} → ${losses[99]}`);
    opt.dispose();
    for (const t of [w1, b1, w2, b2, x, y]) t.dispose();
  });
});

describe('random state', () => {
  test('manualSeed makes every random op repeat bit for bit', () => {
    T.scope(() => {
      const draw = (): Tensor[] => [
        T.randn(100), T.rand(17), T.randint(0, 1000, [20]), T.randperm(30), T.randn([3, 5], { dtype: 'float64' }),
        T.zeros(50).normal_(2, 3), T.zeros(50).uniform_(-1, 1), F.dropout(T.ones(64), 0.5), T.bernoulli(T.full([40], 0.3)),
      ];
      T.manualSeed(42);
      const a = draw();
      T.manualSeed(42);
      const b = draw();
      a.forEach((t, k) => assert.ok(bytesEqual(t, b[k]), `draw ${k} repeats`));
      T.manualSeed(43);
      const c = draw();
      assert.ok(!bytesEqual(a[0], c[0]), 'another seed gives other numbers');
    });
  });

  test('getRngState/setRngState: randn repeats bit for bit after restoring', () => {
    T.scope(() => {
      T.manualSeed(9);
      T.randn(7); // move the generator somewhere arbitrary
      const state = T.getRngState();
      assert.ok(state instanceof Uint8Array && state.length > 0);
      const first = T.randn(1000);
      const firstSmall = T.randn(5);
      const next = T.randn(1000);
      assert.ok(!bytesEqual(first, next), 'the generator moves on');
      T.setRngState(state);
      assert.ok(bytesEqual(T.randn(1000), first), 'same numbers after restoring');
      assert.ok(bytesEqual(T.randn(5), firstSmall), 'and the stream continues identically');
      assert.ok(bytesEqual(T.randn(1000), next));
      // the state is a value: a copy taken now is unaffected by later draws
      const s2 = T.getRngState();
      const copy = s2.slice();
      T.randn(10);
      assert.deepEqual(Array.from(s2), Array.from(copy));
      throwsUseful(() => T.setRngState(new Uint8Array(3)), /./, 'a truncated generator state');
    });
  });

  test("manualSeed(s) gives PyTorch's own numbers for torch.manual_seed(s)", () => {
    T.scope(() => {
      const r = ofx.rng;
      T.manualSeed(r.seed);
      // randn's Box–Muller rounds per CPU kernel (see assertSameDraws); rand is exact.
      assertSameDraws(T.randn(5).toTypedArray(), r.randn_5.data.map(Math.fround), 'randn(5)');
      assertSameDraws(T.randn(20).toTypedArray(), r.randn_20.data.map(Math.fround), 'randn(20)');
      assertEqualArrays(T.rand(6).toTypedArray(), r.rand_6.data.map(Math.fround), 'rand(6)');
    });
  });
});

describe('optimisers against torch.optim (test/fixtures/ops/optim.json)', () => {
  function make(c: OptimCase, p: Tensor): InstanceType<typeof optim.Adam> | InstanceType<typeof optim.SGD> {
    const o = c.options;
    if (c.kind === 'adam') {
      return new optim.Adam([p], {
        lr: o.lr as number, betas: o.betas as [number, number], eps: o.eps as number,
        weightDecay: o.weight_decay as number, amsgrad: o.amsgrad as boolean,
      });
    }
    return new optim.SGD([p], {
      lr: o.lr as number, momentum: o.momentum as number, dampening: o.dampening as number,
      weightDecay: o.weight_decay as number, nesterov: o.nesterov as boolean,
    });
  }

  for (const [name, c] of Object.entries(ofx.cases)) {
    test(`${name}: the parameter after each of ${c.grads.length} steps`, () => {
      const p = f32(c.param).keep().requiresGrad_();
      const opt = make(c, p);
      try {
        c.grads.forEach((g, k) => {
          T.scope(() => {
            p.grad = f32(g);
            opt.step();
            assertClose(p.toTypedArray(), c.params[k].data.map(Math.fround), 1e-6, 1e-7, `${name} step ${k + 1}`);
          });
        });
      } finally {
        opt.dispose();
        p.dispose();
      }
    });
  }

  test('parameters without a gradient are skipped', () => {
    T.scope(() => {
      const a = T.ones([2], { requiresGrad: true });
      const b = T.ones([2], { requiresGrad: true });
      const opt = new optim.Adam([a, b], { lr: 0.1 });
      a.grad = T.ones(2);
      opt.step();
      assert.deepEqual(b.toArray(), [1, 1]);
      assert.ok(a.toTypedArray()[0] < 1);
      assert.ok(a.isLeaf && a.requiresGrad && a.gradFn === null, 'a step leaves the parameter a leaf with no history');
      opt.zeroGrad();
      assert.equal(a.grad, null);
      opt.dispose();
    });
  });

  test('clipGradNorm, lerpAll and copyAll', () => {
    T.scope(() => {
      const a = T.zeros([2], { dtype: 'float64', requiresGrad: true });
      const b = T.zeros([1], { dtype: 'float64', requiresGrad: true });
      a.grad = T.tensor([3, 0], { dtype: 'float64' });
      b.grad = T.tensor([4], { dtype: 'float64' });
      const total = optim.clipGradNorm([a, b], 1);
      assert.equal(total, 5);
      const coef = 1 / (5 + 1e-6); // torch.nn.utils.clip_grad_norm_
      assertClose(a.grad!.toTypedArray(), [3 * coef, 0], 1e-15, 0);
      assertClose(b.grad!.toTypedArray(), [4 * coef], 1e-15, 0);
      assert.equal(optim.clipGradNorm([a, b], 10), Math.hypot(3 * coef, 4 * coef), 'below the limit: unchanged');
      assertClose(a.grad!.toTypedArray(), [3 * coef, 0], 1e-15, 0);
      const ema = [T.tensor([0, 10], { dtype: 'float64' })];
      optim.lerpAll(ema, [T.tensor([1, 20], { dtype: 'float64' })], 0.25);
      assert.deepEqual(ema[0].toArray(), [0.25, 12.5]);
      optim.copyAll(ema, [T.tensor([7, 8], { dtype: 'float64' })]);
      assert.deepEqual(ema[0].toArray(), [7, 8]);
    });
  });

  for (const name of ['adam_amsgrad', 'sgd_momentum_dampening']) {
    test(`${name}: stateDict → loadStateDict into a fresh optimiser continues identically`, () => {
      T.scope(() => {
        const c = ofx.cases[name];
        const pa = f32(c.param).requiresGrad_();
        const a = make(c, pa);
        for (let k = 0; k < 3; k++) {
          pa.grad = f32(c.grads[k]);
          a.step();
        }
        // a checkpoint: copies of the state tensors, hyper-parameters through JSON
        const sd = a.stateDict();
        const saved = {
          tensors: Object.fromEntries(Object.entries(sd.tensors).map(([k, t]) => [k, t.clone()])),
          hyper: JSON.parse(JSON.stringify(sd.hyper)) as typeof sd.hyper,
        };
        assert.ok(Object.keys(saved.tensors).length > 0);
        const pb = pa.detach().clone().requiresGrad_();
        const b = make(c, pb);
        b.loadStateDict(saved);
        const fresh = make(c, pa.detach().clone().requiresGrad_());
        const pf = fresh.params[0];
        for (let k = 3; k < c.grads.length; k++) {
          for (const [p, o] of [[pa, a], [pb, b], [pf, fresh]] as const) {
            p.grad = f32(c.grads[k]);
            o.step();
          }
          assert.ok(bytesEqual(pa, pb), `step ${k + 1}: the restored optimiser matches bit for bit`);
          assertClose(pb.toTypedArray(), c.params[k].data.map(Math.fround), 1e-6, 1e-7, `step ${k + 1} vs PyTorch`);
        }
        assert.ok(!bytesEqual(pa, pf), 'an optimiser without the state would have gone elsewhere (the check can fail)');
        for (const o of [a, b, fresh]) o.dispose();
      });
    });
  }

  test('loadStateDict refuses a state for other parameters', () => {
    T.scope(() => {
      const a = new optim.Adam([T.zeros([2], { requiresGrad: true })]);
      const b = new optim.Adam([T.zeros([3], { requiresGrad: true })]);
      const c = new optim.Adam([T.zeros([2], { requiresGrad: true }), T.zeros([2], { requiresGrad: true })]);
      throwsUseful(() => b.loadStateDict(a.stateDict()), /shape/, 'shape mismatch');
      throwsUseful(() => c.loadStateDict(a.stateDict()), /parameters/, 'count mismatch');
      for (const o of [a, b, c]) o.dispose();
    });
  });

  test('Adam trains a 2-layer net on y = sin(x): the loss falls at least 10×', () => {
    T.manualSeed(1);
    const params = T.scope(() => ({
      w1: T.randn(32, 1).mul(1.0).requiresGrad_(),
      b1: T.randn(32).mul(0.5).requiresGrad_(),
      w2: T.randn(1, 32).mul(0.2).requiresGrad_(),
      b2: T.zeros([1], { requiresGrad: true }),
    }));
    const x = T.linspace(-3, 3, 64).unsqueeze(1);
    const y = T.scope(() => x.sin());
    const opt = new optim.Adam(Object.values(params), { lr: 0.01 });
    const lossAt = (): number => T.scope(() => {
      opt.zeroGrad();
      const { w1, b1, w2, b2 } = params;
      const loss = F.mseLoss(F.linear(F.tanh(F.linear(x, w1, b1)), w2, b2), y);
      loss.backward();
      opt.step();
      return loss.item();
    });
    const first = lossAt();
    let last = first;
    for (let i = 0; i < 400; i++) last = lossAt();
    assert.ok(last * 10 <= first, `loss ${first} → ${last}`);
    opt.dispose();
    for (const t of [...Object.values(params), x, y]) t.dispose();
  });
});

test('resetState makes an Adam behave as a fresh one (PGGAN resets it per level of detail)', () => {
  T.scope(() => {
    const run = (opt: InstanceType<typeof optim.Adam>, p: Tensor): void => {
      for (let i = 0; i < 3; i++) {
        opt.zeroGrad();
        p.square().sum().mul(i + 1).backward();
        opt.step();
      }
    };
    const a = T.tensor([1.5, -2, 3]).requiresGrad_(true);
    const b = T.tensor([1.5, -2, 3]).requiresGrad_(true);
    const used = new optim.Adam([a], { lr: 0.1, betas: [0, 0.99] });
    run(used, a);
    T.noGrad(() => a.copy_(b));
    used.resetState();
    assert.deepEqual(used.stateDict().hyper.step, [0]);
    const fresh = new optim.Adam([b], { lr: 0.1, betas: [0, 0.99] });
    run(used, a);
    run(fresh, b);
    assert.deepEqual(a.toArray(), b.toArray());
    // Without the reset the moments of the first run would steer it elsewhere.
    const c = T.tensor([1.5, -2, 3]).requiresGrad_(true);
    const stale = new optim.Adam([c], { lr: 0.1, betas: [0.9, 0.99] });
    run(stale, c);
    T.noGrad(() => c.copy_(b));
    run(stale, c);
    assert.notDeepEqual(c.toArray(), b.toArray());
    used.dispose();
    fresh.dispose();
    stale.dispose();
  });
});
