// `ganforge mix --run DIR --rows 1,2,3 --cols 4,5,6 --styles coarse`: the style-mixing
// figure of the StyleGAN paper (Karras et al. 2019, Figure 3; generate_figures.py's
// draw_style_mixing_figure): the column seeds' images across the top (source B), the row
// seeds' images down the side (source A), and in cell (r, c) the synthesis of row r's w
// with the layers of the style range taken from column c's w.
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { gridFromBytes, tensorToImages, writeImage } from '../data/index.js';
import { formatOf } from '../data/image.js';
import { loadRun, readRunOptions } from '../families/load.js';
import type { StyleAccess } from '../train/recipe.js';
import {
  RUN_OPTIONS, TRUNCATION_OPTIONS, classIndex, disposeRun, parseSeeds, checkOutputImage, rejectTranslationRun,
  renderDlatents, seedLatents, seedsTag, truncationOf,
} from './latents.js';

/** The paper's style ranges, by synthesis layer (two per resolution: 4² is layers 0–1). */
export const STYLE_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  coarse: [0, 3], // 4²–8²: pose, general hair style, face shape, eyeglasses
  middle: [4, 7], // 16²–32²: facial features, hair style, eyes open/closed
  fine: [8, Infinity], // 64² and up: colour scheme, microstructure
};

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  rows: { type: 'string', default: null, help: 'seeds of the rows: source A, whose w the cells keep outside the style range', metavar: 'SEEDS' },
  cols: { type: 'string', default: null, help: 'seeds of the columns: source B, whose styles the cells copy', metavar: 'SEEDS' },
  styles: { type: 'string', default: 'coarse', help: 'layers copied from the column: coarse (0-3, 4²-8²), middle (4-7, 16²-32²), fine (8 and up, 64² and up) or a range A-B of layers, inclusive', metavar: 'coarse|middle|fine|A-B' },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: 0)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  out: { type: 'string', default: null, help: 'image file, .png/.jpg/.webp (default: <run>/samples/mix-<styles>-rows<seeds>-cols<seeds>.png)', metavar: 'FILE' },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const MIX_HELP = `Usage: ganforge mix --run DIR --rows SEEDS --cols SEEDS [--styles coarse|middle|fine|A-B] [options]

Style mixing, as in Figure 3 of the StyleGAN paper (style-based models only). The grid
has one column per --cols seed, with that seed's image in the top row (source B), and
one row per --rows seed, with its image in the left column (source A); the top-left
cell is blank. Cell (r, c) is row r's w with the layers of --styles replaced by column
c's w. Ranges are clipped to the model's layers; one that holds none is an error. A
seed's latent is the one 'ganforge sample --seed S --n 1' draws; every image is drawn
with the same noise maps. The images are laid out without padding.

Options:
${formatOptions(SCHEMA)}
`;

/** --styles as an inclusive layer range (before clipping; `fine` ends at Infinity). */
export function parseStyles(spec: string): [number, number] {
  const named = STYLE_RANGES[spec];
  if (named) return [named[0], named[1]];
  const m = /^(\d+)(?:-(\d+))?$/.exec(spec);
  if (!m) throw new UsageError(`--styles must be coarse, middle, fine or a layer range A-B such as 0-3; got '${spec}'`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new UsageError(`--styles ${spec}: the range runs backwards`);
  return [a, b];
}

/** --styles as an inclusive layer range clipped to the model's layers; an empty one is an error. */
export function styleRange(spec: string, numLayers: number): [number, number] {
  const [a, b] = parseStyles(spec);
  const hi = Math.min(b, numLayers - 1);
  if (a > hi) {
    throw new UsageError(`--styles ${spec} (layers ${a}-${b === Infinity ? 'end' : b}) holds no layer of this model, which has ${numLayers} (0-${numLayers - 1}, up to ${2 ** (numLayers / 2 + 1)}²)`);
  }
  return [a, hi];
}

/**
 * The mixed dlatents of the grid, row-major [R·C, L, D]: cell (r, c) = wRows[r] with the
 * layers a..b (inclusive) taken from wCols[c].
 */
export function mixGrid(wRows: torch.Tensor, wCols: torch.Tensor, range: readonly [number, number]): torch.Tensor {
  return torch.scope(() => {
    const [R, L, D] = wRows.shape;
    const C = wCols.size(0);
    const layer = torch.arange(L, undefined, 1, { device: wRows.device });
    const mask = layer.ge(range[0]).logicalAnd(layer.le(range[1])).reshape(1, 1, L, 1);
    const rows = wRows.unsqueeze(1).expand(R, C, L, D);
    const cols = wCols.unsqueeze(0).expand(R, C, L, D);
    return torch.where(mask, cols, rows).reshape(R * C, L, D);
  });
}

export async function mixCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'mix', MIX_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (!o.run) throw new UsageError('mix needs --run DIR (a folder written by ganforge train --model stylegan)');
  if (!o.rows || !o.cols) throw new UsageError('mix needs --rows SEEDS and --cols SEEDS (e.g. --rows 1,2,3 --cols 4,5,6)');
  const rowSeeds = parseSeeds(o.rows, 'rows', { min: 1, max: 64 });
  const colSeeds = parseSeeds(o.cols, 'cols', { min: 1, max: 64 });
  const spec = o.styles;
  parseStyles(spec); // a bad --styles fails before anything is loaded
  const run = o.run;
  const { def } = readRunOptions(run);
  rejectTranslationRun(def, run, 'mix');
  const out = o.out ?? join(run, 'samples', `mix-${spec}-rows${seedsTag(rowSeeds)}-cols${seedsTag(colSeeds)}.png`);
  try {
    formatOf(out);
  } catch {
    throw new UsageError(`--out ${out}: expected a .png, .jpg or .webp file name`);
  }
  checkOutputImage(out, o.force);
  const loaded = loadRun(run, { checkpoint: o.checkpoint, device: o.device });
  try {
    const style: StyleAccess | undefined = loaded.recipe.style;
    if (!style) throw new UsageError(`mix needs a style-based model (stylegan): ${run} is a ${def.name} run, whose generator has no per-layer styles to mix`);
    const range = styleRange(spec, style.numLayers);
    const trunc = truncationOf(loaded.recipe, def.name, o.truncation_psi, o.truncation_cutoff, given.has('truncation_cutoff'));
    const label = classIndex(loaded, o.class) ?? (loaded.classes ? 0 : null);
    const started = Date.now();
    const R = rowSeeds.length, C = colSeeds.length;
    const [rowImgs, colImgs, cellImgs] = torch.scope(() => {
      const dl = (seeds: number[]) => {
        const { z, labels } = seedLatents(loaded.recipe, seeds, label);
        return torch.noGrad(() => style.dlatents(z, labels, trunc.psi, trunc.cutoff));
      };
      const wRows = dl(rowSeeds), wCols = dl(colSeeds);
      return [renderDlatents(style, wRows), renderDlatents(style, wCols), renderDlatents(style, mixGrid(wRows, wCols, range))]
        .map((t) => {
          const b = tensorToImages(t);
          t.dispose();
          return b;
        });
    });
    // Row-major cells of an (R + 1) × (C + 1) grid: the blank corner, the columns' images,
    // then each row's image followed by its mixes.
    const { height: h, width: w, channels: c } = rowImgs;
    const per = h * w * c;
    const data = new Uint8Array((R + 1) * (C + 1) * per);
    data.fill(255, 0, per);
    data.set(colImgs.data, per);
    for (let r = 0; r < R; r++) {
      const at = (r + 1) * (C + 1) * per;
      data.set(rowImgs.data.subarray(r * per, (r + 1) * per), at);
      data.set(cellImgs.data.subarray(r * C * per, (r + 1) * C * per), at + per);
    }
    mkdirSync(dirname(out), { recursive: true });
    await writeImage(gridFromBytes({ data, n: (R + 1) * (C + 1), height: h, width: w, channels: c }, { nrow: C + 1, padding: 0 }), out);
    const tr = trunc.psi !== null ? `, ψ ${trunc.psi} on ${trunc.cutoff} layers` : '';
    process.stdout.write(`wrote a ${R} × ${C} style mix (layers ${range[0]}-${range[1]} of ${style.numLayers} from the columns${tr}) from ${loaded.checkpoint} to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    disposeRun(loaded);
  }
  return 0;
}
