/**
 * The .pth reading stack: fixtures written by Python torch, read back and compared with
 * values torch itself computed (expected.json); the restricted unpickler; the zip reader;
 * and the malicious and corrupt files that must be refused with clear errors.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { unpickle } from '../src/io/pickle.js';
import { flattenStateDict, type PthValue, readPth, readPthFile, readPthFileSync, stateDictFrom } from '../src/io/pth.js';
import { isRawTensor, type RawTensor, toNumbers } from '../src/io/raw.js';
import { openZip } from '../src/io/zip.js';
import { repoRoot } from './helpers.js';


const FIXTURES = path.join(repoRoot(), 'test/fixtures/pth');
const fixture = (name: string) => path.join(FIXTURES, name);
const fixtureBytes = (name: string) => new Uint8Array(fs.readFileSync(fixture(name)));

interface Described { dtype: string; shape: number[]; values: number[] }
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as {
  pth: Record<string, Record<string, Described>>;
  misc: Record<string, unknown>;
  nested_scalars: Record<string, unknown>;
};

function assertMatches(actual: Record<string, RawTensor>, want: Record<string, Described>, file: string): void {
  assert.deepEqual(Object.keys(actual), Object.keys(want), `${file}: keys in order`);
  for (const [k, d] of Object.entries(want)) {
    const t = actual[k]!;
    assert.equal(t.dtype, d.dtype, `${file} ${k} dtype`);
    assert.deepEqual(t.shape, d.shape, `${file} ${k} shape`);
    assert.deepEqual(toNumbers(t), d.values, `${file} ${k} values`);
  }
}

const dict = (v: PthValue): { [k: string]: PthValue } => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v) && !isRawTensor(v) && !(v instanceof Uint8Array));
  return v as { [k: string]: PthValue };
};

// ------------------------------------------------------------------------------------
// A small ZIP writer, to repack torch archives (DEFLATE, ZIP64, big-endian) and to build
// corrupt ones. Independent of src/io/zip.ts on purpose.
// ------------------------------------------------------------------------------------

interface ZEntry { name: string; data: Uint8Array; deflate?: boolean; method?: number; flags?: number; size?: number }

function makeZip(entries: ZEntry[], opts: { zip64?: boolean } = {}): Uint8Array {
  const z64 = opts.zip64 ?? false;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = e.deflate ? zlib.deflateRawSync(e.data) : Buffer.from(e.data);
    const method = e.method ?? (e.deflate ? 8 : 0);
    const crc = zlib.crc32(e.data) >>> 0;
    const size = e.size ?? e.data.byteLength;
    const sat = 0xffffffff;
    const extra = Buffer.alloc(z64 ? 28 : 0);
    if (z64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(z64 ? 45 : 20, 4);
    lh.writeUInt16LE(e.flags ?? 0, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(0x21, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(z64 ? sat : body.length, 18);
    lh.writeUInt32LE(z64 ? sat : size, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(z64 ? 20 : 0, 28);
    const localExtra = z64 ? extra.subarray(0, 20) : Buffer.alloc(0); // sizes only
    if (z64) localExtra.writeUInt16LE(16, 2);
    const local = Buffer.concat([lh, name, Buffer.from(localExtra), body]);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(45, 4);
    ch.writeUInt16LE(z64 ? 45 : 20, 6);
    ch.writeUInt16LE(e.flags ?? 0, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE(0x21, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(z64 ? sat : body.length, 20);
    ch.writeUInt32LE(z64 ? sat : size, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(extra.length, 30);
    ch.writeUInt32LE(z64 ? sat : offset, 42);
    if (z64) extra.writeUInt16LE(24, 2);
    centrals.push(Buffer.concat([ch, name, extra]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  if (z64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(z64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(z64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(z64 ? 0xffffffff : offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, ...tail, eocd]));
}

/** The entries of a fixture archive, in order, for repacking. */
function entriesOf(file: string): ZEntry[] {
  const zip = openZip(fixtureBytes(file), file);
  return zip.names().map((name) => ({ name, data: Uint8Array.from(zip.read(name)) }));
}

// ------------------------------------------------------------------------------------
// A pickle assembler for hand-made streams.
// ------------------------------------------------------------------------------------

type Op = number | number[];
const bytesOf = (...ops: Op[]): Uint8Array => new Uint8Array(ops.flat());
const str = (s: string): number[] => {
  const b = [...Buffer.from(s, 'utf8')];
  return [0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b];
};
const int = (n: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return [0x4a, ...b];
};
const glob = (m: string, n: string): number[] => [0x63, ...Buffer.from(`${m}\n${n}\n`, 'latin1')];
const tuple = (...items: Op[]): number[] => [0x28, ...items.flat(), 0x74];
const PROTO2 = [0x80, 2];
const STOP = 0x2e;
const REDUCE = 0x52;

/** Pickle ops that rebuild a tensor from the persistent id `pid` (a tuple's ops). */
function rebuild(pid: number[], size: number[], stride: number[], offset = 0): number[] {
  return [
    ...glob('torch._utils', '_rebuild_tensor_v2'),
    ...tuple(
      [...pid, 0x51],
      int(offset),
      tuple(...size.map(int)),
      tuple(...stride.map(int)),
      0x89,
      [...glob('collections', 'OrderedDict'), 0x29, REDUCE],
    ),
    REDUCE,
  ];
}

/** data.pkl for one float32 tensor on storage '0' of `storageNumel` elements. */
function tensorPickle(storageNumel: number, size: number[], stride: number[], offset = 0): Uint8Array {
  const pid = tuple(str('storage'), glob('torch', 'FloatStorage'), str('0'), str('cpu'), int(storageNumel));
  return bytesOf(PROTO2, rebuild(pid, size, stride, offset), STOP);
}

const noGlobals = { globals: new Map() };

// ------------------------------------------------------------------------------------
// Fixtures written by Python torch.
// ------------------------------------------------------------------------------------

test('every .pth fixture equals the values torch computed', async () => {
  const files = Object.keys(expected.pth);
  assert.deepEqual(files.sort(), ['convnet.pth', 'convnet_half.pth', 'legacy.pth', 'nested.pth', 'nested_p5.pth', 'views.pth']);
  for (const file of files) {
    const value = await readPthFile(fixture(file));
    assertMatches(flattenStateDict(value), expected.pth[file]!, file);
  }
});

test('a state dict keeps its order, its int64 counter and its half weights', () => {
  const sd = dict(readPthFileSync(fixture('convnet.pth')));
  assert.deepEqual(Object.keys(sd), Object.keys(expected.pth['convnet.pth']!));
  const counter = sd['1.num_batches_tracked'] as RawTensor;
  assert.equal(counter.dtype, 'int64');
  assert.deepEqual(counter.shape, []);
  assert.deepEqual(toNumbers(counter), [3]);
  const half = dict(readPthFileSync(fixture('convnet_half.pth')));
  assert.equal((half['0.weight'] as RawTensor).dtype, 'float16');
  assert.equal((half['1.num_batches_tracked'] as RawTensor).dtype, 'int64');
});

test('views: offsets, strides, shared and overlapping storages', () => {
  const v = dict(readPth(fixtureBytes('views.pth'), 'views.pth'));
  const nums = (k: string) => toNumbers(v[k] as RawTensor);
  assert.deepEqual(nums('rows'), nums('base').slice(12));
  assert.deepEqual(nums('slice'), [8, 9, 10, 14, 15, 16]);
  assert.deepEqual((v['transposed'] as RawTensor).shape, [6, 4]);
  assert.deepEqual(nums('transposed').slice(0, 4), [0, 6, 12, 18]);
  assert.equal(nums('shared_a')[3], nums('shared_b')[0]);
  assert.deepEqual(nums('expanded'), [1, 2, 3, 1, 2, 3]);
  // Gathered views are fresh buffers: writing one cannot change another tensor.
  (v['slice'] as RawTensor).data.fill(0);
  assert.deepEqual(nums('base').slice(8, 11), [8, 9, 10]);
});

test('nested checkpoints: scalars, lists and state-dict selection', () => {
  for (const file of ['nested.pth', 'nested_p5.pth']) {
    const v = dict(readPthFileSync(fixture(file)));
    assert.deepEqual({ epoch: v['epoch'], name: v['name'], lrs: v['lrs'] }, expected.nested_scalars);
    const g = stateDictFrom(v, 'G');
    assert.deepEqual(Object.keys(g), Object.keys(expected.pth['convnet.pth']!));
    assertMatches(g, expected.pth['convnet.pth']!, `${file} G`);
    assert.throws(() => stateDictFrom(v),
      /^Error: checkpoint is not a flat state dict and has no 'state_dict' entry; top-level keys: G \(a dict of 9\), epoch \(a number\), name \(a string\), lrs \(a list of 2\)\. Name the entry/);
    assert.throws(() => stateDictFrom(v, 'D'), /no 'D' in checkpoint; top-level keys: G/);
    assert.throws(() => stateDictFrom(v, 'name'), /'name' in checkpoint holds no tensors \(a string\)/);
    assert.deepEqual(Object.keys(flattenStateDict(v['G']!, 'G')), Object.keys(expected.pth[file]!));
  }
  const sd = readPthFileSync(fixture('convnet.pth'));
  assert.deepEqual(Object.keys(stateDictFrom(sd)), Object.keys(expected.pth['convnet.pth']!));
  const wrapped: PthValue = { state_dict: sd, step: 10 };
  assert.deepEqual(Object.keys(stateDictFrom(wrapped)), Object.keys(expected.pth['convnet.pth']!));
  assert.deepEqual(Object.keys(stateDictFrom({ a: { b: wrapped } }, 'a.b.state_dict')), Object.keys(expected.pth['convnet.pth']!));
  assert.throws(() => stateDictFrom([1, 2]), /checkpoint is a list of 2, not a dict of tensors/);
  assert.throws(() => stateDictFrom({}), /top-level keys: \(none\)/);
});

test('plain Python values through pickle protocols 0, 1, 2, 4 and 5', () => {
  const want = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(want);
    if (x !== null && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if ('bigint' in o) return BigInt(o['bigint'] as string);
      if ('hex' in o) return new Uint8Array(Buffer.from(o['hex'] as string, 'hex'));
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, want(v)]));
    }
    return x;
  };
  const misc = want(expected.misc);
  for (const p of [0, 1, 2, 4, 5]) {
    const v = readPthFileSync(fixture(`misc_p${p}.pth`));
    assert.deepEqual(v, misc, `protocol ${p}`);
    assert.deepEqual(Object.keys(dict(dict(v)['ordered']!)), ['z', 'a'], `protocol ${p} order`);
  }
});

// ------------------------------------------------------------------------------------
// Refusing code.
// ------------------------------------------------------------------------------------

test('malicious files are refused, naming the global, and nothing runs', async () => {
  fs.rmSync('/tmp/should_not_exist', { force: true });
  const cases: [string, string][] = [
    ['malicious.pth', 'os.system'],
    ['malicious.pkl', 'os.system'],
    ['malicious_eval.pth', 'builtins.eval'],
    ['malicious_nested.pth', 'posix.system'],
  ];
  for (const [file, global] of cases) {
    const escaped = global.replace('.', '\\.');
    const re = new RegExp(
      `(^|Error: )refusing pickle global '${escaped}' in .*${file.replace('.', '\\.')}: \\.pth files may only contain tensors and plain containers$`,
    );
    await assert.rejects(readPthFile(fixture(file)), (e: Error) => {
      assert.match(e.message, re, file);
      return true;
    });
    assert.throws(() => readPth(fixtureBytes(file), file), re);
  }
  assert.equal(fs.existsSync('/tmp/should_not_exist'), false);
});

test('allow-listed globals cannot be abused', () => {
  const zipOf = (pkl: Uint8Array) => makeZip([{ name: 'a/data.pkl', data: pkl }]);
  // A storage type is a value, not a function.
  assert.throws(() => readPth(zipOf(bytesOf(PROTO2, glob('torch', 'FloatStorage'), tuple(), REDUCE, STOP)), 'f.pth'),
    /'torch\.FloatStorage' cannot be called/);
  // Data cannot be promoted to a callable.
  assert.throws(() => readPth(zipOf(bytesOf(PROTO2, str('os.system'), tuple(), REDUCE, STOP)), 'f.pth'),
    /REDUCE on something that is not an allow-listed global/);
  // A rebuild function with arguments it does not expect.
  assert.throws(() => readPth(zipOf(bytesOf(PROTO2, glob('torch._utils', '_rebuild_tensor_v2'), tuple(int(1), int(2), int(3), int(4)), REDUCE, STOP)), 'f.pth'),
    /f\.pth: torch\._utils\._rebuild_tensor_v2: first argument is not a storage/);
  // BUILD on a plain list.
  assert.throws(() => readPth(zipOf(bytesOf(PROTO2, 0x5d, 0x7d, 0x62, STOP)), 'f.pth'), /BUILD on an object that does not accept state/);
  // Extension-registry codes name globals indirectly.
  assert.throws(() => readPth(zipOf(bytesOf(PROTO2, 0x82, 1, STOP)), 'f.pth'), /refusing pickle extension-registry reference/);
  // Whole pickled modules are refused with advice.
  const modulePid = bytesOf(PROTO2, tuple(str('module'), str('x'), str('y'), str('z'), int(0)), 0x51, STOP);
  assert.throws(() => readPth(zipOf(modulePid), 'f.pth'), /pickles a whole nn\.Module; save and load model\.state_dict\(\) instead/);
});

// ------------------------------------------------------------------------------------
// Corrupt and unusual archives.
// ------------------------------------------------------------------------------------

test('truncated, corrupted and foreign files give clear errors', () => {
  const good = fixtureBytes('convnet.pth');
  assert.throws(() => readPth(good.subarray(0, good.byteLength >> 1), 'cut.pth'),
    /^Error: cut\.pth: not a zip archive or truncated: no end-of-central-directory record$/);
  assert.throws(() => readPth(good.subarray(0, good.byteLength - 30), 'cut.pth'), /cut\.pth: .*(truncated|corrupt)/);

  const zip = openZip(good);
  const flipAt = (name: string, delta = 0) => {
    const e = zip.entries.get(name)!;
    const bad = good.slice();
    const nameLen = new DataView(bad.buffer).getUint16(e.localHeaderOffset + 26, true);
    const extraLen = new DataView(bad.buffer).getUint16(e.localHeaderOffset + 28, true);
    bad[e.localHeaderOffset + 30 + nameLen + extraLen + delta]! ^= 0x40;
    return bad;
  };
  assert.throws(() => readPth(flipAt('convnet/data/0', 5), 'bad.pth'),
    /^Error: bad\.pth: entry 'convnet\/data\/0': CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\); the file is corrupt$/);
  assert.throws(() => readPth(flipAt('convnet/data.pkl', 100), 'bad.pth'), /entry 'convnet\/data\.pkl': CRC mismatch/);

  // torch always writes ZIP64 end records, so the central directory offset to corrupt
  // is the one in the ZIP64 record the locator (just before the classic record) points to.
  const badCd = good.slice();
  const dv = new DataView(badCd.buffer);
  const zip64Eocd = Number(dv.getBigUint64(badCd.byteLength - 22 - 20 + 8, true));
  assert.equal(dv.getUint32(zip64Eocd, true), 0x06064b50);
  dv.setBigUint64(zip64Eocd + 48, BigInt(good.byteLength * 2), true);
  assert.throws(() => readPth(badCd, 'bad.pth'), /bad\.pth: central directory \[\d+, \d+\) runs past its end record/);

  const legacy = fixtureBytes('legacy.pth');
  assert.throws(() => readPth(legacy.subarray(0, legacy.byteLength - 10), 'old.pth'), /old\.pth: truncated (before|inside) storage '\d+'/);
  assert.throws(() => readPth(legacy.subarray(0, legacy.byteLength - 1), 'old.pth'), /old\.pth: truncated inside storage '\d+'/);
  assert.throws(() => readPth(legacy.subarray(0, 300), 'old.pth'), /old\.pth: pickle: truncated/);
  const longer = new Uint8Array(legacy.byteLength + 4);
  longer.set(legacy);
  assert.throws(() => readPth(longer, 'old.pth'), /old\.pth: 4 bytes of trailing data/);

  assert.throws(() => readPth(new Uint8Array(0), 'empty.pth'), /^Error: empty\.pth: not a PyTorch checkpoint/);
  assert.throws(() => readPth(new TextEncoder().encode('hello world'), 'x.pth'), /not a PyTorch checkpoint/);
  assert.throws(() => readPth(bytesOf(PROTO2, int(5), STOP), 'p.pkl'), /p\.pkl: a pickle, but not a torch\.save checkpoint \(wrong magic number\)/);
  assert.throws(() => readPth(makeZip([{ name: 'm/constants.pkl', data: new Uint8Array(1) }, { name: 'm/code/x.py', data: new Uint8Array(1) }]), 'ts.pt'),
    /ts\.pt: this is a TorchScript archive/);
  assert.throws(() => readPth(makeZip([{ name: 'm/other', data: new Uint8Array(1) }]), 'z.pth'), /no m\/data\.pkl in the archive/);
});

test('storage records are checked against the pickle', () => {
  const entries = entriesOf('convnet.pth');
  const missing = makeZip(entries.filter((e) => e.name !== 'convnet/data/3'));
  assert.throws(() => readPth(missing, 'm.pth'), /m\.pth: storage record 'convnet\/data\/3' is missing/);
  const short = makeZip(entries.map((e) => (e.name === 'convnet/data/0' ? { ...e, data: e.data.subarray(4) } : e)));
  assert.throws(() => readPth(short, 's.pth'), /s\.pth: storage '0' has 428 bytes, expected 432 \(108 x float32\)/);
  const pkl = tensorPickle(2, [3], [1]);
  const overrun = makeZip([{ name: 'a/data.pkl', data: pkl }, { name: 'a/data/0', data: new Uint8Array(8) }]);
  assert.throws(() => readPth(overrun, 'o.pth'), /o\.pth: tensor : view \(offset 0, size \[3\], stride \[1\]\) reaches element 2 of a 2-element storage/);
  const ok = makeZip([{ name: 'a/data.pkl', data: tensorPickle(6, [2, 2], [1, 3], 1) }, { name: 'a/data/0', data: new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer) }]);
  const t = readPth(ok) as RawTensor;
  assert.deepEqual(toNumbers(t), [1, 4, 2, 5]);
});

test('legacy layout assembled by hand: big-endian data and storage views', () => {
  // LONG1 of torch's magic number 0x1950a86a20f9469cfc6c, little-endian.
  const magic = [0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  const pid = (view: number[]) => tuple(str('storage'), glob('torch', 'FloatStorage'), str('1'), str('cpu'), int(6), view);
  const data = Buffer.alloc(8 + 24);
  data.writeBigInt64BE(6n, 0);
  for (let i = 0; i < 6; i++) data.writeFloatBE(i + 0.5, 8 + 4 * i);
  const file = Buffer.concat([
    bytesOf(PROTO2, magic, STOP),
    bytesOf(PROTO2, [0x4d, 0xe9, 0x03], STOP),
    bytesOf(PROTO2, 0x7d, str('little_endian'), 0x89, 0x73, STOP),
    bytesOf(PROTO2, 0x5d, 0x28,
      rebuild(pid([0x4e]), [6], [1]),
      rebuild(pid(tuple(str('v'), int(2), int(3))), [3], [1]),
      rebuild(pid(tuple(str('v'), int(2), int(3))), [2], [1], 1),
      0x65, STOP),
    bytesOf(PROTO2, 0x28, str('1'), 0x6c, STOP),
    data,
  ]);
  const [whole, view, viewOfView] = readPth(file, 'hand.pth') as RawTensor[];
  assert.deepEqual(toNumbers(whole!), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
  assert.deepEqual(toNumbers(view!), [2.5, 3.5, 4.5]);
  assert.deepEqual(toNumbers(viewOfView!), [3.5, 4.5]);
  const badView = Buffer.from(file);
  // A view reaching past its root is refused (size 3 at offset 2 -> patch offset to 5).
  const at = badView.indexOf(Buffer.from([0x58, 1, 0, 0, 0, 0x76, 0x4a, 2, 0, 0, 0]));
  badView[at + 7] = 5;
  assert.throws(() => readPth(badView, 'hand.pth'), /hand\.pth: storage view 'v' of '1' is out of range/);
});

test('repacked archives read the same: DEFLATE, ZIP64, big-endian byte order', () => {
  const want = flattenStateDict(readPthFileSync(fixture('views.pth')));
  const check = (bytes: Uint8Array, what: string) => {
    const got = flattenStateDict(readPth(bytes, what));
    assert.deepEqual(Object.keys(got), Object.keys(want), what);
    for (const k of Object.keys(want)) assert.deepEqual(toNumbers(got[k]!), toNumbers(want[k]!), `${what} ${k}`);
  };
  const entries = entriesOf('views.pth');
  check(makeZip(entries.map((e) => ({ ...e, deflate: true }))), 'deflated');
  check(makeZip(entries, { zip64: true }), 'zip64');
  check(makeZip(entries.map((e) => ({ ...e, deflate: true })), { zip64: true }), 'zip64+deflate');

  // single.pth holds only float32 storages, so every 4 bytes can be swapped.
  const single = entriesOf('single.pth').map((e) => {
    if (!e.name.includes('/data/')) return e;
    const swapped = Buffer.from(e.data);
    swapped.swap32();
    return { ...e, data: new Uint8Array(swapped) };
  });
  single.push({ name: 'single/byteorder', data: new TextEncoder().encode('big') });
  const be = dict(readPth(makeZip(single), 'be.pth'));
  assert.deepEqual(toNumbers(be['w'] as RawTensor), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
  const le = dict(readPthFileSync(fixture('single.pth')));
  assert.deepEqual(toNumbers(le['w'] as RawTensor), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
});

test('the zip reader refuses absurd archives', () => {
  const d = new Uint8Array([1, 2, 3, 4]);
  assert.throws(() => openZip(makeZip([{ name: 'a', data: d }, { name: 'a', data: d }]), 'z'), /^Error: z: duplicate entry 'a'$/);
  assert.throws(() => openZip(makeZip([{ name: 'a', data: d, flags: 1 }]), 'z'), /entry 'a' is encrypted/);
  assert.throws(() => openZip(makeZip([{ name: 'a', data: d, method: 12 }]), 'z').read('a'), /unsupported compression method 12/);
  assert.throws(() => openZip(makeZip([{ name: 'a', data: new Uint8Array(10), deflate: true, size: 1e9 }]), 'z'), /claims 1000000000 bytes from \d+ compressed, an impossible ratio/);
  const bomb = makeZip([{ name: 'a', data: new Uint8Array(5000), deflate: true, size: 100 }]);
  assert.throws(() => openZip(bomb, 'z').read('a'), /entry 'a': cannot inflate/);
  assert.throws(() => openZip(makeZip([{ name: 'a', data: d }]), 'z').read('b'), /no entry 'b'/);
  assert.throws(() => openZip(new Uint8Array(10), 'z'), /not a zip archive \(10 bytes\)/);
  const z = openZip(makeZip([{ name: 'x/y', data: d }, { name: 'e', data: new Uint8Array(0), deflate: true }]));
  assert.deepEqual(z.names(), ['x/y', 'e']);
  assert.deepEqual([...z.read('x/y')], [1, 2, 3, 4]);
  assert.equal(z.read('e').byteLength, 0);
});

// ------------------------------------------------------------------------------------
// The unpickler on its own.
// ------------------------------------------------------------------------------------

test('unpickler: protocol 0 text opcodes and memo', () => {
  const text = "(lp0\nI1\naI01\naL12345678901234567890L\naF-2.5\naS'a\\'b\\x41\\n'\naVcaf\\u00e9\nag0\na.";
  const { value, end } = unpickle(new TextEncoder().encode(text), noGlobals);
  const list = value as unknown[];
  assert.equal(end, text.length);
  assert.deepEqual(list.slice(0, 6), [1, true, 12345678901234567890n, -2.5, "a'bA\n", 'café']);
  assert.equal(list[6], list, 'memo GET returns the same list');
});

test('unpickler: binary opcodes, sequential pickles and sets', () => {
  const two = bytesOf(PROTO2, [0x4b, 7], STOP, PROTO2, [0x8a, 2, 0x00, 0x80], STOP);
  const first = unpickle(two, noGlobals);
  assert.equal(first.value, 7);
  assert.equal(unpickle(two, noGlobals, first.end).value, -32768);
  const set = bytesOf([0x80, 4], 0x8f, 0x28, [0x4b, 1], [0x4b, 2], 0x90, STOP);
  assert.deepEqual(unpickle(set, noGlobals).value, new Set([1, 2]));
  const tuples = bytesOf(PROTO2, [0x4b, 1], 0x85, [0x4b, 1], [0x4b, 2], 0x86, 0x88, 0x89, 0x4e, 0x87, 0x86, 0x86, STOP);
  assert.deepEqual(unpickle(tuples, noGlobals).value, [[1], [[1, 2], [true, false, null]]]);
  const floats = bytesOf(PROTO2, 0x47, ...Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), STOP);
  assert.equal(unpickle(floats, noGlobals).value, 1.5);
});

test('unpickler: corrupt streams fail cleanly', () => {
  const cases: [Uint8Array, RegExp][] = [
    [bytesOf(PROTO2, 0xff), /f\.pkl: pickle: unknown opcode 0xff \(corrupt pickle, or not a pickle\) \(at byte 2\)/],
    [bytesOf(PROTO2, [0x58, 0xff, 0xff, 0, 0, 0x41]), /truncated: needs 65535 more bytes, 1 left/],
    [bytesOf(PROTO2, 0x4a, 1), /truncated/],
    [bytesOf(PROTO2), /truncated/],
    [bytesOf(PROTO2, 0x28, 0x4e, STOP), /STOP inside an unclosed MARK/],
    [bytesOf(PROTO2, 0x30, STOP), /stack underflow/],
    [bytesOf(PROTO2, [0x68, 3], STOP), /memo key 3 not found/],
    [bytesOf(PROTO2, 0x4e, 0x4e, 0x4e, 0x73, STOP), /SETITEM\(S\) on something that is not a dict/],
    [bytesOf(PROTO2, 0x4e, 0x4e, 0x61, STOP), /APPEND\(S\) on something that is not a list/],
    [bytesOf(PROTO2, 0x4e, 0x51, STOP), /persistent ids are not allowed here/],
    [bytesOf([0x80, 9]), /unsupported pickle protocol 9/],
    [bytesOf(PROTO2, [0x8c, 2, 0xc3, 0x28], STOP), /string is not valid UTF-8/],
    [bytesOf(PROTO2, 0x97), /out-of-band pickle buffers are not supported/],
    [bytesOf(PROTO2, ...glob('os', 'system')), /^Error: refusing pickle global 'os\.system' in f\.pkl: it is not on the allow-list$/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => unpickle(bytes, { globals: new Map(), file: 'f.pkl' }), re);
  }
});

test('cyclic and absurdly deep structures', () => {
  const cyclic = makeZip([{ name: 'a/data.pkl', data: bytesOf(PROTO2, 0x5d, [0x71, 0], [0x68, 0], 0x61, STOP) }]);
  const v = readPth(cyclic) as PthValue[];
  assert.equal(v[0], v);
  const n = 5000;
  const deep = bytesOf(PROTO2, ...new Array<number>(n).fill(0x5d), ...new Array<number>(n - 1).fill(0x61), STOP);
  assert.throws(() => readPth(makeZip([{ name: 'a/data.pkl', data: deep }]), 'deep.pth'), /deep\.pth: nesting deeper than 500/);
});
