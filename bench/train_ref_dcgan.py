"""PyTorch side of bench/train.ts for DCGAN: the same networks (pytorch/examples' DCGAN
layout, written out here), the same step (one D step on real and detached fake, one G
step, BCE, Adam 2e-4 / (0.5, 0.999)), timed the same way. Prints one JSON line.

Usage: /usr/bin/python3 bench/train_ref_dcgan.py THREADS RES BATCH ITERS
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def generator(res, nz, ngf, nc):
    n = int(math.log2(res)) - 2
    ch = ngf * 2 ** (n - 1)
    layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(1, n):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(res, ndf, nc):
    n = int(math.log2(res)) - 2
    ch = ndf
    layers = [nn.Conv2d(nc, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for _ in range(1, n):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
        ch *= 2
    layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
    return nn.Sequential(*layers)


def dcgan_step(G, D, oG, oD, real, z):
    """One D step on real and detached fake, then one G step on the same fake (BCE)."""
    fake = G(z)
    oD.zero_grad(set_to_none=True)
    dr, df = D(real).view(-1), D(fake.detach()).view(-1)
    loss_d = F.binary_cross_entropy_with_logits(dr, torch.ones_like(dr)) + F.binary_cross_entropy_with_logits(df, torch.zeros_like(df))
    loss_d.backward()
    oD.step()
    for p in D.parameters():
        p.requires_grad_(False)
    oG.zero_grad(set_to_none=True)
    o = D(fake).view(-1)
    loss_g = F.binary_cross_entropy_with_logits(o, torch.ones_like(o))
    loss_g.backward()
    oG.step()
    for p in D.parameters():
        p.requires_grad_(True)
    return loss_g.item(), loss_d.item()


def main():
    threads, res, batch, iters = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nz = 100
    G, D = generator(res, nz, 64, 3), discriminator(res, 64, 3)
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 3, res, res) * 2 - 1

    def step():
        return dcgan_step(G, D, oG, oD, real, torch.randn(batch, nz, 1, 1))

    def timed(fn, n):
        for _ in range(2):
            fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        ts.sort()
        return ts[len(ts) // 2]

    train_s = timed(step, iters)
    G.eval()
    z = torch.randn(batch, nz, 1, 1)

    def sample():
        with torch.no_grad():
            G(z)

    sample_s = timed(sample, iters)
    print(json.dumps({"torch": torch.__version__, "train_img_per_s": batch / train_s, "sample_img_per_s": batch / sample_s,
                      "params_G": sum(p.numel() for p in G.parameters()), "params_D": sum(p.numel() for p in D.parameters())}))


if __name__ == "__main__":
    main()
