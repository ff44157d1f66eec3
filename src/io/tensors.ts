// Where the byte-level formats meet the engine: RawTensor <-> Tensor, and the file
// helpers the rest of ganforge uses to save and load weights.
import { Tensor, fromBytes } from '../torch/index.js';
import type { RawTensor } from './raw.js';
import { createHash } from 'node:crypto';
import { encodeSafetensors, readSafetensorsFileSync } from './safetensors.js';
import { writeFileAtomicSync } from './atomic.js';
import { readPthFileSync, stateDictFrom } from './pth.js';

export function rawToTensor(raw: RawTensor): Tensor {
  return fromBytes(raw.data, raw.shape, raw.dtype);
}

export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape, data: t.toBytes() };
}

/** CPU tensors of RawTensors under the same names (e.g. a PickledNetwork's stateDict, for loadStateDict). */
export function toTensors(raws: Record<string, RawTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, r] of Object.entries(raws)) out[k] = rawToTensor(r);
  return out;
}

/** What was written: the file's size and SHA-256, for a manifest that proves it whole later. */
export interface WrittenFile {
  bytes: number;
  sha256: string;
}

/** Writes tensors (e.g. a `stateDict()`) to a .safetensors file atomically. */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): WrittenFile {
  const raws: Record<string, RawTensor> = {};
  for (const [k, t] of Object.entries(tensors)) raws[k] = tensorToRaw(t);
  const bytes = encodeSafetensors(raws, metadata);
  writeFileAtomicSync(path, bytes);
  return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Reads a .safetensors file into CPU tensors (owned by the caller / current scope). */
export function loadSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensorsFileSync(path);
  return { tensors: toTensors(tensors), metadata };
}

/**
 * Reads a PyTorch `.pth` state dict into CPU tensors, without executing any pickle code.
 * `key` picks a nested entry (e.g. 'state_dict' or 'G.ema'); without it the top level is
 * used when it is a flat dict of tensors.
 */
export function loadPthStateDict(path: string, key?: string): Record<string, Tensor> {
  return toTensors(stateDictFrom(readPthFileSync(path), key));
}

/** Loads weights by extension: .safetensors or .pth/.pt/.bin (torch.save). */
export function loadWeights(path: string, key?: string): Record<string, Tensor> {
  if (path.endsWith('.safetensors')) return loadSafetensors(path).tensors;
  return loadPthStateDict(path, key);
}
