import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromNumbers, type RawTensor, toNumbers } from '../src/io/raw.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsFile,
  readSafetensorsFileSync,
  writeSafetensorsFile,
  writeSafetensorsFileSync,
} from '../src/io/safetensors.js';
import { repoRoot } from './helpers.js';


const FIXTURES = path.join(repoRoot(), 'test/fixtures/pth');

interface Described { dtype: string; shape: number[]; values: number[] }
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as {
  safetensors: Record<string, { tensors: Record<string, Described>; metadata: Record<string, string> }>;
};

function sample(): Record<string, RawTensor> {
  return {
    'w.f32': fromNumbers('float32', [2, 3], [1, 2, 3, 4, 5, -6.5]),
    'f64': fromNumbers('float64', [2], [Math.PI, -1e-300]),
    'h': fromNumbers('float16', [3], [0.5, -2, 65504]),
    'bf': fromNumbers('bfloat16', [1, 2], [1.5, -3]),
    'i64': fromNumbers('int64', [2], [-(2 ** 40), 12]),
    'i32': fromNumbers('int32', [1], [-7]),
    'i16': fromNumbers('int16', [2, 1], [300, -300]),
    'i8': fromNumbers('int8', [1], [-100]),
    'u8': fromNumbers('uint8', [3], [0, 128, 255]),
    'mask': fromNumbers('bool', [2], [1, 0]),
    'scalar': fromNumbers('float32', [], [42]),
    'empty': fromNumbers('float32', [0, 4], []),
    'empty_i64': fromNumbers('int64', [3, 0], []),
  };
}

function headerOf(bytes: Uint8Array): { len: number; text: string } {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { len, text: Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8') };
}

function assertSameTensors(actual: Record<string, RawTensor>, want: Record<string, RawTensor>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(want).sort());
  for (const k of Object.keys(want)) {
    assert.equal(actual[k]!.dtype, want[k]!.dtype, k);
    assert.deepEqual(actual[k]!.shape, want[k]!.shape, k);
    assert.deepEqual(Buffer.from(actual[k]!.data), Buffer.from(want[k]!.data), k);
  }
}

test('encode/decode round-trips every dtype, empty and 0-d tensors, and metadata', () => {
  const tensors = sample();
  const metadata = { format: 'pt', step: '1200', 'ünïcode': '✓' };
  const bytes = encodeSafetensors(tensors, metadata);
  const back = decodeSafetensors(bytes);
  assertSameTensors(back.tensors, tensors);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(toNumbers(back.tensors['h']!), [0.5, -2, 65504]);
  assert.deepEqual(back.tensors['scalar']!.shape, []);

  const none = decodeSafetensors(encodeSafetensors(tensors));
  assert.deepEqual(none.metadata, {});
  assert.ok(!headerOf(encodeSafetensors(tensors)).text.includes('__metadata__'));
  const nothing = decodeSafetensors(encodeSafetensors({}));
  assert.deepEqual(nothing.tensors, {});
});

test('layout follows the reference writer: aligned header, widest dtype first, then name', () => {
  const bytes = encodeSafetensors(sample(), { format: 'pt' });
  const { len, text } = headerOf(bytes);
  assert.equal(len % 8, 0);
  assert.match(text, /^\{"__metadata__":\{"format":"pt"\},/);
  assert.match(text, / *$/);
  const order = Object.keys(JSON.parse(text) as object).filter((k) => k !== '__metadata__');
  assert.deepEqual(order, [
    'empty_i64', 'i64', 'f64', 'empty', 'scalar', 'w.f32', 'i32', 'bf', 'h', 'i16', 'i8', 'u8', 'mask',
  ]);
  // Data offsets then follow that order, each starting where the previous ended.
  const header = JSON.parse(text) as Record<string, { data_offsets: [number, number] }>;
  let at = 0;
  for (const k of order) {
    assert.equal(header[k]!.data_offsets[0], at, k);
    at = header[k]!.data_offsets[1];
  }
  assert.equal(bytes.byteLength, 8 + len + at);
});

test('names are sorted as UTF-8 bytes and integer-like names keep their place', () => {
  const t = () => fromNumbers('float32', [1], [0]);
  const bytes = encodeSafetensors({ 'é': t(), '𝄞': t(), '\uffff': t(), '10': t(), '9': t(), ['__proto__']: t() });
  const { text } = headerOf(bytes);
  const names = [...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
  assert.deepEqual(names, ['10', '9', '__proto__', 'é', '\uffff', '𝄞']);
  const back = decodeSafetensors(bytes);
  assert.ok(Object.prototype.hasOwnProperty.call(back.tensors, '__proto__'));
  assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
});

test('decodes the Python-made reference file and re-encodes it byte for byte', () => {
  const file = path.join(FIXTURES, 'ref.safetensors');
  const want = expected.safetensors['ref.safetensors']!;
  const { tensors, metadata } = readSafetensorsFileSync(file);
  assert.deepEqual(metadata, want.metadata);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(want.tensors).sort());
  for (const [name, d] of Object.entries(want.tensors)) {
    const t = tensors[name]!;
    assert.equal(t.dtype, d.dtype, name);
    assert.deepEqual(t.shape, d.shape, name);
    assert.deepEqual(toNumbers(t), d.values, name);
  }
  assert.deepEqual(Buffer.from(encodeSafetensors(tensors, metadata)), fs.readFileSync(file));
});

test('file write is atomic and leaves no temporary files', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganforge-st-'));
  try {
    const file = path.join(dir, 'model.safetensors');
    await writeSafetensorsFile(file, sample(), { step: '1' });
    await writeSafetensorsFile(file, { only: fromNumbers('float32', [1], [3]) }, { step: '2' });
    const back = await readSafetensorsFile(file);
    assert.deepEqual(back.metadata, { step: '2' });
    assert.deepEqual(Object.keys(back.tensors), ['only']);
    writeSafetensorsFileSync(file, sample());
    assertSameTensors(readSafetensorsFileSync(file).tensors, sample());
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);

    // A failing write (here: the target is a directory) reports the path and cleans up.
    fs.mkdirSync(path.join(dir, 'taken'));
    await assert.rejects(writeSafetensorsFile(path.join(dir, 'taken'), sample()), /cannot write .*taken/);
    assert.throws(() => writeSafetensorsFileSync(path.join(dir, 'taken'), sample()), /cannot write .*taken/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'taken']);
    await assert.rejects(readSafetensorsFile(path.join(dir, 'missing.safetensors')), /cannot read .*missing\.safetensors/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('encode refuses malformed input', () => {
  assert.throws(() => encodeSafetensors({ w: { dtype: 'float32', shape: [2], data: new Uint8Array(4) } }),
    /tensor 'w': float32 \[2\] needs 8 bytes, data has 4/);
  assert.throws(() => encodeSafetensors({ __metadata__: fromNumbers('float32', [1], [0]) }), /cannot be a tensor name/);
  assert.throws(() => encodeSafetensors({}, { n: 3 as unknown as string }), /metadata 'n' must be a string/);
});

/** A file with the given header (object or raw text) and data length; the header is padded. */
function build(header: unknown, dataLen: number, opts: { pad?: boolean } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (opts.pad !== false) text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const json = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

test('each kind of corruption gives a one-line error naming the file and tensor', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /^x\.st: not a safetensors file: 5 bytes is too short/],
    ['header past end', (() => {
      const b = build({ a: f32(0, 8) }, 8);
      new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
      return b;
    })(), /^x\.st: not a safetensors file or truncated: header length 1099511627776 runs past the end of the file/],
    ['bad json', build('{"a": {"dtype": "F32",', 0), /^x\.st: header is not valid JSON/],
    ['not an object', build('[1, 2]', 0), /^x\.st: header is not a JSON object/],
    ['bad utf-8', (() => {
      const b = build('{"a":1}', 0);
      b[10] = 0xff;
      return b;
    })(), /^x\.st: header is not valid UTF-8$/],
    ['unknown dtype', build({ a: { dtype: 'X99', shape: [1], data_offsets: [0, 4] } }, 4), /^x\.st: tensor 'a': unknown dtype 'X99'$/],
    ['unsupported dtype', build({ a: { dtype: 'U16', shape: [2], data_offsets: [0, 4] } }, 4), /^x\.st: tensor 'a': dtype 'U16' is not supported/],
    ['missing dtype', build({ a: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor 'a': missing dtype/],
    ['bad shape', build({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor 'a': shape \[-1\] is not a list of non-negative integers/],
    ['bad offsets', build({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /tensor 'a': data_offsets \[0\] is not a pair/],
    ['reversed offsets', build({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 4), /tensor 'a': data_offsets \[4, 0\] end before they begin/],
    ['size mismatch', build({ a: f32(0, 8, [3]) }, 8), /^x\.st: tensor 'a': data_offsets \[0, 8\] hold 8 bytes but F32 \[3\] needs 12$/],
    ['out of range', build({ a: f32(0, 8), b: f32(8, 16) }, 12), /^x\.st: tensor 'b': data_offsets \[8, 16\] run past the end of the data \(12 bytes\); file truncated\?$/],
    ['overlap', build({ a: f32(0, 8), b: f32(4, 12) }, 12), /^x\.st: tensor 'b': data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]$/],
    ['gap', build({ a: f32(0, 4), b: f32(8, 12) }, 12), /^x\.st: tensor 'b': data_offsets \[8, 12\] leave a gap after byte 4$/],
    ['gap at start', build({ a: f32(4, 8) }, 8), /tensor 'a': data_offsets \[4, 8\] leave a gap after byte 0/],
    ['trailing garbage', build({ a: f32(0, 8) }, 11), /^x\.st: 3 bytes of trailing data after the last tensor$/],
    ['duplicate key', build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4),
      /^x\.st: header has duplicate key 'a'$/],
    ['duplicate nested key', build('{"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}', 4), /duplicate key 'dtype'/],
    ['bad metadata', build({ __metadata__: { step: 3 } }, 0), /^x\.st: metadata 'step' is not a string$/],
    ['metadata not an object', build({ __metadata__: 'x' }, 0), /'__metadata__' is not an object/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes, 'x.st'), (e: Error) => {
      assert.match(e.message, re, what);
      assert.ok(!e.message.includes('\n'), `${what}: one line`);
      return true;
    }, what);
  }
});

test('lenient where the format is: unpadded headers, keys in any order, strings with braces', () => {
  const text = '{"b":{"dtype":"I8","shape":[1],"data_offsets":[4,5]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{"k":"{\\"x\\":[}"}}';
  const bytes = build(text, 5, { pad: false });
  bytes.set(fromNumbers('float32', [], [1.25]).data, bytes.byteLength - 5);
  bytes[bytes.byteLength - 1] = 0xfe;
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(toNumbers(tensors['a']!), [1.25]);
  assert.deepEqual(toNumbers(tensors['b']!), [-2]);
  assert.deepEqual(metadata, { k: '{"x":[}' });
  // Several empty tensors may share one offset.
  const empties = build({ a: f32(0, 0, [0]), b: f32(0, 0, [0, 2]), c: f32(0, 4) }, 4);
  assert.deepEqual(Object.keys(decodeSafetensors(empties).tensors), ['a', 'b', 'c']);
});

test('a truncated real file is reported as truncated', () => {
  const bytes = encodeSafetensors(sample());
  assert.throws(() => decodeSafetensors(bytes.subarray(0, bytes.byteLength - 1), 'cut.safetensors'),
    /^Error: cut\.safetensors: tensor 'mask': data_offsets \[\d+, \d+\] run past the end of the data/);
  assert.throws(() => decodeSafetensors(bytes.subarray(0, 40), 'cut.safetensors'), /header length \d+ runs past the end/);
});
