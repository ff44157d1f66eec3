// Sampling a BigGAN generator as the reference's sample.py and utils.py do: latents of
// standard deviation z_var (optionally truncated), a sample sheet per group of classes
// (one class per row, utils.sample_sheet), interpolation sheets between two latents
// and/or two class embeddings per row (utils.interp_sheet, fix_z / fix_y), and batches
// of images with their classes for the metric tools (sample.py's --sample_npz).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { BigGANGenerator } from '../models/biggan.js';
import type { BigGANDeepGenerator } from '../models/biggan_deep.js';

/** A generator sample.py's functions work with: BigGAN.py's or BigGANdeep.py's. */
export type ClassGenerator = BigGANGenerator | BigGANDeepGenerator;

export interface LatentOptions {
  /** Standard deviation of z (the reference's z_var, passed to normal_ as its std). */
  zVar: number;
  /** Truncation threshold: entries of the standard normal beyond ±t are redrawn (tf.truncated_normal at t); null for none. */
  truncation: number | null;
}

/** z [n, dim]: N(0, 1) entries (redrawn while beyond ±truncation), times z_var. */
export function sampleLatents(n: number, dim: number, o: LatentOptions, device: string = 'cpu'): Tensor {
  return torch.scope(() => {
    let z = torch.randn([n, dim], { device });
    if (o.truncation !== null) {
      if (!(o.truncation > 0)) throw new RangeError(`truncation must be positive, got ${o.truncation}`);
      // Each redraw keeps an entry with probability P(|x| ≤ t); 1000 rounds leave none out for t ≥ 0.01.
      for (let i = 0; i < 1000; i++) {
        const out = z.abs().gt(o.truncation);
        if (!out.any().item()) break;
        z = torch.where(out, torch.randn([n, dim], { device }), z);
      }
    }
    return o.zVar === 1 ? z : z.mul(o.zVar);
  });
}

/** G's images for latents z and class indices y, in batches of at most `batch` (no gradient). */
export function generate(G: ClassGenerator, z: Tensor, y: Tensor, batch = 64): Tensor {
  return torch.noGrad(() => torch.scope(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < z.shape[0]; i += batch) {
      const n = Math.min(batch, z.shape[0] - i);
      parts.push(G.generate(z.slice(0, i, i + n), y.slice(0, i, i + n)));
    }
    return parts.length === 1 ? parts[0] : torch.cat(parts, 0);
  }));
}

/**
 * One sample sheet: `classes.length` rows, one per class, of `perClass` images; each
 * column draws a fresh latent for every row (utils.sample_sheet). Returns the images
 * row by row (a grid of `perClass` columns).
 */
export function sampleSheet(G: ClassGenerator, classes: number[], perClass: number, o: LatentOptions): Tensor {
  return torch.noGrad(() => torch.scope(() => {
    const device = G.linear.parameters()[0].device;
    const y = torch.tensor(classes, { dtype: 'int64', device });
    const cols: Tensor[] = [];
    for (let j = 0; j < perClass; j++) cols.push(G.generate(sampleLatents(classes.length, G.dimZ, o, device), y));
    // [classes, perClass, C, H, W] → rows of one class.
    const s = torch.stack(cols, 1);
    return s.reshape([-1, ...s.shape.slice(2)]);
  }));
}

/** Rows from a to b in num_midpoints + 2 evenly spaced steps (utils.interp): a, b [rows, d] → [rows·(m+2), d]. */
export function interp(a: Tensor, b: Tensor, numMidpoints: number): Tensor {
  return torch.scope(() => {
    const w = torch.linspace(0, 1, numMidpoints + 2, { dtype: a.dtype, device: a.device }).view(1, -1, 1);
    const x = a.unsqueeze(1).mul(w.rsub(1)).add(b.unsqueeze(1).mul(w));
    return x.reshape([-1, a.shape[1]]);
  });
}

export interface InterpOptions extends LatentOptions {
  rows: number;
  numMidpoints: number;
  numClasses: number;
  /** One latent per row (only the class moves). */
  fixZ: boolean;
  /** One class per row (only the latent moves). */
  fixY: boolean;
}

/**
 * An interpolation sheet (utils.interp_sheet): each row walks between two latents and/or
 * two class embeddings (through G.shared) in num_midpoints + 2 steps. Needs G's shared
 * embedding unless the class is fixed.
 */
export function interpSheet(G: ClassGenerator, o: InterpOptions): Tensor {
  return torch.noGrad(() => torch.scope(() => {
    const device = G.linear.parameters()[0].device;
    const steps = o.numMidpoints + 2;
    const repeatRows = (t: Tensor) => t.unsqueeze(1).expand(t.shape[0], steps, t.shape[1]).reshape([-1, t.shape[1]]);
    const zs = o.fixZ ? repeatRows(sampleLatents(o.rows, G.dimZ, o, device))
      : interp(sampleLatents(o.rows, G.dimZ, o, device), sampleLatents(o.rows, G.dimZ, o, device), o.numMidpoints);
    const classes = () => torch.randint(0, o.numClasses, [o.rows], { dtype: 'int64', device });
    let ys: Tensor;
    if (o.fixY) ys = repeatRows(G.shared.forward(classes()));
    else {
      if (!G.cfg.G_shared) throw new Error('interpolating between classes needs a generator with a shared embedding (G_shared): use fixed classes');
      ys = interp(G.shared.forward(classes()), G.shared.forward(classes()), o.numMidpoints);
    }
    return G.forward(zs, ys);
  }));
}
