// The reference's preprocessing modes: output sizes, crop positions, flips, and the rules
// (make_power_2's rounding, scale_width's minimum height) carried over from base_dataset.py.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataError, type PreprocessOptions, type RawImage, Rng, applyTransform, checkPreprocess, cropImage, flipImage, getParams, outputSize,
  randomTransform,
} from '../src/data/index.js';
import { coordImage, pixel } from './data-helpers.js';

const img = (w: number, h: number): RawImage => ({ data: coordImage(w, h, 9), width: w, height: h, channels: 3 });
const opts = (preprocess: PreprocessOptions['preprocess'], loadSize: number, cropSize: number, noFlip = true): PreprocessOptions =>
  ({ preprocess, loadSize, cropSize, noFlip });

describe('preprocess modes', () => {
  it('resize_and_crop: load_size square, then a crop_size crop inside it', async () => {
    const o = opts('resize_and_crop', 16, 12);
    for (let s = 0; s < 20; s++) {
      const p = getParams(o, 40, 30, new Rng(s));
      assert.ok(p.x >= 0 && p.x <= 4 && p.y >= 0 && p.y <= 4, JSON.stringify(p));
    }
    const out = await randomTransform(img(40, 30), o, new Rng(1));
    assert.deepEqual([out.width, out.height, out.channels], [12, 12, 3]);
    assert.deepEqual(outputSize(o, 40, 30), [12, 12]);
  });

  it('crop: a crop_size window of the image as it is, at the drawn position', async () => {
    const o = opts('crop', 30, 8);
    const src = img(20, 16);
    const seen = new Set<string>();
    for (let s = 0; s < 30; s++) {
      const p = getParams(o, 20, 16, new Rng(s));
      assert.ok(p.x <= 12 && p.y <= 8);
      seen.add(`${p.x},${p.y}`);
      const out = await applyTransform(src, o, p);
      assert.deepEqual([out.width, out.height], [8, 8]);
      // red = x, green = y of the source pixel
      assert.deepEqual(pixel(out.data, 8, 3, 0, 0), [p.x, p.y, 9]);
      assert.deepEqual(pixel(out.data, 8, 3, 7, 7), [p.x + 7, p.y + 7, 9]);
    }
    assert.ok(seen.size > 10, 'crop positions vary with the seed');
  });

  it('crop: an image smaller than crop_size is scaled up to cover it (our rule, so batches stay uniform)', async () => {
    const out = await randomTransform(img(6, 5), opts('crop', 30, 8), new Rng(0));
    assert.deepEqual([out.width, out.height], [8, 8]);
  });

  it('scale_width: width to load_size, height by aspect but at least crop_size', async () => {
    const o = opts('scale_width', 16, 8);
    assert.deepEqual(outputSize(o, 40, 20), [16, 8]);
    assert.deepEqual(outputSize(o, 40, 60), [16, 24]);
    assert.deepEqual(outputSize(o, 40, 10), [16, 8]); // 4 < crop_size
    assert.deepEqual(outputSize(o, 16, 20), [16, 20]); // already load_size wide
    const out = await randomTransform(img(40, 60), o, new Rng(0));
    assert.deepEqual([out.width, out.height], [16, 24]);
  });

  it('scale_width_and_crop: scale_width, then a crop_size crop', async () => {
    const o = opts('scale_width_and_crop', 16, 8);
    for (let s = 0; s < 10; s++) {
      const p = getParams(o, 40, 60, new Rng(s));
      assert.ok(p.x <= 8 && p.y <= 16);
      const out = await applyTransform(img(40, 60), o, p);
      assert.deepEqual([out.width, out.height], [8, 8]);
    }
  });

  it("none: each side rounded to a multiple of 4, halves to even like Python's round", async () => {
    const o = opts('none', 99, 99);
    assert.deepEqual(outputSize(o, 30, 18), [32, 16]); // 7.5 -> 8, 4.5 -> 4
    assert.deepEqual(outputSize(o, 16, 12), [16, 12]);
    assert.deepEqual(outputSize(o, 2, 1), [4, 4]);
    const same = img(16, 12);
    assert.equal(await applyTransform(same, o, { x: 0, y: 0, flip: false }), same, 'no resize when already a multiple of 4');
    const out = await randomTransform(img(30, 18), o, new Rng(0));
    assert.deepEqual([out.width, out.height], [32, 16]);
  });
});

describe('flip', () => {
  it('mirrors when drawn, unless no_flip', async () => {
    const src = img(8, 4);
    const flipped = await applyTransform(src, opts('none', 8, 8, false), { x: 0, y: 0, flip: true });
    assert.deepEqual(pixel(flipped.data, 8, 3, 0, 1), [7, 1, 9]);
    assert.deepEqual(flipImage(flipImage(src)).data, src.data);
    const kept = await applyTransform(src, opts('none', 8, 8, true), { x: 0, y: 0, flip: true });
    assert.deepEqual(kept.data, src.data);
  });

  it('is drawn with probability about one half, deterministically from the seed', () => {
    const o = opts('resize_and_crop', 8, 8, false);
    let flips = 0;
    for (let s = 0; s < 400; s++) {
      const p = getParams(o, 10, 10, new Rng(s));
      assert.deepEqual(getParams(o, 10, 10, new Rng(s)), p);
      if (p.flip) flips++;
    }
    assert.ok(flips > 150 && flips < 250, `${flips} flips of 400`);
  });
});

describe('options and pixels', () => {
  it('rejects bad options with a DataError', () => {
    assert.throws(() => checkPreprocess(opts('resize_and_crop', 8, 16)), /crop_size 16 is larger than --load_size 8/);
    assert.throws(() => checkPreprocess({ ...opts('crop', 8, 8), preprocess: 'zoom' as 'crop' }), DataError);
    assert.throws(() => checkPreprocess(opts('crop', 8, 0)), DataError);
  });

  it('crops outside the image as black, like PIL', () => {
    const c = cropImage(img(4, 4), 2, 2, 4, 4);
    assert.deepEqual(pixel(c.data, 4, 3, 0, 0), [2, 2, 9]);
    assert.deepEqual(pixel(c.data, 4, 3, 3, 3), [0, 0, 0]);
  });
});
