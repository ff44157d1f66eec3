#!/usr/bin/env node
// The ganforge command. The TypeScript build lives in dist/ (npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("ganforge: not built yet: run 'bash scripts/bootstrap.sh' (or 'npm run build')\n");
  process.exit(2);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
