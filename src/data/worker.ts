// The loader's worker thread: decodes and augments batches off the main thread. It
// imports only the data layer's byte-level modules, never the engine, so the native
// addon (and libtorch's thread pool) is never loaded here.

import { parentPort } from 'node:worker_threads';
import { type BatchRequest, loadBatch, transferList } from './batch.js';
import { type DatasetSpec, createSampler } from './dataset.js';
import { DataError, oneLine } from './errors.js';
import type { Sampler } from './sampler.js';

export type ToWorker =
  | { type: 'init'; spec: DatasetSpec; concurrency: number }
  | ({ type: 'batch'; id: number } & BatchRequest)
  | { type: 'close' };

export type FromWorker =
  | { type: 'batch'; id: number; batch: import('./batch.js').Batch; bad: [string, string][] }
  | { type: 'error'; id: number; message: string; dataError: boolean; path: string | null };

const port = parentPort;
if (!port) throw new Error('data/worker.js is a worker thread entry point; the Loader starts it');

let sampler: Sampler | null = null;
let concurrency = 8;
let bad: [string, string][] = [];
// One batch at a time, in arrival order: the loader bounds how many it sends ahead.
let chain: Promise<void> = Promise.resolve();

// Set by 'close': batches still queued are dropped, the one being made is finished, and
// then the port closes so the thread ends by itself. (terminate() could stop it inside
// zlib's inflateSync, which makes Node abort the whole process during cleanup.)
let closing = false;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'close') {
    closing = true;
    chain = chain.then(() => port.close());
    return;
  }
  if (msg.type === 'init') {
    sampler = createSampler(msg.spec, (file, reason) => bad.push([file, reason]));
    concurrency = msg.concurrency;
    return;
  }
  chain = chain.then(async () => {
    if (closing) return;
    try {
      const batch = await loadBatch(sampler!, msg, concurrency);
      const reply: FromWorker = { type: 'batch', id: msg.id, batch, bad };
      bad = [];
      port.postMessage(reply, transferList(batch));
    } catch (e) {
      const reply: FromWorker = {
        type: 'error', id: msg.id, message: oneLine(e), dataError: e instanceof DataError,
        path: e instanceof DataError ? (e.path ?? null) : null,
      };
      port.postMessage(reply);
    }
  });
});
