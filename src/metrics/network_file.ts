// Where the feature networks' files come from: a path the user gives (--inception, or the
// environment), else a cache folder that a first use fills by downloading NVIDIA's file
// once, checked by SHA-256 and renamed into place only when whole, so a partial or wrong
// download is never used. Without a network, one line says where to get the file.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UsageError } from '../config/errors.js';

/** A feature network ganforge knows by name. */
export interface KnownNetwork {
  /** What the user reads in messages. */
  title: string;
  file: string;
  url: string;
  /** The option that points at a copy, and the environment variable that does. */
  option: string;
  env: string;
  /**
   * The file's SHA-256 when it has been pinned (a download must match it). These machines
   * have never seen NVIDIA's files, so no hash is pinned yet: set GANFORGE_<NAME>_SHA256 to
   * require one; a download is otherwise checked against the hash recorded beside it.
   */
  sha256: string | null;
}

export const INCEPTION: KnownNetwork = {
  title: 'the Inception network (TF 2015-12-05, as NVIDIA ships it in TorchScript)',
  file: 'inception-2015-12-05.pt',
  url: 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt',
  option: '--inception',
  env: 'GANFORGE_INCEPTION',
  sha256: null,
};

export const VGG16: KnownNetwork = {
  title: "NVIDIA's VGG16 feature network (TorchScript, for precision/recall)",
  file: 'vgg16.pt',
  url: 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt',
  option: '--vgg',
  env: 'GANFORGE_VGG',
  sha256: null,
};

/** ganforge's cache folder: $GANFORGE_CACHE, else ~/.cache/ganforge. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GANFORGE_CACHE || join(homedir(), '.cache', 'ganforge');
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export class DownloadError extends Error {
  override name = 'DownloadError';
}

/**
 * Downloads `url` to `dest`: into `<dest>.part-<pid>` first, renamed into place only when
 * the body is whole (as long as Content-Length says) and its SHA-256 is `sha256` (when
 * given); anything else removes the partial file and throws. Returns the file's SHA-256.
 */
export async function download(url: string, dest: string, opts: { sha256?: string | null; timeoutMs?: number; onProgress?: (bytes: number, total: number | null) => void } = {}): Promise<string> {
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part-${process.pid}`;
  const h = createHash('sha256');
  try {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(new DownloadError(`no answer within ${(opts.timeoutMs ?? 30_000) / 1000} s`)), opts.timeoutMs ?? 30_000);
    let res: Response;
    try {
      res = await fetch(url, { signal: ctrl.signal, redirect: 'follow' });
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok || !res.body) throw new DownloadError(`the server answered ${res.status} ${res.statusText}`);
    const lengthHeader = res.headers.get('content-length');
    const total = lengthHeader !== null ? Number(lengthHeader) : null;
    const out = createWriteStream(part);
    let bytes = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        h.update(chunk);
        bytes += chunk.length;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        opts.onProgress?.(bytes, total);
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    }
    if (total !== null && bytes !== total) throw new DownloadError(`the download stopped after ${bytes} of ${total} bytes`);
    const got = h.digest('hex');
    if (opts.sha256 && got !== opts.sha256.toLowerCase()) {
      throw new DownloadError(`the file has SHA-256 ${got}, not the expected ${opts.sha256}, and was not kept`);
    }
    renameSync(part, dest);
    return got;
  } catch (e) {
    rmSync(part, { force: true });
    if (e instanceof DownloadError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new DownloadError(cause?.code ?? cause?.message ?? (e as Error).message);
  }
}

/**
 * The path of a known network's file: `given` (the option), else its environment variable,
 * else the copy in the cache folder, downloaded there on first use. A file given by the user
 * must exist; a failed download ends in one line saying where to get the file and put it.
 */
export async function networkFile(net: KnownNetwork, given: string | null, env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<string> {
  const chosen = given ?? env[net.env] ?? null;
  if (chosen) {
    if (!existsSync(chosen) || !statSync(chosen).isFile()) throw new UsageError(`${given ? net.option : net.env} ${chosen}: no such file (expected ${net.file}, ${net.title})`);
    return chosen;
  }
  const dest = join(cacheDir(env), net.file);
  const pinned = env[`${net.env}_SHA256`] || net.sha256;
  const recorded = `${dest}.sha256`;
  if (existsSync(dest)) {
    // A file already in the cache is checked against the pinned hash, or the one its
    // download recorded: a file damaged since is named, not used.
    const want = pinned || (existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : null);
    if (want) {
      const got = await sha256File(dest);
      if (got !== want.toLowerCase()) throw new UsageError(`${dest} has SHA-256 ${got}, not ${want}: delete it to download it again, or pass ${net.option} PATH`);
    }
    return dest;
  }
  const url = env[`${net.env}_URL`] || net.url;
  log(`downloading ${net.title} once into ${dest} from ${url}`);
  try {
    const got = await download(url, dest, { sha256: pinned });
    writeFileSync(recorded, got + '\n');
    log(`${net.file}: SHA-256 ${got}`);
    return dest;
  } catch (e) {
    if (!(e instanceof DownloadError)) throw e;
    throw new UsageError(
      `${net.file} is needed and could not be downloaded from ${url} (${e.message}): download it on a machine with internet ` +
        `and put it at ${dest} (the cache folder, GANFORGE_CACHE), or pass ${net.option} PATH (or set ${net.env})`,
    );
  }
}
