"""The feature-extraction benchmark's Python side (bench/features.ts runs it).

make PATH: scripts an Inception-sized stand-in with NVIDIA's detector convention (uint8
NCHW in, resized to 299x299 inside with affine_grid + grid_sample as the Inception file
does, (x - 128) / 128, a strided conv stack to 2048 pooled features) and saves it to PATH,
for machines without inception-2015-12-05.pt. Its weights are random: only speed matters.

time PATH THREADS BATCH ITERS: torch.jit.load(PATH) and images/s of
module(uint8 [BATCH, 3, 256, 256], return_features=True) under no_grad, median of ITERS;
prints one JSON line.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


class InceptionSized(torch.nn.Module):
    def __init__(self):
        super().__init__()
        widths = [3, 32, 64, 192, 288, 768, 1280]
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:])])
        self.mix = torch.nn.Conv2d(1280, 2048, 1)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        n = img.shape[0]
        x = img.to(torch.float32)
        theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float32).unsqueeze(0).repeat(n, 1, 1)
        grid = F.affine_grid(theta, [n, 3, 299, 299], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        x = (x - 128) / 128
        for conv in self.convs:
            x = F.relu(conv(x))
        x = F.relu(self.mix(x)).mean(dim=[2, 3])
        return x


def main():
    if sys.argv[1] == "make":
        torch.manual_seed(0)
        torch.jit.script(InceptionSized().eval()).save(sys.argv[2])
        return
    path, threads, batch, iters = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    net = torch.jit.load(path).eval()
    img = torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        for i in range(iters + 3):
            t0 = time.perf_counter()
            net(img, return_features=True)
            if i >= 3:
                times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"torch": torch.__version__, "img_per_s": batch / times[len(times) // 2]}))


if __name__ == "__main__":
    main()
