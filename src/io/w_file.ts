// w files: what `ganforge project` writes and `sample --w`, `interpolate --w` and
// `mix --rows_w/--cols_w` read.
//   .safetensors  'w' float32 [N, num_ws, w_dim] (project writes N = 1: one w broadcast to
//                 every layer), and optionally the noise maps the projection optimised,
//                 under the generator's own state-dict names ('synthesis.b8.conv0.noise_const',
//                 'synthesis.noise3'); metadata format = ganforge-w.
//   .npz          projector.py's projected_w.npz (np.savez(w=[1, num_ws, w_dim])).
//   .npy          one array.
// A 2-D array [num_ws, w_dim] is read as one w. Checking the sizes against a network is
// the caller's: this reader knows files, not networks.
import { readSafetensorsFileSync } from './safetensors.js';
import { decodeNpy } from './npy.js';
import { openZip } from './zip.js';
import { readInputFileSync, type RawTensor } from './raw.js';

export const W_FILE_FORMAT = 'ganforge-w';

export interface WFile {
  /** [N, num_ws, w_dim], float32 or float64. */
  w: RawTensor;
  /** Noise maps by the generator's state-dict names (empty when the file has none). */
  noise: Record<string, RawTensor>;
}

function readW(path: string): { w: RawTensor; noise: Record<string, RawTensor> } {
  if (/\.safetensors$/i.test(path)) {
    const { tensors } = readSafetensorsFileSync(path);
    const names = Object.keys(tensors);
    const key = 'w' in tensors ? 'w' : names.length === 1 ? names[0]! : null;
    if (key === null) throw new Error(`${path}: holds no tensor named 'w' (it has ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''})`);
    const noise: Record<string, RawTensor> = {};
    for (const k of names) if (k !== key) noise[k] = tensors[k]!;
    return { w: tensors[key]!, noise };
  }
  if (/\.npz$/i.test(path)) {
    const zip = openZip(readInputFileSync(path), path);
    if (!zip.has('w.npy')) throw new Error(`${path}: holds no array 'w' (projector.py saves projected_w.npz with w=...); it has ${zip.names().join(', ')}`);
    return { w: decodeNpy(zip.read('w.npy'), `${path}:w`), noise: {} };
  }
  if (/\.npy$/i.test(path)) return { w: decodeNpy(readInputFileSync(path), path), noise: {} };
  throw new Error(`${path}: a w file must be .safetensors (ganforge project's), .npz (projector.py's) or .npy`);
}

export function readWFile(path: string): WFile {
  const { w, noise } = readW(path);
  if (w.dtype !== 'float32' && w.dtype !== 'float64') throw new Error(`${path}: w is ${w.dtype}; expected float32 or float64`);
  if (w.shape.length === 2) return { w: { ...w, shape: [1, ...w.shape] }, noise };
  if (w.shape.length !== 3 || w.shape[0] === 0) throw new Error(`${path}: w has shape [${w.shape.join(', ')}]; expected [N, num_ws, w_dim] (or one w, [num_ws, w_dim])`);
  for (const [k, t] of Object.entries(noise)) {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new Error(`${path}: '${k}' is ${t.dtype}, not a noise map (float32 or float64)`);
  }
  return { w, noise };
}
