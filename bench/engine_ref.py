"""PyTorch side of bench/engine.ts: the same measurements with Debian's torch, printed as one JSON line.

Usage: /usr/bin/python3 bench/engine_ref.py THREADS ITERS
"""
import json
import sys
import time

import torch


def main():
    threads, iters = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    a, b = torch.ones(1), torch.ones(1)
    for _ in range(1000):
        a.add(b)
    n = 100000
    t0 = time.perf_counter()
    for _ in range(n):
        a.add(b)
    tiny_us = (time.perf_counter() - t0) / n * 1e6

    x = torch.randn(32, 128, 16, 16, requires_grad=True)
    w = torch.randn(64, 128, 3, 3, requires_grad=True)
    bias = torch.randn(64, requires_grad=True)

    def step():
        y = torch.nn.functional.conv2d(x, w, bias, padding=1)
        y.sum().backward()
        x.grad = w.grad = bias.grad = None

    for _ in range(3):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"torch": torch.__version__, "threads": threads, "tiny_us": tiny_us,
                      "conv_ms_median": times[len(times) // 2] * 1e3, "conv_ms_min": times[0] * 1e3}))


if __name__ == "__main__":
    main()
