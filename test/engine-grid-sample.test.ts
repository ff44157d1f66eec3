// F.gridSample and F.affineGrid: values against a bilinear interpolation written here,
// first derivatives against finite differences, and the second derivative with respect to
// the input (what R1 through ADA needs, and what libtorch 1.13's own grid_sample lacks)
// against finite differences, all in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { F, Tensor } from '../src/torch/index.js';
import { assertClose } from './helpers.js';
import { numericGrad } from './grad-helpers.js';

const f64 = { dtype: 'float64' as const };

/** grid_sample (bilinear, zeros, align_corners false) by its definition, in float64. */
function bilinear(x: number[][][][], grid: number[][][][]): number[] {
  const out: number[] = [];
  const N = x.length, C = x[0].length, H = x[0][0].length, W = x[0][0][0].length;
  const Ho = grid[0].length, Wo = grid[0][0].length;
  const at = (n: number, c: number, i: number, j: number): number => (i >= 0 && i < H && j >= 0 && j < W ? x[n][c][i][j] : 0);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
    const [gx, gy] = grid[n][i][j];
    const ix = ((gx + 1) * W - 1) / 2, iy = ((gy + 1) * H - 1) / 2;
    const x0 = Math.floor(ix), y0 = Math.floor(iy), fx = ix - x0, fy = iy - y0;
    out.push(at(n, c, y0, x0) * (1 - fx) * (1 - fy) + at(n, c, y0, x0 + 1) * fx * (1 - fy) + at(n, c, y0 + 1, x0) * (1 - fx) * fy + at(n, c, y0 + 1, x0 + 1) * fx * fy);
  }
  return out;
}

const values = (t: Tensor): number[] => Array.from(t.toTypedArray() as Float64Array);

test('gridSample equals bilinear interpolation with zero padding (align_corners false)', () => {
  torch.scope(() => {
    torch.manualSeed(1);
    const x = torch.randn([2, 2, 5, 6], f64);
    const grid = torch.rand([2, 4, 3, 2], f64).mul(2.4).sub(1.2);
    const y = F.gridSample(x, grid);
    assert.deepEqual(y.shape, [2, 2, 4, 3]);
    assertClose(values(y), bilinear(x.toArray() as number[][][][], grid.toArray() as number[][][][]), 1e-12, 1e-12);
  });
});

test('affineGrid: the identity samples every pixel centre, a translation by 2/W moves one pixel', () => {
  torch.scope(() => {
    const x = torch.arange(0, 24, 1, f64).reshape(1, 2, 3, 4);
    const id = torch.tensor([[[1, 0, 0], [0, 1, 0]]], f64);
    assertClose(values(F.gridSample(x, F.affineGrid(id, [1, 2, 3, 4]))), values(x), 0, 1e-12);
    const grid = F.affineGrid(id, [1, 2, 3, 4]);
    // Pixel centres: x_j = (2j + 1)/W − 1.
    assertClose(values(grid.select(3, 0).select(1, 0).select(0, 0)), [-0.75, -0.25, 0.25, 0.75], 0, 1e-15);
    const shift = torch.tensor([[[1, 0, 0.5], [0, 1, 0]]], f64); // output x samples input x + 1 pixel
    const y = F.gridSample(x, F.affineGrid(shift, [1, 2, 3, 4]));
    assertClose(values(y.narrow(3, 0, 3)), values(x.narrow(3, 1, 3).contiguous()), 0, 1e-12);
    assertClose(values(y.narrow(3, 3, 1)), [0, 0, 0, 0, 0, 0], 0, 0);
  });
});

test('first derivatives with respect to the input and the grid equal finite differences', () => {
  torch.scope(() => {
    torch.manualSeed(2);
    const x = torch.randn([1, 2, 4, 5], f64).requiresGrad_(true);
    // Away from pixel-centre lines, where bilinear interpolation has kinks in the grid.
    const grid = torch.rand([1, 3, 3, 2], f64).mul(1.6).sub(0.8).requiresGrad_(true);
    const w = torch.randn([1, 2, 3, 3], f64);
    const loss = (): Tensor => F.gridSample(x, grid).mul(w).sum();
    const [gx, gg] = torch.grad(loss(), [x, grid]);
    const ix = [0, 3, 7, 12, 19, 33], ig = [0, 1, 4, 9, 17];
    assertClose(values(gx!.view(-1)).filter((_, i) => ix.includes(i)), numericGrad(() => torch.noGrad(() => loss().item()), x, ix), 1e-6, 1e-8);
    assertClose(values(gg!.view(-1)).filter((_, i) => ig.includes(i)), numericGrad(() => torch.noGrad(() => loss().item()), grid, ig), 1e-5, 1e-8);
  });
});

test('the second derivative through the input gradient (R1-like) equals finite differences', () => {
  torch.scope(() => {
    torch.manualSeed(3);
    const x = torch.randn([2, 2, 5, 5], f64).requiresGrad_(true);
    const theta = torch.tensor([[[0.8, -0.3, 0.1], [0.35, 0.9, -0.05]], [[-1, 0, 0.2], [0, 1.1, 0]]], f64);
    const grid = F.affineGrid(theta, [2, 2, 6, 4]);
    const w = torch.randn([2, 2, 6, 4], f64);
    // P(x) = |∇x Σ w·tanh(gridSample(x))|²: its gradient needs d/dgrad_output of grid_sample's input gradient.
    const penalty = (create: boolean): Tensor => {
      const L = F.gridSample(x, grid).tanh().mul(w).sum();
      const [g] = torch.grad(L, x, { createGraph: create });
      return g!.square().sum();
    };
    const [gp] = torch.grad(penalty(true), x);
    const idx = [0, 5, 11, 24, 30, 42, 49];
    const fd = numericGrad(() => penalty(false).item(), x, idx);
    assertClose(values(gp!.view(-1)).filter((_, i) => idx.includes(i)), fd, 1e-5, 1e-7);
    assert.ok(fd.some((v) => Math.abs(v) > 1e-3), 'the check is not vacuous');
  });
});

test('bad arguments are named in one-line errors', () => {
  torch.scope(() => {
    const x = torch.randn([1, 1, 3, 3], f64).requiresGrad_(true);
    const grid = torch.rand([1, 2, 2, 2], f64).sub(0.5);
    assert.throws(() => F.gridSample(x, torch.zeros([1, 2, 2, 3], f64)), /grid \[N,Ho,Wo,2\]/);
    assert.throws(() => F.gridSample(x, grid, { mode: 'cubic' as 'bicubic' }), /unknown grid_sample mode 'cubic'/);
    assert.throws(() => F.affineGrid(torch.zeros([2, 2, 3], f64), [1, 1, 2, 2]), /affine_grid expects/);
  });
});
