// The global random generators: seeding, and state capture for bit-exact resume.
import { N } from './native.js';
import { type Device } from './dtype.js';
import { cuda } from './runtime.js';

/** Seeds the CPU generator and every CUDA generator. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`manualSeed(): seed must be a non-negative integer, got ${seed}`);
  N.manualSeed(seed);
}

/** The full state of the device's default generator (an opaque byte string). */
export function getRngState(device: Device = 'cpu'): Uint8Array {
  return N.getRngState(device);
}

/** Restores a state from `getRngState` of the same device kind. */
export function setRngState(state: Uint8Array, device: Device = 'cpu'): void {
  N.setRngState(state, device);
}

/**
 * Runs `fn` with the generators seeded to `seed` (manualSeed's: the CPU one and every CUDA
 * one), then puts each back as it was: fixed sample latents and standing statistics never
 * disturb the training stream (and so exact resume), on a CUDA device too.
 */
export function withSeed<T>(seed: number, fn: () => T): T {
  const devices: Device[] = ['cpu', ...Array.from({ length: cuda.isAvailable() ? cuda.deviceCount() : 0 }, (_, i) => `cuda:${i}` as Device)];
  const saved = devices.map((d) => getRngState(d));
  manualSeed(seed);
  try {
    return fn();
  } finally {
    devices.forEach((d, i) => setRngState(saved[i], d));
  }
}
