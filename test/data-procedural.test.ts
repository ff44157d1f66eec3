// The built-in sets: deterministic by seed, any power-of-two size from 8 to 256, labels
// that match the picture, and pairs/domains with the structure their recipes need.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Loader, SHAPE_CLASSES, flipImage, makeScene, openDataset, renderFilled, renderOutline } from '../src/data/index.js';
import { pixel } from './data-helpers.js';

describe('shapes', () => {
  it('is a pure function of (seed, index)', async () => {
    const a = await openDataset('shapes', { resolution: 32, seed: 7 });
    const b = await openDataset('shapes', { resolution: 32, seed: 7 });
    const c = await openDataset('shapes', { resolution: 32, seed: 8 });
    for (const i of [0, 1, 999]) {
      assert.deepEqual((await a.get(i, 5)).a.data, (await b.get(i, 5)).a.data);
      assert.notDeepEqual((await a.get(i, 5)).a.data, (await c.get(i, 5)).a.data);
    }
    assert.notDeepEqual((await a.get(0, 5)).a.data, (await a.get(1, 5)).a.data);
  });

  it('renders every power-of-two resolution from 8 to 256', async () => {
    for (const r of [8, 16, 32, 64, 128, 256]) {
      const ds = await openDataset('shapes', { resolution: r });
      const s = await ds.get(3);
      assert.deepEqual([s.a.width, s.a.height, s.a.channels, s.a.data.length], [r, r, 3, r * r * 3]);
    }
  });

  it('labels the main shape, which is drawn on top with its own colour', async () => {
    const ds = await openDataset('shapes', { resolution: 64, classes: true, noFlip: true, count: 90 });
    assert.deepEqual(ds.classes, SHAPE_CLASSES);
    const counts = [0, 0, 0];
    for (let i = 0; i < 90; i++) {
      const s = await ds.get(i);
      const scene = makeScene(0, 0, i);
      const main = scene.shapes[scene.shapes.length - 1];
      assert.equal(s.label, main.kind);
      assert.equal(scene.label, main.kind);
      counts[s.label]++;
      const [x, y] = [Math.floor(main.cx * 64), Math.floor(main.cy * 64)];
      assert.deepEqual(pixel(s.a.data, 64, 3, x, y), main.color, `image ${i}: the main shape's centre has its colour`);
      assert.ok(scene.shapes.length >= 1 && scene.shapes.length <= 3);
    }
    assert.ok(counts.every((c) => c > 15), `classes are balanced-ish: ${counts}`);
    const unlabeled = await openDataset('shapes', { resolution: 8 });
    assert.equal(unlabeled.classes, null);
    assert.equal((await unlabeled.get(0)).label, -1);
  });

  it('is anti-aliased: edge pixels mix shape and ground', () => {
    const scene = makeScene(0, 0, 0);
    const img = renderFilled(scene, 64);
    const colours = new Set<string>();
    for (let i = 0; i < 64 * 64; i++) colours.add(Array.from(img.data.subarray(i * 3, i * 3 + 3)).join());
    assert.ok(colours.size > scene.shapes.length + 5, `${colours.size} distinct colours`);
  });
});

describe('shapes-pairs', () => {
  it('pairs an outline drawing (A) with the filled scene (B), flipped together', async () => {
    const ds = await openDataset('shapes-pairs', { resolution: 32 });
    assert.ok(ds.paired);
    let flipped = 0;
    for (let seed = 0; seed < 10; seed++) {
      const s = await ds.get(2, seed);
      const scene = makeScene(0, 0, 2);
      const [outline, filled] = [renderOutline(scene, 32), renderFilled(scene, 32)];
      const same = Buffer.from(s.a.data).equals(Buffer.from(outline.data)) && Buffer.from(s.b!.data).equals(Buffer.from(filled.data));
      const both = Buffer.from(s.a.data).equals(Buffer.from(flipImage(outline).data)) && Buffer.from(s.b!.data).equals(Buffer.from(flipImage(filled).data));
      assert.ok(same || both, `seed ${seed}: A and B get the same flip`);
      if (!same) flipped++;
    }
    assert.ok(flipped > 0 && flipped < 10);
    const outline = renderOutline(makeScene(0, 0, 2), 64);
    let white = 0;
    let dark = 0;
    for (let i = 0; i < 64 * 64; i++) {
      const [r, g, b] = outline.data.subarray(i * 3, i * 3 + 3);
      assert.ok(r === g && g === b, 'outlines are gray');
      if (r === 255) white++;
      if (r < 64) dark++;
    }
    assert.ok(white > 64 * 64 * 0.7 && dark > 64, `white ${white}, dark ${dark}`);
    const rev = await openDataset('shapes-pairs', { resolution: 32, direction: 'BtoA', noFlip: true });
    assert.deepEqual((await rev.get(2)).b!.data, renderOutline(makeScene(0, 0, 2), 32).data);
  });
});

describe('shapes-domains', () => {
  it('A holds circles, B squares; B is drawn at random unless serial', async () => {
    for (let i = 0; i < 20; i++) {
      assert.ok(makeScene(0, 1, i, 0).shapes.every((s) => s.kind === 0));
      assert.ok(makeScene(0, 2, i, 1).shapes.every((s) => s.kind === 1));
    }
    const ds = await openDataset('shapes-domains', { resolution: 16, count: 50 });
    assert.equal(ds.length, 50);
    const bs = new Set<string>();
    for (let seed = 0; seed < 10; seed++) bs.add((await ds.get(0, seed)).pathB!);
    assert.ok(bs.size > 5);
    const serial = await openDataset('shapes-domains', { resolution: 16, count: 50, serialBatches: true });
    assert.equal((await serial.get(7, 3)).pathB, 'shapes-domainsB#7');
  });

  it('feeds a loader, in grayscale too', async () => {
    const ds = await openDataset('shapes-domains', { resolution: 8, inputNc: 1, outputNc: 1 });
    const loader = new Loader(ds, { batchSize: 4, workers: 0 });
    const b = await loader.next();
    assert.deepEqual([b.channelsA, b.channelsB, b.a.length, b.b!.length], [1, 1, 4 * 64, 4 * 64]);
  });
});
