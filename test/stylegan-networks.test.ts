// StyleGAN v1 networks (src/models/stylegan*.ts) against direct computations of
// NVlabs/stylegan training/networks_stylegan.py's formulas: mapping (pixel norm, lrmul),
// the layer epilogue (noise, bias, leaky ReLU, instance norm, style modulation), the
// tracked average of w, truncation, style mixing, the lod fade of G and D, that inactive
// resolutions never run, that a training step leaks no tensor, and the full-size
// parameter counts (the paper's 26.2M G and 23.1M D at 1024×1024).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { Tensor, F, scope, noGrad, withSeed } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import {
  StyleGANGenerator, StyleGANDiscriminator, StyleGANMapping, StyleGANSynthesis, SynthesisLayer, NoiseInjection,
  mixDlatents, drawMixingCutoff, truncateDlatents, styleModulate, featureMaps, type StyleGANGeneratorConfig,
  type StyleGANDiscriminatorConfig,
} from '../src/models/stylegan.js';
import * as io from '../src/io/index.js';
import { assertClose, assertEqualArrays, fromRoot } from './helpers.js';

// Tiny widths: nf = 32, 16, 8, 4 at 4×4 … 32×32.
const TINY: Partial<StyleGANGeneratorConfig> = { latentSize: 16, dlatentSize: 16, mappingFmaps: 16, fmapBase: 64, fmapMax: 32 };
const TINY_D: Partial<StyleGANDiscriminatorConfig> = { fmapBase: 64, fmapMax: 32 };

const arr = (t: Tensor): number[] => Array.from(t.toTypedArray() as Float32Array);

/** Runs fn with `m` and disposes it afterwards. */
function using<M extends nn.Module, T>(m: M, fn: (m: M) => T): T {
  try {
    return fn(m);
  } finally {
    m.dispose();
  }
}

/** Makes every zero-initialised parameter (biases, noise weights) non-trivial so the tests see them. */
function perturb(m: nn.Module, seed = 1): void {
  withSeed(seed, () => noGrad(() => {
    for (const [k, p] of m.namedParameters()) {
      if (k.endsWith('bias') || k.endsWith('Noise.weight')) p.copy_(scope(() => torch.randn(p.shape).mul(0.3)));
    }
  }));
}

describe('mapping network', () => {
  test('output shape, broadcast, and the lrmul-scaled dense layers against a direct computation', () => {
    using(new StyleGANMapping({ latentSize: 16, dlatentSize: 12, mappingFmaps: 20, mappingLayers: 3, dlatentBroadcast: 6 }), (M) => {
      perturb(M);
      // lrmul 0.01: weights are stored ×100 (N(0, 1/lrmul²)) and scaled back at run time.
      const big = new nn.EqualizedLinear(512, 512, { lrmul: 0.01 });
      const std = big.weight.std().item();
      big.dispose();
      assert.ok(Math.abs(std - 100) < 2, `init std ${std}, expected ≈ 1/lrmul = 100`);
      scope(() => {
        const z = torch.randn([5, 16]);
        const w = M.forward(z);
        assert.deepEqual(w.shape, [5, 6, 12]);
        for (let l = 1; l < 6; l++) assert.ok(w.select(1, l).equal(w.select(1, 0)), 'every layer gets the same w');
        // Direct: pixel norm, then x·(W·√2/√fan_in·lrmul)ᵀ + b·lrmul, leaky ReLU 0.2.
        let x = z.mul(z.square().mean(1, true).add(1e-8).rsqrt());
        for (const [i, fin] of [16, 20, 20].entries()) {
          const d = M.dense[i];
          x = F.leakyRelu(x.matmul(d.weight.mul((Math.SQRT2 / Math.sqrt(fin)) * 0.01).t()).add(d.bias!.mul(0.01)), 0.2);
        }
        assertClose(arr(w.select(1, 3)), arr(x), 1e-5, 1e-6);
      });
      assert.deepEqual(Object.keys(M.stateDict()), ['Dense0.weight', 'Dense0.bias', 'Dense1.weight', 'Dense1.bias', 'Dense2.weight', 'Dense2.bias']);
    });
  });

  test('a conditional mapping concatenates the embedded one-hot label before the pixel norm', () => {
    using(new StyleGANMapping({ latentSize: 8, labelSize: 5, dlatentSize: 8, mappingFmaps: 8, mappingLayers: 2 }), (M) => {
      assert.deepEqual(M.stateDict()['LabelConcat.weight'].shape, [5, 8]);
      scope(() => {
        const z = torch.randn([3, 8]);
        const idx = torch.tensor([0, 4, 2], { dtype: 'int64' });
        const a = M.forward(z, idx);
        const b = M.forward(z, F.oneHot(idx, 5).float());
        assert.deepEqual(a.shape, [3, 8]);
        assertClose(arr(a), arr(b));
        const emb = M.labelConcat!.weight.indexSelect(0, idx);
        let x = torch.cat([z, emb], 1);
        x = x.mul(x.square().mean(1, true).add(1e-8).rsqrt());
        for (const d of M.dense) x = F.leakyRelu(d.forward(x), 0.2);
        assertClose(arr(a), arr(x), 1e-5, 1e-6);
        assert.throws(() => M.forward(z), /conditional/);
      });
    });
  });
});

describe('synthesis layer epilogue', () => {
  test('styleModulate is x·(y_s + 1) + y_b with y = [y_s | y_b]', () => {
    scope(() => {
      const x = torch.randn([2, 3, 4, 4]);
      const style = torch.randn([2, 6]);
      const got = styleModulate(x, style);
      const ys = style.slice(1, 0, 3).reshape(2, 3, 1, 1), yb = style.slice(1, 3, 6).reshape(2, 3, 1, 1);
      assertClose(arr(got), arr(x.mul(ys.add(1)).add(yb)));
    });
  });

  test('noise → bias → leaky ReLU → instance norm → style modulation, against a direct computation', () => {
    const cfg = new StyleGANSynthesis({ ...TINY, resolution: 8 }).cfg;
    using(new SynthesisLayer('conv', 6, 5, cfg), (layer) => {
      perturb(layer);
      scope(() => {
        const x = torch.randn([3, 5, 8, 8]);
        const w = torch.randn([3, 16]);
        const noise = torch.randn([3, 1, 8, 8]);
        const got = layer.epilogue(x, w, noise);
        let y = x.add(noise.mul(layer.noise!.weight.reshape(1, 5, 1, 1))).add(layer.bias.reshape(1, 5, 1, 1));
        y = F.leakyRelu(y, 0.2);
        y = y.sub(y.mean([2, 3], true));
        y = y.mul(y.square().mean([2, 3], true).add(1e-8).rsqrt());
        const s = w.matmul(layer.styleMod.weight.mul(1 / Math.sqrt(16)).t()).add(layer.styleMod.bias!); // gain 1
        const want = y.mul(s.slice(1, 0, 5).reshape(3, 5, 1, 1).add(1)).add(s.slice(1, 5, 10).reshape(3, 5, 1, 1));
        assertClose(arr(got), arr(want), 1e-4, 1e-5);
      });
    });
  });

  test('noise injection: [N, 1, H, W] fresh noise, per-channel weight, and weight 0 leaves x unchanged', () => {
    using(new NoiseInjection(4), (ni) => {
      scope(() => {
        const x = torch.randn([2, 4, 5, 5]);
        assert.ok(ni.forward(x).equal(x), 'weight 0 (the initial value) adds nothing');
        noGrad(() => ni.weight.copy_(torch.tensor([0, 1, 2, -1])));
        const noise = torch.randn([2, 1, 5, 5]);
        const y = ni.forward(x, noise);
        for (const [c, k] of [0, 1, 2, -1].entries()) assertClose(arr(y.select(1, c)), arr(x.select(1, c).add(noise.select(1, 0).mul(k))));
        // Fresh noise is one plane per sample, shared by all channels.
        const d = ni.forward(x).sub(x);
        assertClose(arr(d.select(1, 2)), arr(d.select(1, 1).mul(2)), 1e-5, 1e-5);
        assert.ok(!d.select(0, 0).select(0, 1).allclose(d.select(0, 1).select(0, 1)), 'each sample has its own noise');
      });
    });
  });

  test('stored noise inputs: one [1, 1, h, w] buffer per layer; randomizeNoise=false is deterministic', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 16 }), (G) => {
      perturb(G);
      const bufs = Object.fromEntries(G.synthesis.namedBuffers());
      assert.deepEqual(Object.keys(bufs), ['noise0', 'noise1', 'noise2', 'noise3', 'noise4', 'noise5']);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => bufs[`noise${i}`].shape), [[1, 1, 4, 4], [1, 1, 4, 4], [1, 1, 8, 8], [1, 1, 8, 8], [1, 1, 16, 16], [1, 1, 16, 16]]);
      G.eval();
      scope(() => {
        const z = torch.randn([2, 16]);
        const a = G.forward(z, null, { randomizeNoise: false, truncationPsi: 1 });
        const b = G.forward(z, null, { randomizeNoise: false, truncationPsi: 1 });
        const c = G.forward(z, null, { randomizeNoise: true, truncationPsi: 1 });
        assert.ok(a.equal(b));
        assert.ok(!a.allclose(c), 'fresh noise changes the image once the noise weights are non-zero');
      });
    });
  });
});

describe('G_style', () => {
  test('dlatent_avg follows lerp(batch mean of w[:, 0], avg, 0.995) in training mode only', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 8 }), (G) => {
      assert.deepEqual(G.dlatentAvg.shape, [16]);
      assert.ok(G.dlatentAvg.equal(torch.zeros([16])));
      G.train();
      scope(() => {
        let expected = torch.zeros([16]);
        for (let step = 0; step < 3; step++) {
          const z = torch.randn([6, 16]);
          noGrad(() => G.forward(z, null, { styleMixingProb: null }));
          const mean = G.mapping.forward(z).select(1, 0).mean(0);
          expected = expected.mul(0.995).add(mean.mul(0.005));
          assertClose(arr(G.dlatentAvg), arr(expected), 1e-5, 1e-7, `step ${step}`);
        }
        G.eval();
        const before = G.dlatentAvg.clone();
        G.forward(torch.randn([2, 16]));
        assert.ok(G.dlatentAvg.equal(before), 'eval mode leaves the average alone');
      });
    });
  });

  test('truncation: ψ = 0 gives the average w below the cutoff, ψ = 1 the untruncated image, ψ 0.7 only when asked (never by mode)', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 32 }), (G) => {
      perturb(G);
      G.eval();
      const L = G.numLayers;
      assert.equal(L, 8);
      noGrad(() => G.dlatentAvg.copy_(scope(() => torch.randn([16]))));
      scope(() => {
        const z = torch.randn([2, 16]);
        const w = G.mapping.forward(z);
        const avg = G.dlatentAvg.reshape(1, 1, 16).expand(2, L, 16);
        const synth = (d: Tensor): Tensor => G.synthesis.forward(d, { randomizeNoise: false });
        const opts = { randomizeNoise: false } as const;
        // ψ 0, cutoff 4: layers 0–3 from the average, 4–7 from w.
        const partial = mixDlatents(avg, w, 4);
        assertClose(arr(G.forward(z, null, { ...opts, truncationPsi: 0, truncationCutoff: 4 })), arr(synth(partial)), 1e-5, 1e-6);
        // cutoff ≥ num_layers: the image of the average w, whatever z.
        const avgImage = synth(avg);
        assertClose(arr(G.forward(z, null, { ...opts, truncationPsi: 0, truncationCutoff: 8 })), arr(avgImage), 1e-5, 1e-6);
        assertClose(arr(G.forward(torch.randn([2, 16]), null, { ...opts, truncationPsi: 0, truncationCutoff: 20 })), arr(avgImage), 1e-5, 1e-6);
        // ψ 1: untruncated.
        assert.ok(G.forward(z, null, { ...opts, truncationPsi: 1 }).equal(synth(w)));
        // ψ 0.7 asked for: layers < 8 (the default cutoff), i.e. all eight here.
        const t07 = avg.add(w.sub(avg).mul(0.7));
        assertClose(arr(G.forward(z, null, { ...opts, truncationPsi: 0.7 })), arr(synth(t07)), 1e-5, 1e-6);
        assertClose(arr(truncateDlatents(w, G.dlatentAvg, 0.7, 8)), arr(t07), 1e-6, 1e-6);
        // Eval mode without a ψ: untruncated (the original truncated silently here).
        assert.ok(G.forward(z, null, opts).equal(synth(w)), 'eval mode does not truncate unless asked');
        // Training mode: no truncation unless asked.
        G.train();
        assert.ok(G.dlatents(z, null, { styleMixingProb: null, updateDlatentAvg: false }).equal(w));
        G.eval();
      });
    });
  });

  test('style mixing: dlatents switch from w1 to w2 exactly at the forced crossover layer', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 32 }), (G) => {
      G.train();
      scope(() => {
        const z = torch.randn([3, 16]);
        const w1 = G.mapping.forward(z);
        // The second latent is the first draw of the generator after the mapping.
        const z2 = withSeed(7, () => torch.randn([3, 16]));
        const w2 = G.mapping.forward(z2);
        for (const k of [1, 3, 7]) {
          const d = withSeed(7, () => G.dlatents(z, null, { mixingCutoff: k, updateDlatentAvg: false }));
          for (let l = 0; l < 8; l++) {
            assert.ok(d.select(1, l).equal((l < k ? w1 : w2).select(1, l)), `cutoff ${k}, layer ${l}`);
          }
        }
        // The pure function.
        const m = mixDlatents(w1, w2, 5);
        for (let l = 0; l < 8; l++) assert.ok(m.select(1, l).equal((l < 5 ? w1 : w2).select(1, l)));
      });
    });
  });

  test('the crossover layer is drawn as tf.random_uniform([], 1, cur_layers) with cur_layers = L − 2·⌊lod⌋', () => {
    withSeed(3, () => {
      for (const [lod, cur] of [[0, 8], [1.5, 6], [2, 4], [3, 2]] as const) {
        const seen = new Set<number>();
        for (let i = 0; i < 300; i++) seen.add(drawMixingCutoff(8, lod, 1));
        assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: cur - 1 }, (_, i) => i + 1), `lod ${lod}`);
        assert.equal(drawMixingCutoff(8, lod, 0), cur);
      }
      // Probability 0.9: about one draw in ten is "no mixing" (= cur_layers).
      let none = 0;
      for (let i = 0; i < 2000; i++) if (drawMixingCutoff(8, 0, 0.9) === 8) none++;
      assert.ok(none > 140 && none < 260, `${none} of 2000 unmixed`);
    });
  });

  test('lod fade at 0, 0.5, 1 (and deeper) equals an independent blend of the ToRGB outputs', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 32 }), (G) => {
      perturb(G);
      G.eval();
      const S = G.synthesis;
      scope(() => {
        const w = G.mapping.forward(torch.randn([2, 16]));
        const noise = (i: number): Tensor => S.noiseInputs[i];
        // Feature maps of each resolution, computed block by block.
        const feats: Tensor[] = [];
        let x: Tensor | null = null;
        for (let res = 2; res <= 5; res++) {
          x = S.blocks[res - 2].forward(x, w, [noise(2 * res - 4), noise(2 * res - 3)]);
          feats.push(x);
        }
        const rgb = (res: number): Tensor => S.toRGB[res - 2]!.forward(feats[res - 2]);
        const up = (t: Tensor, f: number): Tensor => F.interpolate(t, { scaleFactor: f, mode: 'nearest' });
        const run = (lod: number): Tensor => S.forward(w, { lod, randomizeNoise: false });
        assertClose(arr(run(0)), arr(rgb(5)), 1e-5, 1e-6, 'lod 0');
        assertClose(arr(run(0.5)), arr(rgb(5).mul(0.5).add(up(rgb(4), 2).mul(0.5))), 1e-5, 1e-6, 'lod 0.5');
        assertClose(arr(run(0.25)), arr(rgb(5).mul(0.75).add(up(rgb(4), 2).mul(0.25))), 1e-5, 1e-6, 'lod 0.25');
        assertClose(arr(run(1)), arr(up(rgb(4), 2)), 1e-5, 1e-6, 'lod 1');
        assertClose(arr(run(1.5)), arr(up(rgb(4).mul(0.5).add(up(rgb(3), 2).mul(0.5)), 2)), 1e-5, 1e-6, 'lod 1.5');
        assertClose(arr(run(3)), arr(up(rgb(2), 8)), 1e-5, 1e-6, 'lod 3');
        assert.throws(() => run(3.5), /lod/);
        assert.throws(() => run(-0.1), /lod/);
      });
    });
  });

  test("structure 'linear' (every resolution, lerp_clip) gives the recursive structure's images", () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 16 }), (G) => {
      using(new StyleGANGenerator({ ...TINY, resolution: 16, structure: 'linear' }), (GL) => {
        perturb(G);
        GL.loadStateDict(G.stateDict());
        scope(() => {
          const w = G.mapping.forward(torch.randn([2, 16]));
          for (const lod of [0, 0.3, 1, 1.7, 2]) {
            const a = G.synthesis.forward(w, { lod, randomizeNoise: false });
            const b = GL.synthesis.forward(w, { lod, randomizeNoise: false });
            assertClose(arr(b), arr(a), 1e-5, 1e-6, `lod ${lod}`);
          }
        });
      });
    });
  });

  test('inactive resolutions do not run (G blocks and ToRGB layers, D blocks and FromRGB layers)', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 32 }), (G) => using(new StyleGANDiscriminator({ ...TINY_D, resolution: 32 }), (D) => {
      const calls: string[] = [];
      const spy = (m: nn.Module, name: string): void => {
        const orig = m.forward.bind(m);
        m.forward = (...a: unknown[]) => {
          calls.push(name);
          return orig(...a);
        };
      };
      for (const [k, m] of G.synthesis.namedChildren()) spy(m, `G:${k}`);
      for (const [k, m] of D.namedChildren()) spy(m, `D:${k}`);
      const expectG: Record<string, string[]> = {
        '0': ['4x4', '8x8', '16x16', '32x32', 'ToRGB_lod0'],
        '0.5': ['4x4', '8x8', '16x16', '32x32', 'ToRGB_lod0', 'ToRGB_lod1'],
        '1': ['4x4', '8x8', '16x16', 'ToRGB_lod1'],
        '1.5': ['4x4', '8x8', '16x16', 'ToRGB_lod1', 'ToRGB_lod2'],
        '3': ['4x4', 'ToRGB_lod3'],
      };
      const expectD: Record<string, string[]> = {
        '0': ['FromRGB_lod0', '32x32', '16x16', '8x8', '4x4'],
        '0.5': ['FromRGB_lod0', '32x32', 'FromRGB_lod1', '16x16', '8x8', '4x4'],
        '1': ['FromRGB_lod1', '16x16', '8x8', '4x4'],
        '1.5': ['FromRGB_lod1', '16x16', 'FromRGB_lod2', '8x8', '4x4'],
        '3': ['FromRGB_lod3', '4x4'],
      };
      scope(() => {
        for (const lod of [0, 0.5, 1, 1.5, 3]) {
          calls.length = 0;
          const img = G.forward(torch.randn([4, 16]), null, { lod });
          assert.deepEqual(calls.filter((c) => c.startsWith('G:')).map((c) => c.slice(2)).sort(), [...expectG[String(lod)]].sort(), `G at lod ${lod}`);
          calls.length = 0;
          D.forward(img, null, { lod });
          assert.deepEqual(calls.map((c) => c.slice(2)), expectD[String(lod)], `D at lod ${lod}`);
        }
      });
    }));
  });

  test('a forward + backward of G and D inside scope() leaves liveTensors() unchanged', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 16 }), (G) => using(new StyleGANDiscriminator({ ...TINY_D, resolution: 16 }), (D) => {
      G.train();
      D.train();
      const step = (lod: number): void => scope(() => {
        const img = G.forward(torch.randn([4, 16]), null, { lod, mixingCutoff: 3 });
        D.forward(img, null, { lod }).mean().backward();
      });
      step(0); // warm up (lazy grads)
      const before = torch.liveTensors();
      for (const lod of [0, 0.5, 1.2]) step(lod);
      assert.equal(torch.liveTensors(), before);
      for (const p of G.parameters()) assert.ok(p.grad !== null);
    }));
  });

  test("structure 'fixed': one ToRGB/FromRGB, no lod", () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 16, structure: 'fixed' }), (G) => using(new StyleGANDiscriminator({ ...TINY_D, resolution: 16, structure: 'fixed' }), (D) => {
      assert.deepEqual(Object.keys(G.stateDict()).filter((k) => k.includes('ToRGB')), ['synthesis.ToRGB_lod0.weight', 'synthesis.ToRGB_lod0.bias']);
      assert.deepEqual(Object.keys(D.stateDict()).filter((k) => k.includes('FromRGB')), ['FromRGB_lod0.weight', 'FromRGB_lod0.bias']);
      scope(() => {
        const img = G.forward(torch.randn([2, 16]));
        assert.deepEqual(img.shape, [2, 3, 16, 16]);
        assert.deepEqual(D.forward(img).shape, [2]);
        assert.throws(() => G.forward(torch.randn([2, 16]), null, { lod: 1 }), /fixed/);
        assert.throws(() => D.forward(img, null, { lod: 1 }), /fixed/);
      });
    }));
  });

  test('a conditional G takes class labels; the fused upsampling starts at 128×128', () => {
    using(new StyleGANGenerator({ ...TINY, resolution: 8, labelSize: 3 }), (G) => {
      scope(() => {
        const img = G.forward(torch.randn([2, 16]), torch.tensor([0, 2], { dtype: 'int64' }));
        assert.deepEqual(img.shape, [2, 3, 8, 8]);
      });
    });
    using(new StyleGANGenerator({ resolution: 256, latentSize: 8, dlatentSize: 8, mappingFmaps: 8, fmapBase: 256, fmapMax: 8 }), (G) => {
      const up = (side: number): string => G.synthesis.blocks[Math.log2(side) - 2].layers[0].conv!.resample;
      assert.deepEqual([8, 16, 32, 64, 128, 256].map(up), ['none', 'none', 'none', 'none', 'up', 'up']);
    });
  });
});

describe('D_basic', () => {
  test('lod fade at 0.5 equals an independent blend of the two FromRGB paths; linear = recursive', () => {
    using(new StyleGANDiscriminator({ ...TINY_D, resolution: 16 }), (D) => using(new StyleGANDiscriminator({ ...TINY_D, resolution: 16, structure: 'linear' }), (DL) => {
      perturb(D);
      DL.loadStateDict(D.stateDict());
      scope(() => {
        const img = torch.randn([4, 3, 16, 16]);
        const act = (t: Tensor): Tensor => F.leakyRelu(t, 0.2);
        const down = (t: Tensor, f: number): Tensor => F.avgPool2d(t, f);
        const hi = D.blocks[1].forward(act(D.fromRGB[2]!.forward(img)));
        const lo = act(D.fromRGB[1]!.forward(down(img, 2)));
        const mixed = hi.mul(0.5).add(lo.mul(0.5));
        const want = D.head.forward(D.blocks[0].forward(mixed)).reshape(-1);
        assertClose(arr(D.forward(img, null, { lod: 0.5 })), arr(want), 1e-5, 1e-6);
        const at1 = D.head.forward(D.blocks[0].forward(lo)).reshape(-1);
        assertClose(arr(D.forward(img, null, { lod: 1 })), arr(at1), 1e-5, 1e-6);
        for (const lod of [0, 0.5, 1, 1.25, 2]) {
          assertClose(arr(DL.forward(img, null, { lod })), arr(D.forward(img, null, { lod })), 1e-5, 1e-6, `lod ${lod}`);
        }
      });
    }));
  });

  test('blocks: leaky ReLU(conv) → blur → conv → downscale; head: mbstd → Conv → Dense0 → Dense1', () => {
    using(new StyleGANDiscriminator({ ...TINY_D, resolution: 8 }), (D) => {
      perturb(D);
      scope(() => {
        const x = torch.randn([4, 16, 8, 8]);
        const b = D.blocks[0];
        let y = F.leakyRelu(b.conv0.forward(x), 0.2);
        y = nn.blur2d(y, [1, 2, 1]);
        y = F.leakyRelu(F.avgPool2d(b.conv1Down.forward(y), 2), 0.2);
        assertClose(arr(b.forward(x)), arr(y), 1e-5, 1e-6);
        const h = D.head;
        const x4 = torch.randn([4, 32, 4, 4]);
        let s = F.leakyRelu(h.conv.forward(nn.minibatchStddev(x4, 4, 1)), 0.2);
        s = h.dense1.forward(F.leakyRelu(h.dense0.forward(s.reshape(4, -1)), 0.2));
        assertClose(arr(h.forward(x4)), arr(s), 1e-5, 1e-6);
      });
      const keys = Object.keys(D.stateDict());
      assert.deepEqual(keys, [
        'FromRGB_lod0.weight', 'FromRGB_lod0.bias', '8x8.Conv0.weight', '8x8.Conv0.bias', '8x8.Conv1_down.weight', '8x8.Conv1_down.bias',
        'FromRGB_lod1.weight', 'FromRGB_lod1.bias', '4x4.Conv.weight', '4x4.Conv.bias', '4x4.Dense0.weight', '4x4.Dense0.bias',
        '4x4.Dense1.weight', '4x4.Dense1.bias',
      ]);
      assert.deepEqual(D.stateDict()['4x4.Conv.weight'].shape, [32, 33, 3, 3], 'mbstd adds one channel');
    });
  });

  test('a conditional D returns the score of each sample\'s class (LabelSwitch)', () => {
    using(new StyleGANDiscriminator({ ...TINY_D, resolution: 8, labelSize: 3 }), (D) => {
      scope(() => {
        const img = torch.randn([4, 3, 8, 8]);
        const all = D.head.forward(D.blocks[0].forward(F.leakyRelu(D.fromRGB[1]!.forward(img), 0.2)));
        assert.deepEqual(all.shape, [4, 3]);
        const labels = torch.tensor([2, 0, 1, 2], { dtype: 'int64' });
        const got = D.forward(img, labels);
        assertClose(arr(got), arr(all.gather(1, labels.reshape(4, 1)).reshape(-1)), 1e-5, 1e-6);
      });
    });
  });
});

describe('against a transliteration of the original TF graph (test/fixtures/stylegan/make_fixtures.py)', () => {
  test('mapping, truncation, synthesis at lod 0/1.5/3.25/5 and D_basic with labels, fused layers at 128×128', () => {
    const { tensors: t } = io.loadSafetensors(fromRoot('test/fixtures/stylegan/stylegan_small.safetensors'));
    const sub = (prefix: string): Record<string, Tensor> =>
      Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const G = new StyleGANGenerator({ resolution: 128, latentSize: 8, dlatentSize: 8, mappingFmaps: 8, labelSize: 3, fmapBase: 128, fmapMax: 8 });
    const D = new StyleGANDiscriminator({ resolution: 128, labelSize: 3, fmapBase: 128, fmapMax: 8 });
    try {
      G.loadStateDict(sub('G.'));
      D.loadStateDict(sub('D.'));
      G.eval();
      scope(() => {
        const dl = G.mapping.forward(t.z, t.g_labels);
        assertClose(arr(dl), arr(t.dlatents), 1e-4, 1e-5, 'mapping');
        assertClose(arr(truncateDlatents(t.dlatents, G.dlatentAvg, 0.7, 8)), arr(t.dlatents_trunc), 1e-5, 1e-6, 'truncation');
        for (const [name, lod] of [['0', 0], ['1_5', 1.5], ['3_25', 3.25], ['5', 5]] as const) {
          const img = G.synthesis.forward(t.dlatents_trunc, { lod, randomizeNoise: false });
          assertClose(arr(img), arr(t[`images_lod${name}`]), 1e-4, 5e-5, `synthesis at lod ${lod}`);
          const scores = D.forward(t.real, t.d_labels, { lod });
          assertClose(arr(scores), arr(t[`scores_lod${name}`]), 1e-4, 5e-5, `D at lod ${lod}`);
        }
        // The whole G_style path as the original's eval mode runs it: ψ 0.7 (asked for explicitly here) at layers < 8.
        assertClose(arr(G.forward(t.z, t.g_labels, { randomizeNoise: false, truncationPsi: 0.7 })), arr(t.images_lod0), 1e-4, 5e-5, 'G_style');
      });
    } finally {
      G.dispose();
      D.dispose();
      for (const v of Object.values(t)) v.dispose();
    }
  });
});

describe('full size (the paper\'s 1024×1024 networks)', () => {
  test('parameter counts equal the original\'s variables: G 26,219,627 (mapping 2,101,248), D 23,087,249', () => {
    using(new StyleGANGenerator(), (G) => {
      assert.equal(G.numLayers, 18);
      assert.equal(G.mapping.numParameters(), 2_101_248);
      assert.equal(G.numParameters(), 26_219_627);
      const sd = G.stateDict();
      assert.deepEqual(sd['synthesis.4x4.Const.const'].shape, [1, 512, 4, 4]);
      assertEqualArrays(arr(sd['synthesis.4x4.Const.const']).slice(0, 4), [1, 1, 1, 1]);
      assert.deepEqual(sd['synthesis.4x4.Const.Noise.weight'].shape, [512]);
      assert.deepEqual(sd['synthesis.1024x1024.Conv1.conv.weight'].shape, [16, 16, 3, 3]);
      assert.deepEqual(sd['synthesis.ToRGB_lod0.weight'].shape, [3, 16, 1, 1]);
      assert.deepEqual(sd['synthesis.noise17'].shape, [1, 1, 1024, 1024]);
      assert.deepEqual(sd['dlatent_avg'].shape, [512]);
      assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => featureMaps(s)), [512, 512, 512, 512, 256, 128, 64, 32, 16]);
    });
    using(new StyleGANDiscriminator(), (D) => assert.equal(D.numParameters(), 23_087_249));
  });
});
