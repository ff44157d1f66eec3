// bench/train --profile DIR: one more call of each timed piece of work (ours) under
// libtorch's profiler, and of the PyTorch reference's under torch.profiler
// (bench/ref_driver.py, BENCH_PROFILE), each written to DIR as a Chrome trace, and the
// top ops by self time of both printed side by side in one format, so where the time
// goes can be compared op by op.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';

const TOP = 15;

export class BenchProfiler {
  /** Tables to print under the case, in the order the work was profiled. */
  readonly #tables: string[] = [];

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Profiles one call of `fn` as `<name>.json`; its table is printed with the case. */
  ours(name: string, fn: () => void): void {
    const file = join(this.dir, `${name}.json`);
    const { profile } = torch.profiler.profile(fn, { chromeTrace: file });
    this.#tables.push(`ours, ${name} (${file}):\n${profile.table(TOP)}`);
  }

  /** The environment that makes bench/ref_driver.py profile each timed function as `<name>-K.json`. */
  refEnv(name: string): Record<string, string> {
    return { BENCH_PROFILE: join(this.dir, name) };
  }

  /** Reads back the reference's traces for `name` (K = 0, 1, ... as the driver timed them), labelled. */
  reference(name: string, labels: readonly string[]): void {
    for (let k = 0; ; k++) {
      const file = join(this.dir, `${name}-${k}.json`);
      if (!existsSync(file)) break;
      const profile = torch.profiler.Profile.fromChromeTrace(JSON.parse(readFileSync(file, 'utf8')));
      this.#tables.push(`PyTorch, ${name} ${labels[k] ?? `timed function ${k}`} (${file}):\n${profile.table(TOP)}`);
    }
  }

  /** The tables gathered since the last call, indented for the case's block; clears them. */
  take(): string[] {
    const out = this.#tables.map((t) => t.split('\n').map((l) => `    ${l}`).join('\n'));
    this.#tables.length = 0;
    return out;
  }
}
