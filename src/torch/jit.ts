// TorchScript modules run from a file (no Python): the feature networks of the metrics.
import { N } from './native.js';
import { Tensor, wrap } from './tensor.js';
import type { Device } from './dtype.js';

/** An argument a TorchScript method takes: tensors, numbers, booleans, strings or null. */
export type ScriptValue = Tensor | number | boolean | string | null;

/** One parameter of a TorchScript method's schema (after self). */
export interface ScriptArgument {
  name: string;
  /** TorchScript's type name ('Tensor', 'bool', …). */
  type: string;
  hasDefault: boolean;
}

type ModuleHandle = { readonly __nativeScriptModule: unique symbol };

/**
 * A TorchScript module loaded with libtorch's `torch::jit::load`, in eval mode. Its weights
 * are native memory: `dispose()` frees them now (the garbage collector is the backstop).
 */
export class ScriptModule {
  #h: ModuleHandle | null;
  readonly path: string;

  private constructor(h: ModuleHandle, path: string) {
    this.#h = h;
    this.path = path;
  }

  /** Loads a TorchScript file (its tensors mapped onto `device`). */
  static load(path: string, device: Device = 'cpu'): ScriptModule {
    return new ScriptModule(N.jitLoad(path, device), path);
  }

  get #handle(): ModuleHandle {
    if (this.#h === null) throw new Error(`the TorchScript module ${this.path} was disposed and can no longer be used`);
    return this.#h;
  }

  /** The parameters of a method after self, from its schema. */
  arguments(method = 'forward'): ScriptArgument[] {
    return N.jitArguments(this.#handle, method);
  }

  /**
   * Calls a method with positional and keyword arguments, and returns the tensor it gives
   * (the first element of a tuple). Without autograd unless `opts.grad`: then gradients
   * flow to the inputs (the module's own weights are frozen when it is loaded).
   */
  call(method: string, args: readonly ScriptValue[], kwargs: Record<string, ScriptValue> = {}, opts: { grad?: boolean } = {}): Tensor {
    const native = (v: ScriptValue) => (v instanceof Tensor ? v.handle : v);
    const kw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(kwargs)) kw[k] = native(v);
    return wrap(N.jitCall(this.#handle, method, args.map(native), kw, opts.grad === true));
  }

  forward(args: readonly ScriptValue[], kwargs: Record<string, ScriptValue> = {}, opts: { grad?: boolean } = {}): Tensor {
    return this.call('forward', args, kwargs, opts);
  }

  dispose(): void {
    if (this.#h !== null) {
      N.jitDispose(this.#h);
      this.#h = null;
    }
  }

  get isDisposed(): boolean {
    return this.#h === null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
