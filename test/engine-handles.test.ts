// Tensor handles: slots in a native table with no per-handle finalizer (native/addon.cc).
// A disposed handle stays recognisably dead after its slot is reused, a value that is no
// handle is refused, and a tensor nobody disposes is still freed once it is collected
// (src/torch/tensor.ts's FinalizationRegistry), while scoped tensors are freed by their scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as T from '../src/torch/index.js';
import { N } from '../src/torch/native.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('a disposed handle stays dead when its slot is reused; a non-handle is refused', () => {
  const t = T.ones([2]);
  const stale = t.handle;
  t.dispose();
  assert.equal(N.isLive(stale), false);
  // The next tensors take the freed slot: the old handle must not reach them.
  const fresh = Array.from({ length: 4 }, () => T.zeros([3]));
  assert.throws(() => N.add(stale, stale, null), /was disposed/);
  assert.equal(N.isLive(stale), false);
  N.dispose(stale); // disposing a dead handle again is a no-op
  for (const f of fresh) assert.deepEqual(f.toArray(), [0, 0, 0]);
  assert.throws(() => N.add({}, fresh[0].handle, null), /expected a tensor/);
  assert.throws(() => N.add(7, fresh[0].handle, null), /expected a tensor/);
  for (const f of fresh) f.dispose();
});

test('tensors no scope owns are freed when collected; scoped ones by their scope', async () => {
  const before = T.liveTensors();
  (() => {
    for (let i = 0; i < 50; i++) T.ones([16]); // made outside any scope, never disposed
    for (let i = 0; i < 50; i++) T.scope(() => T.ones([16])); // returned out of the outermost scope
    T.scope(() => { for (let i = 0; i < 50; i++) T.ones([16]).keep(); }); // kept, then dropped
  })();
  assert.equal(T.liveTensors(), before + 150, 'nothing is freed before a collection');
  for (let i = 0; i < 20 && T.liveTensors() > before; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(T.liveTensors(), before, 'every dropped tensor was freed after collection');
  // A scope frees what it made at once, without any collection.
  T.scope(() => { for (let i = 0; i < 50; i++) T.ones([16]); });
  assert.equal(T.liveTensors(), before);
  // A disposed tensor is not freed twice when its wrapper is collected later.
  const kept = T.ones([4]);
  kept.dispose();
  gc();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(T.liveTensors(), before);
});
