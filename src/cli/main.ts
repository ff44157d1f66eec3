// The `ganforge` command: dispatches to sub-commands and turns user mistakes into one
// line and exit code 2.
import { VERSION } from '../version.js';
import { UsageError } from './errors.js';

const HELP = `ganforge ${VERSION} — GAN training and sampling for TypeScript, on libtorch

Usage: ganforge <command> [options]

Commands:
  selfcheck        check the engine on this machine: libtorch, threads, a tiny training run
  dataset info     describe an image folder or prepared cache
  dataset prepare  pack an image folder into a single-file cache for fast training
  demo             the quick demonstration (for now: the engine self-check;
                   training demos arrive with the model families)

Options:
  -h, --help       show this help (also: ganforge <command> --help)
  -v, --version    print the version

Environment:
  GANFORGE_NUM_THREADS   intra-op threads for libtorch (default: all cores)
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
      case 'selfcheck':
      case 'demo': {
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(`Usage: ganforge ${cmd}\n\nRuns the engine self-check: libtorch version, threads, CUDA, and a tiny\nconvolutional model trained for 100 Adam steps (its loss must halve, nothing may leak).\n`);
          return 0;
        }
        if (rest.length) throw new UsageError(`${cmd} takes no arguments, got '${rest[0]}'`);
        const { selfcheck } = await import('./selfcheck.js');
        return selfcheck() ? 0 : 1;
      }
      case 'dataset': {
        const { datasetCommand } = await import('./dataset.js');
        return await datasetCommand(rest);
      }
      default:
        throw new UsageError(`unknown command '${cmd}' (see 'ganforge --help')`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof Error && e.name === 'DataError')) {
      process.stderr.write(`ganforge: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
