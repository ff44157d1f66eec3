// Images in and out: decoding (png/jpg/webp, gray, RGBA onto white), the uint8 -> [-1, 1]
// tensor conversion, and sample grids.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  DataError, decodeImage, gridFromBytes, imagesToTensor, saveGrid, saveImage, saveImages, tensorToImages, toGrayscale, toTensorBatch,
  collate,
} from '../src/data/index.js';
import { decodePngFast } from '../src/data/png.js';
import { scope, tensor, fromBytes } from '../src/torch/index.js';
import { coordImage, pixel, removeDir, tempDir, writeRaw, writeTruncatedPng } from './data-helpers.js';

let dir: string;
before(() => {
  dir = tempDir();
});
after(() => removeDir(dir));

describe('decodeImage', () => {
  it('reads png and lossless webp exactly, jpg closely, as RGB HWC', async () => {
    const src = coordImage(6, 5, 77, 40, 50);
    for (const ext of ['png', 'webp', 'jpg']) {
      const f = path.join(dir, `c.${ext}`);
      await writeRaw(f, src, 6, 5);
      const img = await decodeImage(f);
      assert.deepEqual([img.width, img.height, img.channels], [6, 5, 3]);
      if (ext === 'jpg') {
        const err = img.data.reduce((m, v, i) => Math.max(m, Math.abs(v - src[i])), 0);
        assert.ok(err < 40, `jpg error ${err}`);
      } else {
        assert.deepEqual(Array.from(img.data), Array.from(src), ext);
      }
    }
  });

  it('converts to grayscale with PIL weights when asked for one channel', async () => {
    const f = path.join(dir, 'g.png');
    await writeRaw(f, new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]), 4, 1);
    const g = await decodeImage(f, 1);
    assert.equal(g.channels, 1);
    // PIL: L = R*299/1000 + G*587/1000 + B*114/1000
    assert.deepEqual(Array.from(g.data), [76, 150, 29, 18]);
    assert.deepEqual(Array.from(toGrayscale({ data: new Uint8Array([255, 255, 255]), width: 1, height: 1, channels: 3 }).data), [255]);
  });

  it('flattens transparency onto white and expands gray files to RGB', async () => {
    const rgba = path.join(dir, 'a.png');
    await writeRaw(rgba, new Uint8Array([0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0, 128]), 3, 1, 4);
    const img = await decodeImage(rgba);
    assert.deepEqual(pixel(img.data, 3, 3, 0, 0), [255, 255, 255]);
    assert.deepEqual(pixel(img.data, 3, 3, 1, 0), [255, 0, 0]);
    const half = pixel(img.data, 3, 3, 2, 0);
    assert.equal(half[0], 255);
    assert.ok(Math.abs(half[1] - 127) <= 2 && Math.abs(half[2] - 127) <= 2, `half-transparent red on white: ${half}`);
    const gray = path.join(dir, 'gray.png');
    await writeRaw(gray, new Uint8Array([0, 100, 200]), 3, 1, 1);
    assert.equal((await sharp(gray).metadata()).channels, 1);
    const g3 = await decodeImage(gray);
    assert.deepEqual(Array.from(g3.data), [0, 0, 0, 100, 100, 100, 200, 200, 200]);
  });

  it('throws a DataError naming a broken file', async () => {
    const f = path.join(dir, 'broken.png');
    await writeTruncatedPng(f);
    await assert.rejects(decodeImage(f), (e: unknown) => e instanceof DataError && e.message.includes(f));
    const t = path.join(dir, 'text.png');
    fs.writeFileSync(t, 'not an image');
    await assert.rejects(decodeImage(t), DataError);
  });
});

describe('the PNG fast path', () => {
  const noisy = (w: number, h: number, c: number): Uint8Array => {
    let x = 12345;
    return new Uint8Array(w * h * c).map((_, i) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return ((i * 7) % 200) + ((x >>> 24) % 40);
    });
  };
  const viaSharp = async (f: string): Promise<Uint8Array> =>
    new Uint8Array(await sharp(f).flatten({ background: '#ffffff' }).toColourspace('srgb').raw().toBuffer());

  it('decodes RGB, gray and palette PNGs exactly as sharp does, every row filter included', async () => {
    const cases: [string, Uint8Array, 1 | 3, object][] = [
      ['rgb-adaptive', noisy(17, 9, 3), 3, { adaptiveFiltering: true, compressionLevel: 9 }],
      ['rgb-nofilter', noisy(17, 9, 3), 3, { adaptiveFiltering: false, compressionLevel: 1 }],
      ['gray', noisy(13, 11, 1), 1, { adaptiveFiltering: true }],
      ['palette', noisy(10, 10, 3), 3, { palette: true, colours: 16 }],
      ['palette-2bit', noisy(10, 10, 3), 3, { palette: true, colours: 4 }],
      ['palette-8bit', noisy(10, 10, 3), 3, { palette: true, colours: 200, dither: 0 }],
    ];
    for (const [name, data, c, pngOpts] of cases) {
      const f = path.join(dir, `fast-${name}.png`);
      const w = name.startsWith('gray') ? 13 : name.startsWith('palette') ? 10 : 17;
      const h = data.length / w / c;
      let img = sharp(data, { raw: { width: w, height: h, channels: c } });
      if (c === 1) img = img.toColourspace('b-w');
      fs.writeFileSync(f, await img.png(pngOpts).toBuffer());
      const fast = decodePngFast(fs.readFileSync(f));
      assert.ok(fast, `${name} takes the fast path`);
      assert.deepEqual(fast.data, await viaSharp(f), name);
      assert.deepEqual((await decodeImage(f)).data, fast.data);
    }
  });

  it('leaves alpha, 16-bit, interlaced and damaged files to sharp', async () => {
    const rgba = await sharp(noisy(8, 8, 4), { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer();
    const deep = await sharp(noisy(8, 8, 3), { raw: { width: 8, height: 8, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    const laced = await sharp(noisy(8, 8, 3), { raw: { width: 8, height: 8, channels: 3 } }).png({ progressive: true }).toBuffer();
    const good = await sharp(noisy(8, 8, 3), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    const flipped = Buffer.from(good);
    flipped[40] ^= 1; // inside IDAT: the checksum no longer matches
    for (const b of [rgba, deep, laced, good.subarray(0, good.length - 20), flipped]) assert.equal(decodePngFast(b), null);
    assert.ok(decodePngFast(good));
  });
});

describe('tensors', () => {
  it('turns uint8 NHWC into float32 NCHW in [-1, 1]', () => {
    scope(() => {
      // 2 images of 1x2 pixels, RGB
      const bytes = new Uint8Array([0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]);
      const t = imagesToTensor(bytes, 2, 1, 2, 3);
      assert.deepEqual(t.shape, [2, 3, 1, 2]);
      assert.equal(t.dtype, 'float32');
      assert.ok(t.isContiguous);
      const v = t.toArray() as number[][][][];
      assert.equal(v[0][0][0][0], -1); // image 0, R, pixel 0
      assert.equal(v[0][1][0][0], 1); // image 0, G, pixel 0
      assert.ok(Math.abs(v[0][0][0][1] - (102 / 127.5 - 1)) < 1e-6); // image 0, R, pixel 1
      assert.ok(Math.abs(v[1][2][0][1] - (6 / 127.5 - 1)) < 1e-6); // image 1, B, pixel 1
    });
  });

  it('converts a loader batch (a, b, labels) and back to bytes exactly', () => {
    scope(() => {
      const img = (v: number) => ({ data: new Uint8Array(2 * 2 * 3).map((_, i) => (v + i * 7) % 256), width: 2, height: 2, channels: 3 });
      const samples = [0, 1, 2].map((k) => ({ a: img(k), b: img(k + 100), label: k, pathA: `a${k}`, pathB: `b${k}` }));
      const batch = collate(samples, [5, 6, 7], 0, 0, true);
      const t = toTensorBatch(batch);
      assert.deepEqual(t.a.shape, [3, 3, 2, 2]);
      assert.deepEqual(t.b!.shape, [3, 3, 2, 2]);
      assert.deepEqual(t.labels!.toArray(), [0, 1, 2]);
      assert.equal(t.labels!.dtype, 'int64');
      assert.deepEqual(Array.from(tensorToImages(t.a).data), Array.from(batch.a));
      assert.deepEqual(Array.from(tensorToImages(t.b!).data), Array.from(batch.b!));
      const cl = toTensorBatch(batch, { channelsLast: true });
      assert.ok(cl.a.equal(t.a));
    });
  });

  it('clamps and maps a custom value range', () => {
    scope(() => {
      const t = tensor([[[[-0.5, 0, 0.5, 2]]]]); // [1, 1, 1, 4]
      assert.deepEqual(Array.from(tensorToImages(t, [0, 1]).data), [0, 0, 128, 255]);
      assert.deepEqual(Array.from(tensorToImages(t).data), [64, 128, 191, 255]);
    });
  });
});

describe('grids', () => {
  it('lays images out row by row with padding', () => {
    const n = 5;
    const data = new Uint8Array(n * 4 * 4).map((_, i) => 10 + Math.floor(i / 16) * 10);
    const g = gridFromBytes({ data, n, height: 4, width: 4, channels: 1 }, { nrow: 3, padding: 1, padValue: 255 });
    assert.deepEqual([g.width, g.height, g.channels], [16, 11, 1]);
    assert.equal(g.data[0], 255); // padding corner
    assert.equal(g.data[1 * 16 + 1], 10); // image 0 at (1, 1)
    assert.equal(g.data[1 * 16 + 6], 20); // image 1 at (6, 1)
    assert.equal(g.data[6 * 16 + 6], 50); // image 4 at row 1, column 1
    assert.equal(g.data[6 * 16 + 11], 255); // empty cell stays padding
    const r = gridFromBytes({ data, n, height: 4, width: 4, channels: 1 }, { rows: 1, padding: 0 });
    assert.deepEqual([r.width, r.height], [20, 4]);
  });

  it('saves grids and single images as PNG', async () => {
    // scope() takes synchronous functions only; these tensors are freed by hand.
    const bytes = new Uint8Array(4 * 6 * 5 * 3).map((_, i) => i % 256);
    const t = imagesToTensor(bytes, 4, 6, 5, 3);
    try {
      const gridFile = path.join(dir, 'out', 'grid.png');
      await saveGrid(t, gridFile, { nrow: 2, padding: 2 });
      const meta = await sharp(gridFile).metadata();
      assert.deepEqual([meta.width, meta.height, meta.channels], [2 * 7 + 2, 2 * 8 + 2, 3]);
      const one = t.select(0, 0);
      await saveImage(one, path.join(dir, 'one.png'));
      const back = await decodeImage(path.join(dir, 'one.png'));
      assert.deepEqual(Array.from(back.data), Array.from(bytes.subarray(0, 6 * 5 * 3)));
      one.dispose();
      await saveImages(t, [0, 1, 2, 3].map((i) => path.join(dir, 'many', `${i}.png`)));
      assert.equal(fs.readdirSync(path.join(dir, 'many')).length, 4);
      const gray = fromBytes(new Uint8Array(2 * 3 * 3), [2, 1, 3, 3], 'uint8');
      const gf = gray.to('float32');
      await saveGrid(gf, path.join(dir, 'gray.png'), { range: [0, 255] });
      assert.equal((await sharp(path.join(dir, 'gray.png')).metadata()).channels, 1);
      gray.dispose();
      gf.dispose();
      assert.ok(!fs.readdirSync(path.join(dir, 'out')).some((f) => f.includes('.tmp-')), 'no temporary files left');
    } finally {
      t.dispose();
    }
  });
});
