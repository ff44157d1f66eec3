// Module: the container of parameters, buffers and sub-modules, with PyTorch's naming
// rules so that `stateDict()` keys match a PyTorch model of the same architecture and
// reference weights load unchanged.
import { Tensor, noGrad, type DType, type Device } from '../torch/index.js';

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export class StateDictError extends Error {
  override name = 'StateDictError';
}

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #nonPersistent = new Set<string>();
  readonly #children = new Map<string, Module | null>();

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  abstract forward(...args: any[]): any;

  /** Registers a trainable tensor under `name` (kept out of scopes, requiresGrad on). */
  protected registerParameter(name: string, t: Tensor | null): Tensor {
    this.#checkName(name, this.#params);
    if (t !== null) {
      t.keep();
      if (t.isFloatingPoint) t.requiresGrad = true;
    }
    this.#params.set(name, t);
    return t as Tensor;
  }

  /** Registers state that is saved but not trained (running statistics, counters). */
  protected registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor {
    this.#checkName(name, this.#buffers);
    t?.keep();
    this.#buffers.set(name, t);
    if (!persistent) this.#nonPersistent.add(name);
    return t as Tensor;
  }

  protected registerModule<M extends Module | null>(name: string, m: M): M {
    this.#checkName(name, this.#children);
    this.#children.set(name, m);
    return m;
  }

  #checkName(name: string, own: Map<string, unknown>): void {
    if (name === '' || name.includes('.')) throw new Error(`invalid module attribute name '${name}'`);
    for (const m of [this.#params, this.#buffers, this.#children]) {
      if (m !== own && m.has(name)) throw new Error(`'${name}' is already registered on ${this.constructor.name}`);
    }
  }

  /** Replaces a registered buffer (e.g. a new running average), disposing the old one. */
  protected setBuffer(name: string, t: Tensor): void {
    if (!this.#buffers.has(name)) throw new Error(`no buffer '${name}' on ${this.constructor.name}`);
    const old = this.#buffers.get(name);
    t.keep();
    this.#buffers.set(name, t);
    if (old && old !== t) old.dispose();
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    for (const [k, m] of this.#children) if (m !== null) yield [k, m];
  }

  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }

  /** This module and every descendant, depth first, each once. */
  *namedModules(prefix = '', seen = new Set<Module>()): IterableIterator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [k, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k, seen);
  }

  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  /** Every parameter with its dotted name, each tensor once (shared weights appear under their first name). */
  namedParameters(): [string, Tensor][] {
    return this.#named((m) => m.#params);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(): [string, Tensor][] {
    return this.#named((m) => m.#buffers);
  }

  #named(own: (m: Module) => Map<string, Tensor | null>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, t] of own(m)) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([prefix ? `${prefix}.${k}` : k, t]);
      }
    }
    return out;
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /**
   * Parameters and persistent buffers by PyTorch's key rule: a module's own parameters in
   * registration order, then its buffers, then each child's under `child.`. The tensors
   * are the module's own (not copies): read them, do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = {};
    const visit = (m: Module, p: string): void => {
      for (const [k, t] of m.#params) if (t !== null) out[p + k] = t;
      for (const [k, t] of m.#buffers) if (t !== null && !m.#nonPersistent.has(k)) out[p + k] = t;
      for (const [k, c] of m.#children) if (c !== null) visit(c, `${p}${k}.`);
    };
    visit(this, prefix);
    return out;
  }

  /**
   * Copies values from `sd` into this module's tensors (dtype converted, device kept).
   * Shape mismatches always raise; missing or unexpected keys raise when `strict`.
   */
  loadStateDict(sd: StateDict, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (!src) continue;
      const a = src.shape, b = t.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        throw new StateDictError(`size mismatch for ${k}: the checkpoint has shape [${a.join(', ')}], the model has [${b.join(', ')}]`);
      }
    }
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${listKeys(missingKeys)}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${listKeys(unexpectedKeys)}`);
      throw new StateDictError(`state dict does not match ${this.constructor.name}: ${parts.join('; ')}`);
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) if (sd[k]) t.copy_(sd[k]);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Training mode on (dropout active, batch statistics used and tracked) for the whole tree. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Switches gradient tracking for every parameter (e.g. freezing D during the G step). */
  requiresGrad_(on = true): this {
    for (const p of this.parameters()) p.requiresGrad = on;
    return this;
  }

  /** Moves (or casts) every parameter and buffer in place; floating dtypes only are cast. */
  to(target: Device | DType | { device?: Device; dtype?: DType }): this {
    const o = typeof target === 'string' ? (isDeviceName(target) ? { device: target } : { dtype: target as DType }) : target;
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        const dtype = o.dtype && t.isFloatingPoint ? o.dtype : undefined;
        if ((dtype === undefined || dtype === t.dtype) && (o.device === undefined || sameDevice(o.device, t.device))) continue;
        const moved = t.to({ device: o.device, dtype });
        t.setData(moved);
        moved.dispose();
      }
    });
    return this;
  }

  /** Calls `fn` on every module, children first, as PyTorch's `apply`. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Frees every parameter and buffer of the tree. The module cannot be used afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose();
  }

  /** The module's own parameter or buffer named `name`, if any (no recursion). */
  protected own(name: string): Tensor | null {
    return this.#params.get(name) ?? this.#buffers.get(name) ?? null;
  }
}

function listKeys(keys: string[]): string {
  const shown = keys.slice(0, 5).map((k) => `'${k}'`).join(', ');
  return keys.length > 5 ? `${shown} and ${keys.length - 5} more` : shown;
}

function isDeviceName(s: string): boolean {
  return s === 'cpu' || s.startsWith('cuda');
}

function sameDevice(a: Device, b: Device): boolean {
  return a === b || (a === 'cuda' && b === 'cuda:0');
}
