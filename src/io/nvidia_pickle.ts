/**
 * NVIDIA's network pickles (stylegan2-ada-pytorch's network-snapshot-*.pkl and the
 * released ffhq/afhq/metfaces/cifar .pkl files) read as data, without running them.
 *
 * In Python those pickles are programs: every network is a `persistence.persistent_class`
 * object whose reduce is `_reconstruct_persistent_obj(meta)`, and loading it `exec`s the
 * Python source in meta.module_src. We never do: the restricted unpickler maps the nine
 * globals such a pickle uses (A3 in wave2-facts.md) to stand-ins that only build data,
 * and refuses every other global by name before anything else happens.
 *
 *   torch_utils.persistence._reconstruct_persistent_obj(meta) -> PersistentObject
 *   torch.storage._load_from_bytes(bytes)  -> the storage, via the legacy torch.save reader
 *   torch._utils._rebuild_tensor_v2 / _rebuild_parameter     -> RawTensor
 *   collections.OrderedDict, builtins.set, dnnlib.util.EasyDict -> Map / Set
 *   numpy.dtype, numpy.core.multiarray.scalar                  -> numbers
 *
 * A network comes out as its class name, its constructor arguments (`_init_args`,
 * `_init_kwargs`, as JSON values) and its state dict under the keys torch's
 * `module.state_dict()` gives: parameters, then persistent buffers, then each submodule
 * in registration order, recursively.
 *
 * Pickles of TensorFlow StyleGAN2 networks (a tuple G, D, Gs of
 * dnnlib.tflib.network.Network) are read here too and converted as legacy.py converts
 * them, by src/io/tf_stylegan2.ts.
 */

import { type PickleGlobal, unpickle } from './pickle.js';
import { isRawTensor, type RawTensor, readInputFileSync } from './raw.js';
import { readPth, stridedView } from './pth.js';
import { numpyGlobals } from './numpy_pickle.js';
import { convertTFDiscriminator, convertTFGenerator, type TFNetworkState } from './tf_stylegan2.js';
import { convertTFStyleGAN1 } from './tf_stylegan1.js';

/** A plain JSON value: what hyper-parameters become. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** One network of a pickle, as data. */
export interface PickledNetwork {
  /** The Python class: 'Generator', 'Discriminator', 'AugmentPipe', ... */
  className: string;
  /** Positional constructor arguments (the reference's networks take none). */
  initArgs: JsonValue[];
  /** Keyword constructor arguments: EasyDicts become objects, numpy scalars numbers. */
  initKwargs: { [k: string]: JsonValue };
  /** Parameters and persistent buffers under torch's state_dict() keys, in its order. */
  stateDict: Record<string, RawTensor>;
}

/** What load_network_pkl returns, as data. Networks absent from the pickle are null. */
export interface NetworkPickle {
  /** 'pytorch' for stylegan2-ada-pytorch pickles, 'tensorflow' for converted TF ones. */
  source: 'pytorch' | 'tensorflow';
  /**
   * 'stylegan2': networks of stylegan2-ada-pytorch's training/networks.py (PyTorch
   * snapshots, converted TF StyleGAN2); 'stylegan': TF StyleGAN v1 networks with our
   * StyleGAN model's keys and the TF static_kwargs (className 'G_style' / 'D_basic').
   */
  family: 'stylegan2' | 'stylegan';
  G: PickledNetwork | null;
  D: PickledNetwork | null;
  G_ema: PickledNetwork | null;
  augment_pipe: PickledNetwork | null;
  training_set_kwargs: JsonValue;
}

const REFUSAL =
  'network pickles may only name tensors, persistent modules, numpy scalars and plain containers ' +
  '(in Python this global could run code, so the file is not loaded)';

/** What `_reconstruct_persistent_obj(meta)` stands for: a module's class name and its state. */
export class PersistentObject {
  constructor(
    readonly className: string,
    readonly version: unknown,
    readonly state: Map<unknown, unknown>,
  ) {}
}

/** A TensorFlow `dnnlib.tflib.network.Network`; its state arrives through BUILD. */
export class TFNetwork {
  state: Map<unknown, unknown> | null = null;
}

function mapFromPairs(args: unknown[]): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (args.length > 0 && args[0] !== null) {
    if (!Array.isArray(args[0])) throw new Error('expected a list of (key, value) pairs');
    for (const pair of args[0] as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error('items must be (key, value) pairs');
      m.set(pair[0], pair[1]);
    }
  }
  return m;
}

function checkSizes(x: unknown, what: string): number[] {
  if (!Array.isArray(x) || !x.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    throw new Error(`${what} is not a tuple of non-negative integers`);
  }
  return x as number[];
}

function buildGlobals(file: string): Map<string, PickleGlobal> {
  const g = numpyGlobals();

  g.set('torch_utils.persistence._reconstruct_persistent_obj', {
    call(args) {
      const meta = args[0];
      if (!(meta instanceof Map)) throw new Error('meta is not a dict');
      if (meta.get('type') !== 'class') throw new Error(`persistent object of type '${String(meta.get('type'))}' is not supported`);
      const className = meta.get('class_name');
      if (typeof className !== 'string') throw new Error('persistent object without a class name');
      const state = meta.get('state');
      if (!(state instanceof Map)) throw new Error(`${className}: state is not a dict`);
      // meta.module_src (Python source) is deliberately never looked at.
      return new PersistentObject(className, meta.get('version'), state);
    },
  });

  // A storage pickles as _load_from_bytes(b) where b is a whole legacy torch.save of it.
  let blobs = 0;
  g.set('torch.storage._load_from_bytes', {
    call(args) {
      if (!(args[0] instanceof Uint8Array)) throw new Error('argument is not bytes');
      const v = readPth(args[0], `${file} (storage blob ${blobs++})`);
      if (!isRawTensor(v) || v.shape.length !== 1) throw new Error('the blob does not hold a storage');
      return v;
    },
  });
  const rebuildTensor: PickleGlobal = {
    call(args) {
      const [storage, offset, size, stride] = args;
      if (!isRawTensor(storage)) throw new Error('first argument is not a storage');
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error('bad storage offset');
      return stridedView(storage, offset, checkSizes(size, 'size'), checkSizes(stride, 'stride'), 'tensor');
    },
  };
  g.set('torch._utils._rebuild_tensor_v2', rebuildTensor);
  g.set('torch._utils._rebuild_parameter', {
    call(args) {
      if (!isRawTensor(args[0])) throw new Error('first argument is not a tensor');
      return args[0];
    },
  });

  g.set('collections.OrderedDict', { call: mapFromPairs, build: (obj) => obj });
  g.set('builtins.set', {
    call(args) {
      if (args.length > 0 && !Array.isArray(args[0])) throw new Error('expected a list');
      return new Set(args.length ? (args[0] as unknown[]) : []);
    },
  });
  // EasyDict is a dict subclass: NEWOBJ makes it empty, SETITEMS fills it.
  g.set('dnnlib.util.EasyDict', {
    call(args) {
      if (args.length) throw new Error('unexpected constructor arguments');
      return new Map();
    },
  });
  g.set('dnnlib.tflib.network.Network', {
    call(args) {
      if (args.length) throw new Error('unexpected constructor arguments');
      return new TFNetwork();
    },
    build(obj, state) {
      if (!(obj instanceof TFNetwork) || !(state instanceof Map)) throw new Error('Network state is not a dict');
      obj.state = state;
      return obj;
    },
  });
  return g;
}

/** Parses the pickle into its raw object tree (Maps, arrays, stand-ins). */
export function unpickleNetworkPickle(bytes: Uint8Array, file: string): unknown {
  return unpickle(bytes, { globals: buildGlobals(file), file, refusalReason: REFUSAL }).value;
}

// ------------------------------------------------------------------------------------
// Object tree -> data.
// ------------------------------------------------------------------------------------

/** The fields of a TF Network's pickled state that the conversion reads, checked. */
function tfNetworkState(x: unknown, where: string): TFNetworkState {
  if (!(x instanceof TFNetwork) || !x.state) throw new Error(`${where} is not a TensorFlow Network with state`);
  const st = x.state;
  const version = st.get('version');
  const name = st.get('name');
  const staticKwargs = st.get('static_kwargs');
  const components = st.get('components');
  const variables = st.get('variables');
  if (typeof version !== 'number') throw new Error(`${where}: Network state has no version`);
  if (!(staticKwargs instanceof Map)) throw new Error(`${where}: static_kwargs is not a dict`);
  if (!(components instanceof Map)) throw new Error(`${where}: components is not a dict`);
  if (!Array.isArray(variables)) throw new Error(`${where}: variables is not a list`);
  const func = st.get('build_func_name');
  return { version, name: typeof name === 'string' ? name : '', buildFuncName: typeof func === 'string' ? func : '', staticKwargs, components, variables };
}

/** Hyper-parameters as JSON: dicts (EasyDict, OrderedDict) → objects, tuples and sets → arrays. */
export function toJson(x: unknown, where: string, depth = 0): JsonValue {
  if (depth > 64) throw new Error(`${where}: nested too deeply`);
  if (x === null || typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') return x;
  if (typeof x === 'bigint') {
    throw new Error(`${where}: integer ${x} does not fit a JSON number`);
  }
  if (Array.isArray(x) || x instanceof Set) return [...x].map((v, i) => toJson(v, `${where}[${i}]`, depth + 1));
  if (x instanceof Map) {
    const out: { [k: string]: JsonValue } = {};
    for (const [k, v] of x) {
      if (typeof k !== 'string' && typeof k !== 'number') throw new Error(`${where}: a dict key is not a string`);
      Object.defineProperty(out, String(k), { value: toJson(v, `${where}.${String(k)}`, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  const what = x instanceof PersistentObject ? `a ${x.className} module` : isRawTensor(x) ? 'a tensor' : 'an object';
  throw new Error(`${where}: ${what} where plain data was expected`);
}

function stateMap(state: Map<unknown, unknown>, field: string, where: string): Map<unknown, unknown> {
  const m = state.get(field);
  if (m === undefined) return new Map();
  if (!(m instanceof Map)) throw new Error(`${where}.${field} is not a dict`);
  return m;
}

/**
 * torch's Module.state_dict() over the pickled module tree: per module its parameters,
 * its buffers except those in _non_persistent_buffers_set (None entries skipped, as
 * torch skips them), then its submodules with '<name>.' prefixed.
 */
export function moduleStateDict(obj: PersistentObject, where: string): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  const put = (key: string, t: unknown): void => {
    if (t === null) return;
    if (!isRawTensor(t)) throw new Error(`${where}: '${key}' is not a tensor`);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new Error(`${where}: '${key}' appears twice`);
    Object.defineProperty(out, key, { value: t, enumerable: true, writable: true, configurable: true });
  };
  const seen = new Set<PersistentObject>();
  const walk = (m: PersistentObject, prefix: string, depth: number): void => {
    if (depth > 100 || seen.has(m)) throw new Error(`${where}: the module tree is cyclic or too deep at '${prefix}'`);
    seen.add(m);
    const here = `${where}${prefix ? `.${prefix.slice(0, -1)}` : ''}`;
    const skip = m.state.get('_non_persistent_buffers_set');
    const nonPersistent = skip instanceof Set ? skip : new Set();
    for (const [k, t] of stateMap(m.state, '_parameters', here)) put(`${prefix}${String(k)}`, t);
    for (const [k, t] of stateMap(m.state, '_buffers', here)) if (!nonPersistent.has(k)) put(`${prefix}${String(k)}`, t);
    for (const [k, sub] of stateMap(m.state, '_modules', here)) {
      if (sub === null) continue;
      if (!(sub instanceof PersistentObject)) throw new Error(`${here}: submodule '${String(k)}' is not a persistent module`);
      walk(sub, `${prefix}${String(k)}.`, depth + 1);
    }
  };
  walk(obj, '', 0);
  return out;
}

/** One pickled persistent module as { className, initArgs, initKwargs, stateDict }. */
export function pickledNetwork(obj: unknown, where: string): PickledNetwork {
  if (!(obj instanceof PersistentObject)) throw new Error(`${where} is not a persistent network object`);
  const args = obj.state.get('_init_args') ?? [];
  const kwargs = obj.state.get('_init_kwargs') ?? new Map();
  const initArgs = toJson(args, `${where}._init_args`);
  const initKwargs = toJson(kwargs, `${where}._init_kwargs`);
  if (!Array.isArray(initArgs)) throw new Error(`${where}._init_args is not a tuple`);
  if (initKwargs === null || typeof initKwargs !== 'object' || Array.isArray(initKwargs)) throw new Error(`${where}._init_kwargs is not a dict`);
  return { className: obj.className, initArgs, initKwargs, stateDict: moduleStateDict(obj, where) };
}

const NETWORKS = ['G', 'D', 'G_ema', 'augment_pipe'] as const;

/**
 * Reads a network pickle's bytes. Refuses (with a one-line error naming it) any global
 * outside the allow-list; checks what legacy.load_network_pkl checks: G, D and G_ema are
 * networks, augment_pipe a network or absent, training_set_kwargs a dict or absent.
 */
export function readNetworkPickle(bytes: Uint8Array, file = '<memory>'): NetworkPickle {
  const root = unpickleNetworkPickle(bytes, file);
  if (Array.isArray(root) && root.length === 3 && root.every((n) => n instanceof TFNetwork)) {
    const [G, D, Gs] = root.map((n, i) => tfNetworkState(n, `${file}: ${['G', 'D', 'Gs'][i]}`));
    // StyleGAN v1's networks keep our StyleGAN model's layout; StyleGAN2's convert as legacy.py does.
    const v1 = /(^|\.)G_style$/.test(G!.buildFuncName);
    const convert = (net: TFNetworkState, generator: boolean, name: string): PickledNetwork =>
      (v1 ? convertTFStyleGAN1 : generator ? convertTFGenerator : convertTFDiscriminator)(net, tfNetworkState, toJson, `${file}: ${name}`);
    return {
      source: 'tensorflow',
      family: v1 ? 'stylegan' : 'stylegan2',
      G: convert(G!, true, 'G'),
      D: convert(D!, false, 'D'),
      G_ema: convert(Gs!, true, 'Gs'),
      augment_pipe: null,
      training_set_kwargs: null,
    };
  }
  if (!(root instanceof Map)) throw new Error(`${file}: not a network pickle (the top level is not a dict)`);
  const out: NetworkPickle = { source: 'pytorch', family: 'stylegan2', G: null, D: null, G_ema: null, augment_pipe: null, training_set_kwargs: null };
  for (const name of NETWORKS) {
    const v = root.get(name);
    if (v === undefined || v === null) {
      if (name !== 'augment_pipe') throw new Error(`${file}: no '${name}' network in the pickle (keys: ${[...root.keys()].map(String).join(', ')})`);
      continue;
    }
    out[name] = pickledNetwork(v, `${file}: ${name}`);
  }
  const tsk = root.get('training_set_kwargs');
  if (tsk !== undefined && tsk !== null && !(tsk instanceof Map)) throw new Error(`${file}: training_set_kwargs is not a dict`);
  out.training_set_kwargs = tsk === undefined ? null : toJson(tsk, `${file}: training_set_kwargs`);
  return out;
}

export function readNetworkPickleFile(path: string): NetworkPickle {
  return readNetworkPickle(readInputFileSync(path), path);
}
