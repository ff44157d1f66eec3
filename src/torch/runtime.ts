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
