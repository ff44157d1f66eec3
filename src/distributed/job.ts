// Joining a distributed job: the process group from torchrun's variables, each rank's
// whereabouts published in the store (so a survivor can name the rank that died), and the
// per-rank random streams.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ProcessGroup } from '../torch/index.js';
import { mixSeed } from '../data/index.js';
import type { DistributedEnv } from './env.js';
import { DataParallel } from './data_parallel.js';

export interface JobOptions {
  /** Every collective fails after this long (joining waits at least 2 minutes). */
  timeoutMs: number;
  /** A FileStore at this path instead of the TCPStore at MASTER_ADDR:MASTER_PORT (one machine only). */
  storeFile?: string;
}

/** Where a rank runs: enough for a survivor to tell whether it is still alive. */
interface Peer {
  rank: number;
  pid: number;
  host: string;
}

/** A distributed job's member: data parallelism plus the names of its peers for error messages. */
export class Job extends DataParallel {
  readonly #peers: Peer[];

  constructor(group: ProcessGroup, peers: Peer[]) {
    super(group);
    this.#peers = peers;
  }

  /**
   * A collective's failure restated with the rank that caused it, where this process can
   * tell: a peer on this machine whose process is gone, or the only other rank of a
   * two-rank job. Other errors pass through unchanged.
   */
  explain(e: unknown): unknown {
    if (!(e instanceof Error) || !/c10d|Connection closed by peer|Connection reset|Operation timed out|Broken pipe|Socket Timeout/i.test(e.message)) return e;
    const here = hostname();
    const others = this.#peers.filter((p) => p.rank !== this.rank);
    const gone = others.filter((p) => p.host === here && !alive(p.pid));
    let who: string;
    if (gone.length) who = gone.map((p) => `rank ${p.rank} (pid ${p.pid}) has died`).join(', ');
    else if (others.length === 1) who = `rank ${others[0].rank} (pid ${others[0].pid} on ${others[0].host}) stopped answering`;
    else who = `a rank stopped answering (ranks ${others.map((p) => `${p.rank} on ${p.host}`).join(', ')})`;
    const err = new Error(`distributed training stopped on rank ${this.rank}: ${who}. ${e.message}`);
    err.name = 'DistributedError';
    return err;
  }
}

/** Whether a process of this machine runs (a zombie, killed but not yet reaped by its parent, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: signal 0 is all we know
  }
}

/** Joins the job `env` describes (blocks until every rank has joined, or the timeout). */
export function joinJob(env: DistributedEnv, o: JobOptions): Job {
  const group = new ProcessGroup({
    // Ranks may start minutes apart (other machines, a busy one): joining waits at least 2 minutes.
    rank: env.rank, size: env.worldSize, timeoutMs: o.timeoutMs, joinTimeoutMs: Math.max(o.timeoutMs, 120_000),
    store: o.storeFile ? { kind: 'file', path: o.storeFile } : { kind: 'tcp', host: env.masterAddr, port: env.masterPort },
  });
  group.storeSet(`peer/${env.rank}`, JSON.stringify({ rank: env.rank, pid: process.pid, host: hostname() }));
  const peers = Array.from({ length: env.worldSize }, (_, r) => JSON.parse(group.storeGet(`peer/${r}`)) as Peer);
  return new Job(group, peers);
}

/** The seed of a rank's random stream in a job of several processes: one per (seed, rank), none equal to the seed that initialised the networks. */
export function rankSeed(seed: number, rank: number): number {
  return mixSeed(seed, 0x6a09e667, rank) % 2 ** 31;
}
