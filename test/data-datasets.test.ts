// Dataset kinds read from small generated folders: folder (+ labels), aligned pairs,
// unaligned domains, single; bad input; a corrupt file among good ones.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, Loader, PREPROCESS_MODES, inspectDataset, openDataset } from '../src/data/index.js';
import { coordImage, pixel, removeDir, tempDir, warnings, writeFolder, writePair, writeRaw, writeSolid, writeTruncatedPng } from './data-helpers.js';

let dir: string;
before(() => {
  dir = tempDir();
});
after(() => removeDir(dir));

const sub = (...p: string[]): string => path.join(dir, ...p);

describe('folder', () => {
  it('finds images recursively, sorted, ignoring other and hidden files', async () => {
    await writeSolid(sub('f', 'b.png'), 8, 8, [1, 2, 3]);
    await writeSolid(sub('f', 'a', 'z.jpg'), 8, 8, [1, 2, 3]);
    await writeSolid(sub('f', 'a', 'deep', 'y.webp'), 8, 8, [1, 2, 3]);
    await writeSolid(sub('f', '.hidden', 'x.png'), 8, 8, [1, 2, 3]);
    fs.writeFileSync(sub('f', 'notes.txt'), 'hello');
    fs.writeFileSync(sub('f', 'a', 'meta.json'), '{}');
    const ds = await openDataset(sub('f'), { resolution: 8 });
    assert.equal(ds.kind, 'folder');
    assert.equal(ds.length, 3);
    assert.equal(ds.classes, null);
    const names = [];
    for (let i = 0; i < ds.length; i++) names.push(path.relative(sub('f'), (await ds.get(i)).pathA));
    assert.deepEqual(names, [path.join('a', 'deep', 'y.webp'), path.join('a', 'z.jpg'), 'b.png']);
    const small = await openDataset(sub('f'), { resolution: 8, maxDatasetSize: 2 });
    assert.equal(small.length, 2);
  });

  it('labels images by first-level sub-folder, classes sorted', async () => {
    await writeFolder(sub('cls', 'zebra'), 2);
    await writeFolder(sub('cls', 'apple'), 3);
    await writeSolid(sub('cls', 'apple', 'nested', 'n.png'), 8, 8, [9, 9, 9]);
    await writeSolid(sub('cls', 'loose.png'), 8, 8, [9, 9, 9]);
    const ds = await openDataset(sub('cls'), { classes: true, resolution: 8 });
    assert.deepEqual(ds.classes, ['apple', 'zebra']);
    assert.equal(ds.length, 6, 'the loose image in the root has no class and is left out');
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i);
      const cls = path.relative(sub('cls'), s.pathA).split(path.sep)[0];
      assert.equal(ds.classes![s.label], cls);
    }
    assert.deepEqual((ds.describe() as { classes: string[] }).classes, ['apple', 'zebra']);
    await assert.rejects(openDataset(sub('f', 'a', 'deep'), { classes: true }), /no class sub-folders/);
  });

  it('handles images of mixed sizes through the preprocessing', async () => {
    await writeRaw(sub('mixed', 'a.png'), coordImage(8, 8), 8, 8);
    await writeRaw(sub('mixed', 'b.png'), coordImage(12, 10), 12, 10);
    await writeRaw(sub('mixed', 'c.png'), coordImage(20, 6), 20, 6);
    const ds = await openDataset(sub('mixed'), { resolution: 8 });
    const loader = new Loader(ds, { batchSize: 3, workers: 0 });
    const b = await loader.next();
    assert.deepEqual([b.size, b.height, b.width, b.channelsA], [3, 8, 8, 3]);
    const none = new Loader(await openDataset(sub('mixed'), { preprocess: 'none' }), { batchSize: 3, workers: 0, shuffle: false });
    await assert.rejects(none.next(), (e: unknown) => e instanceof DataError && /different sizes in one batch/.test(e.message));
    const single = new Loader(await openDataset(sub('mixed'), { preprocess: 'none' }), { batchSize: 1, workers: 0, shuffle: false });
    assert.deepEqual([(await single.next()).width, (await single.next()).width, (await single.next()).width], [8, 12, 20]);
  });
});

describe('aligned (pix2pix)', () => {
  before(async () => {
    for (let i = 0; i < 3; i++) await writePair(sub('pairs', 'train', `${i}.png`), 12, 10);
  });

  it('splits A|B in the middle and gives both halves the same crop and flip, in every mode', async () => {
    for (const preprocess of PREPROCESS_MODES) {
      const ds = await openDataset(sub('pairs'), { mode: 'aligned', preprocess, loadSize: 10, cropSize: 8 });
      assert.equal(ds.kind, 'aligned');
      assert.equal(ds.length, 3);
      let flips = 0;
      for (let seed = 0; seed < 12; seed++) {
        const s = await ds.get(seed % 3, seed);
        const { a, b } = s;
        assert.ok(b);
        assert.deepEqual([a.width, a.height], [b.width, b.height], preprocess);
        if (preprocess.includes('crop')) assert.deepEqual([a.width, a.height], [8, 8], preprocess);
        for (let y = 0; y < a.height; y++) {
          for (let x = 0; x < a.width; x++) {
            const pa = pixel(a.data, a.width, 3, x, y);
            const pb = pixel(b.data, b.width, 3, x, y);
            assert.deepEqual(pa.slice(0, 2), pb.slice(0, 2), `${preprocess}: A and B differ at ${x},${y}`);
          }
        }
        assert.ok(pixel(a.data, a.width, 3, 0, 0)[2] < 20 && pixel(b.data, b.width, 3, 0, 0)[2] > 180, 'A is the left half');
        if (preprocess === 'crop') {
          const [r0, r1] = [pixel(a.data, 8, 3, 0, 0)[0], pixel(a.data, 8, 3, 7, 0)[0]];
          if (r0 > r1) flips++;
          assert.equal(Math.abs(r1 - r0), 7, 'a crop of the unscaled image');
        }
      }
      if (preprocess === 'crop') assert.ok(flips > 0 && flips < 12, `flips: ${flips}/12`);
    }
  });

  it('--direction BtoA swaps the sides; input_nc/output_nc pick the channels', async () => {
    const ds = await openDataset(sub('pairs'), { mode: 'aligned', direction: 'BtoA', cropSize: 8, loadSize: 8, inputNc: 1, outputNc: 3 });
    const s = await ds.get(0);
    assert.equal(s.a.channels, 1);
    assert.equal(s.b!.channels, 3);
    assert.ok(pixel(s.b!.data, 8, 3, 0, 0)[2] < 20, 'b (the target) is the left half with BtoA');
    assert.deepEqual(ds.channels, { a: 1, b: 3 });
  });

  it('reads the root itself when it has no phase folder', async () => {
    const ds = await openDataset(sub('pairs', 'train'), { mode: 'aligned', resolution: 8 });
    assert.equal(ds.length, 3);
  });
});

describe('unaligned (CycleGAN)', () => {
  before(async () => {
    for (let i = 0; i < 3; i++) await writeSolid(sub('cg', 'trainA', `a${i}.png`), 8, 8, [i * 10, 0, 0]);
    for (let i = 0; i < 5; i++) await writeSolid(sub('cg', 'trainB', `b${i}.png`), 8, 8, [0, i * 10, 0]);
    await writeSolid(sub('cg', 'testA', 't.png'), 8, 8, [1, 1, 1]);
    await writeSolid(sub('cg', 'testB', 't.png'), 8, 8, [2, 2, 2]);
  });

  it('is found by its trainA/trainB folders; length is the larger domain', async () => {
    const ds = await openDataset(sub('cg'), { resolution: 8 });
    assert.equal(ds.kind, 'unaligned');
    assert.equal(ds.length, 5);
    assert.ok(ds.paired);
    const s = await ds.get(4, 0);
    assert.equal(path.basename(s.pathA), 'a1.png', 'A by index % |A|');
  });

  it('draws B at random (deterministic by seed) unless --serial_batches', async () => {
    const rnd = await openDataset(sub('cg'), { resolution: 8 });
    const picks = new Set<string>();
    for (let seed = 0; seed < 30; seed++) {
      const s = await rnd.get(0, seed);
      assert.equal(s.pathB, (await rnd.get(0, seed)).pathB);
      picks.add(path.basename(s.pathB!));
    }
    assert.ok(picks.size >= 4, `random B picks: ${[...picks]}`);
    const serial = await openDataset(sub('cg'), { resolution: 8, serialBatches: true });
    for (let i = 0; i < 5; i++) assert.equal(path.basename((await serial.get(i, 123)).pathB!), `b${i}.png`);
  });

  it('uses testA/testB for --phase test and swaps with BtoA', async () => {
    const ds = await openDataset(sub('cg'), { resolution: 8, phase: 'test' });
    assert.equal(ds.length, 1);
    const s = await (await openDataset(sub('cg'), { resolution: 8, direction: 'BtoA' })).get(0, 0);
    assert.ok(s.pathA.includes('trainB') && s.pathB!.includes('trainA'));
  });
});

describe('single', () => {
  it('reads one folder, or one file', async () => {
    await writeFolder(sub('one'), 2);
    const ds = await openDataset(sub('one'), { mode: 'single', resolution: 8, noFlip: true });
    assert.equal(ds.kind, 'single');
    assert.equal(ds.length, 2);
    const file = await openDataset(sub('one', 'img001.png'), { mode: 'single', resolution: 8 });
    assert.equal(file.length, 1);
  });
});

describe('bad input', () => {
  it('a missing path names it and says what was expected', async () => {
    await assert.rejects(openDataset(sub('nope')), (e: unknown) =>
      e instanceof DataError && e.message.includes(sub('nope').replace(dir, '')) && /expected an image folder, a dataset cache/.test(e.message));
  });

  it('an empty folder, and a folder with no images', async () => {
    fs.mkdirSync(sub('empty'));
    await assert.rejects(openDataset(sub('empty')), (e: unknown) => e instanceof DataError && e.message === `${sub('empty')} is empty (expected png, jpg, jpeg, webp images)`);
    fs.mkdirSync(sub('text', 'inner'), { recursive: true });
    fs.writeFileSync(sub('text', 'a.txt'), 'x');
    fs.writeFileSync(sub('text', 'inner', 'b.csv'), 'x');
    await assert.rejects(openDataset(sub('text')), /text has no images: found only 2 other files \(expected png, jpg, jpeg, webp images, searched recursively\)/);
  });

  it('trainA without trainB', async () => {
    await writeFolder(sub('half', 'trainA'), 1);
    await assert.rejects(openDataset(sub('half'), { mode: 'unaligned' }), (e: unknown) =>
      e instanceof DataError && e.message.startsWith(`${sub('half')} has trainA/ but no trainB/`) && e.message.includes('needs both trainA/ and trainB/'));
    await assert.rejects(openDataset(sub('half')), /has trainA\/ but no trainB\//);
    await assert.rejects(inspectDataset(sub('half')), /has trainA\/ but no trainB\//);
  });

  it('a resolution that is not a power of two', async () => {
    await assert.rejects(openDataset(sub('one'), { resolution: 100 }), /resolution 100 is not supported: expected a power of two from 4 to 4096 \(nearest: 128\)/);
    await assert.rejects(openDataset('shapes', { resolution: 512 }), /expected a power of two from 8 to 256/);
    await assert.rejects(openDataset('shapes', { resolution: 48 }), DataError);
  });

  it('other mistakes are DataErrors too', async () => {
    await assert.rejects(openDataset(sub('one'), { inputNc: 2 }), /input_nc 2 is not supported/);
    await assert.rejects(openDataset(sub('one'), { direction: 'AtoC' as 'AtoB' }), /direction AtoC/);
    await assert.rejects(openDataset(sub('one', 'img000.png')), /is a file: expected an image folder or a dataset cache/);
    await assert.rejects(openDataset(sub('cg'), { classes: true }), /--classes needs a folder dataset/);
    await assert.rejects(openDataset(sub('one'), { resolution: 8, cropSize: 16 }), /crop_size 16 does not match/);
  });
});

describe('a corrupt image among good ones', () => {
  it('is skipped (its neighbour takes its place), warned about once, and counted by info', async () => {
    await writeFolder(sub('bad'), 4);
    await writeTruncatedPng(sub('bad', 'img001.png'));
    fs.writeFileSync(sub('bad', 'img002.png'), 'this is not a png');
    fs.writeFileSync(sub('bad', 'readme.md'), '# not an image');
    const ds = await openDataset(sub('bad'), { resolution: 8 });
    assert.equal(ds.length, 4);
    assert.equal(path.basename((await ds.get(1)).pathA), 'img003.png');
    assert.equal(ds.skipped.length, 2);
    const w = warnings();
    for (const workers of [0, 1]) {
      w.list.length = 0;
      const loader = new Loader(ds, { batchSize: 2, workers, onWarning: w.on });
      for (let i = 0; i < 6; i++) assert.equal((await loader.next()).size, 2);
      await loader.close();
      assert.equal(w.list.length, 2, w.list.join('\n'));
      assert.ok(w.list.some((m) => m.includes(sub('bad', 'img001.png'))));
      assert.deepEqual(loader.skipped.map((f) => path.basename(f)).sort(), ['img001.png', 'img002.png']);
    }
    const info = await inspectDataset(sub('bad'));
    assert.equal(info.kind, 'folder');
    if (info.kind === 'folder') {
      assert.equal(info.folder.count, 2);
      assert.equal(info.folder.unreadable.length, 2);
      assert.equal(info.folder.ignored, 1);
    }
  });

  it('a folder where nothing decodes is one clear error', async () => {
    fs.mkdirSync(sub('allbad'));
    fs.writeFileSync(sub('allbad', 'x.png'), 'nope');
    const ds = await openDataset(sub('allbad'), { resolution: 8 });
    const loader = new Loader(ds, { batchSize: 1, workers: 0, onWarning: () => undefined });
    await assert.rejects(loader.next(), /can be decoded/);
  });
});
