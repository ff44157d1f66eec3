// The loader: seeded order, batch size and drop-last, epochs and the endless stream,
// the same batches whatever the worker count, and a saved position that resumes exactly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as path from 'node:path';
import { type Batch, DataError, type Dataset, Loader, type LoaderOptions, openDataset } from '../src/data/index.js';
import { coordImage, removeDir, tempDir, writeRaw } from './data-helpers.js';

let dir: string;
let folder: Dataset;
before(async () => {
  dir = tempDir();
  // 10 images of varied sizes with a coordinate pattern: random crops and flips show.
  for (let i = 0; i < 10; i++) {
    const [w, h] = [12 + (i % 3) * 2, 10 + (i % 2) * 4];
    await writeRaw(path.join(dir, 'f', `${i}.png`), coordImage(w, h, i * 20, 7, 9), w, h);
  }
  folder = await openDataset(path.join(dir, 'f'), { loadSize: 12, cropSize: 8 });
});
after(() => removeDir(dir));

async function take(ds: Dataset, opts: LoaderOptions, n: number): Promise<Batch[]> {
  const loader = new Loader(ds, opts);
  try {
    const out: Batch[] = [];
    for (let i = 0; i < n; i++) out.push(await loader.next());
    return out;
  } finally {
    await loader.close();
  }
}

function same(a: Batch[], b: Batch[], what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(a[i].indices, b[i].indices, `${what}: batch ${i} indices`);
    assert.deepEqual(a[i].a, b[i].a, `${what}: batch ${i} pixels`);
    assert.deepEqual([a[i].epoch, a[i].position], [b[i].epoch, b[i].position], `${what}: batch ${i} position`);
  }
}

describe('order and epochs', () => {
  it('covers every sample once per epoch, reshuffled each epoch, deterministically by seed', async () => {
    const batches = await take(folder, { batchSize: 4, seed: 1, workers: 0 }, 9);
    assert.deepEqual(batches.map((b) => b.size), [4, 4, 2, 4, 4, 2, 4, 4, 2]);
    const epochs = [0, 1, 2].map((e) => batches.filter((b) => b.epoch === e).flatMap((b) => Array.from(b.indices)));
    for (const e of epochs) assert.deepEqual([...e].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(epochs[0], epochs[1]);
    same(batches, await take(folder, { batchSize: 4, seed: 1, workers: 0 }, 9), 'same seed');
    const other = await take(folder, { batchSize: 4, seed: 2, workers: 0 }, 3);
    assert.notDeepEqual(other.flatMap((b) => Array.from(b.indices)), epochs[0]);
  });

  it('without shuffle goes in order; drop_last skips the short batch', async () => {
    const serial = await take(folder, { batchSize: 4, shuffle: false, workers: 0 }, 3);
    assert.deepEqual(serial.map((b) => Array.from(b.indices)), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    const dropped = await take(folder, { batchSize: 4, shuffle: false, dropLast: true, workers: 0 }, 3);
    assert.deepEqual(dropped.map((b) => [b.epoch, ...b.indices]), [[0, 0, 1, 2, 3], [0, 4, 5, 6, 7], [1, 0, 1, 2, 3]]);
    assert.throws(() => new Loader(folder, { batchSize: 11, dropLast: true }), DataError);
    assert.throws(() => new Loader(folder, { batchSize: 0 }), /batch_size 0/);
  });

  it('iterates one epoch at a time, or endlessly', async () => {
    const loader = new Loader(folder, { batchSize: 3, workers: 0 });
    assert.equal(loader.batchesPerEpoch, 4);
    for (const e of [0, 1]) {
      const sizes: number[] = [];
      for await (const b of loader.epochBatches()) {
        assert.equal(b.epoch, e);
        sizes.push(b.size);
      }
      assert.deepEqual(sizes, [3, 3, 3, 1]);
      assert.equal(loader.epoch, e + 1);
    }
    let n = 0;
    for await (const b of loader) {
      assert.ok(b.size > 0);
      if (++n === 6) break;
    }
    assert.deepEqual([loader.epoch, loader.position], [3, 6]);
    await loader.close();
    await assert.rejects(loader.next(), /closed/);
  });
});

describe('workers', () => {
  it('give the same batches with 0, 1 and 2 worker threads', async () => {
    const opts = { batchSize: 3, seed: 5, prefetch: 3 };
    const local = await take(folder, { ...opts, workers: 0 }, 8);
    same(local, await take(folder, { ...opts, workers: 1 }, 8), 'one worker');
    same(local, await take(folder, { ...opts, workers: 2 }, 8), 'two workers');
    const pairs = await openDataset('shapes-domains', { resolution: 8, count: 12 });
    const pl = await take(pairs, { batchSize: 5, seed: 3, workers: 0 }, 4);
    const pw = await take(pairs, { batchSize: 5, seed: 3, workers: 2 }, 4);
    same(pl, pw, 'shapes-domains');
    for (let i = 0; i < pl.length; i++) assert.deepEqual(pl[i].b, pw[i].b);
  });

  it('report data errors from a worker as DataErrors', async () => {
    const mixed = await openDataset(path.join(dir, 'f'), { preprocess: 'none' });
    const loader = new Loader(mixed, { batchSize: 10, workers: 1 });
    await assert.rejects(loader.next(), (e: unknown) => e instanceof DataError && /different sizes/.test(e.message));
    await loader.close();
  });
});

describe('resume', () => {
  it('a restored loader produces the very next batch, across epochs and with batches in flight', async () => {
    for (const workers of [0, 2]) {
      const opts: LoaderOptions = { batchSize: 4, seed: 9, workers, prefetch: 4 };
      const first = new Loader(folder, opts);
      for (let i = 0; i < 4; i++) await first.next(); // into epoch 1
      const saved = JSON.parse(JSON.stringify(first.state()));
      assert.deepEqual([saved.epoch, saved.position], [1, 4]);
      const expected: Batch[] = [];
      for (let i = 0; i < 5; i++) expected.push(await first.next());
      await first.close();
      const resumed = new Loader(folder, { ...opts, seed: 12345 }); // the saved seed wins
      await resumed.next(); // and whatever it did before is forgotten
      resumed.restore(saved);
      const got: Batch[] = [];
      for (let i = 0; i < 5; i++) got.push(await resumed.next());
      await resumed.close();
      same(expected, got, `workers ${workers}`);
    }
  });

  it('refuses a state saved for a different dataset', async () => {
    const loader = new Loader(folder, { batchSize: 2, workers: 0 });
    const state = { ...loader.state(), length: 11 };
    assert.throws(() => loader.restore(state), /has 10 samples but the saved loader state was for 11/);
  });
});

describe('worker threads', () => {
  it('never import the engine (the native addon must stay out of them)', async () => {
    const fs = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const dataDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'data');
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = fs.readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
        const target = path.resolve(path.dirname(file), m[1] ?? m[2]);
        // Inside src/data, or an engine-free utility; never src/torch (the addon) or what loads it.
        const utilDir = path.resolve(dataDir, '..', 'util');
        assert.ok(target.startsWith(dataDir + path.sep) || target.startsWith(utilDir + path.sep), `${path.relative(dataDir, file)} imports ${path.relative(dataDir, target)}, outside src/data and src/util`);
        assert.ok(!/[/\\](tensor|grid|index)\.js$/.test(target), `${path.relative(dataDir, file)} imports ${path.basename(target)}, which loads the engine`);
        visit(target);
      }
    };
    visit(path.join(dataDir, 'worker.js'));
    assert.ok(seen.size > 8, `walked ${seen.size} modules`);
  });
});
