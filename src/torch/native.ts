// Loads the libtorch addon. Everything in src/torch talks to libtorch through `N`; nothing
// above src/torch does.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../root.js';
import { availableParallelism } from 'node:os';

/** An opaque native tensor handle (a N-API External owning an at::Tensor). */
export type Handle = { readonly __nativeTensor: unique symbol };

// The addon's functions are bound one-to-one to ATen; src/torch gives them types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeFn = (...args: any[]) => any;

// libtorch's OpenMP threads spin (with sched_yield) between parallel regions by default.
// On small virtual machines that spinning costs as much as the work: a DCGAN step ran
// twice as fast with passive waiting here, for us and for PyTorch alike. libgomp reads
// the variable once, when the addon pulls it in, so it is set before the load; a value
// the user chose is kept.
if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE';

function load(): Record<string, NativeFn> {
  const root = packageRoot();
  const file = join(root, 'build', 'Release', 'ganforge.node');
  if (!existsSync(file)) {
    throw new Error(
      `ganforge: the native addon is not built (${file} is missing): run 'npm run build:native' ` +
        `(needs libtorch: apt-get install libtorch-dev, or LIBTORCH=/path/to/libtorch)`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(file) as Record<string, NativeFn>;
}

export const N = load();

// Debian's libtorch starts with one intra-op thread; use every core unless told otherwise.
const wanted = Number(process.env.GANFORGE_NUM_THREADS);
N.setNumThreads(Number.isInteger(wanted) && wanted > 0 ? wanted : availableParallelism());
