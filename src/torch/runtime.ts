// What the engine is running on, and its thread pool.
import { N } from './native.js';

/** Native tensors still alive (tests use it to prove a step leaks nothing). */
export function liveTensors(): number {
  return N.liveTensors();
}

export function setNumThreads(n: number): void {
  N.setNumThreads(n);
}

export function getNumThreads(): number {
  return N.getNumThreads();
}

export interface BuildInfo {
  torchVersion: string;
  cuda: boolean;
  cudaDevices: number;
  mkldnn: boolean;
  parallel: string;
}

export function buildInfo(): BuildInfo {
  return N.buildInfo();
}

export const cuda = {
  isAvailable(): boolean {
    return N.buildInfo().cuda && N.buildInfo().cudaDevices > 0;
  },
  deviceCount(): number {
    return N.buildInfo().cudaDevices;
  },
};

/**
 * Tunes glibc's allocator for training (blocks up to 32 MiB stay on the heap; trimming only
 * past 1 GiB), so activations are not page-faulted in afresh every step: about two thirds
 * less system time per conv step on the machines this was measured on. It changes the
 * whole process, so it is the program's choice: the ganforge CLI and the benchmarks call
 * it (unless GANFORGE_SYSTEM_MALLOC=1); importing the library never does. Returns whether
 * it was applied.
 */
export function tuneMalloc(): boolean {
  return N.tuneMalloc();
}
