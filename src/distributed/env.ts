// Where a process stands in a distributed job, read the way torchrun hands it over:
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. `ganforge train --nproc N`
// sets the same variables for the workers it starts, so both launches join the same way.
import { UsageError } from '../config/errors.js';

export interface DistributedEnv {
  rank: number;
  worldSize: number;
  /** The rank among this machine's processes (which GPU a CUDA rank would take). */
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, min: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`${name} is not set: a distributed job (WORLD_SIZE > 1) needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun sets them`);
  }
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new UsageError(`${name}=${raw} is not a whole number of at least ${min}`);
  return Number(raw);
}

/** The job this process belongs to, or null when it trains alone (WORLD_SIZE unset or 1). */
export function distributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv | null {
  const worldSize = whole(env, 'WORLD_SIZE', 1, 1);
  if (worldSize === 1) return null;
  const rank = whole(env, 'RANK', 0);
  if (rank >= worldSize) throw new UsageError(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const masterAddr = env.MASTER_ADDR || '';
  if (!masterAddr) throw new UsageError('MASTER_ADDR is not set: the address of rank 0\'s machine, reachable from every rank');
  const masterPort = whole(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new UsageError(`MASTER_PORT=${masterPort} is not a TCP port`);
  return { rank, worldSize, localRank: whole(env, 'LOCAL_RANK', 0, rank), masterAddr, masterPort };
}
