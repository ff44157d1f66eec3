/**
 * numpy's legacy `np.random.RandomState`, bit for bit, for what NVIDIA's scripts draw
 * with it: generate.py's latent of a seed is `RandomState(seed).randn(1, z_dim)`, so the
 * same seed gives the same image only if the same doubles come out here.
 *
 * - MT19937 (Matsumoto & Nishimura), seeded as numpy seeds it: an int seed in
 *   [0, 2^32) through init_genrand, a sequence of them through init_by_array.
 * - random doubles with 53 bits from two draws: ((a >> 5)·2^26 + (b >> 6)) / 2^53.
 * - Gaussians by the polar Box–Muller method, which makes two at a time: the second is
 *   cached and returned by the next call (numpy's `legacy_gauss`, which `randn` uses).
 *
 * Math.sqrt is correctly rounded, as C's sqrt is; the logarithm is glibc's, rounding for
 * rounding (src/util/libm_log.ts), since Math.log differs from it in the last bit often.
 */

import { libmLog } from './libm_log.js';

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

function checkSeedWord(x: number, what: string): number {
  if (!Number.isSafeInteger(x) || x < 0 || x > 0xffffffff) {
    throw new RangeError(`${what} must be an integer between 0 and 2**32 - 1, got ${x}`);
  }
  return x;
}

export class NumpyRandomState {
  readonly #mt = new Uint32Array(N);
  #pos = N;
  #gauss = 0;
  #hasGauss = false;

  /** `np.random.RandomState(seed)`: an int in [0, 2^32) or a non-empty array of them. */
  constructor(seed: number | readonly number[]) {
    if (typeof seed === 'number') this.#initGenrand(checkSeedWord(seed, 'seed'));
    else this.#initByArray(seed.map((s, i) => checkSeedWord(s, `seed[${i}]`)));
  }

  #initGenrand(seed: number): void {
    const mt = this.#mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, (prev ^ (prev >>> 30)) >>> 0) + i) >>> 0;
    }
    this.#pos = N;
    this.#hasGauss = false;
    this.#gauss = 0;
  }

  #initByArray(key: readonly number[]): void {
    if (key.length === 0) throw new RangeError('seed must not be an empty array');
    const mt = this.#mt;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul((prev ^ (prev >>> 30)) >>> 0, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = ((mt[i]! ^ Math.imul((prev ^ (prev >>> 30)) >>> 0, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  #generate(): void {
    const mt = this.#mt;
    let kk = 0;
    let y: number;
    for (; kk < N - M; kk++) {
      y = (mt[kk]! & UPPER) | (mt[kk + 1]! & LOWER);
      mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (mt[kk]! & UPPER) | (mt[kk + 1]! & LOWER);
      mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    y = (mt[N - 1]! & UPPER) | (mt[0]! & LOWER);
    mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.#pos = 0;
  }

  /** The next 32-bit output of MT19937 (tempered). */
  uint32(): number {
    if (this.#pos >= N) this.#generate();
    let y = this.#mt[this.#pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits: numpy's `random_sample` / `legacy_double`. */
  double(): number {
    const a = this.uint32() >>> 5;
    const b = this.uint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** One standard normal draw (numpy's `legacy_gauss`). */
  gauss(): number {
    if (this.#hasGauss) {
      this.#hasGauss = false;
      const g = this.#gauss;
      this.#gauss = 0;
      return g;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.double() - 1;
      x2 = 2 * this.double() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * libmLog(r2)) / r2);
    this.#gauss = f * x1;
    this.#hasGauss = true;
    return f * x2;
  }

  /** `randn(count)`: `count` standard normal doubles, in numpy's order. */
  randn(count: number): Float64Array {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`randn: count must be a non-negative integer, got ${count}`);
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = this.gauss();
    return out;
  }
}

/** `np.random.RandomState(seed).randn(count)`. */
export function numpyRandn(seed: number | readonly number[], count: number): Float64Array {
  return new NumpyRandomState(seed).randn(count);
}
