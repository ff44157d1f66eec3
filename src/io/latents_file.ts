/**
 * Latents given as a file (`ganforge sample --z FILE`): a .npy array (np.save) or a
 * .safetensors file holding one tensor, or a tensor named `z` among others; float32 or
 * float64, one latent per row ([N, z_dim], C order). Checking the size against a model
 * is the caller's: this reader knows files, not networks.
 */

import { readNpyFileSync } from './npy.js';
import { readSafetensorsFileSync } from './safetensors.js';
import type { RawTensor } from './raw.js';

export function readLatentsFile(path: string): RawTensor {
  let t: RawTensor;
  if (/\.npy$/i.test(path)) {
    t = readNpyFileSync(path);
  } else if (/\.safetensors$/i.test(path)) {
    const { tensors } = readSafetensorsFileSync(path);
    const names = Object.keys(tensors);
    if (names.length === 1) t = tensors[names[0]!]!;
    else if ('z' in tensors) t = tensors.z!;
    else {
      throw new Error(`${path}: holds ${names.length} tensors (${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''}); keep one, or name the latents 'z'`);
    }
  } else {
    throw new Error(`${path}: latents must be a .npy or .safetensors file`);
  }
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new Error(`${path}: latents are ${t.dtype}; save them as float32 or float64`);
  if (t.shape.length < 2) throw new Error(`${path}: latents have shape [${t.shape.join(', ')}]; expected [N, z_dim], one latent per row`);
  if (t.shape[0] === 0) throw new Error(`${path}: holds no latents (shape [${t.shape.join(', ')}])`);
  return t;
}
