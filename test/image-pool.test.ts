// CycleGAN's image pool: pass-through when disabled, filling up, the ½ swap rule, state
// that survives a checkpoint, and no native tensor left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { ImagePool } from '../src/families/translation/image_pool.js';

/** A batch of tiny images [ids.length, 1, 2, 2], image k filled with the number ids[k]: its identity. */
function images(ids: number[]): torch.Tensor {
  return torch.cat(ids.map((id) => torch.full([1, 1, 2, 2], id)), 0);
}

/** The identity of every image of a batch made by `images` (checking each is uniform). */
function idsOf(batch: torch.Tensor): number[] {
  return torch.scope(() => {
    const flat = batch.reshape([batch.shape[0], -1]).toArray() as number[][];
    return flat.map((px) => {
      assert.ok(px.every((v) => v === px[0]), `an image was mixed up: ${px}`);
      return px[0];
    });
  });
}

/** The identities of the images stored in a pool, sorted. */
function storedIds(pool: ImagePool): number[] {
  return torch.scope(() => {
    const st = pool.stateTensors('p');
    return st.p ? idsOf(st.p).sort((a, b) => a - b) : [];
  });
}

test('pool size 0 returns its input and stores nothing', () => {
  torch.scope(() => {
    const pool = new ImagePool(0);
    const x = images([1, 2, 3]);
    const y = pool.query(x);
    assert.equal(y.requiresGrad, false, 'detached');
    assert.deepEqual(idsOf(y), [1, 2, 3]);
    assert.equal(pool.count, 0);
    assert.deepEqual(pool.stateTensors('p'), {});
    pool.dispose();
  });
  assert.throws(() => new ImagePool(-1), /pool size must be a whole number >= 0, got -1/);
  assert.throws(() => new ImagePool(2.5), /got 2\.5/);
});

test('a filling pool returns every input unchanged and keeps a copy of it', () => {
  torch.scope(() => {
    const pool = new ImagePool(5);
    const x = images([10, 11, 12]);
    assert.deepEqual(idsOf(pool.query(x)), [10, 11, 12]);
    assert.equal(pool.count, 3);
    // The pool holds copies: changing the caller's tensor afterwards does not reach it.
    torch.noGrad(() => x.fill_(99));
    assert.deepEqual(storedIds(pool), [10, 11, 12]);
    // The batch that fills it: all of it enters before any swap can happen.
    assert.deepEqual(idsOf(pool.query(images([13, 14]))), [13, 14]);
    assert.equal(pool.count, 5);
    assert.deepEqual(storedIds(pool), [10, 11, 12, 13, 14]);
    // Gradients never flow through the pool.
    const g = images([15, 16]).requiresGrad_(true);
    const out = pool.query(g.mul(1));
    assert.equal(out.requiresGrad, false);
    pool.dispose();
    assert.equal(pool.count, 0);
  });
});

test('a full pool returns the input or a stored image, swapping about half the time', () => {
  torch.manualSeed(1234);
  torch.scope(() => {
    const size = 4;
    const pool = new ImagePool(size);
    pool.query(images([0, 1, 2, 3]));
    // The model of the pool: which identities it holds (positions are not observable).
    const held = new Set([0, 1, 2, 3]);
    const queries = 400;
    let swaps = 0;
    const returnedOld = new Set<number>();
    for (let i = 0; i < queries / 4; i++) {
      // Batches of 4, so the per-image rule is exercised within a batch too.
      const ids = [100 + 4 * i, 101 + 4 * i, 102 + 4 * i, 103 + 4 * i];
      const out = torch.scope(() => idsOf(pool.query(images(ids))));
      assert.equal(out.length, ids.length);
      for (let k = 0; k < ids.length; k++) {
        if (out[k] === ids[k]) continue;
        // A swap: the returned image was in the pool, and the new one takes its place.
        assert.ok(held.has(out[k]), `query ${i}, image ${k}: returned ${out[k]}, neither its input ${ids[k]} nor a stored image [${[...held]}]`);
        held.delete(out[k]);
        held.add(ids[k]);
        returnedOld.add(out[k]);
        swaps++;
      }
      assert.equal(pool.count, size);
      assert.deepEqual(storedIds(pool), [...held].sort((a, b) => a - b), `pool contents after query ${i}`);
    }
    // Binomial(400, ½): mean 200, sd 10. The seed fixes the draw; the bound is ±6 sd.
    assert.ok(swaps > 140 && swaps < 260, `${swaps} swaps in ${queries} images`);
    // Every slot gets replaced sooner or later: each first image came back out.
    for (const id of [0, 1, 2, 3]) assert.ok(returnedOld.has(id), `image ${id} was never swapped out`);
    pool.dispose();
  });
});

test('stateTensors then load gives a pool that answers exactly as the original', () => {
  torch.scope(() => {
    const a = new ImagePool(6);
    torch.manualSeed(7);
    for (let i = 0; i < 5; i++) a.query(images([10 * i, 10 * i + 1, 10 * i + 2]));
    const saved = a.stateTensors('pool_A');
    assert.deepEqual(Object.keys(saved), ['pool_A']);
    assert.deepEqual(saved.pool_A.shape, [6, 1, 2, 2]);
    const b = new ImagePool(6);
    b.load(saved.pool_A);
    // A pool that held other images is replaced by the load, not appended to.
    const c = new ImagePool(6);
    c.query(images([900, 901]));
    c.load(saved.pool_A);
    // The pools hold copies: the saved tensor may go away.
    saved.pool_A.dispose();
    assert.equal(b.count, 6);
    assert.equal(c.count, 6);
    const batch = [500, 501, 502, 503, 504, 505, 506, 507];
    const run = (p: ImagePool) => torch.withSeed(99, () => [idsOf(p.query(images(batch.slice(0, 4)))), idsOf(p.query(images(batch.slice(4))))].flat());
    const fromA = run(a), fromB = run(b), fromC = run(c);
    assert.deepEqual(fromB, fromA, 'the loaded pool answers as the original');
    assert.deepEqual(fromC, fromA, 'loading replaces what a pool held before');
    assert.ok(fromA.some((id, k) => id !== batch[k]), `some images were swapped (else the comparison proves little): ${fromA}`);
    assert.deepEqual(storedIds(b), storedIds(a));
    assert.deepEqual(storedIds(c), storedIds(a));
    for (const p of [a, b, c]) p.dispose();
  });
});

test('load refuses more images than the pool holds, and a tensor that is not a batch of images', () => {
  torch.scope(() => {
    const pool = new ImagePool(2);
    assert.throws(() => pool.load(images([1, 2, 3])), /saved image pool has shape \[3, 1, 2, 2\]; expected at most 2 images/);
    assert.throws(() => pool.load(torch.zeros([2, 2, 2])), /saved image pool has shape \[2, 2, 2\]/);
    assert.throws(() => new ImagePool(0).load(images([1])), /expected at most 0 images/);
    pool.load(images([1, 2]));
    assert.equal(pool.count, 2);
    pool.load(undefined);
    assert.equal(pool.count, 0, 'loading nothing empties the pool');
    pool.dispose();
  });
});

test('a pool leaves no native tensor behind once disposed', () => {
  const inputs = torch.scope(() => images([1, 2, 3, 4, 5, 6]).keep());
  const before = torch.liveTensors();
  const pool = new ImagePool(4);
  torch.manualSeed(3);
  // Blocks, not expressions: a tensor returned from an outermost scope would outlive it.
  for (let i = 0; i < 20; i++) {
    torch.scope(() => {
      pool.query(inputs);
    });
  }
  const other = new ImagePool(4);
  torch.scope(() => {
    other.load(pool.stateTensors('p').p);
  });
  assert.equal(torch.liveTensors(), before + 8, 'exactly the 4 + 4 stored images are alive');
  pool.dispose();
  other.dispose();
  assert.equal(torch.liveTensors(), before);
  inputs.dispose();
});
