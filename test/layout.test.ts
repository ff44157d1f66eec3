// The layout's rules, checked on the source: imports point down the layers (DESIGN.md's
// map), models know nothing of training, and sampling a run never loads the training loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';
import { fromRoot } from './helpers.js';

const SRC = fromRoot('src');

/** Layer of each top-level folder (or file) of src/: a file may import its own layer or lower ones. */
const RANK: Record<string, number> = {
  root: 0, version: 0, util: 0,
  torch: 1,
  nn: 2, io: 2, data: 2, config: 2,
  models: 3, losses: 3, metrics: 3, distributed: 3, export: 3, augment: 3,
  run: 4, train: 4,
  families: 5,
  cli: 6, serve: 6, web: 6, index: 6,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a source file that load code (not `import type`/`export type`), as source paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/^(?:import|export) type [^;]*;/gm, '');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)\.js'/g)].map((m) => resolve(dirname(file), `${m[1]}.ts`));
}

const layer = (file: string): string => relative(SRC, file).split('/')[0].replace(/\.ts$/, '');

test('every import points to the same layer or a lower one', () => {
  const files = sources(SRC);
  assert.ok(files.length > 100, `read ${files.length} source files`);
  const up: string[] = [];
  for (const f of files) {
    const from = layer(f);
    assert.ok(from in RANK, `src/${from} has no place in the layer map of this test`);
    for (const t of importsOf(f)) if (RANK[layer(t)] > RANK[from]) up.push(`${relative(SRC, f)} → ${relative(SRC, t)}`);
  }
  assert.deepEqual(up, [], 'imports that point up the layers');
});

test('sampling a run (families/load.ts, cli/sample.ts) never loads the training loop', () => {
  for (const start of ['families/load.ts', 'cli/sample.ts']) {
    const seen = new Set<string>();
    const todo = [join(SRC, start)];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...importsOf(f));
    }
    const loop = ['train/trainer.ts', 'train/phase.ts'].filter((f) => seen.has(join(SRC, f)));
    assert.deepEqual(loop, [], `${start} reaches the training loop`);
    assert.ok(seen.has(join(SRC, 'train/options.ts')), `${start} reads the run's options (sanity check of the walk)`);
  }
});
