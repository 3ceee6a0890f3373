"""bmshj2018-factorized (N=128, M=192) inference forward in PyTorch on the CPU, for `pnpm bench codec`.

Random weights, one H x W image: encode side = g_a and rounding, decode side = g_s (no entropy
coding), GDN as a 1x1 convolution of x^2 as in CompressAI's layers. Prints the median of `reps`
timed runs after one warm-up as `encode <ms> ms, decode <ms> ms`.
Usage: OMP_NUM_THREADS=2 /usr/bin/python3 factorized_forward.py [H W reps]
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Gdn(nn.Module):
    def __init__(self, channels, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels).view(channels, channels, 1, 1))

    def forward(self, x):
        norm = torch.sqrt(F.conv2d(x * x, self.gamma, self.beta))
        return x * norm if self.inverse else x / norm


def down(cin, cout):
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def up(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def main():
    h, w, reps = (int(a) for a in (sys.argv[1:4] + ["512", "768", "5"][len(sys.argv[1:4]):]))
    n, m = 128, 192
    torch.manual_seed(0)
    g_a = nn.Sequential(down(3, n), Gdn(n), down(n, n), Gdn(n), down(n, n), Gdn(n), down(n, m)).eval()
    g_s = nn.Sequential(up(m, n), Gdn(n, True), up(n, n), Gdn(n, True), up(n, n), Gdn(n, True), up(n, 3)).eval()
    x = torch.rand(1, 3, h, w)
    encode, decode = [], []
    with torch.no_grad():
        for i in range(reps + 1):
            t0 = time.perf_counter()
            y = torch.round(g_a(x))
            t1 = time.perf_counter()
            g_s(y)
            t2 = time.perf_counter()
            if i:
                encode.append(1000 * (t1 - t0))
                decode.append(1000 * (t2 - t1))
    print(f"bmshj2018-factorized N={n} M={m} {h}x{w}, torch {torch.__version__}, {torch.get_num_threads()} threads: encode {statistics.median(encode):.0f} ms, decode {statistics.median(decode):.0f} ms")


if __name__ == "__main__":
    main()
