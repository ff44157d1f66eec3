/**
 * The Hugging Face safetensors format, our checkpoint format.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON mapping each tensor
 * name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
 * buffer) plus an optional "__metadata__" string map, then the data buffer. Files we
 * write are byte-identical to what the reference (Rust) writer produces for the same
 * input, so `safetensors.torch.load_file` reads them and diffs between the two are empty:
 * compact JSON, header padded with spaces to a multiple of 8 so the data starts aligned,
 * tensors sorted by dtype (widest first, so every tensor stays aligned) then by name.
 *
 * Reading is strict: a checkpoint that is silently half-read is worse than an error, so
 * every inconsistency is reported in one line naming the file and the tensor.
 */

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
import { byteLength, type DType, plainBytes, type RawTensor, validateRawTensor } from './raw.js';

const TO_ST: Readonly<Record<DType, string>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const FROM_ST: ReadonlyMap<string, DType> = new Map(
  (Object.entries(TO_ST) as [DType, string][]).map(([d, s]) => [s, d]),
);

// The format defines these too, but no DType here can hold them; naming them in the
// error tells the user the file is fine and the limitation is ours.
const KNOWN_UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

// Position of each dtype in the reference implementation's Dtype enum. Its writer
// sorts tensors by this, descending, then by name; matching it gives identical bytes.
const RANK: Readonly<Record<DType, number>> = {
  bool: 0,
  uint8: 1,
  int8: 2,
  int16: 3,
  float16: 4,
  bfloat16: 5,
  int32: 6,
  float32: 7,
  float64: 8,
  int64: 9,
};

/** The reference reader refuses headers above 100 MB; a larger one is a corrupt length. */
const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface Safetensors {
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

const utf8 = new TextEncoder();

/** Rust compares names as UTF-8 bytes; JS `<` compares UTF-16 units, which differs above U+FFFF. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sets an own property even for names like "__proto__", which plain assignment would not. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function encodeSafetensors(
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === METADATA_KEY) throw new Error(`safetensors: '${METADATA_KEY}' cannot be a tensor name`);
    validateRawTensor(tensors[name], `safetensors: tensor '${name}'`);
  }
  names.sort((a, b) => RANK[tensors[b]!.dtype] - RANK[tensors[a]!.dtype] || compareUtf8(a, b));

  // Built by hand rather than JSON.stringify(object) so that key order is exactly ours
  // even for integer-like names, which JS objects would move to the front.
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const entries = Object.keys(metadata).map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${entries.join(',')}}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${TO_ST[t.dtype]}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLen = json.byteLength + ((8 - (json.byteLength % 8)) % 8);

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const data = tensors[name]!.data;
    out.set(data, pos);
    pos += data.byteLength;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a safetensors file. Tensor data are views into `bytes` (no copy); tensors come
 * back in header order. `name` only labels error messages.
 */
export function decodeSafetensors(input: Uint8Array, name = '<memory>'): Safetensors {
  const bytes = plainBytes(input);
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`not a safetensors file: ${bytes.byteLength} bytes is too short for the header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(bytes.byteLength - 8)) {
    fail(`not a safetensors file or truncated: header length ${n64} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header is not a JSON object (does not start with "{")');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dup = findDuplicateKey(text);
  if (dup !== undefined) fail(`header has duplicate key '${dup}'`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, info] of Object.entries(header as Record<string, unknown>)) {
    if (key === METADATA_KEY) {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`'${METADATA_KEY}' is not an object`);
      for (const [mk, mv] of Object.entries(info as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`metadata '${mk}' is not a string`);
        setOwn(metadata, mk, mv as string);
      }
      continue;
    }
    entries.push(parseEntry(key, info, fail));
  }

  // Tensors must tile the data buffer exactly: no gaps (hidden bytes nobody accounts
  // for), no overlaps (two names aliasing one region), nothing after the last one.
  const dataLen = bytes.byteLength - 8 - n;
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expect = 0;
  let prev: Entry | undefined;
  for (const e of byOffset) {
    if (e.end > dataLen) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] run past the end of the data (${dataLen} bytes); file truncated?`);
    }
    if (e.begin < expect) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev!.name}' [${prev!.begin}, ${prev!.end}]`);
    }
    if (e.begin > expect) {
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${expect}`);
    }
    expect = e.end;
    prev = e;
  }
  if (expect !== dataLen) fail(`${dataLen - expect} bytes of trailing data after the last tensor`);

  const base = 8 + n;
  const tensors: Record<string, RawTensor> = {};
  for (const e of entries) {
    setOwn(tensors, e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(base + e.begin, base + e.end) });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, info: unknown, fail: (msg: string) => never): Entry {
  const where = `tensor '${name}'`;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`${where}: entry is not an object`);
  const { dtype: st, shape, data_offsets: offs } = info as Record<string, unknown>;
  if (typeof st !== 'string') fail(`${where}: missing dtype`);
  const dtype = FROM_ST.get(st as string);
  if (dtype === undefined) {
    fail(KNOWN_UNSUPPORTED.has(st as string)
      ? `${where}: dtype '${String(st)}' is not supported (supported: ${[...FROM_ST.keys()].join(', ')})`
      : `${where}: unknown dtype '${String(st)}'`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(`${where}: data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  let need: number;
  try {
    need = byteLength(dtype!, shape as number[]);
  } catch (e) {
    return fail(`${where}: ${(e as Error).message}`);
  }
  if (end - begin !== need) {
    fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${String(st)} [${(shape as number[]).join(', ')}] needs ${need}`);
  }
  return { name, dtype: dtype!, shape: [...(shape as number[])], begin, end };
}

/**
 * JSON.parse keeps the last of duplicate keys without a word; a header with two entries
 * for one tensor is ambiguous, so it is rejected. Runs on text JSON.parse has already
 * accepted, so only strings and nesting need tracking.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      const top = stack[stack.length - 1];
      if (text[j] === ':' && top) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
      }
    }
  }
  return undefined;
}

export async function readSafetensorsFile(path: string): Promise<Safetensors> {
  return decodeSafetensors(await readOrExplain(path), path);
}

export function readSafetensorsFileSync(path: string): Safetensors {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Encodes and writes atomically: a crash mid-write leaves the previous file intact. */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function writeSafetensorsFileSync(
  path: string,
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
}

async function readOrExplain(path: string): Promise<Uint8Array> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}
