# PyTorch's side of bench/distributed.ts: all-reduce of float32 tensors over torch.distributed
# Gloo on 127.0.0.1, timed the same way as ours (a barrier, then `iters` all-reduces).
#   python3 bench/distributed_ref.py RANK WORLD PORT MB:ITERS [MB:ITERS ...]
# Rank 0 prints one JSON line per size: {"mb", "iters", "sec_per_op"}.
import json, sys, time
import torch
import torch.distributed as dist

rank, world, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1)
dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
for spec in sys.argv[4:]:
    mb, iters = (int(x) for x in spec.split(':'))
    t = torch.ones(mb * (1 << 20) // 4)
    dist.all_reduce(t)  # warm-up: connections, buffers
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(t)
    sec = (time.perf_counter() - t0) / iters
    if rank == 0:
        print(json.dumps({'mb': mb, 'iters': iters, 'sec_per_op': sec}), flush=True)
dist.destroy_process_group()
