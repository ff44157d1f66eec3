// The loader: shuffled batches for the trainer, prepared ahead by worker threads.
//
// Determinism. Epoch e's order is a permutation drawn from (seed, e); the sample at
// position p of epoch e is augmented with the seed mix(seed, e, p). Nothing depends on
// which worker did the work or when, so the loader's whole state is (seed, epoch,
// position): saved with a checkpoint and restored, the resumed run gets the very batch
// the interrupted one would have got next.
//
// Overlap. Up to `prefetch` batches are in flight at once; results are consumed in the
// order they were asked for, so a fast worker never reorders the stream.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Batch, type BatchRequest, loadBatch } from './batch.js';
import { type Dataset, createSampler } from './dataset.js';
import { DataError } from './errors.js';
import { Rng, mixSeed } from './rng.js';
import type { Sampler } from './sampler.js';
import type { FromWorker, ToWorker } from './worker.js';

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default true; the reference's --serial_batches turns it off). */
  shuffle?: boolean;
  /** Skip an epoch's last, smaller batch (default false, like PyTorch's DataLoader). */
  dropLast?: boolean;
  /** Seed of the order and of the augmentations (default 0). */
  seed?: number;
  /** Worker threads; 0 loads in this thread. Default: cores - 1, between 1 and 4. */
  workers?: number;
  /** Batches requested ahead of the one being consumed (default 2 per worker, at least 2). */
  prefetch?: number;
  /** Samples decoded at once inside one batch (default 8). */
  concurrency?: number;
  /** Where warnings go (an unreadable image, once per file). Default: stderr. */
  onWarning?: (message: string) => void;
  /**
   * Data parallelism: this loader yields only its part `index` of `count` equal parts of
   * each batch (batchSize is the global batch). Every process walks the same global stream,
   * so the position (and a checkpoint's loader state) is the same on all of them, and the
   * processes together see exactly the batches one process would.
   */
  shard?: { index: number; count: number };
}

/** A loader's position; JSON-serialisable, for checkpoints. */
export interface LoaderState {
  version: 1;
  seed: number;
  /** The epoch and the position within it of the next sample to be consumed. */
  epoch: number;
  position: number;
  /** Dataset length when saved: restoring onto a different dataset is refused. */
  length: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

interface Slot {
  worker: Worker;
  inflight: number;
}

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
  slot: Slot;
}

interface Planned {
  epoch: number;
  position: number;
  end: number;
  batch: Promise<Batch>;
}

/**
 * Asks a worker to finish the batch in hand and end by itself; terminates it only if it
 * has not ended after `graceMs`. Terminating a busy worker can catch it inside zlib, and
 * Node then aborts the process while cleaning the thread up ("close before init").
 */
async function stopWorker(worker: Worker, graceMs = 10_000): Promise<void> {
  // An unref'd worker's exit would not keep the event loop alive for us to see it.
  worker.ref();
  const exited = new Promise<'exited'>((resolve) => worker.once('exit', () => resolve('exited')));
  worker.postMessage({ type: 'close' } satisfies ToWorker);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const how = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (how === 'late') await worker.terminate();
}

function warnToStderr(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export class Loader implements AsyncIterable<Batch>, AsyncDisposable {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly workers: number;
  readonly prefetch: number;
  #seed: number;
  readonly #concurrency: number;
  readonly #onWarning: (message: string) => void;
  readonly #shard: { index: number; count: number };
  // Next batch to consume, and next batch to request.
  #epoch = 0;
  #position = 0;
  #aheadEpoch = 0;
  #aheadPosition = 0;
  #queue: Planned[] = [];
  #orders = new Map<number, Int32Array>();
  #slots: Slot[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #local: Sampler | null = null;
  #closed = false;
  #broken: Error | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  // Bumped by restore(): a next() that was already waiting must not move the new position.
  #generation = 0;
  readonly #warned = new Set<string>();

  constructor(dataset: Dataset, opts: LoaderOptions) {
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new DataError(`--batch_size ${opts.batchSize} is not valid: expected a positive whole number`);
    }
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.#seed = opts.seed ?? 0;
    this.workers = opts.workers ?? defaultWorkers();
    if (!Number.isInteger(this.workers) || this.workers < 0) throw new RangeError(`Loader: workers must be a whole number >= 0, got ${opts.workers}`);
    this.prefetch = Math.max(1, opts.prefetch ?? Math.max(2, 2 * this.workers));
    this.#concurrency = Math.max(1, opts.concurrency ?? 8);
    this.#onWarning = opts.onWarning ?? warnToStderr;
    this.#shard = opts.shard ?? { index: 0, count: 1 };
    const { index, count } = this.#shard;
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`Loader: shard ${index} of ${count} is not valid`);
    if (this.batchSize % count !== 0) throw new DataError(`a batch of ${this.batchSize} does not split into ${count} equal parts (one per process): use a multiple of ${count}`);
    if (count > 1 && !this.dropLast && dataset.length % this.batchSize !== 0) {
      throw new DataError(`with ${count} processes every batch must be whole, but ${dataset.length} samples leave a last batch of ${dataset.length % this.batchSize} (drop it, or use a batch size that divides ${dataset.length})`);
    }
    if (this.dropLast && dataset.length < this.batchSize) {
      throw new DataError(`${dataset.source} has ${dataset.length} samples, fewer than one batch of ${this.batchSize} (lower --batch_size, or keep the last partial batch)`, dataset.source);
    }
  }

  /** Epoch of the next batch. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Position within the epoch of the next batch's first sample. */
  get position(): number {
    return this.#position;
  }

  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Unreadable files met so far, each warned about once. */
  get skipped(): string[] {
    return [...this.#warned];
  }

  /** The next batch, crossing epoch boundaries (the endless stream of kimg-based training). */
  next(): Promise<Batch> {
    const p = this.#chain.then(() => this.#next());
    this.#chain = p.catch(() => undefined);
    return p;
  }

  /** The remaining batches of the current epoch (all of them at its start); then the epoch advances. */
  async *epochBatches(): AsyncGenerator<Batch, void, undefined> {
    const e = this.#epoch;
    while (this.#epoch === e) yield await this.next();
  }

  /** Endless: `for await (const batch of loader)` runs until you break. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
    for (;;) yield await this.next();
  }

  state(): LoaderState {
    return {
      version: 1, seed: this.#seed, epoch: this.#epoch, position: this.#position, length: this.dataset.length,
      batchSize: this.batchSize, shuffle: this.shuffle, dropLast: this.dropLast,
    };
  }

  /** Continues from a saved state; batches already prepared ahead are thrown away. */
  restore(state: LoaderState): void {
    if (state.length !== this.dataset.length) {
      throw new DataError(`${this.dataset.source} has ${this.dataset.length} samples but the saved loader state was for ${state.length}: the dataset changed since the checkpoint`, this.dataset.source);
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.position) || state.position < 0) {
      throw new DataError(`loader state has an invalid position (epoch ${state.epoch}, position ${state.position})`);
    }
    this.#generation++;
    this.#seed = state.seed;
    this.#orders.clear();
    [this.#epoch, this.#position] = this.#normalize(state.epoch, state.position);
    this.#reset();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    const err = new Error('Loader closed');
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    await Promise.all(this.#slots.map((s) => stopWorker(s.worker)));
    this.#slots = [];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  async #next(): Promise<Batch> {
    if (this.#closed) throw new Error('Loader is closed');
    if (this.#broken) throw this.#broken;
    this.#fill();
    const head = this.#queue.shift()!;
    this.#fill();
    const generation = this.#generation;
    let batch: Batch;
    try {
      batch = await head.batch;
    } catch (e) {
      // Requests made after a failed one would only fail the same way; start over from it.
      if (generation === this.#generation) this.#reset();
      throw e;
    }
    if (generation === this.#generation) [this.#epoch, this.#position] = this.#normalize(head.epoch, head.end);
    return batch;
  }

  /** Moves a position that has no full (or, without dropLast, any) batch left to the next epoch. */
  #normalize(epoch: number, position: number): [number, number] {
    const n = this.dataset.length;
    const left = n - position;
    if (left <= 0 || (this.dropLast && left < this.batchSize)) return [epoch + 1, 0];
    return [epoch, position];
  }

  #reset(): void {
    // Results still on their way resolve promises nobody awaits; that is harmless.
    this.#queue = [];
    this.#aheadEpoch = this.#epoch;
    this.#aheadPosition = this.#position;
  }

  #fill(): void {
    while (this.#queue.length < this.prefetch) {
      const epoch = this.#aheadEpoch;
      const position = this.#aheadPosition;
      const end = Math.min(position + this.batchSize, this.dataset.length);
      const batch = this.#request(epoch, position, end);
      batch.catch(() => undefined); // rejections surface when the batch is consumed
      this.#queue.push({ epoch, position, end, batch });
      [this.#aheadEpoch, this.#aheadPosition] = this.#normalize(epoch, end);
    }
  }

  #order(epoch: number): Int32Array | null {
    if (!this.shuffle) return null;
    let p = this.#orders.get(epoch);
    if (!p) {
      p = new Rng(mixSeed(this.#seed, 0x5f3759df, epoch)).permutation(this.dataset.length);
      this.#orders.set(epoch, p);
      // Prefetch spans at most two epochs at a time.
      for (const k of this.#orders.keys()) if (k < epoch - 1) this.#orders.delete(k);
    }
    return p;
  }

  #request(epoch: number, position: number, globalEnd: number): Promise<Batch> {
    const order = this.#order(epoch);
    // This process's part of the global batch [position, globalEnd).
    const part = (globalEnd - position) / this.#shard.count;
    const end = position + part * (this.#shard.index + 1);
    position += part * this.#shard.index;
    const n = end - position;
    const req: BatchRequest = { indices: new Int32Array(n), seeds: new Uint32Array(n), epoch, position, labeled: this.dataset.labeled };
    for (let k = 0; k < n; k++) {
      req.indices[k] = order ? order[position + k] : position + k;
      req.seeds[k] = mixSeed(this.#seed, epoch, position + k);
    }
    if (this.workers === 0) {
      this.#local ??= createSampler(this.dataset.spec, (file, reason) => this.#bad(file, reason));
      return loadBatch(this.#local, req, this.#concurrency);
    }
    const slot = this.#slot();
    const id = this.#nextId++;
    return new Promise<Batch>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      if (slot.inflight++ === 0) slot.worker.ref();
      const msg: ToWorker = { type: 'batch', id, ...req };
      slot.worker.postMessage(msg, [req.indices.buffer as ArrayBuffer, req.seeds.buffer as ArrayBuffer]);
    });
  }

  #slot(): Slot {
    if (this.#slots.length < this.workers) {
      // Start them all at once: they load sharp in parallel while the first batch is asked for.
      while (this.#slots.length < this.workers) this.#slots.push(this.#spawn());
    }
    let best = this.#slots[0];
    for (const s of this.#slots) if (s.inflight < best.inflight) best = s;
    return best;
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./worker.js', import.meta.url));
    const slot: Slot = { worker, inflight: 0 };
    // An idle loader must not keep the process alive (a forgotten close() is no hang).
    worker.unref();
    const init: ToWorker = { type: 'init', spec: this.dataset.spec, concurrency: this.#concurrency };
    worker.postMessage(init);
    worker.on('message', (msg: FromWorker) => this.#onMessage(slot, msg));
    worker.on('error', (e) => this.#fail(new Error(`data loader worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`data loader worker exited unexpectedly (code ${code})`));
    });
    return slot;
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    // After close() a late result must not unref the worker that terminate() waits on.
    if (this.#closed) return;
    const p = this.#pending.get(msg.id);
    this.#pending.delete(msg.id);
    if (--slot.inflight === 0) slot.worker.unref();
    if (msg.type === 'batch') {
      for (const [file, reason] of msg.bad) this.#bad(file, reason);
      p?.resolve(msg.batch);
    } else {
      p?.reject(msg.dataError ? new DataError(msg.message, msg.path ?? undefined) : new Error(msg.message));
    }
  }

  #fail(e: Error): void {
    this.#broken ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  #bad(file: string, reason: string): void {
    if (this.#warned.has(file)) return;
    this.#warned.add(file);
    this.#onWarning(`skipping unreadable image ${file}: ${reason}`);
  }
}
