import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

/** A module that maps one tensor to one tensor. */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Children named '0', '1', ... applied in order, as torch.nn.Sequential (so keys read `3.weight`). */
export class Sequential extends Module {
  readonly layers: UnaryModule[];

  constructor(...layers: UnaryModule[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): UnaryModule {
    const m = this.layers.at(i);
    if (!m) throw new RangeError(`Sequential has ${this.layers.length} layers, no index ${i}`);
    return m;
  }

  /** Each intermediate result is freed as soon as the next layer has consumed it. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) {
      const next = m.forward(y);
      if (y !== x && next !== y) y.dispose();
      y = next;
    }
    return y;
  }
}

/** A list of modules named '0', '1', ... (torch.nn.ModuleList): holds them, does not run them. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.append(m);
  }

  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new RangeError(`ModuleList has ${this.items.length} modules, no index ${i}`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList is a container: call its modules');
  }
}
