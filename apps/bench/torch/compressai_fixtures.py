"""Golden fixtures from the real CompressAI for lic-backdoor's CompressAI-compatible coding.

Not part of the toolkit and never one of its dependencies; CI reads only what this writes. For each
of bmshj2018-factorized, bmshj2018-hyperprior and mbt2018-mean at N=8, M=8 it trains CompressAI's
own model briefly (random 64 x 64 crops of a few images, rate + 0.01 * 255^2 * MSE), calls
`model.update(scale_table, force=True)` with a 64-level scale table from 0.11 to 8 (CompressAI's
default reaches 256, whose Gaussian tables alone would take 800 kB per model), and writes:

    <model>.safetensors         the state dict, CompressAI >= 1.2.6 names (`entropy_bottleneck.matrices.0`)
    <model>-legacy.safetensors  the same with the names before 1.2.6 (`entropy_bottleneck._matrix0`)
    <model>-coded.safetensors   y and z symbols, y's table indexes, y_hat, z_hat (NCHW) and x_hat
                                (the float g_s output, clamped, cropped back to 64 x 96)
    <model>.json                CompressAI's `strings` (base64), `shape`, N, M and versions
    escapes.json                CompressAI's RansEncoder on 2,000 values, a quarter of them far
                                outside the tables (bypass-coded), with the factorized model's tables
    image.png                   the 64 x 96 test image (a crop of kodim23), padded centred to
                                64 x 128 with zeros before `model.compress`, as lic-backdoor pads

    python3 apps/bench/torch/compressai_fixtures.py --compressai DIR --data ../shared/data/kodak \
        --out packages/codecs/src/__fixtures__/compressai

DIR is a CompressAI source tree (github.com/InterDigitalInc/CompressAI) whose C++ extensions are
built in place against Debian's python3-torch and python3-pybind11 (see the README). CompressAI
imports einops, torch_geometric and pytorch_msssim at package import for models this script does not
use; where they are not installed, empty stand-ins are put in their place.
"""

import argparse
import base64
import glob
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import struct
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MODELS = [("bmshj2018-factorized", "FactorizedPrior"), ("bmshj2018-hyperprior", "ScaleHyperprior"), ("mbt2018-mean", "MeanScaleHyperprior")]
N, M = 8, 8
CROP = (200, 300, 64, 96)  # top, left, height, width in kodim23


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty modules for packages CompressAI imports but the models here never use."""

    ROOTS = ("einops", "torch_geometric", "pytorch_msssim")

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] not in self.ROOTS:
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        # any attribute is a class that takes anything and, called, returns what it was given (a decorator)
        module.__getattr__ = lambda attr: type(attr, (), {"__init__": lambda self, *a, **k: None, "__call__": lambda self, f=None, *a, **k: f})
        return module

    def exec_module(self, module):
        pass


def import_compressai(source):
    sys.path.insert(0, source)
    missing = [root for root in _StandIns.ROOTS if importlib.util.find_spec(root) is None]
    if missing:
        finder = _StandIns()
        finder.ROOTS = tuple(missing)
        sys.meta_path.append(finder)
    import compressai  # noqa: E402
    from compressai.models import google  # noqa: E402
    from compressai.models.base import get_scale_table  # noqa: E402

    return compressai, google, get_scale_table


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def legacy_names(state):
    """CompressAI < 1.2.6 spelled the entropy bottleneck's parameters _matrix{i}, _bias{i}, _factor{i}."""
    out = {}
    for key, value in state.items():
        for new, old in (("matrices.", "_matrix"), ("biases.", "_bias"), ("factors.", "_factor")):
            if f"entropy_bottleneck.{new}" in key:
                key = key.replace(f"entropy_bottleneck.{new}", f"entropy_bottleneck.{old}")
        out[key] = value
    return out


def load(path):
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


def train(model, images, steps, seed):
    generator = torch.Generator().manual_seed(seed)
    main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt, aux_opt = torch.optim.Adam(main, lr=1e-3), torch.optim.Adam(aux, lr=1e-2)
    model.train()
    for _ in range(steps):
        batch = []
        for _ in range(4):
            img = images[int(torch.randint(len(images), (1,), generator=generator))]
            top = int(torch.randint(img.shape[1] - 64, (1,), generator=generator))
            left = int(torch.randint(img.shape[2] - 64, (1,), generator=generator))
            batch.append(img[:, top : top + 64, left : left + 64])
        x = torch.stack(batch)
        out = model(x)
        bits = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values())
        loss = bits / (x.shape[0] * 64 * 64) + 0.01 * 255**2 * F.mse_loss(out["x_hat"], x)
        opt.zero_grad()
        aux_opt.zero_grad()
        loss.backward()
        model.aux_loss().backward()
        opt.step()
        aux_opt.step()
    model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compressai", required=True, help="CompressAI source tree with its extensions built in place")
    ap.add_argument("--data", required=True, help="folder of PNG images (kodim23.png gives the test image)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    compressai, google, get_scale_table = import_compressai(args.compressai)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    files = sorted(glob.glob(os.path.join(args.data, "*.png")))
    images = [load(f) for f in files[:6]]
    top, left, h, w = CROP
    x = load(os.path.join(args.data, "kodim23.png"))[:, top : top + h, left : left + w]
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(os.path.join(args.out, "image.png"))
    x = load(os.path.join(args.out, "image.png"))[None]
    pad = (128 - w) // 2
    padded = F.pad(x, (pad, 128 - w - pad, 0, 0))
    for name, cls in MODELS:
        torch.manual_seed(1)
        model = getattr(google, cls)(N, M)
        train(model, images, args.steps, seed=2)
        model.update(scale_table=get_scale_table(0.11, 8, 64), force=True)
        state = {k: v for k, v in model.state_dict().items()}
        write_safetensors(os.path.join(args.out, f"{name}.safetensors"), state)
        write_safetensors(os.path.join(args.out, f"{name}-legacy.safetensors"), legacy_names(state))
        eb = model.entropy_bottleneck
        with torch.no_grad():
            out = model.compress(padded)
            strings, shape = out["strings"], out["shape"]
            coded = {}
            y = model.g_a(padded)
            if name == "bmshj2018-factorized":
                coded["y_symbols"] = eb.quantize(y, "symbols", eb._get_medians().reshape(1, -1, 1, 1))
                y_hat = eb.decompress(strings[0], shape)
            else:
                z = model.h_a(y if name == "mbt2018-mean" else torch.abs(y))
                medians = eb._get_medians().reshape(1, -1, 1, 1)
                coded["z_symbols"] = eb.quantize(z, "symbols", medians)
                z_hat = eb.decompress(strings[1], shape)
                params = model.h_s(z_hat)
                scales, means = params.chunk(2, 1) if name == "mbt2018-mean" else (params, None)
                indexes = model.gaussian_conditional.build_indexes(scales)
                coded["y_symbols"] = model.gaussian_conditional.quantize(y, "symbols", means)
                coded["y_indexes"] = indexes.int()
                coded["z_hat"] = z_hat
                y_hat = model.gaussian_conditional.decompress(strings[0], indexes, z_hat.dtype, means)
            coded["y_hat"] = y_hat
            x_hat = model.decompress(strings, shape)["x_hat"]
            coded["x_hat"] = x_hat[:, :, :, pad : pad + w].contiguous()
        write_safetensors(os.path.join(args.out, f"{name}-coded.safetensors"), {k: v.int() if "symbols" in k else v for k, v in coded.items()})
        meta = {
            "model": name,
            "N": N,
            "M": M,
            "height": h,
            "width": w,
            "padded": [64, 128],
            "shape": list(shape),
            "strings": [base64.b64encode(s[0]).decode() for s in strings],
            "compressai": getattr(compressai, "__version__", "unknown"),
            "torch": torch.__version__,
            "steps": args.steps,
        }
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(name, "strings", [len(s[0]) for s in strings], "bytes, shape", list(shape))
        if name == "bmshj2018-factorized":
            write_escapes(compressai, eb, os.path.join(args.out, "escapes.json"))


def write_escapes(compressai, eb, path):
    """Values in and far outside the tables' ranges (down to -2^20, up to 2^20), coded by CompressAI's RansEncoder."""
    from compressai.ans import RansEncoder

    generator = torch.Generator().manual_seed(3)
    count = 2000
    indexes = torch.randint(eb._quantized_cdf.shape[0], (count,), generator=generator)
    values = torch.randint(-3, 4, (count,), generator=generator)
    far = torch.rand(count, generator=generator) < 0.25
    magnitude = (2 ** (torch.rand(count, generator=generator) * 20)).round().int()
    values = torch.where(far, torch.where(torch.rand(count, generator=generator) < 0.5, -magnitude, magnitude), values).int()
    string = RansEncoder().encode_with_indexes(values.tolist(), indexes.int().tolist(), eb._quantized_cdf.tolist(), eb._cdf_length.reshape(-1).int().tolist(), eb._offset.reshape(-1).int().tolist())
    with open(path, "w") as f:
        json.dump({"values": values.tolist(), "indexes": indexes.tolist(), "string": base64.b64encode(string).decode(), "tables": "bmshj2018-factorized.safetensors"}, f)


if __name__ == "__main__":
    main()
