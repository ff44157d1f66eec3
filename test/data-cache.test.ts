// The prepared cache: what `dataset prepare` writes reads back exactly as the folder
// would have been read; and the `ganforge dataset` command's exit codes and messages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, Loader, inspectDataset, isCacheFile, openDataset, prepareCache, readCacheIndex, type CacheSpec } from '../src/data/index.js';
import { coordImage, removeDir, tempDir, warnings, writeFolder, writeRaw, writeTruncatedPng } from './data-helpers.js';

let dir: string;
before(async () => {
  dir = tempDir();
  // Two classes, mixed sizes, one corrupt file and one text file.
  await writeFolder(path.join(dir, 'src', 'cat'), 4, 8);
  await writeRaw(path.join(dir, 'src', 'dog', 'big.png'), coordImage(20, 12, 50, 9, 13), 20, 12);
  await writeRaw(path.join(dir, 'src', 'dog', 'small.jpg'), coordImage(6, 6, 90, 30, 30), 6, 6);
  await writeTruncatedPng(path.join(dir, 'src', 'dog', 'torn.png'));
  fs.writeFileSync(path.join(dir, 'src', 'dog', 'notes.txt'), 'not an image');
});
after(() => removeDir(dir));

const out = (name: string): string => path.join(dir, name);

describe('prepare and read back', () => {
  it('writes one file with an index and labels, skipping and counting the corrupt image', async () => {
    const w = warnings();
    const s = await prepareCache(path.join(dir, 'src'), { resolution: 8, out: out('c.gfc'), classes: true, onWarning: w.on });
    assert.equal(s.count, 6);
    assert.deepEqual(s.skipped, [path.join('dog', 'torn.png')]);
    assert.equal(s.ignored, 1);
    assert.equal(w.list.length, 1);
    assert.ok(isCacheFile(out('c.gfc')));
    assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.tmp-')), 'the temporary file was renamed');
    const ix = readCacheIndex(out('c.gfc'));
    assert.deepEqual([ix.count, ix.height, ix.width, ix.channels, ix.classes], [6, 8, 8, 3, ['cat', 'dog']]);
    const info = await inspectDataset(out('c.gfc'));
    assert.equal(info.kind, 'cache');
    if (info.kind === 'cache') {
      assert.deepEqual(info.classes, [['cat', 4], ['dog', 2]]);
      assert.equal(info.skipped.length, 1);
    }
  });

  it('round-trips: every cached image equals the folder read at that resolution, flips included', async () => {
    const cache = await openDataset(out('c.gfc'), { classes: true, resolution: 8 });
    const folder = await openDataset(path.join(dir, 'src'), { classes: true, resolution: 8 });
    assert.equal(cache.kind, 'cache');
    assert.deepEqual(cache.classes, folder.classes);
    assert.equal(cache.length, 6);
    const byPath = new Map<string, number>();
    for (let j = 0; j < folder.length; j++) {
      const f = (folder.spec as { files: string[] }).files[j];
      byPath.set(path.relative(path.join(dir, 'src'), f), j);
    }
    for (let i = 0; i < cache.length; i++) {
      const rel = readCacheIndex(out('c.gfc')).files[i];
      const j = byPath.get(rel)!;
      for (const seed of [0, 1, 2, 3]) {
        const [c, f] = [await cache.get(i, seed), await folder.get(j, seed)];
        assert.deepEqual(c.a.data, f.a.data, `${rel} seed ${seed}`);
        assert.equal(c.label, f.label);
      }
    }
  });

  it('feeds the same batches as the folder it came from', async () => {
    const clean = path.join(dir, 'clean');
    await writeFolder(path.join(clean, 'a'), 5, 8);
    await writeRaw(path.join(clean, 'b', 'x.png'), coordImage(16, 10), 16, 10);
    await prepareCache(clean, { resolution: 8, out: out('clean.gfc'), classes: true });
    const [c, f] = [await openDataset(out('clean.gfc'), { classes: true }), await openDataset(clean, { classes: true, resolution: 8 })];
    const [lc, lf] = [new Loader(c, { batchSize: 4, seed: 11, workers: 1 }), new Loader(f, { batchSize: 4, seed: 11, workers: 0 })];
    for (let k = 0; k < 5; k++) {
      const [bc, bf] = [await lc.next(), await lf.next()];
      assert.deepEqual(bc.a, bf.a);
      assert.deepEqual(bc.labels, bf.labels);
      assert.deepEqual(bc.indices, bf.indices);
    }
    await lc.close();
    const gray = await openDataset(out('clean.gfc'), { inputNc: 1 });
    assert.equal((await gray.get(0)).a.channels, 1);
  });

  it('--load_in_mem reads the whole file at opening; without it each image is read from the file when needed', async () => {
    const file = out('mem.gfc');
    fs.copyFileSync(out('clean.gfc'), file);
    const fromFile = await openDataset(file, { classes: true, noFlip: true });
    const inMem = await openDataset(file, { classes: true, noFlip: true, loadInMem: true });
    const ix = readCacheIndex(file);
    assert.equal((fromFile.spec as CacheSpec).images, null);
    assert.equal((inMem.spec as CacheSpec).images!.byteLength, ix.count * ix.imageBytes);
    for (let i = 0; i < ix.count; i++) {
      const [f, m] = [await fromFile.get(i), await inMem.get(i)];
      assert.deepEqual(f.a.data, m.a.data, `image ${i}`);
      assert.equal(f.label, m.label);
    }
    // Image 2 changes in the file: read from the file it shows, the copy in memory does not.
    const before = Uint8Array.from((await inMem.get(2)).a.data);
    assert.ok(!before.every((v) => v === 7));
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, new Uint8Array(ix.imageBytes).fill(7), 0, ix.imageBytes, ix.dataOffset + 2 * ix.imageBytes);
    fs.closeSync(fd);
    assert.ok((await fromFile.get(2)).a.data.every((v) => v === 7));
    assert.deepEqual(Uint8Array.from((await inMem.get(2)).a.data), before);
    // So do the loader's worker threads, which get the dataset's spec.
    const loader = new Loader(fromFile, { batchSize: ix.count, seed: 3, workers: 1 });
    const b = await loader.next();
    await loader.close();
    const k = Array.from(b.indices).indexOf(2);
    assert.ok(b.a.subarray(k * ix.imageBytes, (k + 1) * ix.imageBytes).every((v) => v === 7));
    // A cache gone from under a run is a clear error.
    fs.rmSync(file);
    await assert.rejects(fromFile.get(0), (e: unknown) => e instanceof DataError && /cannot read the dataset cache .*mem\.gfc/.test(e.message));
    assert.deepEqual(Uint8Array.from((await inMem.get(2)).a.data), before);
  });

  it('refuses to overwrite without force, and checks resolution and labels', async () => {
    await assert.rejects(prepareCache(path.join(dir, 'src'), { resolution: 8, out: out('c.gfc') }), /already exists \(pass --force to replace it\)/);
    const s = await prepareCache(path.join(dir, 'src'), { resolution: 16, out: out('c.gfc'), force: true, channels: 1, onWarning: () => undefined });
    assert.equal(s.channels, 1);
    await assert.rejects(prepareCache(path.join(dir, 'src'), { resolution: 12, out: out('d.gfc') }), /power of two/);
    await assert.rejects(openDataset(out('c.gfc'), { resolution: 8 }), /holds 16x16 images but 8x8 are needed/);
    await assert.rejects(openDataset(out('c.gfc'), { classes: true }), /has no class labels: prepare it again with --classes/);
  });

  it('a truncated or foreign file is a clear error', async () => {
    const bytes = fs.readFileSync(out('clean.gfc'));
    fs.writeFileSync(out('torn.gfc'), bytes.subarray(0, bytes.length - 10));
    await assert.rejects(openDataset(out('torn.gfc')), (e: unknown) => e instanceof DataError && /torn\.gfc is truncated/.test(e.message));
    const t = fs.readFileSync(out('clean.gfc'));
    t.fill(0, 16, 32); // header written last: an unfinished cache has no index pointer
    fs.writeFileSync(out('unfinished.gfc'), t);
    await assert.rejects(openDataset(out('unfinished.gfc')), /incomplete/);
  });
});

describe('ganforge dataset (command)', () => {
  const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'dataset.js');
  const run = (...args: string[]): { code: number; out: string; err: string } => {
    const script = `const m = await import(${JSON.stringify(new URL(`file://${cli}`).href)}); process.exitCode = await m.datasetCommand(${JSON.stringify(args)});`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };

  it('info prints counts, sizes, classes and unreadable files', () => {
    const r = run('info', path.join(dir, 'src'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /images: +6/);
    assert.match(r.out, /classes: +2 sub-folders: cat \(4\), dog \(2\)/);
    assert.match(r.out, /unreadable: +1/);
    assert.match(r.out, /torn\.png/);
    const j = run('info', 'shapes', '--json');
    assert.equal(JSON.parse(j.out).kind, 'builtin');
  });

  it('prepare writes the cache; mistakes exit 2 with one line', () => {
    const target = out('cli.gfc');
    const ok = run('prepare', path.join(dir, 'clean'), '--resolution', '8', '--out', target, '--classes');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /wrote .*cli\.gfc: 6 images of 8x8x3, 2 classes \(a, b\)/);
    const again = run('prepare', path.join(dir, 'clean'), '--resolution', '8', '--out', target);
    assert.equal(again.code, 2);
    assert.match(again.err, /^ganforge: .*cli\.gfc exists: use --force to overwrite it, or another --out\n$/);
    for (const args of [
      ['prepare', path.join(dir, 'clean'), '--resolution', '12', '--out', out('x.gfc')],
      ['prepare', path.join(dir, 'clean'), '--out', out('x.gfc')],
      ['prepare', path.join(dir, 'missing'), '--resolution', '8', '--out', out('x.gfc')],
      ['info', path.join(dir, 'missing')],
      ['info'],
      ['frobnicate'],
      ['info', path.join(dir, 'src'), '--jsn'],
    ]) {
      const r = run(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, /^ganforge: /);
    }
    assert.equal(run('--help').code, 0);
    assert.match(run('prepare', '--help').out, /--resolution/);
  });
});
