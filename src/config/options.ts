// Typed command-line options: one schema gives parsing, validation, defaults and --help,
// so the three can never disagree. Option names keep the reference implementations'
// spellings (--lambda_L1, --G_ch, --no_flip).
import { UsageError } from './errors.js';

export type OptionValue = number | string | boolean | null;

export interface OptionSpec {
  /** 'size': N (square) or WxH, width by height (an image size); its value is N, or 'WxH' when not square. */
  type: 'int' | 'float' | 'string' | 'bool' | 'size';
  default: OptionValue;
  help: string;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Extra check: returns a message when the value is wrong. */
  check?: (v: OptionValue) => string | null;
  /** Shown in --help instead of the type name (e.g. 'PATH'). */
  metavar?: string;
  /** Other accepted spellings, e.g. the reference's `batch_size` for `batch`. */
  aliases?: readonly string[];
}

export type Schema = Record<string, OptionSpec>;
/** Options of no particular schema (what the trainer and run folders pass around). */
export type Options = Record<string, OptionValue>;

/** The value an option of `T` holds: its type (a string option with choices: one of them), or null where the default is null. */
export type OptionValueOf<T extends OptionSpec> = TypeValue<T['type'], T> | (null extends T['default'] ? null : never);
type TypeValue<Ty, T> = Ty extends 'bool' ? boolean : Ty extends 'string' ? (T extends { choices: readonly (infer C)[] } ? C : string) : Ty extends 'size' ? number | string : number;

/** The options a schema defines, each with its own type: `o.lambda_L1` is a number, a misspelt name does not compile. */
export type OptionsOf<S extends Schema> = { -readonly [K in keyof S]: OptionValueOf<S[K]> };

/**
 * Declares a schema keeping each option's literal type, default and choices, so that
 * OptionsOf<typeof SCHEMA> knows every option's type.
 */
export function defineSchema<const S extends Schema>(schema: S): S {
  return schema;
}

/**
 * A typed view of options validated against a larger schema that includes `schema`
 * (e.g. the trainer's group of a family's full schema). Refuses options that lack one.
 */
export function optionsView<S extends Schema>(schema: S, o: Options): OptionsOf<S> {
  for (const k of Object.keys(schema)) if (!(k in o)) throw new Error(`internal: option --${k} is missing`);
  return o as OptionsOf<S>;
}

export interface Parsed<S extends Schema = Schema> {
  options: OptionsOf<S>;
  /** Names the user actually gave (the rest are defaults). */
  given: Set<string>;
  positional: string[];
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function suggest(name: string, schema: Schema): string {
  let best = '';
  let bestD = Infinity;
  for (const k of Object.entries(schema).flatMap(([n, spec]) => [n, ...(spec.aliases ?? [])])) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, name.length / 3) ? ` (did you mean --${best}?)` : '';
}

/** A number as people write one: 16, -3, 0.5, .5, 2e-4 (no hex, binary, octal or spaces). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A non-square size as people write one: 64x32 (width by height). */
const SIZE = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/i;

/** An image size option's value (N, or 'WxH' when not square) as width and height. */
export function sizeOf(v: number | string): { width: number; height: number } {
  if (typeof v === 'number') return { width: v, height: v };
  const m = SIZE.exec(v);
  if (!m) throw new Error(`internal: '${v}' is not a size`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** WxH checked side by side against the option's bounds: N when square (so 32x32 is 32), else 'WxH'. */
function coerceSize(name: string, spec: OptionSpec, raw: string, w: number, h: number): OptionValue {
  for (const side of [w, h]) {
    if (spec.min !== undefined && side < spec.min) throw new UsageError(`--${name} ${raw}: each side must be at least ${spec.min}`);
    if (spec.max !== undefined && side > spec.max) throw new UsageError(`--${name} ${raw}: each side must be at most ${spec.max}`);
  }
  return w === h ? w : `${w}x${h}`;
}

/** Converts and validates one value; throws a UsageError naming the option. */
export function coerce(name: string, spec: OptionSpec, raw: unknown): OptionValue {
  let v: OptionValue;
  if (raw === null) v = null;
  else if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
    throw new UsageError(`--${name} expects ${spec.type === 'bool' ? 'true or false' : spec.type === 'string' ? 'a string' : 'a number'}, got ${JSON.stringify(raw)}`);
  }
  else if (spec.type === 'bool') {
    if (typeof raw === 'boolean') v = raw;
    else if (/^(true|1|yes|on)$/i.test(String(raw))) v = true;
    else if (/^(false|0|no|off)$/i.test(String(raw))) v = false;
    else throw new UsageError(`--${name} expects true or false, got '${raw}'`);
  } else if (spec.type === 'size' && typeof raw === 'string' && SIZE.test(raw)) {
    const m = SIZE.exec(raw)!;
    v = coerceSize(name, spec, raw.trim(), Number(m[1]), Number(m[2]));
  } else if (spec.type === 'int' || spec.type === 'float' || spec.type === 'size') {
    // Plain decimal notation only: Number() would also read '0x10', '0b1', ' 16' and ''.
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL.test(raw) ? Number(raw) : NaN;
    const what = spec.type === 'size' ? 'whole number or WxH (width by height, e.g. 64x32)' : spec.type === 'int' ? 'whole number' : 'number';
    if (typeof raw === 'boolean' || !Number.isFinite(n)) {
      throw new UsageError(`--${name} expects a ${what}, got '${raw}'`);
    }
    if (spec.type !== 'float' && !Number.isInteger(n)) throw new UsageError(`--${name} expects a ${what}, got '${raw}'`);
    v = n;
    if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${name} must be at least ${spec.min}, got ${n}`);
    if (spec.max !== undefined && n > spec.max) throw new UsageError(`--${name} must be at most ${spec.max}, got ${n}`);
  } else {
    v = String(raw);
    if (spec.choices && !spec.choices.includes(v)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got '${v}'`);
    }
  }
  if (spec.check && v !== null) {
    const msg = spec.check(v);
    if (msg) throw new UsageError(`--${name} ${msg}`);
  }
  return v;
}

/**
 * Parses `--name value`, `--name=value` and bare boolean flags (`--no_flip`) against the
 * schema. Anything else that starts with `--` is an error, with a suggestion when a known
 * option is close.
 */
export function parseArgs<S extends Schema>(argv: readonly string[], schema: S, command: string): Parsed<S> {
  const options: Options = {};
  const given = new Set<string>();
  const positional: string[] = [];
  const canonical = new Map<string, string>();
  for (const [k, s] of Object.entries(schema)) {
    options[k] = s.default;
    canonical.set(k, k);
    for (const a of s.aliases ?? []) canonical.set(a, k);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      if (arg === '--') {
        positional.push(...argv.slice(i + 1));
        break;
      }
      if (arg.startsWith('-') && arg.length > 1 && Number.isNaN(Number(arg))) {
        throw new UsageError(`unknown option '${arg}' for '${command}' (options are spelled --name; see --help)`);
      }
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const spelled = arg.slice(2, eq < 0 ? undefined : eq);
    const name = canonical.get(spelled);
    if (name === undefined) throw new UsageError(`unknown option --${spelled} for '${command}'${suggest(spelled, schema)}`);
    const spec = schema[name];
    if (given.has(name)) throw new UsageError(`--${name} is given twice${spelled !== name ? ` (as --${spelled})` : ''}`);
    let raw: string | boolean;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec.type === 'bool') {
      const next = argv[i + 1];
      if (next !== undefined && /^(true|false)$/i.test(next)) {
        raw = next;
        i++;
      } else raw = true;
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${spelled} needs a value`);
      raw = next;
      i++;
    }
    options[name] = coerce(name, spec, raw);
    given.add(name);
  }
  return { options: options as OptionsOf<S>, given, positional };
}

/** Validates a whole options object (e.g. a config.json read back), filling defaults. */
export function validateOptions<S extends Schema>(values: Record<string, unknown>, schema: S, where: string): OptionsOf<S> {
  const out: Options = {};
  for (const k of Object.keys(values)) {
    if (!(k in schema)) throw new UsageError(`${where}: unknown option '${k}'${suggest(k, schema)}`);
  }
  for (const [k, s] of Object.entries(schema)) {
    const v = values[k];
    out[k] = v === undefined ? s.default : coerce(k, s, v);
  }
  return out as OptionsOf<S>;
}

/** The options section of --help, one line per option with its default. */
export function formatOptions(schema: Schema): string {
  const rows = Object.entries(schema).map(([k, s]) => {
    const meta = s.type === 'bool' ? '' : ` ${s.metavar ?? (s.choices ? s.choices.join('|') : s.type.toUpperCase())}`;
    const def = s.default === null || s.default === false ? '' : s.type === 'bool' ? ` (on by default; --${k} false turns it off)` : ` (default: ${s.default})`;
    const also = s.aliases?.length ? ` (also --${s.aliases.join(', --')})` : '';
    return [`  --${k}${meta}`, `${s.help}${def}${also}`];
  });
  const w = Math.min(34, Math.max(...rows.map(([a]) => a.length)) + 2);
  return rows.map(([a, b]) => (a.length >= w ? `${a}\n${' '.repeat(w)}${b}` : a.padEnd(w) + b)).join('\n');
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
