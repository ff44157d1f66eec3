// What a trained run exports: the generator sampling uses (the EMA copy where the family
// keeps one) with the inputs a user feeds it. Image families: `z` (+ `labels`) → `image`;
// style-based: `z`, `truncation_psi` → `image`, and for the playground its mapping
// (z, ψ → w) and synthesis (w → image) apart, for style mixing; translation: `image` →
// `translated` as `translate` runs it (each image normalised by its own statistics, dropout off).
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import { exportModel, type ExportSpec, type Exported, type Sizes } from '../export/index.js';
import { UsageError } from '../config/errors.js';
import { optionsView } from '../config/options.js';
import { TRANSLATION_DATA_SCHEMA } from '../train/options.js';
import type { LoadedRun } from '../families/load.js';
import type { Generator } from '../families/translation/networks.js';

/** What the playground needs to know of an exported model (written as model.json). */
export interface ModelInfo {
  family: string;
  kind: 'image' | 'style' | 'translation';
  /** Output image size (its width) and channels. */
  resolution: number;
  /** The output height when it is not `resolution` (a non-square model, --resolution WxH). */
  height?: number;
  channels: number;
  /** Latent size (image and style kinds). */
  latent?: number;
  classes?: string[] | null;
  /** Style-based: synthesis layers and w's width. */
  numLayers?: number;
  dlatent?: number;
  /** Translation: input channels and the stride every side must be a multiple of. */
  inputChannels?: number;
  stride?: number;
  dynamic: string[];
  /** The batch the model is fixed at, or null when it is dynamic. */
  batch: number | null;
  note: string | null;
  checkpoint: string;
  /** ONNX files of the folder: the generator, and the style-based model's two halves. */
  files: Record<string, string>;
}

export interface RunExport {
  models: Record<string, Exported>;
  info: ModelInfo;
}

export interface RunExportOptions {
  /** cyclegan: the generator of this direction (default the run's own). */
  direction?: string | null;
  /** The truncation cutoff baked into the style-based graph (default every layer). */
  truncationCutoff?: number | null;
  /** Also export the two halves of a style-based generator. */
  halves?: boolean;
}

const BATCH = 2;

function latentsOf(loaded: LoadedRun): { dims: number[] } {
  return torch.scope(() => {
    const z = loaded.recipe.sampleInputs(1, loaded.classes ? [0] : null).z;
    if (!z) throw new Error('internal: this recipe draws no latents');
    return { dims: z.shape.slice(1) };
  });
}

function zInput(dims: number[]) {
  return { name: 'z', make: (s: Sizes) => torch.randn([s.batch, ...dims]), axes: ['batch' as const, ...dims.map(() => null)] };
}

function labelsInput(k: number) {
  return { name: 'labels', make: (s: Sizes) => torch.arange(0, s.batch, 1, { dtype: 'int64' }).remainder(k), axes: ['batch' as const] };
}

const psiInput = { name: 'truncation_psi', make: () => torch.tensor([0.7]), axes: [null] };

function meta(loaded: LoadedRun, what: string): Record<string, string> {
  return { 'ganforge.family': loaded.def.name, 'ganforge.checkpoint': loaded.checkpoint, 'ganforge.model': what };
}

export function exportRun(loaded: LoadedRun, o: RunExportOptions = {}): RunExport {
  const data = loaded.def.data ?? 'image';
  if (data === 'aligned' || data === 'unaligned') return exportTranslation(loaded, o);
  if (o.direction) throw new UsageError(`--direction applies to cyclegan runs; ${loaded.def.name} has one generator`);
  const nets = loaded.recipe.networks();
  const G = nets.G_ema ?? nets.G;
  const { dims } = latentsOf(loaded);
  const k = loaded.classes?.length ?? 0;
  const inputs = [zInput(dims), ...(k > 0 ? [labelsInput(k)] : [])];
  const size: Sizes = { batch: BATCH, height: 0, width: 0 };
  const style = loaded.recipe.style;
  if (o.truncationCutoff != null && !style) throw new UsageError(`--truncation_cutoff applies to style-based models (stylegan, stylegan2); a ${loaded.def.name} generator has no synthesis layers to cut off`);
  const files: Record<string, string> = { G: 'G.onnx' };
  let models: Record<string, Exported>;
  if (style) {
    const L = style.numLayers;
    const cutoff = Math.min(o.truncationCutoff ?? L, L);
    // ψ is an input, so truncation happens in the graph: w ← avg + (w − avg)·ψ on the
    // layers below the cutoff (the others keep ψ = 1).
    const truncate = (w: torch.Tensor, psi: torch.Tensor) => torch.scope(() => {
      const avg = style.dlatentAvg.reshape(1, 1, -1);
      const below = torch.tensor(Array.from({ length: L }, (_, i) => (i < cutoff ? 1 : 0)), { dtype: 'float32' }).reshape(1, L, 1);
      const scale = psi.reshape(1, 1, 1).mul(below).add(below.rsub(1));
      return w.sub(avg).mul(scale).add(avg);
    });
    const mapping = (x: Record<string, torch.Tensor>) => truncate(style.dlatents(x.z, x.labels ?? null, null, null), x.truncation_psi);
    const base = { modules: { G }, size, dynamic: ['batch' as const] };
    // The stored noise maps (constants), and ops that hold for any batch.
    const anyBatch = { batchIndependent: true };
    models = {
      G: exportModel({
        ...base, name: 'G', inputs: [...inputs, psiInput], outputs: ['image'],
        forward: (x) => [style.synthesize(mapping(x), false, anyBatch)], metadata: meta(loaded, 'generator'),
      }),
    };
    if (o.halves) {
      const D = style.dlatentSize;
      models.mapping = exportModel({ ...base, name: 'mapping', inputs: [...inputs, psiInput], outputs: ['w'], forward: (x) => [mapping(x)], metadata: meta(loaded, 'mapping') });
      models.synthesis = exportModel({
        ...base, name: 'synthesis', outputs: ['image'], metadata: meta(loaded, 'synthesis'),
        inputs: [{ name: 'w', make: (s) => torch.randn([s.batch, L, D]), axes: ['batch', null, null] }],
        forward: (x) => [style.synthesize(x.w, false, anyBatch)],
      });
      files.mapping = 'mapping.onnx';
      files.synthesis = 'synthesis.onnx';
    }
  } else {
    // What sampling draws: G_ema (PGGAN at the run's level of detail).
    const forward = (x: Record<string, torch.Tensor>): torch.Tensor[] => [loaded.recipe.generate({ z: x.z, labels: x.labels ?? null })];
    models = { G: exportModel({ name: 'G', inputs, outputs: ['image'], forward, modules: { G }, size, dynamic: ['batch'], metadata: meta(loaded, 'generator') }) };
  }
  const out = models.G.outputs[0].dims;
  const info: ModelInfo = {
    family: loaded.def.name, kind: style ? 'style' : 'image', resolution: Number(out[3]), ...(out[2] !== out[3] ? { height: Number(out[2]) } : {}), channels: Number(out[1]),
    latent: dims.reduce((a, b) => a * b, 1), classes: loaded.classes, dynamic: models.G.dynamic, batch: fixedBatch(models.G), note: models.G.note,
    checkpoint: loaded.checkpoint, files,
  };
  if (style) Object.assign(info, { numLayers: style.numLayers, dlatent: style.dlatentSize });
  return { models, info };
}

function fixedBatch(m: Exported): number | null {
  const b = m.inputs[0].dims[0];
  return typeof b === 'number' ? b : null;
}

/** The factor every side of a translator's input must divide by: 2 per strided conv. */
function strideOf(G: Generator): number {
  let s = 1;
  for (const m of G.modules()) if (m instanceof nn.Conv2d) s *= m.stride[0];
  return s;
}

function exportTranslation(loaded: LoadedRun, o: RunExportOptions): RunExport {
  if (o.truncationCutoff != null) throw new UsageError(`--truncation_cutoff applies to style-based models; ${loaded.def.name} translates images`);
  const nets = loaded.recipe.networks();
  const r = optionsView(TRANSLATION_DATA_SCHEMA, loaded.options);
  let net = 'G';
  if (loaded.def.name === 'cyclegan') {
    const d = o.direction ?? r.direction;
    if (d !== 'AtoB' && d !== 'BtoA') throw new UsageError(`--direction must be AtoB or BtoA, got ${d}`);
    // G_A maps the side the run was trained to take as input; G_B maps back.
    net = d === r.direction ? 'G_A' : 'G_B';
  } else if (o.direction && o.direction !== r.direction) {
    throw new UsageError(`this pix2pix run was trained --direction ${r.direction}: its generator only translates that way`);
  }
  const G = nets[net] as Generator;
  const inC = net === 'G_B' ? r.output_nc : r.input_nc;
  const side = r.crop_size;
  // translate's mode: training-mode normalisation (each image by its own statistics), and
  // dropout off so that the graph is deterministic. Training-mode batch norm updates its
  // running statistics as it goes: they are put back afterwards, as translate does.
  const buffers = G.buffers();
  const saved = buffers.map((b) => b.clone());
  G.train();
  for (const m of G.modules()) if (m instanceof nn.Dropout) m.eval();
  try {
    const model = exportModel({
      // ONNX names each value once, so the translated image cannot share its input's name.
      name: net, modules: { [net]: G }, outputs: ['translated'], batchNormTraining: 'per-image',
      inputs: [{ name: 'image', make: (s) => torch.rand([s.batch, inC, s.height, s.width]).mul(2).sub(1), axes: ['batch', null, 'height', 'width'] }],
      forward: (x) => [G.forward(x.image)],
      size: { batch: 1, height: side, width: side }, dynamic: ['batch', 'height', 'width'], metadata: meta(loaded, net),
    });
    const info: ModelInfo = {
      family: loaded.def.name, kind: 'translation', resolution: side, channels: Number(model.outputs[0].dims[1]), inputChannels: inC,
      stride: strideOf(G), dynamic: model.dynamic, batch: fixedBatch(model), note: model.note, checkpoint: loaded.checkpoint, files: { G: 'G.onnx' },
    };
    return { models: { G: model }, info };
  } finally {
    G.eval();
    torch.noGrad(() => buffers.forEach((b, i) => b.copy_(saved[i])));
    for (const t of saved) t.dispose();
  }
}
