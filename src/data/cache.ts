// The prepared cache: a folder decoded and resized once into a single file of raw uint8
// images (BigGAN's HDF5 file plays this role). Training reads each image from the file
// when it needs it, or, with --load_in_mem (the reference's option of that name), reads the
// whole file into memory first so epochs run at memory speed. Layout, all little-endian:
//
//   0   magic "GFCACHE\0", u32 version, u32 0, u64 index offset, u64 index length
//   64  count images, each height x width x channels bytes (HWC), back to back
//   ..  labels: count int32 (only when prepared with class labels), 8-byte aligned
//   ..  index: UTF-8 JSON (CacheIndex)
//
// The index sits at the end because the number of readable images is only known once
// every file has been decoded, and streaming the images straight to disk is what lets a
// dataset larger than memory be prepared. The header points at it, so `dataset info`
// reads 64 bytes and the index without touching the images.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataError, checkResolution, oneLine } from './errors.js';
import { type Channels, type RawImage, ImageDecodeError, decodeImage, flipImage, toChannels } from './image.js';
import { type PreprocessOptions, applyTransform } from './preprocess.js';
import { Rng } from './rng.js';
import type { Sample, Sampler } from './sampler.js';
import { listLabeledImages, requireImages } from './scan.js';

const MAGIC = 'GFCACHE\0';
export const CACHE_VERSION = 1;
const HEADER_BYTES = 64;

export interface CacheIndex {
  format: 'ganforge-dataset-cache';
  version: number;
  count: number;
  height: number;
  width: number;
  channels: Channels;
  /** Bytes per image: height * width * channels. */
  imageBytes: number;
  dataOffset: number;
  /** Where the int32 labels start, or null for an unlabelled cache. */
  labelsOffset: number | null;
  classes: string[] | null;
  /** The folder it was prepared from, and each image's path relative to it. */
  source: string;
  files: string[];
  /** Files that could not be decoded and were left out (relative paths). */
  skipped: string[];
  /** Files that were not images (ignored). */
  ignored: number;
  /** How the images were brought to size. */
  resize: string;
  created: string;
}

/** True when `file` starts with the cache magic (cheap: reads 8 bytes). */
export function isCacheFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(8);
    return fs.readSync(fd, b, 0, 8, 0) === 8 && b.toString('latin1') === MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function readExactly(fd: number, into: Uint8Array, position: number, file: string): void {
  let off = 0;
  while (off < into.length) {
    const n = fs.readSync(fd, into, off, Math.min(into.length - off, 1 << 30), position + off);
    if (n === 0) throw new DataError(`${file} is truncated: prepare the cache again with 'ganforge dataset prepare'`, file);
    off += n;
  }
}

function readIndexFd(fd: number, file: string): CacheIndex {
  const head = new Uint8Array(HEADER_BYTES);
  readExactly(fd, head, 0, file);
  if (Buffer.from(head.subarray(0, 8)).toString('latin1') !== MAGIC) {
    throw new DataError(`${file} is not a ganforge dataset cache (expected one made by 'ganforge dataset prepare')`, file);
  }
  const dv = new DataView(head.buffer);
  const version = dv.getUint32(8, true);
  if (version !== CACHE_VERSION) {
    throw new DataError(`${file} is a version ${version} cache; this ganforge reads version ${CACHE_VERSION}: prepare it again`, file);
  }
  const indexOffset = Number(dv.getBigUint64(16, true));
  const indexLength = Number(dv.getBigUint64(24, true));
  if (indexOffset === 0 || indexLength === 0) throw new DataError(`${file} is incomplete (its writer did not finish): prepare it again`, file);
  const size = fs.fstatSync(fd).size;
  if (indexOffset + indexLength > size) {
    throw new DataError(`${file} is truncated (expected at least ${indexOffset + indexLength} bytes, found ${size}): prepare it again`, file);
  }
  const json = new Uint8Array(indexLength);
  readExactly(fd, json, indexOffset, file);
  let index: CacheIndex;
  try {
    index = JSON.parse(Buffer.from(json).toString('utf8')) as CacheIndex;
  } catch {
    throw new DataError(`${file} has a damaged index: prepare the cache again`, file);
  }
  const end = index.dataOffset + index.count * index.imageBytes;
  if (index.imageBytes !== index.height * index.width * index.channels || end > indexOffset) {
    throw new DataError(`${file} has an inconsistent index: prepare the cache again`, file);
  }
  return index;
}

/** Reads only the header and the index (for `dataset info`, and training from the file). */
export function readCacheIndex(file: string): CacheIndex {
  const fd = fs.openSync(file, 'r');
  try {
    return readIndexFd(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function readLabels(fd: number, index: CacheIndex, file: string): Int32Array | null {
  if (index.labelsOffset === null) return null;
  const bytes = new Uint8Array(index.count * 4);
  readExactly(fd, bytes, index.labelsOffset, file);
  return new Int32Array(bytes.buffer);
}

export interface LoadedCache {
  index: CacheIndex;
  /** All images back to back; shared so every worker thread reads the same memory. */
  images: SharedArrayBuffer;
  labels: Int32Array | null;
}

/** Reads the whole cache into memory. */
export function loadCache(file: string): LoadedCache {
  const fd = fs.openSync(file, 'r');
  try {
    const index = readIndexFd(fd, file);
    const images = new SharedArrayBuffer(index.count * index.imageBytes);
    readExactly(fd, new Uint8Array(images), index.dataOffset, file);
    return { index, images, labels: readLabels(fd, index, file) };
  } finally {
    fs.closeSync(fd);
  }
}

// ---- preparing ----

export interface PrepareOptions {
  /** The side of square images, or with `shape` the shorter side. */
  resolution: number;
  /** Non-square images of this size instead (resized without keeping their aspect). */
  shape?: { width: number; height: number };
  out: string;
  /** Label images by their first-level sub-folder. */
  classes?: boolean;
  channels?: Channels;
  /** Replace an existing `out`. */
  force?: boolean;
  maxDatasetSize?: number;
  /** Images decoded at once (sharp runs them on its thread pool). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

export interface PrepareSummary {
  out: string;
  count: number;
  skipped: string[];
  ignored: number;
  resolution: number;
  width: number;
  height: number;
  channels: Channels;
  classes: string[] | null;
  bytes: number;
  seconds: number;
}

/**
 * How a folder image becomes a cache image: the same bicubic resize to R x R (or W x H) that a
 * folder read with `--preprocess resize_and_crop --load_size R --crop_size R` does, so
 * training from the cache sees exactly what training from the folder would (flips are
 * still drawn at load time).
 */
export function cacheTransform(resolution: number, height = resolution): PreprocessOptions {
  return { preprocess: 'resize_and_crop', loadSize: resolution, cropSize: resolution, noFlip: true, ...(height !== resolution ? { height } : {}) };
}

export async function prepareCache(sourceDir: string, o: PrepareOptions): Promise<PrepareSummary> {
  const t0 = performance.now();
  const res = checkResolution(o.resolution);
  const width = o.shape ? checkResolution(o.shape.width, 'width') : res, height = o.shape ? checkResolution(o.shape.height, 'height') : res;
  const channels = o.channels ?? 3;
  const out = path.resolve(o.out);
  const root = path.resolve(sourceDir);
  if (fs.existsSync(out) && !o.force) throw new DataError(`${out} already exists (pass --force to replace it)`, out);
  if (!fs.existsSync(path.dirname(out))) throw new DataError(`${path.dirname(out)}: no such folder (expected a folder to write ${path.basename(out)} into)`, out);
  let files: string[];
  let labels: Int32Array | null = null;
  let classes: string[] | null = null;
  let ignored: number;
  if (o.classes) {
    const l = listLabeledImages(root);
    ({ files, classes, ignored } = l);
    labels = l.labels;
    if (l.unlabeled > 0) o.onWarning?.(`${l.unlabeled} image(s) directly in ${root} belong to no class folder and are left out`);
  } else {
    ({ files, ignored } = requireImages(root));
  }
  const max = o.maxDatasetSize ?? Infinity;
  if (files.length > max) {
    files = files.slice(0, max);
    labels = labels?.slice(0, max) ?? null;
  }
  const transform = cacheTransform(width, height);
  const imageBytes = width * height * channels;
  const tmp = `${out}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', 0o644);
  let pos = 0;
  const write = (bytes: Uint8Array): void => {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off, pos + off);
    pos += bytes.length;
  };
  try {
    write(new Uint8Array(HEADER_BYTES));
    const kept: string[] = [];
    const keptLabels: number[] = [];
    const skipped: string[] = [];
    const decode = async (file: string): Promise<RawImage | string> => {
      try {
        return await applyTransform(await decodeImage(file, channels), transform, { x: 0, y: 0, flip: false });
      } catch (e) {
        return e instanceof ImageDecodeError ? e.reason : oneLine(e);
      }
    };
    // A sliding window keeps `window` decodes in flight while writing in file order.
    const window = Math.max(1, o.concurrency ?? 16);
    const pending: Promise<RawImage | string>[] = [];
    let next = 0;
    while (next < files.length && pending.length < window) pending.push(decode(files[next++]));
    for (let i = 0; i < files.length; i++) {
      const got = await pending.shift()!;
      if (next < files.length) pending.push(decode(files[next++]));
      const rel = path.relative(root, files[i]);
      if (typeof got === 'string') {
        skipped.push(rel);
        o.onWarning?.(`skipping unreadable image ${files[i]}: ${got}`);
      } else {
        write(got.data);
        kept.push(rel);
        if (labels) keptLabels.push(labels[i]);
      }
      o.onProgress?.(i + 1, files.length);
    }
    if (kept.length === 0) throw new DataError(`${root}: none of its ${files.length} images can be decoded (expected png, jpg or webp files)`, root);
    let labelsOffset: number | null = null;
    if (labels) {
      const pad = (8 - (pos % 8)) % 8;
      write(new Uint8Array(pad));
      labelsOffset = pos;
      write(new Uint8Array(Int32Array.from(keptLabels).buffer));
    }
    const index: CacheIndex = {
      format: 'ganforge-dataset-cache', version: CACHE_VERSION, count: kept.length, height, width, channels,
      imageBytes, dataOffset: HEADER_BYTES, labelsOffset, classes, source: root, files: kept, skipped, ignored,
      resize: 'bicubic, to width x height (aspect not kept)', created: new Date().toISOString(),
    };
    const indexOffset = pos;
    const json = Buffer.from(JSON.stringify(index), 'utf8');
    write(json);
    const head = new Uint8Array(HEADER_BYTES);
    head.set(Buffer.from(MAGIC, 'latin1'), 0);
    const dv = new DataView(head.buffer);
    dv.setUint32(8, CACHE_VERSION, true);
    dv.setBigUint64(16, BigInt(indexOffset), true);
    dv.setBigUint64(24, BigInt(json.length), true);
    // The header goes in last: a cache whose writer died never looks complete.
    fs.writeSync(fd, head, 0, HEADER_BYTES, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, out);
    try {
      const dfd = fs.openSync(path.dirname(out), 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    } catch {
      /* some filesystems cannot sync a directory; the rename is still atomic */
    }
    return {
      out, count: kept.length, skipped, ignored, resolution: res, width, height, channels, classes, bytes: pos,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* closed already */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

// ---- reading it as a dataset ----

export interface CacheSpec {
  kind: 'cache';
  path: string;
  /** Every image, read in at opening (--load_in_mem; shared by the worker threads), or null: each is read from the file at dataOffset + index · imageBytes. */
  images: SharedArrayBuffer | null;
  dataOffset: number;
  count: number;
  /** The side of its square images (the height of non-square ones). */
  resolution: number;
  width: number;
  height: number;
  storedChannels: Channels;
  channels: Channels;
  labels: Int32Array | null;
  classes: string[] | null;
  files: string[];
  noFlip: boolean;
}

export function openCache(file: string, o: { channels: Channels; classes: boolean; noFlip: boolean; resolution?: number; shape?: { width: number; height: number }; maxDatasetSize: number; loadInMem?: boolean }): CacheSpec {
  let c: { index: CacheIndex; images: SharedArrayBuffer | null; labels: Int32Array | null };
  if (o.loadInMem) c = loadCache(file);
  else {
    const fd = fs.openSync(file, 'r');
    try {
      const index = readIndexFd(fd, file);
      c = { index, images: null, labels: readLabels(fd, index, file) };
    } finally {
      fs.closeSync(fd);
    }
  }
  const ix = c.index;
  const want = o.shape ?? (o.resolution !== undefined ? { width: o.resolution, height: o.resolution } : null);
  if (want && (want.width !== ix.width || want.height !== ix.height)) {
    const size = want.width === want.height ? `${want.width}` : `${want.width}x${want.height}`;
    throw new DataError(`${file} holds ${ix.width}x${ix.height} images but ${want.width}x${want.height} are needed: prepare a cache with --resolution ${size}`, file);
  }
  if (o.classes && !c.labels) throw new DataError(`${file} has no class labels: prepare it again with --classes`, file);
  const count = Math.min(ix.count, o.maxDatasetSize);
  return {
    kind: 'cache', path: path.resolve(file), images: c.images, dataOffset: ix.dataOffset, count, resolution: ix.height, width: ix.width, height: ix.height, storedChannels: ix.channels,
    channels: o.channels, labels: o.classes ? c.labels : null, classes: o.classes ? ix.classes : null,
    files: ix.files, noFlip: o.noFlip,
  };
}

/** One image's bytes from the cache file (opened per read: a sampler has no end at which to close it). */
function readImage(spec: CacheSpec, index: number, bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  let fd: number;
  try {
    fd = fs.openSync(spec.path, 'r');
  } catch (e) {
    throw new DataError(`cannot read the dataset cache ${spec.path}: ${oneLine(e)}`, spec.path);
  }
  try {
    readExactly(fd, data, spec.dataOffset + index * bytes, spec.path);
  } finally {
    fs.closeSync(fd);
  }
  return data;
}

export function cacheSampler(spec: CacheSpec): Sampler {
  const { width, height } = spec;
  const bytes = width * height * spec.storedChannels;
  return {
    length: spec.count,
    async load(index: number, seed: number): Promise<Sample> {
      const data = spec.images ? new Uint8Array(spec.images, index * bytes, bytes) : readImage(spec, index, bytes);
      let a: RawImage = { data, width, height, channels: spec.storedChannels };
      if (!spec.noFlip && new Rng(seed).float() > 0.5) a = flipImage(a);
      a = toChannels(a, spec.channels);
      return { a, b: null, label: spec.labels ? spec.labels[index] : -1, pathA: `${spec.path}#${spec.files[index] ?? index}`, pathB: null };
    },
  };
}
