// The phase runner: what it does around a family's losses (zero_grad, freezing,
// accumulation, intervals, the lazy-regularisation correction, the gradient hook, the
// step), checked on two tiny linear "networks" whose gradients are known in closed form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { PhaseRunner, type Phase, type PhasedRecipe } from '../src/train/phase.js';
import type { TensorBatch } from '../src/data/index.js';

/** A "G" and a "D" of one linear layer each, with SGD so that an update is lr × gradient exactly. */
function tinyGan(phases: (g: nn.Linear, d: nn.Linear, optG: torch.optim.Optimizer, optD: torch.optim.Optimizer) => Phase[]) {
  torch.manualSeed(0);
  const G = new nn.Linear(3, 3), D = new nn.Linear(3, 1), G_ema = new nn.Linear(3, 3);
  G_ema.requiresGrad_(false);
  const optG = new torch.optim.SGD(G.parameters(), { lr: 0.1 });
  const optD = new torch.optim.SGD(D.parameters(), { lr: 0.1 });
  const recipe: PhasedRecipe = { networks: () => ({ G, D, G_ema }), phases: phases(G, D, optG, optD) };
  return { G, D, G_ema, optG, optD, recipe };
}

const batchOf = (a: torch.Tensor): TensorBatch => ({ a, b: null, labels: null });
const values = (t: torch.Tensor) => Array.from(t.toTypedArray() as Float32Array);

test('each phase steps its own optimiser on its loss\'s gradient, with the other networks frozen and restored', () => {
  const seen: Record<string, boolean[]> = {};
  const { G, D, G_ema, recipe } = tinyGan((G, D, optG, optD) => [
    {
      name: 'D', nets: [D], optimizer: optD,
      loss: (b) => {
        seen.D = [G.weight.requiresGrad, D.weight.requiresGrad, G_ema.weight.requiresGrad];
        return { loss: D.forward(G.forward(b.a)).mean(), log: { d: 1 } };
      },
    },
    {
      name: 'G', nets: [G], optimizer: optG,
      loss: (b) => {
        seen.G = [G.weight.requiresGrad, D.weight.requiresGrad];
        const loss = D.forward(G.forward(b.a)).mean().neg();
        return { loss, log: { g: loss } };
      },
    },
  ]);
  const x = torch.tensor([[1, 2, 3], [0, -1, 0.5]]);
  // Closed form of D's gradient: d mean(Dw·(Gx) + Db) / dDw = mean over the batch of Gx.
  const gx = torch.noGrad(() => G.forward(x).mean(0));
  const dw0 = values(D.weight), db0 = D.bias!.item();
  const gw0 = values(G.weight);
  const m = new PhaseRunner(recipe).run(batchOf(x), { step: 0, imagesSeen: 0 });
  assert.deepEqual(seen.D, [false, true, false], 'during D\'s phase G (and G_ema) are frozen');
  assert.deepEqual(seen.G, [true, false], 'during G\'s phase D is frozen');
  assert.deepEqual([G.weight.requiresGrad, D.weight.requiresGrad, G_ema.weight.requiresGrad], [true, true, false], 'restored afterwards; G_ema stays frozen');
  const want = dw0.map((w, i) => w - 0.1 * (gx.toTypedArray() as Float32Array)[i]);
  values(D.weight).forEach((w, i) => assert.ok(Math.abs(w - want[i]) < 1e-6, `D.weight[${i}] ${w} vs ${want[i]}`));
  assert.ok(Math.abs(D.bias!.item() - (db0 - 0.1)) < 1e-6, 'D.bias moved by lr × 1');
  assert.ok(values(G.weight).some((w, i) => w !== gw0[i]), 'G\'s phase moved G');
  assert.equal(m.d, 1);
  assert.ok(Number.isFinite(m.g));
  assert.equal(G_ema.weight.grad, null, 'the frozen average got no gradient');
});

test('accumulation over k minibatches gives the gradient of the whole batch\'s mean loss, and logs the mean over rounds', () => {
  const runOnce = (accumulate: number) => {
    let rounds = 0;
    const { D, recipe } = tinyGan((_G, D, _optG, optD) => [{
      name: 'D', nets: [D], optimizer: optD, accumulate,
      loss: (b, ctx) => {
        assert.equal(ctx.rounds, accumulate);
        assert.equal(b.a.shape[0], 8 / accumulate);
        rounds++;
        const loss = D.forward(b.a).square().mean();
        return { loss, log: { loss } };
      },
    }]);
    const x = torch.withSeed(1, () => torch.randn([8, 3]));
    const m = new PhaseRunner(recipe).run(batchOf(x), { step: 0, imagesSeen: 0 });
    return { rounds, w: values(D.weight), b: D.bias!.item(), loss: m.loss };
  };
  const whole = runOnce(1), split = runOnce(4);
  assert.equal(split.rounds, 4);
  split.w.forEach((w, i) => assert.ok(Math.abs(w - whole.w[i]) < 1e-6, `weight ${i}: ${w} vs ${whole.w[i]}`));
  assert.ok(Math.abs(split.b - whole.b) < 1e-6);
  assert.ok(Math.abs(split.loss - whole.loss) < 1e-5, `logged loss ${split.loss} vs ${whole.loss}`);
  const { recipe } = tinyGan((_G, D, _o, optD) => [{ name: 'D', nets: [D], optimizer: optD, accumulate: 3, loss: (b) => ({ loss: D.forward(b.a).mean() }) }]);
  assert.throws(() => new PhaseRunner(recipe).run(batchOf(torch.randn([8, 3])), { step: 0, imagesSeen: 0 }), /batch of 8 does not split into 3/);
});

test('intervals and runs(): a phase runs only when due; a lazy phase corrects its Adam as StyleGAN2 does (lr·r, β^r, r = k/(k+1))', () => {
  const ran: string[] = [];
  torch.manualSeed(0);
  const D = new nn.Linear(3, 1), G = new nn.Linear(3, 3);
  const optD = new torch.optim.Adam(D.parameters(), { lr: 0.002, betas: [0, 0.99] });
  const optG = new torch.optim.Adam(G.parameters(), { lr: 0.002, betas: [0, 0.99] });
  const loss = (name: string, net: nn.Linear) => (b: TensorBatch) => {
    ran.push(name);
    return { loss: net.forward(b.a).mean() };
  };
  const recipe: PhasedRecipe<{ g: boolean }> = {
    networks: () => ({ G, D }),
    prepare: (_b, ctx) => ({ g: ctx.step % 3 === 2 }),
    phases: [
      { name: 'Dmain', nets: [D], optimizer: optD, loss: loss('Dmain', D) },
      { name: 'Dreg', nets: [D], optimizer: optD, interval: 4, lazy: true, loss: loss('Dreg', D) },
      { name: 'G', nets: [G], optimizer: optG, runs: ({ shared }) => shared.g, loss: loss('G', G) },
    ],
  };
  const runner = new PhaseRunner(recipe);
  const r = 4 / 5;
  assert.ok(Math.abs(optD.lr - 0.002 * r) < 1e-15, `lr ${optD.lr}`);
  assert.equal(optD.betas[0], 0);
  assert.ok(Math.abs(optD.betas[1] - 0.99 ** r) < 1e-15, `β2 ${optD.betas[1]}`);
  assert.equal(optG.lr, 0.002, 'an optimiser without a lazy phase is left alone');
  new PhaseRunner(recipe);
  assert.ok(Math.abs(optD.lr - 0.002 * r) < 1e-15, 'a second runner does not correct it again');
  const x = torch.randn([2, 3]);
  for (let step = 0; step < 6; step++) {
    ran.push(`|${step}`);
    runner.run(batchOf(x), { step, imagesSeen: 2 * step });
  }
  assert.equal(ran.join(' '), '|0 Dmain Dreg |1 Dmain |2 Dmain G |3 Dmain |4 Dmain Dreg |5 Dmain G');
});

test('the gradient hook sees each phase\'s complete gradients before the step, and what it does to them is what the step uses', () => {
  const calls: string[] = [];
  const { D, recipe } = tinyGan((_G, D, _optG, optD) => [{
    name: 'D', nets: [D], optimizer: optD, accumulate: 2,
    loss: (b) => ({ loss: D.forward(b.a).sum() }),
  }]);
  const x = torch.ones([4, 3]);
  const w0 = values(D.weight);
  // A stand-in for an all-reduce over 2 processes of which the other had zero gradients: halve them.
  const runner = new PhaseRunner(recipe, {
    gradientHook: (params, phase) => {
      calls.push(`${phase}:${params.length}`);
      // Both rounds are in: the mean over rounds of Σ_rows x = 2 per weight (4 rows of ones, split in two).
      values(params[0].grad!).forEach((g) => assert.ok(Math.abs(g - 2) < 1e-6, `complete gradient before the hook: ${g}`));
      torch.noGrad(() => params.forEach((p) => p.grad!.mul_(0.5)));
    },
  });
  runner.run(batchOf(x), { step: 0, imagesSeen: 0 });
  assert.deepEqual(calls, ['D:2']);
  values(D.weight).forEach((w, i) => assert.ok(Math.abs(w - (w0[i] - 0.1 * 1)) < 1e-6, `stepped with the hook's gradient: ${w}`));
});

test('declarations that cannot run are refused up front', () => {
  const { recipe } = tinyGan((_G, D, _optG, optD) => [
    { name: 'D', nets: [D], optimizer: optD, loss: (b) => ({ loss: D.forward(b.a).mean() }) },
    { name: 'D', nets: [D], optimizer: optD, loss: (b) => ({ loss: D.forward(b.a).mean() }) },
  ]);
  assert.throws(() => new PhaseRunner(recipe), /two phases are named D/);
  const sgd = tinyGan((_G, D, _optG, optD) => [{ name: 'Dreg', nets: [D], optimizer: optD, interval: 16, lazy: true, loss: (b) => ({ loss: D.forward(b.a).mean() }) }]);
  assert.throws(() => new PhaseRunner(sgd.recipe), /lazy regularisation needs Adam/);
});

test('nanToNum: NaN gradients become 0 and ±∞ become ±1e5 before the step (without it the weights turn NaN)', () => {
  const run = (nanToNum: boolean): { w: number[]; b: number; w0: number[]; b0: number } => {
    const { D, recipe } = tinyGan((_G, D, _optG, optD) => [{
      name: 'D', nets: [D], optimizer: optD,
      ...(nanToNum ? { nanToNum: { nan: 0, posinf: 1e5, neginf: -1e5 } } : {}),
      // d loss / d weight = x: NaN, +∞ and −∞; d loss / d bias = 1.
      loss: (b) => ({ loss: D.forward(b.a).sum() }),
    }]);
    const w0 = values(D.weight), b0 = D.bias!.item();
    const x = torch.tensor([[NaN, Infinity, -Infinity]]);
    new PhaseRunner(recipe).run(batchOf(x), { step: 0, imagesSeen: 0 });
    return { w: values(D.weight), b: D.bias!.item(), w0, b0 };
  };
  const on = run(true);
  // SGD at lr 0.1: w − 0.1·[0, 1e5, −1e5], b − 0.1.
  const want = [on.w0[0], on.w0[1] - 1e4, on.w0[2] + 1e4];
  on.w.forEach((w, i) => assert.ok(Math.abs(w - want[i]) < 1e-3, `weight[${i}] ${w} vs ${want[i]}`));
  assert.ok(Math.abs(on.b - (on.b0 - 0.1)) < 1e-6);
  const off = run(false);
  assert.ok(Number.isNaN(off.w[0]) && !Number.isFinite(off.w[1]), 'the control step (no nanToNum) poisons the weights');
});
