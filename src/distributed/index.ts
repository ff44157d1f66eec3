// Training on several processes and machines with c10d (PyTorch's distributed engine).
export { type DistributedEnv, distributedEnv } from './env.js';
export { DataParallel } from './data_parallel.js';
export { BUCKET_BYTES, bucketize, throughBuckets } from './buckets.js';
export { Job, joinJob, rankSeed, type JobOptions } from './job.js';
export { freePort } from './port.js';
