// libtorch's profiler, bound (native/profiler.cc): which ATen ops and autograd nodes a
// piece of work runs and how long each takes, as a Chrome trace (chrome://tracing,
// https://ui.perfetto.dev) and as a table of the ops that cost the most time of their own.
import { writeFileSync } from 'node:fs';
import { N } from './native.js';

/** One recorded op or autograd node. */
export interface ProfilerEvent {
  name: string;
  /** Microseconds from the start of the profile. */
  startUs: number;
  durationUs: number;
  thread: number;
  device: 'cpu' | 'cuda';
  /** Input shapes, when recorded (`recordShapes`); [] for a non-tensor argument. */
  shapes?: number[][];
}

/** Time by op name: its own (children excluded) and inclusive, over all its calls. */
export interface OpSummary {
  name: string;
  calls: number;
  selfUs: number;
  totalUs: number;
}

export interface ProfileOptions {
  /** Record each op's input shapes (slower; shown in the trace's args). */
  recordShapes?: boolean;
}

export class Profile {
  constructor(readonly events: readonly ProfilerEvent[]) {}

  /**
   * A profile read back from a Chrome trace: ours, Kineto's (`{traceEvents}`) or PyTorch's
   * fallback writer's (a bare array); its complete ('X') events become the profile's.
   */
  static fromChromeTrace(trace: unknown): Profile {
    const list = Array.isArray(trace) ? trace : (trace as { traceEvents?: unknown[] } | null)?.traceEvents;
    if (!Array.isArray(list)) throw new Error('not a Chrome trace: expected an array of events or an object with traceEvents');
    const threads = new Map<unknown, number>();
    const events: ProfilerEvent[] = [];
    for (const e of list as Record<string, unknown>[]) {
      if (e.ph !== 'X' || typeof e.ts !== 'number' || typeof e.dur !== 'number') continue;
      // Kineto marks GPU work with a category (kernel, gpu_memcpy, ...); CPU ops are cpu_op or have none.
      const gpu = typeof e.cat === 'string' && /kernel|gpu|cuda/i.test(e.cat) && !/cpu/i.test(e.cat);
      if (!threads.has(e.tid)) threads.set(e.tid, typeof e.tid === 'number' ? e.tid : threads.size);
      events.push({ name: String(e.name), startUs: e.ts, durationUs: e.dur, thread: threads.get(e.tid)!, device: gpu ? 'cuda' : 'cpu' });
    }
    return new Profile(events);
  }

  /**
   * Per op name, self and total time, most self time first. An event's self time is its
   * duration less that of the events directly inside it on the same thread (an op's
   * sub-ops, an autograd node's ops), as PyTorch's key_averages() counts it.
   */
  summary(): OpSummary[] {
    const byName = new Map<string, OpSummary>();
    const threads = new Map<number, ProfilerEvent[]>();
    for (const e of this.events) {
      if (e.device !== 'cpu') continue;
      const list = threads.get(e.thread) ?? [];
      list.push(e);
      threads.set(e.thread, list);
    }
    for (const list of threads.values()) {
      // Parents before children: earlier start first, and the longer of two that start together.
      list.sort((a, b) => a.startUs - b.startUs || b.durationUs - a.durationUs);
      const stack: { e: ProfilerEvent; children: number; s: OpSummary }[] = [];
      const close = (until: number): void => {
        while (stack.length && stack[stack.length - 1].e.startUs + stack[stack.length - 1].e.durationUs <= until) {
          const top = stack.pop()!;
          top.s.selfUs += top.e.durationUs - top.children;
        }
      };
      for (const e of list) {
        close(e.startUs);
        if (stack.length) stack[stack.length - 1].children += e.durationUs;
        let s = byName.get(e.name);
        if (!s) byName.set(e.name, (s = { name: e.name, calls: 0, selfUs: 0, totalUs: 0 }));
        s.calls++;
        // An op inside another of the same name (a recursive call) would count twice in its total.
        if (!stack.some((x) => x.e.name === e.name)) s.totalUs += e.durationUs;
        stack.push({ e, children: 0, s });
      }
      close(Infinity);
    }
    return [...byName.values()].sort((a, b) => b.selfUs - a.selfUs);
  }

  /** The `top` ops by self time as a text table, with each one's share of all self time. */
  table(top = 20): string {
    const rows = this.summary();
    const all = rows.reduce((a, r) => a + r.selfUs, 0);
    const width = Math.min(60, Math.max(4, ...rows.slice(0, top).map((r) => r.name.length)));
    const ms = (us: number) => (us / 1000).toFixed(2).padStart(10);
    const lines = [
      `${'op'.padEnd(width)}  ${'self ms'.padStart(10)}  ${'self %'.padStart(6)}  ${'total ms'.padStart(10)}  ${'calls'.padStart(6)}  ${'self µs/call'.padStart(12)}`,
    ];
    for (const r of rows.slice(0, top)) {
      lines.push(`${r.name.slice(0, width).padEnd(width)}  ${ms(r.selfUs)}  ${(all ? (100 * r.selfUs) / all : 0).toFixed(1).padStart(6)}  ` +
        `${ms(r.totalUs)}  ${String(r.calls).padStart(6)}  ${(r.selfUs / r.calls).toFixed(1).padStart(12)}`);
    }
    lines.push(`(${rows.length} op names, ${this.events.length} events, ${(all / 1000).toFixed(2)} ms of self time in all)`);
    return lines.join('\n');
  }

  /** Writes the events as a Chrome trace (JSON; 'X' complete events in µs, one row per thread). */
  writeChromeTrace(path: string): void {
    const traceEvents = this.events.map((e) => ({
      name: e.name, ph: 'X', ts: e.startUs, dur: e.durationUs, pid: e.device === 'cpu' ? 'CPU' : 'CUDA', tid: e.thread,
      args: e.shapes ? { 'Input Dims': e.shapes } : {},
    }));
    writeFileSync(path, JSON.stringify({ traceEvents, displayTimeUnit: 'ms' }));
  }
}

let running = false;

/** Starts recording this thread's ops (and the backward passes they start). Profiles do not nest. */
export function start(opts: ProfileOptions = {}): void {
  if (running) throw new Error('profiler.start(): a profile is already running');
  N.profilerStart(opts.recordShapes ?? false);
  running = true;
}

/**
 * Stops recording and returns the profile. With `chromeTrace`, the trace is written
 * there: by libtorch (Kineto's writer, GPU kernels included) where it was built with
 * Kineto, else from the recorded events.
 */
export function stop(opts: { chromeTrace?: string } = {}): Profile {
  if (!running) throw new Error('profiler.stop(): no profile is running (call profiler.start() first)');
  running = false;
  const r = N.profilerStop(opts.chromeTrace ?? null) as { events: ProfilerEvent[]; saved: boolean };
  const profile = new Profile(r.events);
  if (opts.chromeTrace && !r.saved) profile.writeChromeTrace(opts.chromeTrace);
  return profile;
}

/** Profiles `fn` (synchronous): its result and the profile. */
export function profile<T>(fn: () => T, opts: ProfileOptions & { chromeTrace?: string } = {}): { result: T; profile: Profile } {
  start(opts);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('profiler.profile(fn): fn must be synchronous');
  } catch (e) {
    stop();
    throw e;
  }
  return { result, profile: stop({ chromeTrace: opts.chromeTrace }) };
}
