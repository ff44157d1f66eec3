// Data loader benchmark: images/s delivered by the Loader from a folder of 5,000 64x64
// PNGs (generated here from the built-in shapes set, kept under .bench/ for next time)
// and from its prepared cache, with 1 and 2 worker threads (0 = main thread, for scale),
// plus the main thread's cost of turning a batch into a tensor.
// Run: npx tsc -p . && node dist/bench/data.js      (BENCH_IMAGES=N for another size)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// The loader's own modules only: the engine is loaded last, for the conversion figure.
import { prepareCache } from '../src/data/cache.js';
import { type Dataset, openDataset } from '../src/data/dataset.js';
import { encodeImage } from '../src/data/image.js';
import { Loader } from '../src/data/loader.js';
import { makeScene, renderFilled } from '../src/data/procedural.js';
import { packageRoot } from '../src/root.js';
import * as torch from '../src/torch/index.js';
// The allocator settings the CLI trains with (bench figures are the CLI's).
if (!process.env.GANFORGE_SYSTEM_MALLOC || process.env.GANFORGE_SYSTEM_MALLOC === '0') torch.tuneMalloc();

const COUNT = Number(process.env.BENCH_IMAGES ?? 5000);
const RES = 64;
const BATCH = 64;

async function makeFolder(dir: string): Promise<void> {
  const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.png')).length : 0;
  if (have === COUNT) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < COUNT) {
      const i = next++;
      const png = await encodeImage(renderFilled(makeScene(0, 0, i), RES), 'png');
      fs.writeFileSync(path.join(dir, `${String(i).padStart(5, '0')}.png`), png);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  console.log(`generated ${COUNT} ${RES}x${RES} PNGs in ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

async function throughput(ds: Dataset, workers: number): Promise<number> {
  const loader = new Loader(ds, { batchSize: BATCH, workers, seed: 0, dropLast: true });
  try {
    for (let i = 0; i < 3; i++) await loader.next(); // start the workers, load sharp
    const batches = Math.max(10, Math.floor(((ds.kind === 'cache' ? 8 : 2) * COUNT) / BATCH));
    const t0 = performance.now();
    let images = 0;
    for (let i = 0; i < batches; i++) images += (await loader.next()).size;
    return images / ((performance.now() - t0) / 1000);
  } finally {
    await loader.close();
  }
}

async function main(): Promise<void> {
  console.log('repeat: npx tsc -p . && node dist/bench/data.js');
  const root = path.join(packageRoot(), '.bench');
  const folder = path.join(root, `data-${COUNT}x${RES}`);
  await makeFolder(folder);
  const cacheFile = path.join(root, `data-${COUNT}x${RES}.gfc`);
  const prep = await prepareCache(folder, { resolution: RES, out: cacheFile, force: true });
  console.log(`prepared ${cacheFile}: ${prep.count} images, ${(prep.bytes / 2 ** 20).toFixed(1)} MiB in ${prep.seconds.toFixed(2)} s ` +
    `(${Math.round(prep.count / prep.seconds)} images/s)`);

  console.log(`\nloader throughput, batch ${BATCH}, ${RES}x${RES} RGB, random flips (${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'cpu'})`);
  console.log('source   workers   images/s');
  const sources: [string, Dataset][] = [
    ['folder', await openDataset(folder, { resolution: RES })],
    ['cache', await openDataset(cacheFile, { resolution: RES })],
  ];
  for (const [name, ds] of sources) {
    for (const workers of [0, 1, 2]) {
      const ips = await throughput(ds, workers);
      console.log(`${name.padEnd(8)} ${String(workers === 0 ? '0 (main)' : workers).padEnd(9)} ${Math.round(ips).toString().padStart(8)}`);
    }
  }

  // The main thread's share: uint8 NHWC -> float32 NCHW in [-1, 1].
  let engine: typeof import('../src/torch/index.js');
  let tensors: typeof import('../src/data/tensor.js');
  try {
    engine = await import('../src/torch/index.js');
    tensors = await import('../src/data/tensor.js');
  } catch (e) {
    console.log(`\n(toTensorBatch not measured: ${(e as Error).message.split('\n')[0]})`);
    return;
  }
  const { getNumThreads, scope } = engine;
  const { toTensorBatch } = tensors;
  const loader = new Loader(sources[1][1], { batchSize: BATCH, workers: 0 });
  const batch = await loader.next();
  await loader.close();
  const times: number[] = [];
  for (let i = 0; i < 105; i++) {
    const t0 = performance.now();
    scope(() => { toTensorBatch(batch); });
    if (i >= 5) times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const ms = times[times.length >> 1];
  console.log(`\ntoTensorBatch (main thread, ${getNumThreads()} libtorch threads): median ${ms.toFixed(3)} ms per batch of ${BATCH} ` +
    `(${Math.round((BATCH * 1000) / ms)} images/s)`);
}

await main();
