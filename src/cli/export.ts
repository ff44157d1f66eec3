// `ganforge export --run DIR --out G.onnx [--web DIR]`: a trained run's generator as an
// ONNX model, and optionally a static playground page that runs it in the browser.
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { loadRun } from '../families/load.js';
import { RUN_OPTIONS, disposeRun } from './latents.js';
import { checkOutputPath, checkReplaceableFile, type FileKind } from '../run/output.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { ExportError, OPSET } from '../export/index.js';
import { exportRun } from './export_run.js';
import { STYLE_RANGES } from './mix.js';
import { checkPlaygroundFolder, writePlayground } from '../web/playground.js';
import { openSync, readSync, closeSync } from 'node:fs';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  out: { type: 'string', default: null, help: 'the ONNX file to write', metavar: 'FILE' },
  web: { type: 'string', default: null, help: 'write a playground folder here (index.html, the model, the onnxruntime-web runtime)', metavar: 'DIR' },
  direction: { type: 'string', default: null, choices: ['AtoB', 'BtoA'], help: "cyclegan: the generator of this direction (default: the run's own, G_A)" },
  truncation_cutoff: { type: 'int', default: null, help: 'style-based models: truncation ψ applies to the first N synthesis layers (default: all)', min: 1, metavar: 'N' },
  force: { type: 'bool', default: false, help: 'overwrite --out (an ONNX file) and --web (a playground folder) if they exist' },
});

export const EXPORT_HELP = `Usage: ganforge export --run DIR (--out G.onnx | --web DIR) [options]

Writes a trained run's generator as an ONNX model (opset ${OPSET}), the EMA weights where
the family keeps them, at the run's level of detail (pggan, stylegan). Inputs and outputs:
  dcgan, pggan      z [batch, latent] (+ labels [batch] int64 when class-conditional) → image
  biggan            z [batch, dim_z], labels [batch] int64 → image   (eval mode: spectral norm
                    folded from the stored u, the checkpoint's standing statistics)
  stylegan          z, truncation_psi [1] → image   (noise: the model's stored maps)
  stylegan2         z (+ labels [batch] int64), truncation_psi [1] → image (noise: the
                    stored noise_const maps; the non-fused modulated convolution)
  pix2pix, cyclegan image [batch, C, H, W] in [-1, 1] → translated, H and W multiples of
                    the network's stride; each image normalised by its own statistics and
                    dropout off, as 'ganforge translate' runs them
Images are NCHW float32 in [-1, 1]. The batch (and a translator's H and W) stay dynamic
when the traced graph does not depend on them; otherwise the model is fixed and the
command says why. An op with no ONNX form stops the export with its name.

--web DIR writes a static page that runs the model in the browser with onnxruntime-web
(wasm, no network): a seeded grid, interpolation, truncation and style mixing for
style-based models, a class picker for conditional ones, and a drawing canvas for
translators. Serve the folder with any static server (npx http-server DIR).

Options:
${formatOptions(SCHEMA)}
`;

/** An ONNX model: a protobuf whose first field is ir_version (tag 0x08). */
const ONNX_FILE: FileKind = {
  name: 'an ONNX model',
  test: (file) => {
    const fd = openSync(file, 'r');
    try {
      const b = Buffer.alloc(1);
      return readSync(fd, b, 0, 1, 0) === 1 && b[0] === 0x08;
    } finally {
      closeSync(fd);
    }
  },
};

export async function exportCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'export', EXPORT_HELP);
  if (!parsed) return 0;
  const { options: o } = parsed;
  if (!o.run) throw new UsageError('export needs --run DIR (a folder written by ganforge train)');
  if (!o.out && !o.web) throw new UsageError('export needs --out FILE (the ONNX model) or --web DIR (a playground folder), or both');
  if (o.out) {
    checkOutputPath(o.out, '--out', 'file');
    checkReplaceableFile(o.out, '--out', o.force, ONNX_FILE);
  }
  if (o.web) {
    checkOutputPath(o.web, '--web', 'folder');
    checkPlaygroundFolder(o.web, o.force);
  }
  const loaded = loadRun(o.run, { checkpoint: o.checkpoint });
  try {
    let result;
    try {
      result = exportRun(loaded, { direction: o.direction, truncationCutoff: o.truncation_cutoff, halves: o.web !== null });
    } catch (e) {
      if (e instanceof ExportError) throw new UsageError(`${loaded.def.name} generator: ${e.message}`);
      throw e;
    }
    const { models, info } = result;
    const G = models.G;
    const io = (vs: typeof G.inputs) => vs.map((v) => `${v.name} [${v.dims.join(', ')}]`).join(', ');
    if (G.note) process.stderr.write(`ganforge: note: ${G.note}\n`);
    if (o.out) {
      writeFileAtomicSync(o.out, G.model);
      process.stdout.write(`wrote ${o.out} (${(G.model.length / 1024).toFixed(0)} KiB, opset ${OPSET}): ${io(G.inputs)} → ${io(G.outputs)}\n`);
    }
    if (o.web) {
      const bytes = Object.fromEntries(Object.entries(models).map(([k, m]) => [info.files[k], m.model]));
      const styles = info.numLayers
        ? Object.fromEntries(Object.entries(STYLE_RANGES).map(([k, [a, b]]) => [k, a <= Math.min(b, info.numLayers! - 1) ? [a, Math.min(b, info.numLayers! - 1)] : null]))
        : undefined;
      writePlayground(o.web, bytes, { ...info, styles });
      process.stdout.write(`wrote the playground to ${o.web} (open ${join(o.web, 'index.html')} through a static server, e.g. npx http-server ${o.web})\n`);
    }
  } finally {
    disposeRun(loaded);
  }
  return 0;
}
