// The dashboard's HTTP server (node:http, nothing else): the page (src/web/dashboard/), the chart
// library from its npm package, a small JSON API over the followed runs, Server-Sent
// Events for what changes, and the runs' own files. Or, with `staticRoot`, any static
// folder (the ONNX playground). Read-only: GET and HEAD only; files only from under a
// served folder (safe_path.ts); on a loopback address, requests naming another host are
// refused too, so a web page elsewhere cannot reach it through DNS rebinding.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from '../root.js';
import { Hub, type HubEvent } from './hub.js';
import { RefusedPath, fileUnder, pathSegments } from './safe_path.js';
import { sendFile } from './static.js';

export const DEFAULT_PORT = 6150;
const HEARTBEAT_MS = 15_000;

export interface ServeOptions {
  /** Run folders, or folders holding runs (dashboard mode). */
  dirs?: readonly string[];
  /** Serve this folder's files as they are instead of the dashboard. */
  staticRoot?: string;
  host?: string;
  /** null: DEFAULT_PORT, or the next free one. */
  port?: number | null;
  /** Follow with fs.watch as well as polling (tests turn it off to prove polling alone suffices). */
  watch?: boolean;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  hub: Hub | null;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function webRoot(): string {
  return join(packageRoot(), 'src', 'web', 'dashboard');
}

function uplotRoot(): string {
  return dirname(createRequire(import.meta.url).resolve('uplot'));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(text + '\n');
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(body);
}

/** The Host header names this server's loopback address (any port spelling of it). */
function hostAllowed(req: IncomingMessage): boolean {
  const h = req.headers.host;
  if (!h) return false;
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.split(':')[0];
  return isLoopback(name);
}

/** The file a path names under `root`, an index.html for a folder. */
function staticFile(root: string, segments: string[]): string {
  try {
    return fileUnder(root, segments.length ? segments : ['index.html']);
  } catch (e) {
    if (e instanceof RefusedPath && e.status === 404) return fileUnder(root, [...segments, 'index.html']);
    throw e;
  }
}

function events(hub: Hub, runIds: string[], req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  const send = (event: string, data: unknown): void => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const wanted = new Set(runIds);
  const stop = hub.listen((e: HubEvent) => {
    if ('runs' in e) send('runs', e.runs);
    else if (wanted.has(e.run)) send(e.change.kind, { run: e.run, ...e.change });
  });
  send('runs', hub.summaries());
  for (const id of wanted) {
    const r = hub.run(id);
    if (r) send('snapshot', { run: id, summary: r.summary(), config: r.config, rows: r.rows, samples: r.samples, checkpoints: r.checkpoints, state: r.state });
  }
  const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const end = (): void => {
    clearInterval(beat);
    stop();
  };
  req.on('close', end);
  res.on('error', end);
}

function route(o: { hub: Hub | null; staticRoot: string | null; loopbackOnly: boolean }, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendText(res, 405, 'read-only: only GET and HEAD');
  }
  if (o.loopbackOnly && !hostAllowed(req)) return sendText(res, 403, 'refused: this server answers only requests to its loopback address');
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const head = req.method === 'HEAD';
  try {
    const seg = pathSegments(path);
    if (o.staticRoot !== null) {
      // Cross-origin isolation lets a page use SharedArrayBuffer (onnxruntime-web's threads).
      return sendFile(res, staticFile(o.staticRoot, seg), head, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    }
    const hub = o.hub!;
    const [first, ...rest] = seg;
    if (first === undefined) return sendFile(res, fileUnder(webRoot(), ['index.html']), head);
    switch (first) {
      case 'web':
        return sendFile(res, fileUnder(webRoot(), rest), head);
      case 'vendor':
        if (rest[0] === 'uplot') return sendFile(res, fileUnder(uplotRoot(), rest.slice(1)), head);
        break;
      case 'api':
        if (rest.length !== 1) break;
        if (rest[0] === 'events') return events(hub, query.getAll('run'), req, res);
        hub.poll();
        if (rest[0] === 'runs') return sendJson(res, { roots: hub.roots, runs: hub.summaries() });
        if (rest[0] === 'run') {
          const r = hub.run(query.get('id') ?? '');
          if (!r) return sendText(res, 404, `no run '${query.get('id') ?? ''}' here`);
          return sendJson(res, { summary: r.summary(), config: r.config, rows: r.rows, samples: r.samples, checkpoints: r.checkpoints, state: r.state });
        }
        break;
      case 'runs': {
        // A run's own files, by its id: samples/<kimg>.png, config.json, metrics.jsonl, checkpoints/.
        const r = rest.length >= 2 ? hub.run(rest[0]) : undefined;
        if (r) return sendFile(res, fileUnder(r.dir, rest.slice(1)), head);
        break;
      }
    }
    return sendText(res, 404, 'not found');
  } catch (e) {
    if (e instanceof RefusedPath) return sendText(res, e.status, e.message);
    if (!res.headersSent) return sendText(res, 500, `error: ${(e as Error).message}`);
    res.destroy();
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Starts serving. With no `port` the default is tried, then the next ten, then any free
 * one; a `port` given that is taken is an error (EADDRINUSE).
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const staticRoot = opts.staticRoot ?? null;
  const hub = staticRoot === null ? new Hub(opts.dirs?.length ? opts.dirs : ['runs'], opts.watch ?? true) : null;
  const server = createHttpServer((req, res) => route({ hub, staticRoot, loopbackOnly: isLoopback(host) }, req, res));
  const tries = opts.port != null ? [opts.port] : [...Array.from({ length: 11 }, (_, i) => DEFAULT_PORT + i), 0];
  let port = -1;
  for (const p of tries) {
    try {
      port = await listen(server, host, p);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || p === tries[tries.length - 1]) {
        hub?.close();
        throw e;
      }
    }
  }
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/`,
    host,
    port,
    hub,
    close: () =>
      new Promise<void>((resolve) => {
        hub?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
