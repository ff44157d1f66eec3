import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  bfloat16ToFloat,
  byteLength,
  DTYPES,
  floatToBFloat16,
  floatToHalf,
  fromNumbers,
  halfToFloat,
  itemSize,
  numel,
  toBigInts,
  toNumbers,
  validateRawTensor,
} from '../src/io/raw.js';
import { repoRoot } from './helpers.js';


const expected = JSON.parse(
  fs.readFileSync(path.join(repoRoot(), 'test/fixtures/pth/expected.json'), 'utf8'),
) as { rounding: { float32: number[]; float16_bits: number[]; bfloat16_bits: number[] } };

test('itemSize and numel', () => {
  assert.deepEqual(Object.fromEntries(DTYPES.map((d) => [d, itemSize(d)])), {
    float64: 8, int64: 8, float32: 4, int32: 4, float16: 2, bfloat16: 2, int16: 2, int8: 1, uint8: 1, bool: 1,
  });
  assert.equal(numel([]), 1);
  assert.equal(numel([2, 0, 3]), 0);
  assert.equal(numel([2, 3, 4]), 24);
  assert.equal(byteLength('float16', [3, 5]), 30);
  assert.throws(() => numel([2, -1]), /invalid dimension -1/);
  assert.throws(() => numel([1.5]), /invalid dimension 1.5/);
  assert.throws(() => numel([2 ** 30, 2 ** 30, 2 ** 30]), /too many elements/);
  assert.throws(() => itemSize('complex64' as never), /unknown dtype 'complex64'/);
});

test('validateRawTensor names the tensor and the problem', () => {
  validateRawTensor({ dtype: 'float32', shape: [2], data: new Uint8Array(8) });
  assert.throws(() => validateRawTensor({ dtype: 'float32', shape: [2], data: new Uint8Array(7) }, 'w'),
    /^Error: w: float32 \[2\] needs 8 bytes, data has 7$/);
  assert.throws(() => validateRawTensor({ dtype: 'f32', shape: [2], data: new Uint8Array(8) }, 'w'), /w: unknown dtype 'f32'/);
  assert.throws(() => validateRawTensor({ dtype: 'int8', shape: 'x', data: new Uint8Array(1) }, 'w'), /shape is not an array/);
  assert.throws(() => validateRawTensor({ dtype: 'int8', shape: [1], data: [1] }, 'w'), /not a Uint8Array/);
  assert.throws(() => validateRawTensor(null, 'w'), /not a tensor object/);
});

test('every float16 bit pattern survives half -> float -> half', () => {
  for (let h = 0; h < 0x10000; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) {
      assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
      continue;
    }
    assert.equal(floatToHalf(f), h, `bits 0x${h.toString(16)}`);
  }
});

test('every bfloat16 bit pattern survives bf16 -> float -> bf16', () => {
  for (let b = 0; b < 0x10000; b++) {
    const f = bfloat16ToFloat(b);
    if (Number.isNaN(f)) continue;
    assert.equal(floatToBFloat16(f), b, `bits 0x${b.toString(16)}`);
  }
});

test('half conversions of known values', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  assert.equal(floatToHalf(-Infinity), 0xfc00);
  assert.equal(bfloat16ToFloat(0x3f80), 1);
  assert.ok(Number.isNaN(bfloat16ToFloat(floatToBFloat16(NaN))));
});

test('float32 -> float16/bfloat16 rounding matches torch (ties, subnormals, overflow)', () => {
  const { float32, float16_bits, bfloat16_bits } = expected.rounding;
  assert.ok(float32.length > 400);
  float32.forEach((x, i) => {
    assert.equal(floatToHalf(x), float16_bits[i], `half(${x})`);
    assert.equal(floatToBFloat16(x), bfloat16_bits[i], `bfloat16(${x})`);
  });
});

test('fromNumbers / toNumbers round-trip every dtype', () => {
  const cases: [Parameters<typeof fromNumbers>[0], number[]][] = [
    ['float32', [1.5, -2.25, 0]],
    ['float64', [Math.PI, -1e-300, 1e300]],
    ['float16', [1, -0.5, 65504]],
    ['bfloat16', [1, -0.5, 3.140625]],
    ['int64', [-(2 ** 53) + 1, 0, 2 ** 53 - 1]],
    ['int32', [-(2 ** 31), 0, 2 ** 31 - 1]],
    ['int16', [-32768, 1, 32767]],
    ['int8', [-128, 0, 127]],
    ['uint8', [0, 128, 255]],
    ['bool', [1, 0, 1]],
  ];
  for (const [dtype, values] of cases) {
    const t = fromNumbers(dtype, [3], values);
    validateRawTensor(t, dtype);
    assert.deepEqual(toNumbers(t), values, dtype);
  }
  const big = fromNumbers('int64', [2], [-(2n ** 63n), 2n ** 63n - 1n]);
  assert.deepEqual(toBigInts(big), [-(2n ** 63n), 2n ** 63n - 1n]);
  assert.deepEqual(toNumbers(fromNumbers('float32', [], [7])), [7]);
  assert.deepEqual(toNumbers(fromNumbers('float32', [0, 4], [])), []);
  assert.throws(() => fromNumbers('int8', [1], [128]), /128 is not a valid int8 value/);
  assert.throws(() => fromNumbers('int32', [1], [0.5]), /not a valid int32/);
  assert.throws(() => fromNumbers('int64', [1], [2n ** 63n]), /not a valid int64/);
  assert.throws(() => fromNumbers('float32', [2], [1]), /needs 2 values, got 1/);
});

test('data views with a byte offset are read correctly', () => {
  const buf = new Uint8Array(13);
  const t = fromNumbers('float32', [3], [1, 2, 3]);
  buf.set(t.data, 1);
  assert.deepEqual(toNumbers({ dtype: 'float32', shape: [3], data: buf.subarray(1) }), [1, 2, 3]);
});
