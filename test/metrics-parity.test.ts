// FID, KID, IS and precision/recall equal stylegan2-ada-pytorch's own metric code on the
// same feature vectors (test/fixtures/metrics/make_metric_fixtures.py), within 1e-6
// relative; the covariance convention (N, not N − 1) and FID's identities are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { loadSafetensors } from '../src/io/index.js';
import { FeatureStats, frechetDistance, inceptionScore, kernelInceptionDistance, meanCov, parseMetric, parseMetricList, precisionRecall } from '../src/metrics/index.js';
import { assertClose, fromRoot } from './helpers.js';

const load = () => loadSafetensors(fromRoot('test/fixtures/metrics/metrics.safetensors')).tensors;
const num = (t: torch.Tensor) => Array.from(t.toTypedArray() as Float64Array);
const rows = (t: torch.Tensor) => (t.toArray() as number[][]);

function relClose(actual: number, expected: number, rtol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rtol * Math.abs(expected), `${what}: ${actual} vs ${expected} (rel ${Math.abs(actual - expected) / Math.abs(expected)})`);
}

test('feature statistics: mean and the biased covariance (divided by N, as stylegan2-ada-pytorch), streamed in batches', () => {
  torch.scope(() => {
    const f = load();
    const real = f.real.to('float32');
    const direct = meanCov(real);
    assertClose(num(direct.mean), num(f.mean_real), 1e-12, 1e-12, 'mean');
    assertClose(num(direct.cov), num(f.cov_real), 1e-9, 1e-12, 'covariance');
    // Not np.cov's N − 1: the two differ by exactly N / (N − 1).
    const n = real.shape[0];
    assertClose(num(direct.cov.mul(n / (n - 1))), num(f.cov_real_unbiased), 1e-9, 1e-12, 'covariance · N/(N−1) = np.cov');
    assert.ok(Math.abs(direct.cov.select(0, 0).select(0, 0).item() - f.cov_real_unbiased.select(0, 0).select(0, 0).item()) > 1e-4);
    const stats = new FeatureStats({ captureAll: true, maxItems: 250 });
    try {
      for (const part of real.split(64)) stats.append(part);
      assert.equal(stats.count, 250);
      assert.ok(stats.isFull());
      const streamed = stats.meanCov();
      const first = meanCov(real.narrow(0, 0, 250));
      assertClose(num(streamed.mean), num(first.mean), 1e-12, 1e-12, 'streamed mean');
      assertClose(num(streamed.cov), num(first.cov), 1e-9, 1e-12, 'streamed covariance');
      assert.deepEqual(stats.all().shape, [250, 16]);
    } finally {
      stats.dispose();
    }
  });
});

test('FID equals the reference (scipy-style sqrtm of Σ_gen Σ_real) within 1e-6 relative, and is symmetric', () => {
  torch.scope(() => {
    const f = load();
    const real = meanCov(f.real.to('float32'));
    const gen = meanCov(f.gen.to('float32'));
    const fid = frechetDistance(gen, real);
    relClose(fid, f.fid.item(), 1e-6, 'FID');
    relClose(frechetDistance(real, gen), f.fid_reversed.item(), 1e-6, 'FID reversed');
    relClose(frechetDistance(real, gen), fid, 1e-9, 'symmetry');
  });
});

test('FID of a set against itself is 0 within 1e-6, also with a singular covariance (fewer images than dimensions)', () => {
  torch.scope(() => {
    const f = load();
    const real = meanCov(f.real.to('float32'));
    assert.ok(Math.abs(frechetDistance(real, real)) < 1e-6);
    const wide = torch.withSeed(3, () => torch.randn([40, 256]).mul(2).add(1));
    const s = meanCov(wide);
    const self = frechetDistance(s, s);
    assert.ok(Math.abs(self) < 1e-6, `FID(x, x) = ${self}`);
    // And a real difference stays visible at that scale.
    const other = meanCov(torch.withSeed(4, () => torch.randn([40, 256]).mul(2).add(1.1)));
    assert.ok(frechetDistance(s, other) > 1);
  });
});

test('KID equals the reference on its own subsets and on the whole sets, within 1e-6 relative', () => {
  torch.scope(() => {
    const f = load();
    const real = f.real.to('float32');
    const gen = f.gen.to('float32');
    const subsets = { gen: rows(f.kid_subsets_gen), real: rows(f.kid_subsets_real) };
    relClose(kernelInceptionDistance(real, gen, { subsets }), f.kid.item(), 1e-6, 'KID on the reference subsets');
    // One subset of all of two equal sets: the draw no longer matters (the kernel sums are order-free).
    relClose(kernelInceptionDistance(real.narrow(0, 0, gen.shape[0]), gen, { numSubsets: 1, maxSubsetSize: 100000, seed: 9 }), f.kid_whole.item(), 1e-6, 'KID on whole sets');
    // Our own draws are reproducible and near the reference's value.
    const a = kernelInceptionDistance(real, gen, { numSubsets: 7, maxSubsetSize: 100, seed: 1 });
    assert.equal(kernelInceptionDistance(real, gen, { numSubsets: 7, maxSubsetSize: 100, seed: 1 }), a);
    relClose(a, f.kid.item(), 0.2, 'KID on other subsets');
  });
});

test('IS equals the reference (10 splits) within 1e-6 relative', () => {
  torch.scope(() => {
    const f = load();
    const { mean, std } = inceptionScore(f.probs.to('float32'), 10);
    const [m, s] = num(f.is);
    relClose(mean, m, 1e-6, 'IS mean');
    relClose(std, s, 1e-6, 'IS std');
  });
});

test('precision and recall (k = 3) equal the reference', () => {
  torch.scope(() => {
    const f = load();
    const { precision, recall } = precisionRecall(f.real.to('float32'), f.gen.to('float32'), { k: 3, rowBatch: 64 });
    const [p, r] = num(f.pr);
    relClose(precision, p, 1e-6, 'precision');
    relClose(recall, r, 1e-6, 'recall');
  });
});

test('metrics leave no tensor behind', () => {
  const before = torch.liveTensors();
  torch.scope(() => {
    const f = load();
    const a = meanCov(f.real);
    frechetDistance(a, meanCov(f.gen));
    kernelInceptionDistance(f.real, f.gen, { numSubsets: 2, maxSubsetSize: 50 });
    inceptionScore(f.probs);
    precisionRecall(f.real, f.gen);
  });
  assert.equal(torch.liveTensors(), before);
});

test('metric names as stylegan2-ada-pytorch, with any count', () => {
  const fid = parseMetric('fid50k_full');
  assert.deepEqual([fid.kind, fid.numGen, fid.maxReal, fid.keys, fid.lowerIsBetter], ['fid', 50000, null, ['fid50k_full'], true]);
  const fid10 = parseMetric('fid10k');
  assert.deepEqual([fid10.numGen, fid10.maxReal], [10000, 10000]);
  assert.deepEqual([parseMetric('fid5k').numGen, parseMetric('fid500').numGen], [5000, 500]);
  const kid = parseMetric('kid50k_full');
  assert.deepEqual([kid.kind, kid.maxReal, kid.lowerIsBetter], ['kid', null, true]);
  const is = parseMetric('is50k');
  assert.deepEqual([is.kind, is.keys, is.lowerIsBetter], ['is', ['is50k_mean', 'is50k_std'], false]);
  const pr = parseMetric('pr50k3_full');
  assert.deepEqual([pr.kind, pr.k, pr.numGen, pr.maxReal, pr.keys], ['pr', 3, 50000, 200000, ['pr50k3_full_precision', 'pr50k3_full_recall']]);
  assert.deepEqual([parseMetric('pr50k3').maxReal, parseMetric('pr500_3').numGen, parseMetric('pr500_3').k], [50000, 500, 3]);
  for (const bad of ['fid', 'fidk', 'fid50x', 'ppl2_wend', 'pr50k', 'is50k_full', 'fid1', 'kid5_3']) assert.throws(() => parseMetric(bad), /metric/, bad);
  assert.deepEqual(parseMetricList('fid10k, kid10k,is10k').map((s) => s.name), ['fid10k', 'kid10k', 'is10k']);
  assert.throws(() => parseMetricList('fid10k,fid10k'), /twice/);
  assert.throws(() => parseMetricList(' , '), /no metric/);
});
