// Measuring the engine: the FLOP counter (torch.countFlops, native/flops.cc) against
// counts worked out by hand for a tiny network, forward and backward; libtorch's profiler
// (torch.profiler, native/profiler.cc) writing a Chrome trace that parses and names the
// ops that ran; the self-time summary against a hand-made nesting.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../src/torch/index.js';
import { N } from '../src/torch/native.js';

const { F } = T;

/** Asserts that fn throws a one-line JS Error matching re. */
function throwsOneLine(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes('\n'));
}

describe('countFlops', () => {
  // x [2,3,8,8] (no grad) → conv1 3→4, 3×3 pad 1 → [2,4,8,8]
  //   → conv2 4→6, 3×3 stride 2 pad 1 → y2 [2,6,4,4]
  //   → convT 6→5, 4×4 stride 2 pad 1 → [2,5,8,8] → flatten → linear 320→7 (+bias)
  // and y2 → grouped conv 6→6, groups 3, 3×3 pad 1 → [2,6,4,4]. Loss: both outputs summed.
  // Multiply-adds (FLOPs are twice these):
  //   conv1   out 2·4·64 = 512 elements × 3·9                      = 13824
  //   conv2   out 2·6·16 = 192 × 4·9                               =  6912
  //   grouped out 192 × (6/3)·9                                    =  3456
  //   convT   in 2·6·16 = 192 × 5·16 (each input pixel scatters)   = 15360
  //   linear  addmm 2 × 320 × 7                                    =  4480
  // Backward: conv1 needs only its weight gradient (x needs none): 1×; the others need
  // input and weight gradients: 2×; linear: grad·W and gradᵀ·x, two mm of 4480 each.
  const fwd = { conv: 2 * (13824 + 6912 + 3456), convTranspose: 2 * 15360, matmul: 2 * 4480 };
  const bwd = { conv: 2 * (13824 + 2 * 6912 + 2 * 3456), convTranspose: 2 * 2 * 15360, matmul: 2 * 2 * 4480 };

  function tinyStep(): void {
    T.scope(() => {
      T.manualSeed(0);
      const p = (shape: number[]) => { const t = T.randn(shape).mul(0.1).detach(); t.requiresGrad = true; return t; };
      const x = T.randn([2, 3, 8, 8]);
      const w1 = p([4, 3, 3, 3]), w2 = p([6, 4, 3, 3]), w3 = p([6, 5, 4, 4]), w4 = p([6, 2, 3, 3]), wl = p([7, 320]), bl = p([7]);
      const y2 = F.conv2d(F.conv2d(x, w1, null, { padding: 1 }), w2, null, { stride: 2, padding: 1 });
      const y3 = F.convTranspose2d(y2, w3, null, { stride: 2, padding: 1 });
      assert.deepEqual(y3.shape, [2, 5, 8, 8]);
      const y4 = F.linear(y3.flatten(1), wl, bl);
      const g = F.conv2d(y2, w4, null, { padding: 1, groups: 3 });
      y4.sum().add(g.sum()).backward();
    });
  }

  test('a tiny network, forward and backward, as counted by hand', () => {
    const { flops } = T.countFlops(tinyStep);
    assert.deepEqual(flops.forward, fwd);
    assert.deepEqual(flops.backward, bwd);
    const all = (k: T.FlopKinds) => k.conv + k.convTranspose + k.matmul;
    assert.equal(flops.total, all(fwd) + all(bwd));
    // Each layer counted once (conv2d → convolution → _convolution → mkldnn: only the outermost).
    assert.deepEqual(flops.calls.forward, { conv: 3, convTranspose: 1, matmul: 1 });
    assert.deepEqual(flops.calls.backward, { conv: 3, convTranspose: 1, matmul: 2 });
  });

  test('forward only under noGrad; batched and vector products', () => {
    const { flops } = T.countFlops(() => T.noGrad(() => T.scope(() => {
      T.randn([3, 2, 4]).bmm(T.randn([3, 4, 5])); // 3·2·4·5 = 120 multiply-adds
      T.randn([5, 4]).matmul(T.randn([4])); //         mv: 5·4 = 20
      T.randn([3, 2, 4]).matmul(T.randn([4, 6])); //   folded into one mm: 6·4·6 = 144
      F.relu(T.randn([8])); //                        not counted
    })));
    assert.deepEqual(flops.forward, { conv: 0, convTranspose: 0, matmul: 2 * (120 + 20 + 144) });
    assert.deepEqual(flops.backward, { conv: 0, convTranspose: 0, matmul: 0 });
  });

  test('counts do not nest, stop on errors, and the native calls raise JS errors', () => {
    throwsOneLine(() => T.countFlops(() => T.countFlops(() => 1)), /already running/);
    // A failing op inside: the error comes through and the counter is stopped.
    throwsOneLine(() => T.countFlops(() => T.scope(() => F.conv2d(T.randn([1, 3, 4, 4]), T.randn([2, 5, 3, 3])))), /channels|expected|size/i);
    const { flops } = T.countFlops(() => T.scope(() => { T.randn([2, 3]).mm(T.randn([3, 4])); }));
    assert.equal(flops.total, 2 * 2 * 3 * 4);
    throwsOneLine(() => N.flopCounterStop(), /no FLOP count is running/);
  });
});

describe('profiler', () => {
  test('a profile of a few ops writes a Chrome trace naming them, and sums their time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gf-prof-'));
    try {
      const before = T.liveTensors();
      const file = join(dir, 'trace.json');
      const { profile } = T.profiler.profile(() => T.scope(() => {
        const x = T.randn([2, 3, 16, 16]);
        const w = T.randn([4, 3, 3, 3]);
        w.requiresGrad = true;
        F.conv2d(x, w, null, { padding: 1 }).sum().backward();
        T.randn([4, 5]).mm(T.randn([5, 6]));
      }), { chromeTrace: file, recordShapes: true });
      assert.equal(T.liveTensors(), before, 'profiling leaks no tensor');
      const trace = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { name: string; ph: string; dur: number }[] } | { name: string }[];
      const names = new Set((Array.isArray(trace) ? trace : trace.traceEvents).map((e) => e.name));
      for (const op of ['aten::conv2d', 'aten::convolution', 'aten::convolution_backward', 'aten::mm']) assert.ok(names.has(op), `the trace names ${op}`);
      const mm = profile.events.find((e) => e.name === 'aten::mm');
      assert.deepEqual(mm?.shapes, [[4, 5], [5, 6]], 'recordShapes gives the inputs\' shapes');
      const rows = new Map(profile.summary().map((r) => [r.name, r]));
      const conv = rows.get('aten::conv2d');
      assert.equal(conv?.calls, 1);
      assert.ok(conv!.selfUs <= conv!.totalUs && conv!.totalUs > 0, 'self time within total');
      assert.equal(rows.get('aten::convolution_backward')?.calls, 1);
      // The trace read back gives the same summary.
      const again = T.profiler.Profile.fromChromeTrace(trace);
      assert.deepEqual(again.summary().map((r) => [r.name, r.calls, r.selfUs]), profile.summary().map((r) => [r.name, r.calls, r.selfUs]));
      assert.match(profile.table(5), /aten::/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('profiles do not nest; a failing function stops the profile; native errors are JS errors', () => {
    T.profiler.start();
    try {
      throwsOneLine(() => T.profiler.start(), /already running/);
    } finally {
      T.profiler.stop();
    }
    throwsOneLine(() => T.profiler.stop(), /no profile is running/);
    assert.throws(() => T.profiler.profile(() => { throw new Error('boom'); }), /boom/);
    // Stopped by the failure: a new profile starts.
    const { profile } = T.profiler.profile(() => T.scope(() => { T.ones([2]).add(1); }));
    assert.ok(profile.events.some((e) => e.name === 'aten::add'));
    throwsOneLine(() => N.profilerStop(null), /.+/);
  });

  test('self time: an event less the events directly inside it, per thread', () => {
    const ev = (name: string, startUs: number, durationUs: number, thread = 1) => ({ name, startUs, durationUs, thread, device: 'cpu' as const });
    // A [0,100] ⊃ B [10,40] ⊃ C [15,25]; A ⊃ D [50,60]; B again [70,80] inside A; E on another thread over it all.
    const p = new T.profiler.Profile([ev('A', 0, 100), ev('B', 10, 30), ev('C', 15, 10), ev('D', 50, 10), ev('B', 70, 10), ev('E', 0, 200, 2)]);
    const rows = Object.fromEntries(p.summary().map((r) => [r.name, [r.selfUs, r.totalUs, r.calls]]));
    assert.deepEqual(rows, { A: [50, 100, 1], B: [30, 40, 2], C: [10, 10, 1], D: [10, 10, 1], E: [200, 200, 1] });
    assert.deepEqual(p.summary().map((r) => r.name), ['E', 'A', 'B', 'C', 'D']);
  });
});
