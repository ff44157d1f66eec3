// The `ganforge` command: dispatches to sub-commands and turns user mistakes into one
// line and exit code 2.
import { VERSION } from '../version.js';
import { UsageError } from '../config/errors.js';

const HELP = `ganforge ${VERSION} — GAN training and sampling for TypeScript, on libtorch

Usage: ganforge <command> [options]

Commands:
  train            train a GAN (ganforge train --model NAME --help for its options)
  sample           images from a trained run's generator (--truncation_psi for stylegan)
  interpolate      a latent walk between seeds: a PNG strip or an animated GIF/WebP
  mix              style mixing (stylegan): rows' images with the columns' coarse/middle/fine styles
  project          find the w that draws a given image (projector.py): --network X.pkl or --run DIR
  translate        image-to-image: a pix2pix/CycleGAN run's or imported generator over images
  eval             FID, KID, IS, precision/recall of a run or a folder of images (stylegan2-ada-pytorch's metrics)
  export           a run's generator as ONNX (--out G.onnx), and a browser playground (--web DIR)
  demo             watch pix2pix learn on built-in data in a few minutes, with the dashboard
  serve            a live dashboard over run folders in the browser (or --static DIR)
  dataset info     describe an image folder or prepared cache
  dataset prepare  pack an image folder into a single-file cache for fast training
  selfcheck        check the engine on this machine: libtorch, threads, a tiny training run

Options:
  -h, --help       show this help (also: ganforge <command> --help)
  -v, --version    print the version

Environment:
  GANFORGE_NUM_THREADS   intra-op threads for libtorch (default: all cores)
  OMP_WAIT_POLICY        set to PASSIVE unless given (spinning OpenMP threads halve throughput on small VMs)
  GANFORGE_SYSTEM_MALLOC 1 keeps glibc's malloc defaults (default: large blocks stay on the heap)
  GANFORGE_DEBUG         1 prints the stack of unexpected errors
  GANFORGE_INCEPTION     inception-2015-12-05.pt for eval (GANFORGE_VGG: vgg16.pt)
  GANFORGE_CACHE         ganforge's cache folder: downloaded networks, dataset statistics (default ~/.cache/ganforge)
  LIBTORCH               build against this libtorch archive instead of the system's
`;

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(HELP);
        return 0;
      case '-v':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
    }
    // The dashboard never loads libtorch.
    if (rest.includes('--help') || rest.includes('-h') || cmd === 'serve') return await dispatch(cmd, rest);
    // The allocator settings training wants (the program's choice, not the library's).
    if (!process.env.GANFORGE_SYSTEM_MALLOC || process.env.GANFORGE_SYSTEM_MALLOC === '0') (await import('../torch/index.js')).tuneMalloc();
    return await dispatch(cmd, rest);
  } catch (e) {
    return reportError(e);
  }
}

async function dispatch(cmd: string, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'selfcheck': {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`Usage: ganforge selfcheck\n\nRuns the engine self-check: libtorch version, threads, CUDA, and a tiny\nconvolutional model trained for 100 Adam steps (its loss must halve, nothing may leak).\n`);
        return 0;
      }
      if (rest.length) throw new UsageError(`selfcheck takes no arguments, got '${rest[0]}'`);
      const { selfcheck } = await import('./selfcheck.js');
      return selfcheck() ? 0 : 1;
    }
    case 'train': {
      const { trainCommand } = await import('./train.js');
      return await trainCommand(rest);
    }
    case 'sample': {
      const { sampleCommand } = await import('./sample.js');
      return await sampleCommand(rest);
    }
    case 'interpolate': {
      const { interpolateCommand } = await import('./interpolate.js');
      return await interpolateCommand(rest);
    }
    case 'mix': {
      const { mixCommand } = await import('./mix.js');
      return await mixCommand(rest);
    }
    case 'project': {
      const { projectCommand } = await import('./project.js');
      return await projectCommand(rest);
    }
    case 'translate': {
      const { translateCommand } = await import('./translate.js');
      return await translateCommand(rest);
    }
    case 'eval': {
      const { evalCommand } = await import('./eval.js');
      return await evalCommand(rest);
    }
    case 'export': {
      const { exportCommand } = await import('./export.js');
      return await exportCommand(rest);
    }
    case 'demo': {
      const { demoCommand } = await import('./demo.js');
      return await demoCommand(rest);
    }
    case 'serve': {
      const { serveCommand } = await import('./serve.js');
      return await serveCommand(rest);
    }
    case 'dataset': {
      const { datasetCommand } = await import('./dataset.js');
      return await datasetCommand(rest);
    }
    default:
      throw new UsageError(`unknown command '${cmd}' (see 'ganforge --help')`);
  }
}

function reportError(e: unknown): number {
  if (e instanceof UsageError || (e instanceof Error && (e.name === 'DataError' || e.name === 'StateDictError'))) {
    process.stderr.write(`ganforge: ${e.message}\n`);
    return 2;
  }
  // Anything else is ours to fix or the machine's (disk full, a corrupt checkpoint): one
  // line by default, the stack with GANFORGE_DEBUG=1.
  if (process.env.GANFORGE_DEBUG) throw e;
  process.stderr.write(`ganforge: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (GANFORGE_DEBUG=1 shows where)\n`);
  return 1;
}
