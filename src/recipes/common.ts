// Options every family shares: data, length, logging, snapshots, EMA, run folder.
import type { Schema } from '../config/options.js';
import { isPowerOfTwo } from '../config/options.js';
import { LR_POLICIES } from './lr.js';

export const TRAINER_SCHEMA: Schema = {
  model: { type: 'string', default: null, help: 'model family', metavar: 'NAME' },
  data: { type: 'string', default: 'shapes', help: 'image folder, prepared cache, or a built-in set (shapes, shapes-pairs, shapes-domains)', metavar: 'PATH' },
  out: { type: 'string', default: null, help: 'run folder (default: runs/<model>-<data>)', metavar: 'DIR' },
  resolution: { type: 'int', default: 32, help: 'image size in pixels (a power of two)', min: 4, max: 4096, check: (v) => (isPowerOfTwo(v as number) ? null : `must be a power of two, got ${v}`) },
  batch: { type: 'int', default: 64, help: 'images per training step', min: 1 },
  kimg: { type: 'float', default: 50, help: 'training length in thousands of real images shown', min: 0 },
  seed: { type: 'int', default: 0, help: 'seed of initialisation, data order and noise', min: 0 },
  max_dataset_size: { type: 'int', default: null, help: 'use at most this many images (the first, in sorted order)', min: 1 },
  no_flip: { type: 'bool', default: false, help: 'no random horizontal flips of the training images' },
  classes: { type: 'bool', default: false, help: 'train a class-conditional model (labels from sub-folders, the cache, or the main shape)' },
  channels: { type: 'int', default: 3, help: 'image channels (1 grayscale, 3 RGB)', min: 1, max: 3, check: (v) => (v === 2 ? 'must be 1 or 3' : null) },
  workers: { type: 'int', default: null, help: 'data-loading worker threads (default: cores − 1, at most 4)', min: 0 },
  snapshot_kimg: { type: 'float', default: 10, help: 'write a checkpoint every this many kimg', min: 0 },
  sample_kimg: { type: 'float', default: 5, help: 'write a sample grid every this many kimg', min: 0 },
  log_every: { type: 'int', default: 10, help: 'log metrics every this many steps', min: 1 },
  keep: { type: 'int', default: 3, help: 'checkpoints to keep (0 = all)', min: 0 },
  n_samples: { type: 'int', default: 64, help: 'images in each sample grid', min: 1, max: 1024 },
  ema_kimg: { type: 'float', default: 10, help: 'half-life of the generator EMA in kimg', min: 0 },
  ema_beta: { type: 'float', default: null, help: 'fixed EMA decay per step instead of --ema_kimg', min: 0, max: 1 },
  ema_start_kimg: { type: 'float', default: 0, help: 'kimg before which the EMA copies G', min: 0 },
  ema_rampup: { type: 'float', default: null, help: 'limit the EMA half-life to this fraction of the images seen', min: 0 },
  lr_policy: { type: 'string', default: 'constant', choices: LR_POLICIES, help: 'learning-rate schedule over data epochs (pytorch-CycleGAN-and-pix2pix names)' },
  n_epochs: { type: 'int', default: 100, help: "epochs at the initial rate ('linear'); cosine's half period", min: 1 },
  n_epochs_decay: { type: 'int', default: 100, help: "epochs of linear decay to zero after --n_epochs ('linear')", min: 0 },
  lr_decay_iters: { type: 'int', default: 50, help: "epochs between ×0.1 decays ('step')", min: 1 },
  plateau_metric: { type: 'string', default: 'loss_G', help: "logged scalar whose epoch mean 'plateau' watches (cut ×0.2 after 5 epochs without a 1% improvement)" },
  device: { type: 'string', default: 'cpu', help: "'cpu', 'cuda' or 'cuda:N'", check: (v) => (/^(cpu|cuda(:\d+)?)$/.test(String(v)) ? null : `must be cpu, cuda or cuda:N, got '${v}'`) },
  resume: { type: 'bool', default: false, help: 'continue the run in --out from its latest checkpoint' },
  force: { type: 'bool', default: false, help: 'replace an existing run folder' },
};

/** Options that may change when a run is resumed: they do not alter what is learned. */
export const RESUMABLE_CHANGES = new Set(['kimg', 'snapshot_kimg', 'sample_kimg', 'log_every', 'keep', 'workers', 'n_samples', 'resume', 'force', 'out']);
