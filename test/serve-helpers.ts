// Run folders written by hand as the trainer writes them (config.json, metrics.jsonl,
// samples/, checkpoints/), and small HTTP and Server-Sent-Events clients that send a
// request target exactly as given (fetch would normalise `..` away before sending).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';

export interface FixtureRun {
  dir: string;
  model?: string;
  /** kimg-long (image family) run unless epochs is given. */
  kimg?: number;
  epochs?: number;
  rows?: Record<string, unknown>[];
  samples?: string[];
}

/** A training row at `kimg` with two losses that fall as training goes on. */
export function row(step: number, kimg: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { step, kimg, epoch: 0, loss_D: 1 / (1 + step), loss_G: 2 / (1 + step), lr_mult: 1, img_per_s: 100 + step, sec: step, ...extra };
}

export async function png(color: string, size = 8): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: color } }).png().toBuffer();
}

export async function writeRun(f: FixtureRun): Promise<void> {
  mkdirSync(join(f.dir, 'samples'), { recursive: true });
  mkdirSync(join(f.dir, 'checkpoints', '000000.000'), { recursive: true });
  const options: Record<string, unknown> = f.epochs
    ? { model: f.model ?? 'pix2pix', data: 'shapes-pairs', crop_size: 32, n_epochs: f.epochs, n_epochs_decay: 0, save_epoch_freq: 1 }
    : { model: f.model ?? 'dcgan', data: 'shapes', resolution: 32, kimg: f.kimg ?? 1 };
  writeFileSync(join(f.dir, 'config.json'), JSON.stringify({ ganforge: '0.1.0', options, classes: null, dataset: { source: options.data, kind: options.data, length: 100 } }));
  writeFileSync(join(f.dir, 'checkpoints', '000000.000', 'state.json'), JSON.stringify({ step: 0, kimg: 0 }));
  writeFileSync(join(f.dir, 'checkpoints', '000000.000', 'model.safetensors'), Buffer.alloc(16));
  writeFileSync(join(f.dir, 'metrics.jsonl'), (f.rows ?? []).map((r) => JSON.stringify(r) + '\n').join(''));
  for (const [i, name] of (f.samples ?? ['000000.000.png']).entries()) writeFileSync(join(f.dir, 'samples', name), await png(['#f00', '#0f0', '#00f'][i % 3]));
}

export function appendRows(dir: string, rows: Record<string, unknown>[]): void {
  appendFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with the target sent verbatim. */
export function raw(base: string, target: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: target, method: o.method ?? 'GET', headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
  /** ms since the stream opened. */
  at: number;
}

/** A Server-Sent-Events stream: every event it has received, and a way to wait for one. */
export class Sse {
  readonly events: SseEvent[] = [];
  #t0 = performance.now();
  #waiters: (() => void)[] = [];
  #close: () => void = () => {};

  static open(base: string, target: string): Promise<Sse> {
    const s = new Sse();
    const u = new URL(base);
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: target }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) s.events.push({ event, data: JSON.parse(data) as Record<string, unknown>, at: performance.now() - s.#t0 });
          }
          for (const w of s.#waiters.splice(0)) w();
        });
        resolve(s);
      });
      req.on('error', reject);
      s.#close = () => req.destroy();
      req.end();
    });
  }

  /** The first event after index `from` that `pred` accepts, within `ms`. */
  async waitFor(pred: (e: SseEvent) => boolean, ms = 2000, from = 0): Promise<SseEvent> {
    const deadline = performance.now() + ms;
    for (;;) {
      const e = this.events.slice(from).find(pred);
      if (e) return e;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no matching event within ${ms} ms; got: ${this.events.map((x) => x.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#close();
  }
}
