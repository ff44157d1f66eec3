// The playground folder `ganforge export --web DIR` writes: the page (index.html,
// playground.js, seeded.js from src/web/playground/), model.json, the ONNX files, and
// onnxruntime-web's wasm runtime copied from its npm package, so that the folder works
// offline from any static server.
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from '../root.js';
import { UsageError } from '../config/errors.js';

const PAGE = ['index.html', 'playground.js', 'seeded.js'];
/** The wasm build of onnxruntime-web (CPU engine) and the module that loads it. */
const ORT = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
/** The file that marks a folder as a playground this command wrote (and may overwrite). */
export const PLAYGROUND_MARK = 'model.json';

function ortDist(): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('onnxruntime-web');
  } catch {
    throw new UsageError("--web needs the npm package onnxruntime-web (npm install onnxruntime-web)");
  }
  const dist = dirname(entry);
  const missing = ORT.filter((f) => !existsSync(join(dist, f)));
  if (missing.length) throw new UsageError(`onnxruntime-web in ${dist} lacks ${missing.join(', ')}: reinstall it`);
  return dist;
}

/** Whether `dir` may receive a playground: absent, empty, or one written before (with force). */
export function checkPlaygroundFolder(dir: string, force: boolean): void {
  if (!existsSync(dir)) return;
  const names = readdirSync(dir);
  if (names.length === 0) return;
  if (!names.includes(PLAYGROUND_MARK)) throw new UsageError(`--web ${dir} holds files and is not a playground folder: choose an empty or new folder`);
  if (!force) throw new UsageError(`--web ${dir} holds a playground: use --force to replace it, or another --web`);
}

/** Writes the page, the runtime and the models (`files`: name → bytes) with their description. */
export function writePlayground(dir: string, models: Record<string, Uint8Array>, info: object): string[] {
  const dist = ortDist();
  mkdirSync(join(dir, 'ort'), { recursive: true });
  const page = join(packageRoot(), 'src', 'web', 'playground');
  for (const f of PAGE) copyFileSync(join(page, f), join(dir, f));
  for (const f of ORT) copyFileSync(join(dist, f), join(dir, 'ort', f));
  for (const [f, bytes] of Object.entries(models)) writeFileSync(join(dir, f), bytes);
  writeFileSync(join(dir, PLAYGROUND_MARK), JSON.stringify(info, null, 2) + '\n');
  return [...PAGE, ...ORT.map((f) => `ort/${f}`), ...Object.keys(models), PLAYGROUND_MARK];
}
