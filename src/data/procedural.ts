// Built-in procedural datasets: the demo's data and the tests' data, so nothing ever
// needs a download. Every image is a pure function of (seed, index): scenes of one to
// three circles, squares and triangles on a coloured ground, rendered from signed
// distance functions straight into uint8 buffers. Edge pixels are supersampled so the
// shapes are anti-aliased like real photographs of flat things, not jagged masks.
//   shapes          filled scenes; label = the main (largest, topmost) shape
//   shapes-pairs    A = black outline drawing on white, B = the filled scene (pix2pix)
//   shapes-domains  A = scenes of circles, B = scenes of squares, same colours (CycleGAN)

import { type Direction, orient } from './direction.js';
import { DataError, checkResolution } from './errors.js';
import { type Channels, type RawImage, cropImage, flipImage, toChannels } from './image.js';
import { Rng, mixSeed } from './rng.js';
import type { Sample, Sampler } from './sampler.js';

export const BUILTIN_SETS = ['shapes', 'shapes-pairs', 'shapes-domains'] as const;
export type BuiltinSet = (typeof BUILTIN_SETS)[number];
export const SHAPE_CLASSES: readonly string[] = ['circle', 'square', 'triangle'];
export const CIRCLE = 0;
export const SQUARE = 1;
export const TRIANGLE = 2;
export type ShapeKind = 0 | 1 | 2;

/** Default lengths: `shapes` feeds kimg-based training, the pair sets epoch-based recipes. */
export const DEFAULT_COUNT: Record<BuiltinSet, number> = { shapes: 10000, 'shapes-pairs': 1000, 'shapes-domains': 1000 };

export function isBuiltinSet(name: string): name is BuiltinSet {
  return (BUILTIN_SETS as readonly string[]).includes(name);
}

type RGB = [number, number, number];

export interface Shape {
  kind: ShapeKind;
  cx: number;
  cy: number;
  /** Size in units of the image side: a circle's radius; others have about its area. */
  r: number;
  angle: number;
  color: RGB;
}

export interface Scene {
  background: RGB;
  /** Bottom to top; the last one is the main shape. */
  shapes: Shape[];
  label: ShapeKind;
}

function hsv(h: number, s: number, v: number): RGB {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

function distance(a: RGB, b: RGB): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

// Shapes must stand out from the ground, or the class would be invisible.
function shapeColor(rng: Rng, bg: RGB): RGB {
  let c = hsv(rng.float(), rng.uniform(0.45, 1), rng.uniform(0.45, 1));
  for (let k = 0; k < 20 && distance(c, bg) < 110; k++) c = hsv(rng.float(), rng.uniform(0.45, 1), rng.uniform(0.45, 1));
  return c;
}

function makeShape(rng: Rng, kind: ShapeKind, rMin: number, rMax: number, bg: RGB): Shape {
  const r = rng.uniform(rMin, rMax);
  const margin = r * 1.1;
  return {
    kind,
    cx: rng.uniform(margin, 1 - margin),
    cy: rng.uniform(margin, 1 - margin),
    r,
    angle: rng.uniform(0, 2 * Math.PI),
    color: shapeColor(rng, bg),
  };
}

/**
 * The scene for `index` in `stream` (0: shapes and shapes-pairs, 1 and 2: the two
 * domains); with `only`, every shape is of that kind.
 */
export function makeScene(seed: number, stream: number, index: number, only?: ShapeKind): Scene {
  const rng = new Rng(mixSeed(seed, stream, index));
  const pick = (): ShapeKind => (only ?? rng.int(3)) as ShapeKind;
  const background = hsv(rng.float(), rng.uniform(0.15, 0.6), rng.uniform(0.2, 0.95));
  const n = 1 + rng.int(3);
  const main = pick();
  const shapes: Shape[] = [];
  for (let i = 1; i < n; i++) shapes.push(makeShape(rng, pick(), 0.07, 0.14, background));
  shapes.push(makeShape(rng, main, 0.2, 0.3, background));
  return { background, shapes, label: main };
}

const SQRT3 = Math.sqrt(3);

/** Signed distance from (x, y) to the shape's boundary: negative inside. */
function sdf(s: Shape, x: number, y: number): number {
  const dx = x - s.cx;
  const dy = y - s.cy;
  if (s.kind === CIRCLE) return Math.hypot(dx, dy) - s.r;
  const c = Math.cos(s.angle);
  const sn = Math.sin(s.angle);
  let px = dx * c + dy * sn;
  let py = -dx * sn + dy * c;
  if (s.kind === SQUARE) {
    const h = s.r * 0.886; // same area as the circle of radius r
    const qx = Math.abs(px) - h;
    const qy = Math.abs(py) - h;
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0);
  }
  // Equilateral triangle centred on its centroid (Inigo Quilez's exact distance).
  const a = s.r * 1.2;
  px = Math.abs(px) - a;
  py = py + a / SQRT3;
  if (px + SQRT3 * py > 0) [px, py] = [(px - SQRT3 * py) / 2, (-SQRT3 * px - py) / 2];
  px -= Math.min(Math.max(px, -2 * a), 0);
  return -Math.hypot(px, py) * Math.sign(py);
}

/**
 * Renders with one sample per pixel where nothing changes within the pixel (every
 * boundary is farther than half its diagonal; the distances are exact, so that is
 * sound) and `ss` x `ss` samples elsewhere.
 */
function render(res: number, classify: (x: number, y: number, d: Float64Array) => RGB, near: (d: Float64Array, halfDiag: number) => boolean, nShapes: number, shapes: Shape[]): RawImage {
  const out = new Uint8Array(res * res * 3);
  const ss = res <= 64 ? 4 : 3;
  const px = 1 / res;
  const halfDiag = px * 0.7072;
  const d = new Float64Array(nShapes);
  const acc = [0, 0, 0];
  for (let j = 0; j < res; j++) {
    for (let i = 0; i < res; i++) {
      const cx = (i + 0.5) * px;
      const cy = (j + 0.5) * px;
      for (let k = 0; k < nShapes; k++) d[k] = sdf(shapes[k], cx, cy);
      const o = (j * res + i) * 3;
      if (!near(d, halfDiag)) {
        const c = classify(cx, cy, d);
        out[o] = c[0];
        out[o + 1] = c[1];
        out[o + 2] = c[2];
        continue;
      }
      acc[0] = acc[1] = acc[2] = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const x = (i + (sx + 0.5) / ss) * px;
          const y = (j + (sy + 0.5) / ss) * px;
          for (let k = 0; k < nShapes; k++) d[k] = sdf(shapes[k], x, y);
          const c = classify(x, y, d);
          acc[0] += c[0];
          acc[1] += c[1];
          acc[2] += c[2];
        }
      }
      const n = ss * ss;
      out[o] = Math.round(acc[0] / n);
      out[o + 1] = Math.round(acc[1] / n);
      out[o + 2] = Math.round(acc[2] / n);
    }
  }
  return { data: out, width: res, height: res, channels: 3 };
}

/** The scene with filled shapes (topmost wins). */
export function renderFilled(scene: Scene, res: number): RawImage {
  const shapes = scene.shapes;
  const n = shapes.length;
  return render(
    res,
    (_x, _y, d) => {
      for (let k = n - 1; k >= 0; k--) if (d[k] < 0) return shapes[k].color;
      return scene.background;
    },
    (d, h) => {
      for (let k = 0; k < n; k++) if (Math.abs(d[k]) <= h) return true;
      return false;
    },
    n,
    shapes,
  );
}

const BLACK: RGB = [0, 0, 0];
const WHITE: RGB = [255, 255, 255];

/** The visible outlines of the scene, black on white, like an edge map (edges2shoes). */
export function renderOutline(scene: Scene, res: number): RawImage {
  const shapes = scene.shapes;
  const n = shapes.length;
  const half = Math.max(1.5, res / 96) / res / 2;
  return render(
    res,
    (_x, _y, d) => {
      // The topmost shape whose thickened outline reaches this point decides: on its
      // line, or inside it (which hides everything below).
      for (let k = n - 1; k >= 0; k--) if (d[k] < half) return d[k] > -half ? BLACK : WHITE;
      return WHITE;
    },
    (d, h) => {
      for (let k = 0; k < n; k++) if (Math.abs(d[k] - half) <= h || Math.abs(d[k] + half) <= h) return true;
      return false;
    },
    n,
    shapes,
  );
}

export interface ProceduralSpec {
  kind: BuiltinSet;
  /** Seed of the images' content (not of the loader's shuffling and flips). */
  seed: number;
  resolution: number;
  /** A non-square size: scenes are rendered at its longer side and centre-cropped to it. */
  shape?: { width: number; height: number };
  count: number;
  /** Channels of a (the model's input) and of b (its target, pair sets only). */
  inputNc: Channels;
  outputNc: Channels;
  labels: boolean;
  noFlip: boolean;
  direction: Direction;
  serialBatches: boolean;
}

export function checkProcedural(spec: ProceduralSpec): ProceduralSpec {
  checkResolution(spec.resolution, `built-in set ${spec.kind}: resolution`, 8, 256);
  if (spec.shape) checkResolution(Math.max(spec.shape.width, spec.shape.height), `built-in set ${spec.kind}: longer side`, 8, 256);
  if (!Number.isInteger(spec.count) || spec.count < 1) throw new DataError(`built-in set ${spec.kind}: count ${spec.count} is not valid: expected a positive whole number`);
  if (spec.labels && spec.kind !== 'shapes') throw new DataError(`built-in set ${spec.kind} has no class labels: only 'shapes' is class-conditional`);
  return spec;
}

export function proceduralSampler(spec: ProceduralSpec): Sampler {
  const shape = spec.shape;
  const res = shape ? Math.max(shape.width, shape.height) : spec.resolution;
  // Rendered square, then the middle of it at the asked shape.
  const fit = (img: RawImage): RawImage => (shape ? cropImage(img, (res - shape.width) >> 1, (res - shape.height) >> 1, shape.width, shape.height) : img);
  const filled = (scene: Scene): RawImage => fit(renderFilled(scene, res));
  const outline = (scene: Scene): RawImage => fit(renderOutline(scene, res));
  const flip = (img: RawImage, rng: Rng): RawImage => (!spec.noFlip && rng.float() > 0.5 ? flipImage(img) : img);
  const name = (stream: string, i: number): string => `${spec.kind}${stream}#${i}`;
  return {
    length: spec.count,
    async load(index: number, seed: number): Promise<Sample> {
      const rng = new Rng(seed);
      if (spec.kind === 'shapes') {
        const scene = makeScene(spec.seed, 0, index);
        const a = toChannels(flip(filled(scene), rng), spec.inputNc);
        return { a, b: null, label: spec.labels ? scene.label : -1, pathA: name('', index), pathB: null };
      }
      if (spec.kind === 'shapes-pairs') {
        const scene = makeScene(spec.seed, 0, index);
        const doFlip = !spec.noFlip && rng.float() > 0.5;
        const f = (img: RawImage): RawImage => (doFlip ? flipImage(img) : img);
        const [A, B] = orient(spec.direction, outline(scene), filled(scene));
        return { a: toChannels(f(A), spec.inputNc), b: toChannels(f(B), spec.outputNc), label: -1, pathA: name('', index), pathB: name('', index) };
      }
      const iB = spec.serialBatches ? index % spec.count : rng.int(spec.count);
      const A = flip(filled(makeScene(spec.seed, 1, index, CIRCLE)), rng);
      const B = flip(filled(makeScene(spec.seed, 2, iB, SQUARE)), rng);
      const [a, b] = orient(spec.direction, A, B);
      const [pa, pb] = orient(spec.direction, name('A', index), name('B', iB));
      return { a: toChannels(a, spec.inputNc), b: toChannels(b, spec.outputNc), label: -1, pathA: pa, pathB: pb };
    },
  };
}
