/**
 * A restricted unpickler: reads Python pickle streams (protocols 0-5) as data.
 *
 * A pickle is a program for a small stack machine, and its GLOBAL/REDUCE opcodes let it
 * import and call any Python function: loading an untrusted .pth with Python's pickle
 * runs whatever its author wanted. This machine has no way to import or run anything.
 * A global resolves only through the allow-list map the caller passes in, and whatever
 * "calling" it does is the caller's own TypeScript. Anything else is refused, by name.
 *
 * Python values come out as:
 *   None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
 *   str -> string, bytes/bytearray -> Uint8Array, list and tuple -> array,
 *   dict -> Map (keys may be non-strings), set/frozenset -> Set,
 *   allow-listed global -> the PickleGlobal object from the map,
 *   persistent id -> whatever `persistentLoad` returns.
 *
 * The machine is iterative (no recursion) and every length read from the stream is
 * checked against the bytes actually present before anything is allocated, so a hostile
 * stream can neither overflow the JS stack nor trigger a huge allocation.
 */

/**
 * An allow-listed Python global. The same object is what GLOBAL pushes, so callers can
 * attach their own fields (a dtype, a marker) and recognise it later by identity.
 */
export interface PickleGlobal {
  /** What REDUCE, NEWOBJ, INST and OBJ do with this global: receives the arguments tuple. */
  call?(args: unknown[]): unknown;
  /** What BUILD does with an object `call` returned: receives the state; returns the result. */
  build?(obj: unknown, state: unknown): unknown;
}

export interface UnpickleOptions {
  /** 'module.qualname' -> implementation. Everything not in here is refused. */
  globals: ReadonlyMap<string, PickleGlobal>;
  /** Resolves persistent ids (PERSID/BINPERSID); absent means they are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Names the stream in error messages. */
  file?: string;
  /** Why globals are refused, appended to the refusal error. */
  refusalReason?: string;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode: where a following pickle would start. */
  end: number;
}

class Reader {
  pos: number;
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array, start: number, readonly fail: (msg: string) => never) {
    this.pos = start;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): number {
    if (!(n >= 0) || this.pos + n > this.bytes.byteLength) {
      this.fail(`truncated: needs ${n} more bytes, ${this.bytes.byteLength - this.pos} left`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }
  u8(): number { return this.bytes[this.need(1)]!; }
  u16(): number { return this.dv.getUint16(this.need(2), true); }
  u32(): number { return this.dv.getUint32(this.need(4), true); }
  i32(): number { return this.dv.getInt32(this.need(4), true); }
  u64(): number {
    const v = this.dv.getBigUint64(this.need(8), true);
    // Beyond 2^53 cannot be a real length of bytes that are present; need() will refuse.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  f64be(): number { return this.dv.getFloat64(this.need(8), false); }
  take(n: number): Uint8Array { const p = this.need(n); return this.bytes.subarray(p, p + n); }
  /** A newline-terminated text argument (protocol 0 opcodes), without the newline. */
  line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail('truncated: missing end of line');
    const s = latin1(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Python ints become numbers when exact, bigints otherwise. */
function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** LONG1/LONG4 payload: little-endian two's complement of any width. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.byteLength === 0) return 0;
  let v = 0n;
  for (let i = b.byteLength - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.byteLength - 1]! & 0x80) v -= 1n << BigInt(8 * b.byteLength);
  return intValue(v);
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): UnpickleResult {
  const file = options.file ?? '<memory>';
  let opStart = start;
  const fail = (msg: string): never => {
    throw new Error(`${file}: pickle: ${msg} (at byte ${opStart})`);
  };
  const r = new Reader(bytes, start, fail);

  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  // Which allow-listed global each on-stack object came from, so only those may be
  // called or BUILT: data (a list, a string) can never be promoted to a callable.
  const globalNames = new Map<PickleGlobal, string>();
  const madeBy = new WeakMap<object, PickleGlobal>();

  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail('MARK missing (corrupt pickle)');
    stack = prev!;
    return items;
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const full = `${module}.${name}`;
    const g = options.globals.get(full);
    if (g === undefined) {
      throw new Error(
        `refusing pickle global '${full}' in ${file}: ${options.refusalReason ?? 'it is not on the allow-list'}`,
      );
    }
    if (!globalNames.has(g)) globalNames.set(g, full);
    return g;
  };
  const callGlobal = (callable: unknown, args: unknown[], op: string): unknown => {
    const g = callable as PickleGlobal;
    const name = globalNames.get(g);
    if (name === undefined) fail(`${op} on something that is not an allow-listed global`);
    if (!g.call) fail(`${op}: '${name}' cannot be called`);
    let result: unknown;
    try {
      result = g.call!(args);
    } catch (e) {
      throw new Error(`${file}: ${name}: ${(e as Error).message}`);
    }
    if (result !== null && typeof result === 'object') madeBy.set(result, g);
    return result;
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} not found (corrupt pickle)`);
    return memo.get(i);
  };
  const setItems = (target: unknown, kv: unknown[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (kv.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < kv.length; i += 2) (target as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target)) fail('APPEND(S) on something that is not a list');
    for (const x of items) (target as unknown[]).push(x);
  };
  const addItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Set)) fail('ADDITEMS on something that is not a set');
    for (const x of items) (target as Set<unknown>).add(x);
  };
  const persistent = (pid: unknown): unknown => {
    if (!options.persistentLoad) fail('persistent ids are not allowed here');
    try {
      return options.persistentLoad!(pid);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  };

  for (;;) {
    opStart = r.pos;
    const op = r.u8();
    switch (op) {
      // --- framing and control -------------------------------------------------------
      case 0x80: { // PROTO
        const v = r.u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: // FRAME: a length prefix for buffered reading; we already hold every byte
        r.u64();
        break;
      case 0x2e: // STOP
        if (metastack.length) fail('STOP inside an unclosed MARK (corrupt pickle)');
        return { value: pop(), end: r.pos };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP

      // --- memo ---------------------------------------------------------------------
      case 0x70: memo.set(parseIntLine(r.line(), fail), top()); break; // PUT
      case 0x71: memo.set(r.u8(), top()); break; // BINPUT
      case 0x72: memo.set(r.u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: stack.push(memoGet(parseIntLine(r.line(), fail))); break; // GET
      case 0x68: stack.push(memoGet(r.u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(r.u32())); break; // LONG_BINGET

      // --- scalars ------------------------------------------------------------------
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(r.i32()); break; // BININT
      case 0x4b: stack.push(r.u8()); break; // BININT1
      case 0x4d: stack.push(r.u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(r.take(r.u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = r.i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(r.take(n)));
        break;
      }
      case 0x49: { // INT (protocol 0); also how protocol 0 spells True and False
        const s = r.line();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else stack.push(parseBigLine(s, fail));
        break;
      }
      case 0x4c: // LONG (protocol 0): decimal digits with an optional trailing L
        stack.push(parseBigLine(r.line().replace(/L$/, ''), fail));
        break;
      case 0x47: stack.push(r.f64be()); break; // BINFLOAT
      case 0x46: stack.push(parseFloatLine(r.line(), fail)); break; // FLOAT

      // --- strings and bytes --------------------------------------------------------
      case 0x58: stack.push(decodeUtf8(r.take(r.u32()), fail)); break; // BINUNICODE
      case 0x8c: stack.push(decodeUtf8(r.take(r.u8()), fail)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(decodeUtf8(r.take(r.u64()), fail)); break; // BINUNICODE8
      case 0x56: stack.push(decodeRawUnicodeEscape(r.line())); break; // UNICODE
      // Python 2 byte strings; Python 3 reads them as str, and so do we (latin-1 keeps
      // every byte).
      case 0x55: stack.push(latin1(r.take(r.u8()))); break; // SHORT_BINSTRING
      case 0x54: { // BINSTRING
        const n = r.i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1(r.take(n)));
        break;
      }
      case 0x53: stack.push(decodeQuotedString(r.line(), fail)); break; // STRING
      // Copied (Uint8Array.from) so the value does not pin or alias the input buffer.
      case 0x43: stack.push(Uint8Array.from(r.take(r.u8()))); break; // SHORT_BINBYTES
      case 0x42: stack.push(Uint8Array.from(r.take(r.u32()))); break; // BINBYTES
      case 0x8e: stack.push(Uint8Array.from(r.take(r.u64()))); break; // BINBYTES8
      case 0x96: stack.push(Uint8Array.from(r.take(r.u64()))); break; // BYTEARRAY8

      // --- containers ---------------------------------------------------------------
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      // The popMark() calls below come before the push on purpose: popMark replaces
      // `stack`, and `stack.push(popMark())` would push onto the discarded inner one.
      case 0x6c: case 0x74: { const items = popMark(); stack.push(items); break; } // LIST, TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x64: { const m = new Map(); setItems(m, popMark()); stack.push(m); break; } // DICT
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x61: { const x = pop(); appendItems(top(), [x]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x90: { const items = popMark(); addItems(top(), items); break; } // ADDITEMS

      // --- globals and object construction: only through the allow-list ------------
      case 0x63: { // GLOBAL
        const module = r.line();
        const name = r.line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
        stack.push(callGlobal(callable, args as unknown[], 'REDUCE'));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail('NEWOBJ arguments are not a tuple');
        stack.push(callGlobal(cls, args as unknown[], 'NEWOBJ'));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail('NEWOBJ_EX arguments are not a tuple');
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(callGlobal(cls, args as unknown[], 'NEWOBJ_EX'));
        break;
      }
      case 0x69: { // INST
        const module = r.line();
        const name = r.line();
        const cls = resolveGlobal(module, name);
        const args = popMark();
        stack.push(callGlobal(cls, args, 'INST'));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        stack.push(callGlobal(items[0], items.slice(1), 'OBJ'));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        const g = obj !== null && typeof obj === 'object' ? madeBy.get(obj) : undefined;
        if (!g?.build) fail('BUILD on an object that does not accept state');
        try {
          stack.push(g!.build!(obj, state));
        } catch (e) {
          throw new Error(`${file}: ${globalNames.get(g!)}: ${(e as Error).message}`);
        }
        break;
      }
      case 0x82: case 0x83: case 0x84: // EXT1, EXT2, EXT4: globals named by a registry code
        fail('refusing pickle extension-registry reference (copyreg codes name arbitrary globals)');
        break;

      // --- external data ------------------------------------------------------------
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      case 0x50: stack.push(persistent(r.line())); break; // PERSID
      case 0x97: case 0x98: // NEXT_BUFFER, READONLY_BUFFER
        fail('out-of-band pickle buffers are not supported');
        break;

      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (corrupt pickle, or not a pickle)`);
    }
  }
}

function decodeUtf8(b: Uint8Array, fail: (m: string) => never): string {
  try {
    return utf8.decode(b);
  } catch {
    return fail('string is not valid UTF-8');
  }
}

function parseIntLine(s: string, fail: (m: string) => never): number {
  if (!/^\d+$/.test(s)) fail(`bad memo index '${s}'`);
  return Number(s);
}

function parseBigLine(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) fail(`bad integer literal '${s}'`);
  return intValue(BigInt(s));
}

function parseFloatLine(s: string, fail: (m: string) => never): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan' || t === '-nan' || t === '+nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/.test(t)) fail(`bad float literal '${s}'`);
  return Number(t);
}

/** Protocol 0 STRING: a Python repr of a byte string, quotes and escapes included. */
function decodeQuotedString(s: string, fail: (m: string) => never): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING argument is not quoted');
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { out += c; continue; }
    const e = body[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': case "'": case '"': out += e; break;
      case '\n': break;
      case 'x': {
        const h = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail('bad \\x escape in STRING');
        out += String.fromCharCode(parseInt(h, 16));
        i += 2;
        break;
      }
      default: {
        const m = /^[0-7]{1,3}/.exec(body.slice(i));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 8) & 0xff);
          i += m[0].length - 1;
        } else {
          out += `\\${e ?? ''}`; // Python keeps unknown escapes as they are
        }
      }
    }
  }
  return out;
}

/** Protocol 0 UNICODE: latin-1 text where only \uXXXX and \UXXXXXXXX are escapes. */
function decodeRawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(parseInt((u4 ?? u8)!, 16)),
  );
}
