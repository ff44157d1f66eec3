// Deterministic memory management. Native tensors can be large and V8 cannot see how
// large, so we free them when a scope ends instead of waiting for the garbage collector.
// The native finalizer of each handle is the backstop for tensors that escape both.

/** What a scope needs of a tensor: to be freed, to know whether it was kept, and to be told when no scope owns it any more. */
export interface Scoped {
  dispose(): void;
  readonly isKept: boolean;
  /** Returned out of the outermost scope: from now on only the garbage collector can free it. */
  leftScopes?(): void;
}

const stack: Scoped[][] = [];

/** Called by every new Tensor: the innermost open scope owns it. Returns whether one did. */
export function track(t: Scoped): boolean {
  const top = stack[stack.length - 1];
  if (top) top.push(t);
  return top !== undefined;
}

/** Forget a tensor in every open scope (it was kept). */
export function untrack(t: Scoped): void {
  for (let s = stack.length - 1; s >= 0; s--) {
    const i = stack[s].lastIndexOf(t);
    if (i >= 0) {
      stack[s].splice(i, 1);
      return;
    }
  }
}

function collect(v: unknown, out: Set<unknown>, depth: number): void {
  if (v === null || typeof v !== 'object' || depth > 4) return;
  if ('dispose' in v && 'isKept' in v) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, depth + 1);
  } else if (v instanceof Map) {
    for (const x of v.values()) collect(x, out, depth + 1);
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collect(x, out, depth + 1);
  }
}

/**
 * Runs `fn` and frees every tensor created inside it, except the tensors it returns
 * (directly, or inside arrays, Maps and plain objects) and those marked with `keep()`.
 * Returned tensors belong to the enclosing scope, if any. `fn` must be synchronous.
 */
export function scope<T>(fn: () => T): T {
  const mine: Scoped[] = [];
  stack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of mine) t.dispose();
    throw new Error('scope(fn): fn must be synchronous (it returned a Promise); await outside the scope');
  }
  const returned = new Set<unknown>();
  collect(result, returned, 0);
  const parent = stack[stack.length - 1];
  for (const t of mine) {
    if (returned.has(t)) {
      if (parent) parent.push(t);
      else t.leftScopes?.();
    } else if (!t.isKept) t.dispose();
  }
  return result;
}

/** How many scopes are open (0 outside any scope). */
export function scopeDepth(): number {
  return stack.length;
}
