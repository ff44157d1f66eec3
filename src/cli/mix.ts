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
import { gridFromBytes, writeImage, type ImageBytes } from '../data/index.js';
import { formatOf } from '../data/image.js';
import { RUN_OPTIONS, TRUNCATION_OPTIONS, parseSeeds, checkOutputImage, seedsTag } from './latents.js';
import { openStyleSource, readWAgainst, splitFiles, synthesizeW } from './style_source.js';

/** The paper's style ranges, by synthesis layer (two per resolution: 4² is layers 0–1). */
export const STYLE_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  coarse: [0, 3], // 4²–8²: pose, general hair style, face shape, eyeglasses
  middle: [4, 7], // 16²–32²: facial features, hair style, eyes open/closed
  fine: [8, Infinity], // 64² and up: colour scheme, microstructure
};

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  network: { type: 'string', default: null, help: "an NVIDIA network pickle instead of --run (its G_ema; seeds drawn with numpy's RandomState, as generate.py)", metavar: 'PKL' },
  rows: { type: 'string', default: null, help: 'seeds of the rows: source A, whose w the cells keep outside the style range', metavar: 'SEEDS' },
  cols: { type: 'string', default: null, help: 'seeds of the columns: source B, whose styles the cells copy', metavar: 'SEEDS' },
  rows_w: { type: 'string', default: null, help: "the rows' w from files instead of seeds (ganforge project's projected_w.safetensors, ...): every w of each file, in order", metavar: 'FILES' },
  cols_w: { type: 'string', default: null, help: "the columns' w from files instead of seeds", metavar: 'FILES' },
  styles: { type: 'string', default: 'coarse', help: 'layers copied from the column: coarse (0-3, 4²-8²), middle (4-7, 16²-32²), fine (8 and up, 64² and up) or a range A-B of layers, inclusive', metavar: 'coarse|middle|fine|A-B' },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: 0)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  out: { type: 'string', default: null, help: 'image file, .png/.jpg/.webp (default: <run>/samples/mix-<styles>-rows<seeds>-cols<seeds>.png)', metavar: 'FILE' },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const MIX_HELP = `Usage: ganforge mix --run DIR --rows SEEDS --cols SEEDS [--styles coarse|middle|fine|A-B] [options]
       ganforge mix --network X.pkl --rows SEEDS|--rows_w FILES --cols SEEDS|--cols_w FILES --out FILE

Style mixing, as in Figure 3 of the StyleGAN paper (style-based models only). The grid
has one column per --cols seed, with that seed's image in the top row (source B), and
one row per --rows seed, with its image in the left column (source A); the top-left
cell is blank. Cell (r, c) is row r's w with the layers of --styles replaced by column
c's w. Ranges are clipped to the model's layers; one that holds none is an error. A
seed's latent is the one 'ganforge sample --seed S --n 1' draws (with --network, the one
'ganforge sample --network X.pkl --seeds S' draws, as generate.py); every image is drawn
with the generator's stored noise maps. Rows or columns may come from w files instead
(--rows_w, --cols_w: projections, say), used as they are (no truncation). The images are
laid out without padding.

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
  if (!o.run && !o.network) throw new UsageError('mix needs --run DIR (a folder written by ganforge train --model stylegan) or --network X.pkl');
  const side = (seeds: string | null, files: string | null, name: 'rows' | 'cols'): { seeds: number[] | null; files: string[] | null } => {
    if (seeds !== null && files !== null) throw new UsageError(`--${name} and --${name}_w each give the ${name}: give one or the other`);
    if (files !== null) return { seeds: null, files: splitFiles(files, `${name}_w`) };
    if (seeds === null) throw new UsageError('mix needs --rows SEEDS and --cols SEEDS (e.g. --rows 1,2,3 --cols 4,5,6), or w files with --rows_w/--cols_w');
    return { seeds: parseSeeds(seeds, name, { min: 1, max: 64 }), files: null };
  };
  const rows = side(o.rows, o.rows_w, 'rows');
  const cols = side(o.cols, o.cols_w, 'cols');
  if ((rows.files || cols.files) && (given.has('truncation_psi') || given.has('truncation_cutoff')) && !(rows.seeds || cols.seeds)) {
    throw new UsageError('--truncation_psi applies to w drawn from seeds; w files are used as they are');
  }
  const spec = o.styles;
  parseStyles(spec); // a bad --styles fails before anything is loaded
  const tag = (s: { seeds: number[] | null; files: string[] | null }) => (s.seeds ? seedsTag(s.seeds) : `w${s.files!.length}`);
  if (o.out === null && o.network !== null) throw new UsageError('mix --network needs --out FILE');
  const out = o.out ?? join(o.run!, 'samples', `mix-${spec}-rows${tag(rows)}-cols${tag(cols)}.png`);
  try {
    formatOf(out);
  } catch {
    throw new UsageError(`--out ${out}: expected a .png, .jpg or .webp file name`);
  }
  checkOutputImage(out, o.force);
  const src = openStyleSource(o, 'mix', given, (def, run) => `mix needs a style-based model (stylegan): ${run} is a ${def.name} run, whose generator has no per-layer styles to mix`);
  try {
    const G = src.G;
    const range = styleRange(spec, G.numWs);
    const cls = src.classOf(o.class);
    const started = Date.now();
    const { rowImgs, colImgs, cellImgs, R, C } = torch.scope(() => {
      const wOf = (s: { seeds: number[] | null; files: string[] | null }, option: string) => s.seeds
        ? torch.noGrad(() => G.mapping(src.seedZ(s.seeds!), cls, o.truncation_psi, o.truncation_cutoff))
        : torch.cat(s.files!.map((f) => readWAgainst(src, f, option).w));
      const wRows = wOf(rows, '--rows_w'), wCols = wOf(cols, '--cols_w');
      const [rowImgs, colImgs, cellImgs] = [wRows, wCols, mixGrid(wRows, wCols, range)].map((w) => src.toBytes(synthesizeW(G, w))) as [ImageBytes, ImageBytes, ImageBytes];
      return { rowImgs, colImgs, cellImgs, R: wRows.size(0), C: wCols.size(0) };
    });
    if (R > 64 || C > 64) throw new UsageError(`at most 64 rows and 64 columns, got ${R} × ${C}`);
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
    const tr = o.truncation_psi !== 1 && (rows.seeds || cols.seeds) ? `, ψ ${o.truncation_psi} on ${Math.min(o.truncation_cutoff ?? G.numWs, G.numWs)} layers` : '';
    process.stdout.write(`wrote a ${R} × ${C} style mix (layers ${range[0]}-${range[1]} of ${G.numWs} from the columns${tr}) from ${src.name} to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    src.dispose();
  }
  return 0;
}
