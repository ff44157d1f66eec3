// interpolate and mix with --network X.pkl (issue 11, "Sampling and figures") and with w
// files: on the committed 16 px StyleGAN2 snapshots, whose generate.py images for seeds
// 0, 85, 2147483655 and 4294967295 (ψ 0.7, const noise) are in test/fixtures/nvpkl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { decodeImage, type RawImage } from '../src/data/index.js';
import { saveSafetensors } from '../src/io/tensors.js';
import { loadNetworkGenerator } from '../src/families/network.js';
import { numpySeedLatents } from '../src/cli/latents.js';
import { mixGrid, styleRange } from '../src/cli/mix.js';
import { generatePyBytes } from '../src/cli/style_source.js';
import { cli, tempDir } from './train-helpers.js';
import { fromRoot, gridCell } from './helpers.js';

const FIX = (name: string) => fromRoot(`test/fixtures/nvpkl/${name}`);
const UNCOND = FIX('snapshot_uncond_p4.pkl');
const S = 16;

function ok(args: string[]): string {
  const r = cli(args);
  assert.equal(r.status, 0, `ganforge ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function mistake(args: string[], pattern: RegExp): void {
  const r = cli(args);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line:\n${r.stderr}`);
}

const cell = (img: RawImage, col: number, row: number, pad: number): RawImage => gridCell(img, col, row, pad, S);

function maxDiff(a: { data: Uint8Array }, b: { data: Uint8Array }): number {
  assert.equal(a.data.length, b.data.length);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

const generated = (kind: 'uncond' | 'cond', seed: number) => decodeImage(FIX(`generate_${kind}/seed${String(seed).padStart(4, '0')}.png`));

/** Our own synthesis of w [N, L, D] (stored noise), quantised as generate.py, one image each. */
function ours(file: string, w: (G: ReturnType<typeof loadNetworkGenerator>['style']) => torch.Tensor): RawImage[] {
  const net = loadNetworkGenerator(file);
  try {
    return torch.scope(() => {
      const ws = w(net.style);
      return Array.from({ length: ws.size(0) }, (_, i) => {
        const b = generatePyBytes(torch.noGrad(() => net.style.synthesis(ws.narrow(0, i, 1), 'const')));
        return { data: b.data, width: S, height: S, channels: 3 };
      });
    });
  } finally {
    net.dispose();
  }
}

test('interpolate --network: the ends are generate.py\'s images for the seeds; the middle of a w walk is our synthesis of the mean w', async () => {
  const dir = tempDir('gf-netfig-');
  for (const space of ['z', 'w']) {
    const out = join(dir, `walk-${space}.png`);
    const msg = ok(['interpolate', '--network', UNCOND, '--seeds', '0,85', '--steps', '4', '--trunc', '0.7', '--space', space, '--out', out]);
    assert.match(msg, /a 1 × 5 strip/);
    const img = await decodeImage(out);
    assert.deepEqual([img.width, img.height], [5 * (S + 2) + 2, S + 4]);
    // Frames are drawn in a batch, generate.py one at a time: a level of rounding at most.
    assert.ok(maxDiff(cell(img, 0, 0, 2), await generated('uncond', 0)) <= 1, `${space}: seed 0 starts the walk`);
    assert.ok(maxDiff(cell(img, 4, 0, 2), await generated('uncond', 85)) <= 1, `${space}: seed 85 ends it`);
    if (space === 'w') {
      const [mid] = ours(UNCOND, (G) => {
        const w = torch.noGrad(() => G.mapping(numpySeedLatents([0, 85], [G.zDim]), null, 0.7, null));
        return w.narrow(0, 0, 1).add(w.narrow(0, 1, 1)).mul(0.5);
      });
      assert.ok(maxDiff(cell(img, 2, 0, 2), mid!) <= 1, 'the middle frame is the synthesis of the average of the two w');
    }
  }
});

test('mix --network: headers are generate.py\'s images, cells our synthesis of the mixed w; a conditional network takes --class', async () => {
  const dir = tempDir('gf-netfig-');
  const out = join(dir, 'mix.png');
  const msg = ok(['mix', '--network', UNCOND, '--rows', '0,85', '--cols', '2147483655,4294967295', '--styles', '0-1', '--trunc', '0.7', '--out', out]);
  assert.match(msg, /a 2 × 2 style mix \(layers 0-1 of 6 from the columns, ψ 0\.7 on 6 layers\)/);
  const img = await decodeImage(out);
  assert.deepEqual([img.width, img.height], [3 * S, 3 * S]);
  const rows = [0, 85], cols = [2147483655, 4294967295];
  for (const [i, s] of cols.entries()) assert.ok(maxDiff(cell(img, i + 1, 0, 0), await generated('uncond', s)) <= 1, `column ${s}`);
  for (const [i, s] of rows.entries()) assert.ok(maxDiff(cell(img, 0, i + 1, 0), await generated('uncond', s)) <= 1, `row ${s}`);
  const cells = ours(UNCOND, (G) => torch.noGrad(() => {
    const w = (seeds: number[]) => G.mapping(numpySeedLatents(seeds, [G.zDim]), null, 0.7, null);
    return mixGrid(w(rows), w(cols), styleRange('0-1', G.numWs));
  }));
  for (let k = 0; k < 4; k++) assert.ok(maxDiff(cell(img, 1 + (k % 2), 1 + Math.floor(k / 2), 0), cells[k]!) <= 1, `cell ${k}`);

  const cond = join(dir, 'cond.png');
  ok(['mix', '--network', FIX('snapshot_cond_p4.pkl'), '--class', '1', '--rows', '0', '--cols', '85', '--trunc', '0.7', '--out', cond]);
  const c = await decodeImage(cond);
  assert.ok(maxDiff(cell(c, 1, 0, 0), await generated('cond', 85)) <= 1, 'class 1, seed 85');
  assert.ok(maxDiff(cell(c, 0, 1, 0), await generated('cond', 0)) <= 1, 'class 1, seed 0');
});

test('w files in interpolate --w and mix --rows_w/--cols_w: the stops and headers are the files\' w', async () => {
  const dir = tempDir('gf-netfig-');
  const files = torch.scope(() => {
    const net = loadNetworkGenerator(UNCOND);
    try {
      const w = torch.noGrad(() => net.style.mapping(numpySeedLatents([0, 85, 2147483655], [net.style.zDim]), null, 0.7, null));
      return [0, 1, 2].map((i) => {
        const f = join(dir, `w${i}.safetensors`);
        saveSafetensors(f, { w: w.narrow(0, i, 1).contiguous() });
        return f;
      });
    } finally {
      net.dispose();
    }
  });
  const walk = join(dir, 'walk.png');
  assert.match(ok(['interpolate', '--network', UNCOND, '--w', `${files[0]},${files[1]},${files[2]}`, '--steps', '2', '--out', walk]), /a 2 × 3 strip \(w, 3 w from /);
  const img = await decodeImage(walk);
  assert.ok(maxDiff(cell(img, 0, 0, 2), await generated('uncond', 0)) <= 1);
  assert.ok(maxDiff(cell(img, 2, 0, 2), await generated('uncond', 85)) <= 1);
  assert.ok(maxDiff(cell(img, 2, 1, 2), await generated('uncond', 2147483655)) <= 1);

  const mix = join(dir, 'mix.png');
  ok(['mix', '--network', UNCOND, '--rows_w', files[0]!, '--cols', '85', '--trunc', '0.7', '--out', mix]);
  const m = await decodeImage(mix);
  assert.ok(maxDiff(cell(m, 0, 1, 0), await generated('uncond', 0)) <= 1, 'the row from the file');
  assert.ok(maxDiff(cell(m, 1, 0, 0), await generated('uncond', 85)) <= 1, 'the column from its seed');

  mistake(['interpolate', '--network', UNCOND, '--w', files[0]!, '--out', join(dir, 'one.png')], /--w: .* holds one w; a walk needs at least two/);
  mistake(['interpolate', '--network', UNCOND, '--w', files[0]!, '--seeds', '1,2', '--out', join(dir, 'x.png')], /--seeds and --w each give the stops/);
  mistake(['interpolate', '--network', UNCOND, '--seeds', '1,2'], /interpolate --network needs --out FILE/);
  mistake(['mix', '--network', UNCOND, '--rows_w', files[0]!, '--cols_w', files[1]!, '--trunc', '0.5', '--out', join(dir, 'y.png')], /--truncation_psi applies to w drawn from seeds/);
  mistake(['mix', '--network', UNCOND, '--run', dir, '--rows', '1', '--cols', '2', '--out', join(dir, 'z.png')], /--run and --network each name a generator/);
  mistake(['mix', '--network', FIX('snapshot_cond_p4.pkl'), '--class', '3', '--rows', '1', '--cols', '2', '--out', join(dir, 'c.png')], /--class 3: .* has classes 0 to 2/);
});
