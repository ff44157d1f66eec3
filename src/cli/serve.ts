// `ganforge serve [DIR ...]`: the dashboard over run folders, until Ctrl-C; or
// `ganforge serve --static DIR`: any static folder (the ONNX playground).
// Started by `train --serve` and `demo` as a child process with an IPC channel
// (dashboard.ts): it then reports its URL over the channel and exits when its parent goes.
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import { defineSchema, formatOptions, parseArgs } from '../config/options.js';
import { DEFAULT_PORT, isLoopback, startServer } from '../serve/server.js';

const SCHEMA = defineSchema({
  host: { type: 'string', default: null, help: 'address to listen on (default 127.0.0.1: this machine only)', metavar: 'ADDR' },
  port: { type: 'int', default: null, help: `port (default ${DEFAULT_PORT}, or the next free one)`, min: 0, max: 65535 },
  static: { type: 'string', default: null, help: "serve this folder's files as they are (e.g. an exported playground) instead of the dashboard", metavar: 'DIR' },
});

export const SERVE_HELP = `Usage: ganforge serve [DIR ...] [options]
       ganforge serve --static DIR [options]

A live dashboard over training runs, in the browser: the runs with their state and
progress; per run, every scalar of metrics.jsonl (smoothing, log scale, x in kimg or
epochs), the sample grids over time, the config and the checkpoints; several runs
overlaid to compare. It follows the files (new rows and grids appear within 2 s) and
never writes. DIR is a run folder or a folder holding runs (default: runs/); a DIR
that does not exist yet is watched until it does. Ctrl-C stops it.

Options:
${formatOptions(SCHEMA)}
`;

function checkFolder(dir: string, what: string, mayBeMissing: boolean): void {
  if (!existsSync(dir)) {
    if (mayBeMissing) return;
    throw new UsageError(`${what} ${dir} does not exist`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`${what} ${dir} is a file, not a folder`);
}

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const { options: o, positional } = parseArgs(argv, SCHEMA, 'serve');
  if (o.static !== null && positional.length) throw new UsageError(`serve --static takes one folder, not run folders as well ('${positional[0]}')`);
  if (o.static !== null) checkFolder(o.static, '--static', false);
  const dirs = positional.length ? positional : ['runs'];
  for (const d of dirs) checkFolder(d, 'serve:', true);
  let server;
  try {
    server = await startServer({ dirs, staticRoot: o.static ?? undefined, host: o.host ?? undefined, port: o.port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${o.port} is in use: choose another --port, or leave it out for a free one`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${o.host}: not an address of this machine`);
    if (code === 'EACCES') throw new UsageError(`port ${o.port} needs privileges: choose one above 1023`);
    throw e;
  }
  const what = o.static !== null ? `the static folder ${o.static}` : dirs.map((d) => (existsSync(d) ? d : `${d} (not there yet)`)).join(', ');
  process.stdout.write(`serving ${what} at ${server.url}\n`);
  if (!isLoopback(server.host)) {
    process.stdout.write(`note: listening on ${server.host}, not only this machine: anyone who can reach port ${server.port} can read ${o.static !== null ? 'this folder' : 'these runs'} (no password)\n`);
  }
  if (process.send) {
    process.send({ url: server.url });
    // The channel to the parent must not keep this process alive once the server is closed.
    process.channel?.unref();
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    // A child of `train --serve` or `demo` ends with its parent, however that ends.
    process.once('disconnect', resolve);
  });
  await server.close();
  return 0;
}
