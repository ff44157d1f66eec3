// The phase runner's options BigGAN needs, generically: `steps` (several optimiser steps
// per iteration, each on its own slice of the batch, zero_grad before each), `split:
// false` (every accumulation round sees the whole batch), and `beforeStep` (a gradient
// added after accumulation, before the step). Checked with SGD on one linear layer,
// whose updates are known in closed form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { PhaseRunner, type Phase } from '../src/train/phase.js';
import { assertClose } from './helpers.js';

function setup(phase: (D: nn.Linear, opt: torch.optim.Optimizer, seen: number[][]) => Phase) {
  torch.manualSeed(0);
  const D = new nn.Linear(2, 1, { bias: false });
  torch.noGrad(() => D.weight.fill_(0));
  const opt = new torch.optim.SGD(D.parameters(), { lr: 1 });
  const seen: number[][] = [];
  return { D, seen, runner: new PhaseRunner({ networks: () => ({ D }), phases: [phase(D, opt, seen)] }) };
}

const rows = torch.tensor([[1, 0], [0, 1], [2, 0], [0, 2], [3, 0], [0, 3], [4, 0], [0, 4]], { dtype: 'float32' });

test('steps: each step takes its own slice (then accumulated minibatches) and zeroes the gradient first', () => {
  const { D, seen, runner } = setup((D, opt, seen) => ({
    name: 'D', nets: [D], optimizer: opt, steps: 2, accumulate: 2,
    // loss = sum(x · w) over the minibatch: gradient = the rows' sum; recorded with the weight it saw.
    loss: (b, ctx) => {
      seen.push([ctx.phaseStep, ctx.round, ...(b.a.sum(0).toTypedArray() as Float32Array), ...(D.weight.toTypedArray() as Float32Array)]);
      return { loss: D.forward(b.a).sum(), log: { l: 1 } };
    },
  }));
  const m = runner.run({ a: rows, b: null, labels: null }, { step: 0, imagesSeen: 0 });
  // Step 0 sees rows 0-3 in two minibatches (sums [1, 1] and [2, 2]); step 1 rows 4-7, after step 0's update.
  assert.deepEqual(seen.map((s) => s.slice(0, 4)), [[0, 0, 1, 1], [0, 1, 2, 2], [1, 0, 3, 3], [1, 1, 4, 4]]);
  assertClose(seen[2].slice(4), [-1.5, -1.5], 0, 1e-6, 'step 1 starts from step 0\'s update (mean of the rounds, lr 1)');
  // Step 1's gradient alone (not step 0's too): w = −1.5 − (3 + 4)/2.
  assertClose(D.weight.toTypedArray() as Float32Array, [-5, -5], 0, 1e-6);
  assert.equal(m.l, 1, 'logs are the mean over every minibatch of every step');
});

test('split false gives each round the whole batch; beforeStep adds to the accumulated gradient', () => {
  const { D, seen, runner } = setup((D, opt, seen) => ({
    name: 'G', nets: [D], optimizer: opt, accumulate: 2, split: false,
    beforeStep: () => torch.noGrad(() => D.weight.grad!.add_(10)),
    loss: (b) => {
      seen.push([b.a.shape[0]]);
      return { loss: D.forward(b.a).sum() };
    },
  }));
  runner.run({ a: rows.slice(0, 0, 2), b: null, labels: null }, { step: 0, imagesSeen: 0 });
  assert.deepEqual(seen, [[2], [2]]);
  // Gradient: mean over the two rounds of [1, 1], plus 10.
  assertClose(D.weight.toTypedArray() as Float32Array, [-11, -11], 0, 1e-6);
});

test('a batch that does not split into the steps is refused', () => {
  const { runner } = setup((D, opt) => ({ name: 'D', nets: [D], optimizer: opt, steps: 3, loss: (b) => ({ loss: D.forward(b.a).sum() }) }));
  assert.throws(() => runner.run({ a: rows, b: null, labels: null }, { step: 0, imagesSeen: 0 }), /does not split into 3/);
});
