/**
 * numpy's legacy RandomState(seed).randn, bit for bit against values numpy computed
 * (test/fixtures/nvpkl/make_fixtures.py), and the two pieces it rests on: glibc's log
 * and an exact fused multiply-add.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NumpyRandomState, numpyRandn } from '../src/util/numpy_random.js';
import { fma, libmLog } from '../src/util/libm_log.js';
import { loadJson } from './helpers.js';

const E = loadJson<{
  randn: { seed: number; values: number[] }[];
  randn_long: { seed: number; count: number; sha256: string; last: number; sum: number };
  randn_calls: { seed: number; counts: number[]; values: number[][] };
  randn_array_seed: { seed: number[]; values: number[] };
  libm_log: [number, number][];
}>('test/fixtures/nvpkl/expected.json');

function sameBits(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: count`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} != numpy's ${expected[i]}`);
  }
}

test('RandomState(seed).randn(n) equals numpy for seeds from 0 to 2^32 − 1 and odd counts', () => {
  assert.ok(E.randn.some((c) => c.seed >= 2 ** 31) && E.randn.some((c) => c.values.length % 2 === 1));
  for (const c of E.randn) sameBits(numpyRandn(c.seed, c.values.length), c.values, `seed ${c.seed}`);
});

test('a long stream (200 001 draws) equals numpy bit for bit', () => {
  const L = E.randn_long;
  const v = numpyRandn(L.seed, L.count);
  assert.equal(v[L.count - 1], L.last);
  assert.equal(createHash('sha256').update(Buffer.from(v.buffer, v.byteOffset, v.byteLength)).digest('hex'), L.sha256);
});

test('successive randn calls share the stream and the cached second Gaussian', () => {
  const rs = new NumpyRandomState(E.randn_calls.seed);
  E.randn_calls.counts.forEach((n, i) => sameBits(rs.randn(n), E.randn_calls.values[i]!, `call ${i}`));
  // And the same values drawn one at a time.
  const one = new NumpyRandomState(E.randn_calls.seed);
  sameBits(Array.from({ length: 8 }, () => one.gauss()), E.randn_calls.values.flat(), 'gauss()');
});

test('an array seed goes through init_by_array, as numpy seeds RandomState([a, b, c])', () => {
  sameBits(numpyRandn(E.randn_array_seed.seed, E.randn_array_seed.values.length), E.randn_array_seed.values, 'array seed');
  assert.notDeepEqual([...numpyRandn([E.randn_array_seed.seed[0]!], 2)], [...numpyRandn(E.randn_array_seed.seed[0]!, 2)]);
});

test('seeds outside [0, 2^32) are refused, as numpy refuses them', () => {
  for (const bad of [-1, 2 ** 32, 1.5, NaN]) assert.throws(() => new NumpyRandomState(bad), /seed must be an integer between 0 and 2\*\*32 - 1/);
  assert.throws(() => new NumpyRandomState([]), /empty/);
  assert.throws(() => new NumpyRandomState([1, -2]), /seed\[1\]/);
  assert.throws(() => new NumpyRandomState(1).randn(-1), /count/);
});

test("libmLog equals the C library's log on its edge cases and on random inputs", () => {
  for (const [x, y] of E.libm_log) assert.ok(Object.is(libmLog(x), y), `log(${x}) = ${libmLog(x)}, libm says ${y}`);
  assert.equal(libmLog(1), 0);
  assert.equal(libmLog(0), -Infinity);
  assert.equal(libmLog(-0), -Infinity);
  assert.equal(libmLog(Infinity), Infinity);
  assert.ok(Number.isNaN(libmLog(-1)) && Number.isNaN(libmLog(NaN)) && Number.isNaN(libmLog(-Infinity)));
  // Math.log is not enough: it rounds differently from libm on some of these inputs.
  assert.ok(E.libm_log.some(([x, y]) => Math.log(x) !== y), 'the fixture distinguishes libm from Math.log');
});

// An independent exact fma: doubles as integers times powers of two, summed exactly with
// BigInt, then rounded to nearest even by hand.
function decompose(x: number): [bigint, number] {
  const f = new Float64Array([x]);
  const u = new BigUint64Array(f.buffer)[0]!;
  const e = Number((u >> 52n) & 0x7ffn);
  let m = u & ((1n << 52n) - 1n);
  if (e) m |= 1n << 52n;
  const sign = u >> 63n ? -1n : 1n;
  return [sign * m, (e || 1) - 1075];
}
function exactFma(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a);
  const [mb, eb] = decompose(b);
  const [mc, ec] = decompose(c);
  const e = Math.min(ea + eb, ec);
  let n = ((ma * mb) << BigInt(ea + eb - e)) + (mc << BigInt(ec - e));
  if (n === 0n) return 0;
  const neg = n < 0n;
  if (neg) n = -n;
  // Keep 53 significant bits, rounding the rest to nearest even.
  const len = n.toString(2).length;
  let shift = len - 53;
  let exp = e;
  if (shift > 0) {
    const rem = n & ((1n << BigInt(shift)) - 1n);
    const half = 1n << BigInt(shift - 1);
    n >>= BigInt(shift);
    exp += shift;
    if (rem > half || (rem === half && n & 1n)) n += 1n;
    shift = 0;
  }
  const v = Number(n) * 2 ** exp;
  return neg ? -v : v;
}

test('fma rounds a·b + c once, as an exact computation does', () => {
  const rs = new NumpyRandomState(99);
  let checked = 0;
  for (let i = 0; i < 20000; i++) {
    const a = (rs.double() - 0.5) * 2 ** Math.floor(rs.double() * 40 - 20);
    const b = (rs.double() - 0.5) * 2 ** Math.floor(rs.double() * 40 - 20);
    // Half the cases cancel the product almost exactly: where a fused and an unfused
    // multiply-add differ most.
    const c = i % 2 ? -(a * b) * (1 + (rs.double() - 0.5) * 2 ** -30) : (rs.double() - 0.5) * 2 ** Math.floor(rs.double() * 40 - 20);
    assert.ok(Object.is(fma(a, b, c), exactFma(a, b, c)), `fma(${a}, ${b}, ${c}) = ${fma(a, b, c)}, exactly ${exactFma(a, b, c)}`);
    checked++;
  }
  assert.equal(fma(1 + 2 ** -52, 1 + 2 ** -52, -1), 2 ** -51, 'a tie rounds to even');
  assert.equal(fma(0.1, 10, -1), 5.551115123125783e-17, 'the product error 0.1 · 10 − 1 that a plain a*b+c loses');
  assert.equal(0.1 * 10 - 1, 0);
  assert.equal(checked, 20000);
});
