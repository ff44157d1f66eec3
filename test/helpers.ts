// Shared test utilities. Engine-free on purpose: any test (io, data, nn, engine) can use them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../src/torch/index.js';

let cachedRoot: string | null = null;

/** The package root: the nearest folder above this file whose package.json is named ganforge. */
export function repoRoot(): string {
  if (cachedRoot !== null) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ganforge') {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ganforge package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Absolute path of a file given relative to the package root (e.g. 'test/fixtures/ops/ops.json'). */
export function fromRoot(relpath: string): string {
  return resolve(repoRoot(), relpath);
}

/** Parses a JSON file given relative to the package root. */
export function loadJson<T = unknown>(relpath: string): T {
  return JSON.parse(readFileSync(fromRoot(relpath), 'utf8')) as T;
}

type Num = number | bigint | boolean;

function toNumbers(a: ArrayLike<Num> | Iterable<Num>): number[] {
  return Array.from(a as ArrayLike<Num>, (v) => Number(v));
}

/**
 * Elementwise |actual − expected| ≤ atol + rtol·|expected| (numpy.allclose), with the same
 * length; NaN matches only NaN and ±Infinity only itself. On failure the message names the
 * worst element, its index, both values and how many elements are off.
 */
export function assertClose(
  actual: ArrayLike<Num> | Iterable<Num>,
  expected: ArrayLike<Num> | Iterable<Num>,
  rtol = 1e-5,
  atol = 1e-6,
  msg = '',
): void {
  const a = toNumbers(actual);
  const e = toNumbers(expected);
  const where = msg ? `${msg}: ` : '';
  if (a.length !== e.length) assert.fail(`${where}length ${a.length} != expected length ${e.length}`);
  let bad = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = e[i];
    let ok: boolean;
    let excess: number;
    if (Number.isNaN(y) || Number.isNaN(x)) {
      ok = Number.isNaN(x) && Number.isNaN(y);
      excess = ok ? 0 : Infinity;
    } else if (!Number.isFinite(y) || !Number.isFinite(x)) {
      ok = x === y;
      excess = ok ? 0 : Infinity;
    } else {
      const tol = atol + rtol * Math.abs(y);
      const d = Math.abs(x - y);
      ok = d <= tol;
      excess = d - tol;
    }
    if (!ok) {
      bad++;
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  if (bad > 0) {
    const x = a[worst];
    const y = e[worst];
    assert.fail(
      `${where}${bad} of ${a.length} elements differ (rtol ${rtol}, atol ${atol}); worst at [${worst}]: ` +
        `got ${x}, expected ${y} (|diff| ${Math.abs(x - y)})`,
    );
  }
}

/** Exact elementwise equality (integers, booleans, bit-exact floats) with a useful message. */
export function assertEqualArrays(actual: ArrayLike<Num> | Iterable<Num>, expected: ArrayLike<Num> | Iterable<Num>, msg = ''): void {
  const a = toNumbers(actual);
  const e = toNumbers(expected);
  const where = msg ? `${msg}: ` : '';
  if (a.length !== e.length) assert.fail(`${where}length ${a.length} != expected length ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], e[i]) && !(a[i] === 0 && e[i] === 0)) {
      assert.fail(`${where}element [${i}] is ${a[i]}, expected ${e[i]}`);
    }
  }
}

/** The largest |a[i] − b[i]|. */
export function maxAbsDiff(a: ArrayLike<Num>, b: ArrayLike<Num>): number {
  const x = toNumbers(a);
  const y = toNumbers(b);
  assert.equal(x.length, y.length, 'maxAbsDiff: lengths differ');
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/**
 * Random draws against PyTorch's for the same seed. The generator's bits are the same on
 * every CPU, but the float32 transforms built on them are vectorised per CPU (ATen's
 * default, AVX2 and AVX-512 kernels) and round differently: normal_ (Box–Muller) by up
 * to 2.3e-6 of N(0, 1) between the default and AVX2 kernels over a million draws,
 * uniform_ by an ulp of its bound; in this suite's fixtures by at most 5.1e-7 of the
 * tensor's largest |value|. A different seed, generator or draw order differs by the
 * distribution's whole scale, so draws are compared within DRAW_TOL × the largest
 * |expected| (rand's [0, 1) draws, exact in every kernel, stay compared bit for bit).
 */
export const DRAW_TOL = 1e-5;

export function assertSameDraws(actual: ArrayLike<Num> | Iterable<Num>, expected: ArrayLike<Num> | Iterable<Num>, msg = ''): void {
  const e = toNumbers(expected);
  const scale = e.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, e, 0, DRAW_TOL * scale, msg);
}

/** An 8-bit HWC image, as data/image.ts's RawImage (kept engine-free here). */
export interface GridImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** The size × size image at (col, row) of a grid of such cells with `pad` pixels around and between them. */
export function gridCell(img: GridImage, col: number, row: number, pad: number, size: number): GridImage {
  const c = img.channels;
  const data = new Uint8Array(size * size * c);
  for (let y = 0; y < size; y++) {
    const from = ((pad + row * (size + pad) + y) * img.width + pad + col * (size + pad)) * c;
    data.set(img.data.subarray(from, from + size * c), y * size * c);
  }
  return { data, width: size, height: size, channels: c };
}

/** The tensors of `all` under `prefix.`, named without it (a fixture file's group). */
export function tensorGroup<T>(all: Record<string, T>, prefix: string): Record<string, T> {
  const p = `${prefix}.`;
  return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}

/** Same shape, and values within rtol/atol (compared in float64). */
export function assertTensorClose(a: Tensor, b: Tensor, label: string, rtol: number, atol: number): void {
  assert.deepEqual(a.shape, b.shape, `${label}: shape`);
  assertClose(a.double().toTypedArray() as Float64Array, b.double().toTypedArray() as Float64Array, rtol, atol, label);
}
