// The global random generators: seeding, and state capture for bit-exact resume.
import { N } from './native.js';
import { type Device } from './dtype.js';

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
 * Runs `fn` with the CPU generator seeded to `seed`, then puts the generator back as it
 * was: fixed sample latents never disturb the training stream (and so exact resume).
 */
export function withSeed<T>(seed: number, fn: () => T): T {
  const saved = getRngState();
  manualSeed(seed);
  try {
    return fn();
  } finally {
    setRngState(saved);
  }
}
