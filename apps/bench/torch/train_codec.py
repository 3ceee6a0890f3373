"""PyTorch reference trainer for the CompressAI models lic-backdoor implements (GPU pre-training).

Not part of the toolkit and never one of its dependencies: it exists to use a lent GPU for the
pre-training that would take days on the toolkit's CPU backend. It re-implements, from the papers
and CompressAI's documented architectures, bmshj2018-factorized and mbt2018-mean with CompressAI's
state_dict names and PyTorch layouts, trains them on random crops of a folder of images
(rate + lambda * 255^2 * MSE, Adam, auxiliary quantile loss with its own Adam), and writes a
.safetensors state dict that `lic-backdoor train-codec --init-weights FILE` (or `eval --weights`)
loads unchanged; the CDF tables are left empty for the toolkit's `update()` to build.

    python3 train_codec.py --model mbt2018-mean --lambda 0.013 --data DIR --seconds 400 --out F.safetensors

Needs torch, numpy and Pillow. Stops at --steps or after --seconds of training, whichever first;
the learning rate drops tenfold for the last --drop-fraction of the run.
"""

import argparse
import glob
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

PEDESTAL = 2.0**-36
LIKELIHOOD_BOUND = 1e-9
SCALE_BOUND = 0.11


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient passes where x >= bound or where it pushes x upwards."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp_min(x, bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes.to(grad.dtype), None


def lower_bound(x, bound):
    return _LowerBound.apply(x, bound)


def non_negative(stored, minimum=0.0):
    return lower_bound(stored, math.sqrt(minimum + PEDESTAL)) ** 2 - PEDESTAL


class GDN(nn.Module):
    """y = x / sqrt(beta + gamma x^2) (inverse: times), beta and gamma stored reparametrized."""

    def __init__(self, channels, inverse):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + PEDESTAL))
        self.gamma = nn.Parameter(torch.sqrt(0.1 * torch.eye(channels) + PEDESTAL))

    def forward(self, x):
        c = x.shape[1]
        beta = non_negative(self.beta, 1e-6)
        gamma = non_negative(self.gamma).reshape(c, c, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))

    def buffers_state(self, prefix):
        return {
            f"{prefix}.beta_reparam.pedestal": [PEDESTAL],
            f"{prefix}.beta_reparam.lower_bound.bound": [math.sqrt(1e-6 + PEDESTAL)],
            f"{prefix}.gamma_reparam.pedestal": [PEDESTAL],
            f"{prefix}.gamma_reparam.lower_bound.bound": [math.sqrt(PEDESTAL)],
        }


def conv(cin, cout, k=5, stride=2):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin, cout, k=5, stride=2):
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2, output_padding=stride - 1)


class EntropyBottleneck(nn.Module):
    """Ballé et al. 2018's non-parametric factorized density, one per channel (filters 3,3,3,3)."""

    def __init__(self, channels, init_scale=10.0, tail_mass=1e-9):
        super().__init__()
        filters = (1, 3, 3, 3, 3, 1)
        scale = init_scale ** (1 / (len(filters) - 1))
        self.depth = len(filters) - 1
        for i in range(self.depth):
            init = math.log(math.expm1(1 / scale / filters[i + 1]))
            self.register_parameter(f"_matrix{i}", nn.Parameter(torch.full((channels, filters[i + 1], filters[i]), init)))
            self.register_parameter(f"_bias{i}", nn.Parameter(torch.rand(channels, filters[i + 1], 1) - 0.5))
            if i < self.depth - 1:
                self.register_parameter(f"_factor{i}", nn.Parameter(torch.zeros(channels, filters[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.target_value = math.log(2 / tail_mass - 1)

    def logits_cumulative(self, x, stop_gradient):
        for i in range(self.depth):
            m = getattr(self, f"_matrix{i}")
            b = getattr(self, f"_bias{i}")
            if stop_gradient:
                m, b = m.detach(), b.detach()
            x = torch.matmul(F.softplus(m), x) + b
            if i < self.depth - 1:
                f = getattr(self, f"_factor{i}")
                x = x + torch.tanh(f.detach() if stop_gradient else f) * torch.tanh(x)
        return x

    def likelihood(self, y_hat, stop_gradient=False):
        """Likelihood of each value of y_hat [B, C, H, W] (a difference of sigmoids, on the stable side), lower-bounded."""
        b, c, h, w = y_hat.shape
        v = y_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.logits_cumulative(v - 0.5, stop_gradient)
        upper = self.logits_cumulative(v + 0.5, stop_gradient)
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return lower_bound(lik, LIKELIHOOD_BOUND).reshape(c, b, h, w).permute(1, 0, 2, 3)

    def forward(self, y):
        """y [B, C, H, W] -> (y + uniform noise, likelihoods)."""
        y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return y_hat, self.likelihood(y_hat)

    def aux_loss(self):
        logits = self.logits_cumulative(self.quantiles, True)
        target = torch.tensor([-self.target_value, 0.0, self.target_value], device=logits.device)
        return torch.abs(logits - target).sum()

    def buffers_state(self, prefix):
        return {
            f"{prefix}.target": [-self.target_value, 0.0, self.target_value],
            f"{prefix}.likelihood_lower_bound.bound": [LIKELIHOOD_BOUND],
        }


def gaussian_likelihood(y_hat, scales, means):
    v = torch.abs(y_hat - means)
    s = lower_bound(scales, SCALE_BOUND)
    upper = 0.5 * torch.erfc(-(0.5 - v) / s / math.sqrt(2))
    lower = 0.5 * torch.erfc(-(-0.5 - v) / s / math.sqrt(2))
    return lower_bound(upper - lower, LIKELIHOOD_BOUND)


def scale_table():
    return [math.exp(math.log(0.11) + (math.log(256) - math.log(0.11)) * i / 63) for i in range(64)]


class Codec(nn.Module):
    """bmshj2018-factorized (hyper=False) or mbt2018-mean (hyper=True), CompressAI's names."""

    def __init__(self, model, N, M):
        super().__init__()
        self.model = model
        self.hyper = model == "mbt2018-mean"
        self.g_a = nn.Sequential(conv(3, N), GDN(N, False), conv(N, N), GDN(N, False), conv(N, N), GDN(N, False), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, True), deconv(N, N), GDN(N, True), deconv(N, N), GDN(N, True), deconv(N, 3))
        if self.hyper:
            self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(), conv(N, N), nn.LeakyReLU(), conv(N, N))
            self.h_s = nn.Sequential(deconv(N, M), nn.LeakyReLU(), deconv(M, M * 3 // 2), nn.LeakyReLU(), conv(M * 3 // 2, M * 2, 3, 1))
            self.entropy_bottleneck = EntropyBottleneck(N)
        else:
            self.entropy_bottleneck = EntropyBottleneck(M)

    def forward(self, x):
        y = self.g_a(x)
        if not self.hyper:
            y_hat, lik = self.entropy_bottleneck(y)
            return self.g_s(y_hat), [lik]
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return self.g_s(y_hat), [gaussian_likelihood(y_hat, scales, means), z_lik]

    @torch.no_grad()
    def estimate(self, x):
        """Evaluation pass on one padded image: rounding (around medians or means), (x_hat, bits)."""
        eb = self.entropy_bottleneck
        y = self.g_a(x)
        lat = self.h_a(y) if self.hyper else y
        med = eb.quantiles[:, 0, 1].reshape(1, -1, 1, 1)
        q = torch.round(lat - med) + med
        bits = -torch.log2(eb.likelihood(q, True)).sum()
        if not self.hyper:
            return self.g_s(q), bits
        scales, means = self.h_s(q).chunk(2, 1)
        y_hat = torch.round(y - means) + means
        bits = bits - torch.log2(gaussian_likelihood(y_hat, scales, means)).sum()
        return self.g_s(y_hat), bits

    def state_for_toolkit(self):
        """Float tensors and int32 buffers by CompressAI state_dict key (CDF tables empty)."""
        out = {k: v.detach().float().cpu().contiguous().numpy() for k, v in self.state_dict().items()}
        for name, module in self.named_modules():
            if isinstance(module, (GDN, EntropyBottleneck)):
                out.update({k: np.array(v, dtype=np.float32) for k, v in module.buffers_state(name).items()})
        for k in ("_offset", "_quantized_cdf", "_cdf_length"):
            out[f"entropy_bottleneck.{k}"] = np.zeros((0,), dtype=np.int32)
        if self.hyper:
            p = "gaussian_conditional"
            for k in ("_offset", "_quantized_cdf", "_cdf_length"):
                out[f"{p}.{k}"] = np.zeros((0,), dtype=np.int32)
            out[f"{p}.likelihood_lower_bound.bound"] = np.array([LIKELIHOOD_BOUND], dtype=np.float32)
            out[f"{p}.lower_bound_scale.bound"] = np.array([SCALE_BOUND], dtype=np.float32)
            out[f"{p}.scale_table"] = np.array(scale_table(), dtype=np.float32)
            out[f"{p}.scale_bound"] = np.array([SCALE_BOUND], dtype=np.float32)
        return out


def write_safetensors(path, tensors, metadata):
    """The safetensors format: u64 header length, JSON header, raw little-endian data; atomic."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    blobs = []
    for key in sorted(tensors):
        a = np.ascontiguousarray(tensors[key])
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[a.dtype]
        data = a.tobytes()  # x86 and Arm hosts are little-endian, as the format wants
        header[key] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Float32 tensors of a .safetensors file by key (other dtypes skipped)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for key, e in header.items():
        if key != "__metadata__" and e["dtype"] == "F32":
            a, b = e["data_offsets"]
            out[key] = torch.from_numpy(np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=np.float32).reshape(e["shape"]).copy())
    return out


def split_copy(path, folder, step, part=15 << 20):
    """Copies `path` into `folder` as <step>.part<i> files of at most `part` bytes, then removes older steps' parts."""
    with open(path, "rb") as f:
        raw = f.read()
    for i in range(0, len(raw), part):
        with open(os.path.join(folder, f"tmp{i // part}"), "wb") as f:
            f.write(raw[i : i + part])
    for i in range(0, len(raw), part):
        os.replace(os.path.join(folder, f"tmp{i // part}"), os.path.join(folder, f"s{step}.part{i // part}"))
    for name in os.listdir(folder):
        if name.startswith("s") and ".part" in name and not name.startswith(f"s{step}.part"):
            os.remove(os.path.join(folder, name))


def load_images(folder, device):
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    if not files:
        sys.exit(f"no .png/.jpg images in {folder}")
    return [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).contiguous().to(device) for f in files]


def random_batch(images, batch, size, gen):
    out = []
    for _ in range(batch):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        _, h, w = img.shape
        top = int(torch.randint(h - size + 1, (1,), generator=gen))
        left = int(torch.randint(w - size + 1, (1,), generator=gen))
        out.append(img[:, top : top + size, left : left + size])
    return torch.stack(out).float().div_(255)


@torch.no_grad()
def evaluate(net, folder, device):
    """Mean estimated bpp and PSNR (8-bit output) over a folder, zero-padded (centred) to a multiple of 64."""
    bpps, psnrs = [], []
    for img in load_images(folder, device):
        _, h, w = img.shape
        x = img.float().div(255).unsqueeze(0)
        top, left = (-h % 64) // 2, (-w % 64) // 2
        x = F.pad(x, (left, -w % 64 - left, top, -h % 64 - top))
        x_hat, bits = net.estimate(x)
        out = torch.round(x_hat[:, :, top : top + h, left : left + w].clamp(0, 1) * 255)
        mse = F.mse_loss(out, img.float().unsqueeze(0)).item()
        bpps.append(bits.item() / (h * w))
        psnrs.append(10 * math.log10(255**2 / mse))
    return {"bpp_estimated": round(sum(bpps) / len(bpps), 4), "psnr": round(sum(psnrs) / len(psnrs), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["bmshj2018-factorized", "mbt2018-mean"], required=True)
    ap.add_argument("--lambda", dest="lmbda", type=float, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--N", type=int, default=128)
    ap.add_argument("--M", type=int, default=192)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--aux-lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=10**9)
    ap.add_argument("--seconds", type=float, default=float("inf"))
    ap.add_argument("--drop-fraction", type=float, default=0.15)
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--save-seconds", type=float, default=120, help="also write --out every this many seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-dir", help="also write each periodic save, split in 15 MiB parts named by step, here")
    ap.add_argument("--init", help="start from these weights (.safetensors of the same model) with a fresh optimizer")
    ap.add_argument("--eval", help="folder of images to report estimated bpp and PSNR on at the end (never trained on)")
    args = ap.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images = load_images(args.data, device)
    small = [i for i, img in enumerate(images) if min(img.shape[1:]) < args.size]
    if small:
        sys.exit(f"{len(small)} image(s) of {args.data} are smaller than --size {args.size}")
    net = Codec(args.model, args.N, args.M)
    if args.init:
        weights = read_safetensors(args.init)
        net.load_state_dict({k: weights[k] for k in net.state_dict()})
    net = net.to(device).to(memory_format=torch.channels_last)
    main_params = [p for n, p in net.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(main_params, lr=args.lr)
    aux_opt = torch.optim.Adam([net.entropy_bottleneck.quantiles], lr=args.aux_lr)
    def meta():
        return {"model": args.model, "N": args.N, "M": args.M, "lambda": args.lmbda, "batch": args.batch, "size": args.size, "lr": args.lr,
                "seed": args.seed, "trainer": "apps/bench/torch/train_codec.py", "torch": torch.__version__,
                "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "format": "pt"}

    start = saved = time.time()
    dropped = False
    step = 0
    while step < args.steps:
        elapsed = time.time() - start
        if elapsed >= args.seconds:
            break
        if not dropped and (step >= args.steps * (1 - args.drop_fraction) or elapsed >= args.seconds * (1 - args.drop_fraction)):
            for g in opt.param_groups:
                g["lr"] = args.lr / 10
            dropped = True
        x = random_batch(images, args.batch, args.size, gen).to(memory_format=torch.channels_last)
        x_hat, liks = net(x)
        pixels = x.shape[0] * x.shape[2] * x.shape[3]
        bpp = sum(torch.log(l).sum() for l in liks) / (-math.log(2) * pixels)
        mse = F.mse_loss(x_hat, x)
        loss = args.lmbda * 255**2 * mse + bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        if torch.isfinite(norm):  # a non-finite gradient skips the step (one sync per step)
            opt.step()
        aux = net.entropy_bottleneck.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        aux_opt.step()
        step += 1
        if time.time() - saved >= args.save_seconds:
            write_safetensors(args.out, net.state_for_toolkit(), {**meta(), "step": step})
            if args.save_dir:
                split_copy(args.out, args.save_dir, step)
            saved = time.time()
        if step % args.log_every == 0 or step == 1:
            print(json.dumps({"step": step, "seconds": round(time.time() - start, 1), "loss": round(loss.item(), 4), "bpp": round(bpp.item(), 4),
                              "psnr": round(-10 * math.log10(max(mse.item(), 1e-10)), 2), "aux": round(aux.item(), 1), "lr": opt.param_groups[0]["lr"]}), flush=True)
    final = {**meta(), "step": step, "seconds": round(time.time() - start, 1)}
    write_safetensors(args.out, net.state_for_toolkit(), final)
    print(json.dumps({"done": True, **final}), flush=True)
    if args.eval:
        net.eval()
        print(json.dumps({"eval": args.eval, **evaluate(net, args.eval, device)}), flush=True)


if __name__ == "__main__":
    main()
