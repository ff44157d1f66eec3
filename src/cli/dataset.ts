// `ganforge dataset info PATH` and `ganforge dataset prepare PATH --resolution R --out FILE`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isCacheFile, prepareCache } from '../data/cache.js';
import { checkOutputPath, checkReplaceableFile } from '../run/output.js';
import { DataError } from '../data/errors.js';
import { formatInfo, inspectDataset } from '../data/info.js';
import { UsageError } from '../config/errors.js';
import { defineSchema, formatOptions, parseArgs, sizeOf } from '../config/options.js';

const INFO_SCHEMA = defineSchema({
  json: { type: 'bool', default: false, help: 'print the report as JSON' },
  help: { type: 'bool', default: false, help: 'show this help' },
});

const PREPARE_SCHEMA = defineSchema({
  resolution: { type: 'size', default: null, help: 'size of the cache images: R (square) or WxH, width by height (for train --resolution WxH); powers of two (required)', metavar: 'R|WxH', min: 1 },
  out: { type: 'string', default: null, help: 'the cache file to write (required)', metavar: 'FILE' },
  classes: { type: 'bool', default: false, help: 'store class labels: one first-level sub-folder per class' },
  channels: { type: 'int', default: 3, help: '1 (grayscale) or 3 (RGB)', min: 1, max: 3 },
  max_dataset_size: { type: 'int', default: null, help: 'keep only the first N images (sorted by path)', metavar: 'N', min: 1 },
  force: { type: 'bool', default: false, help: 'replace FILE if it exists' },
  help: { type: 'bool', default: false, help: 'show this help' },
});

const HELP = `Usage: ganforge dataset <info|prepare> PATH [options]

  ganforge dataset info PATH
      What an image folder, CycleGAN folder (trainA/ trainB/ ...), dataset cache or
      built-in set (shapes, shapes-pairs, shapes-domains) holds: image count, sizes,
      channels, classes, and unreadable files (every image is decoded to find them).

  ganforge dataset prepare PATH --resolution R --out FILE [--classes]
      Decodes every image of a folder once, resizes it to R x R (bicubic, like
      --preprocess resize_and_crop --load_size R --crop_size R) and writes a single
      uint8 file with an index and labels, which training reads at memory speed.
      Pass FILE wherever a dataset path is expected.
`;

function progress(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done !== total && now - last < 100) return;
    last = now;
    process.stderr.write(`\r${label} ${done}/${total}${done === total ? '\n' : ''}`);
  };
}

function onePath(positional: string[], sub: string): string {
  if (positional.length === 0) throw new UsageError(`dataset ${sub} needs a PATH (see 'ganforge dataset --help')`);
  if (positional.length > 1) throw new UsageError(`dataset ${sub} takes one PATH, got ${positional.length}: ${positional.join(' ')}`);
  return positional[0];
}

async function info(argv: string[]): Promise<number> {
  const { options, positional } = parseArgs(argv, INFO_SCHEMA, 'dataset info');
  if (options.help) {
    process.stdout.write(`Usage: ganforge dataset info PATH [--json]\n\n${formatOptions(INFO_SCHEMA)}\n`);
    return 0;
  }
  const report = await inspectDataset(onePath(positional, 'info'), { onProgress: progress('decoding') });
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInfo(report)}\n`);
  return 0;
}

async function prepare(argv: string[]): Promise<number> {
  const { options, positional } = parseArgs(argv, PREPARE_SCHEMA, 'dataset prepare');
  if (options.help) {
    process.stdout.write(`Usage: ganforge dataset prepare PATH --resolution R --out FILE [options]\n\n${formatOptions(PREPARE_SCHEMA)}\n`);
    return 0;
  }
  const source = onePath(positional, 'prepare');
  if (options.resolution === null) throw new UsageError('dataset prepare needs --resolution R (a power of two, e.g. 64)');
  if (options.out === null) throw new UsageError('dataset prepare needs --out FILE (the cache to write)');
  if (options.channels !== 1 && options.channels !== 3) throw new UsageError(`--channels must be 1 or 3, got ${options.channels}`);
  checkOutputPath(options.out, '--out', 'file');
  // --force replaces a cache, never another file (an image, the data itself).
  checkReplaceableFile(options.out, '--out', options.force, { name: "a dataset cache (made by 'ganforge dataset prepare')", test: isCacheFile });
  const src = path.resolve(source);
  if (fs.existsSync(src) && fs.statSync(src).isFile()) {
    throw new DataError(`${src} is a file: dataset prepare expects a folder of images`, src);
  }
  const { width, height } = sizeOf(options.resolution);
  const summary = await prepareCache(source, {
    resolution: Math.min(width, height),
    ...(width !== height ? { shape: { width, height } } : {}),
    out: options.out,
    classes: options.classes,
    channels: options.channels as 1 | 3,
    force: options.force,
    maxDatasetSize: options.max_dataset_size ?? undefined,
    onProgress: progress('preparing'),
    onWarning: (m) => {
      process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}warning: ${m}\n`);
    },
  });
  const mib = (summary.bytes / 2 ** 20).toFixed(1);
  process.stdout.write(
    `wrote ${summary.out}: ${summary.count} images of ${summary.width}x${summary.height}x${summary.channels}` +
      `${summary.classes ? `, ${summary.classes.length} classes (${summary.classes.join(', ')})` : ''}, ${mib} MiB in ${summary.seconds.toFixed(1)} s\n` +
      (summary.skipped.length ? `skipped ${summary.skipped.length} unreadable image(s)\n` : ''),
  );
  return 0;
}

/** Runs `ganforge dataset ...`; returns the exit code (2 for a user mistake, with one line on stderr). */
export async function datasetCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case undefined:
        throw new UsageError("dataset needs a command: 'ganforge dataset info PATH' or 'ganforge dataset prepare PATH --resolution R --out FILE' (see 'ganforge dataset --help')");
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return 0;
      case 'info':
        return await info(rest);
      case 'prepare':
        return await prepare(rest);
      default:
        throw new UsageError(`unknown dataset command '${sub}': expected info or prepare (see 'ganforge dataset --help')`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof DataError) {
      process.stderr.write(`ganforge: ${e.message.split('\n')[0]}\n`);
      return 2;
    }
    throw e;
  }
}
