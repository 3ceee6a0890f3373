"""Bitstreams between lic-backdoor's `-compressai` codecs and the real CompressAI, on real images.

Not part of the toolkit and never one of its dependencies: a check that a researcher can run where
CompressAI is built (see compressai_fixtures.py for the build), on any image and checkpoint.

    # CompressAI decodes a stream that `lic-backdoor compress --codec mbt2018-mean-compressai` wrote
    python3 compressai_interop.py decode FILE.lic --model mbt2018-mean --weights W.safetensors --compressai DIR -o OUT.png
    # CompressAI encodes an image into a container lic-backdoor decodes (the header's weights hash is
    # copied from any stream lic-backdoor wrote with the same codec and weights, --hash-from)
    python3 compressai_interop.py encode IMAGE.png --model mbt2018-mean --weights W.safetensors --compressai DIR --hash-from ANY.lic -o OUT.lic

Both pad the image centred to a multiple of 64 with zeros, as lic-backdoor does, crop the decoded
image back, and print one JSON line (the latent shape, stream lengths, seconds).
"""

import argparse
import json
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compressai_fixtures import import_compressai  # noqa: E402

CLASSES = {"bmshj2018-factorized": "FactorizedPrior", "bmshj2018-hyperprior": "ScaleHyperprior", "mbt2018-mean": "MeanScaleHyperprior"}
DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[8 + n + begin : 8 + n + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(array.astype(np.float32) if array.dtype in (np.float16, np.float64) else array.copy())
    return out


def model_for(google, name, weights):
    state = read_safetensors(weights)
    N, M = state["g_a.0.weight"].shape[0], state["g_a.6.weight"].shape[0]
    model = getattr(google, CLASSES[name])(N, M)
    model.load_state_dict(state)
    return model.eval()


def read_container(path):
    """lic-backdoor's container (packages/entropy/src/container.ts): big-endian header, streams, CRC-32."""
    b = open(path, "rb").read()
    assert b[:4] == b"LICB" and b[4] == 1, "not a lic-backdoor container (version 1)"
    assert zlib.crc32(b[:-4]) == struct.unpack(">I", b[-4:])[0], "CRC mismatch"
    p = 6 + b[5]
    codec_id = b[6:p].decode()
    weights_hash = b[p : p + 16]
    height, width = struct.unpack(">II", b[p + 16 : p + 24])
    count = b[p + 24]
    p += 25
    lengths = struct.unpack(f">{count}I", b[p : p + 4 * count])
    p += 4 * count
    streams = []
    for n in lengths:
        streams.append(b[p : p + n])
        p += n
    return codec_id, weights_hash, height, width, streams


def write_container(path, codec_id, weights_hash, height, width, streams):
    cid = codec_id.encode()
    out = b"LICB" + bytes([1, len(cid)]) + cid + weights_hash + struct.pack(">II", height, width) + bytes([len(streams)])
    out += b"".join(struct.pack(">I", len(s)) for s in streams) + b"".join(streams)
    with open(path, "wb") as f:
        f.write(out + struct.pack(">I", zlib.crc32(out)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["decode", "encode"])
    ap.add_argument("input")
    ap.add_argument("--model", required=True, choices=sorted(CLASSES))
    ap.add_argument("--weights", required=True)
    ap.add_argument("--compressai", required=True)
    ap.add_argument("--hash-from", help="encode: a stream lic-backdoor wrote with the same codec and weights")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    _, google, _ = import_compressai(args.compressai)
    model = model_for(google, args.model, args.weights)
    started = time.time()
    with torch.no_grad():
        if args.action == "decode":
            codec_id, _, height, width, streams = read_container(args.input)
            assert codec_id == f"codec:{args.model}-compressai", f"stream of {codec_id}"
            ph, pw = -(-height // 64) * 64, -(-width // 64) * 64
            shape = (ph // 16, pw // 16) if args.model == "bmshj2018-factorized" else (ph // 64, pw // 64)
            x_hat = model.decompress([[s] for s in streams], shape)["x_hat"]
            top, left = (ph - height) // 2, (pw - width) // 2
            x_hat = x_hat[0, :, top : top + height, left : left + width]
            Image.fromarray((x_hat.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(args.output)
            print(json.dumps({"decoded": args.output, "height": height, "width": width, "shape": list(shape), "seconds": round(time.time() - started, 2)}))
        else:
            assert args.hash_from, "--hash-from: a stream lic-backdoor wrote with the same codec and weights"
            codec_id, weights_hash, _, _, _ = read_container(args.hash_from)
            x = torch.from_numpy(np.asarray(Image.open(args.input).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
            height, width = x.shape[2:]
            ph, pw = -(-height // 64) * 64, -(-width // 64) * 64
            top, left = (ph - height) // 2, (pw - width) // 2
            out = model.compress(F.pad(x, (left, pw - width - left, top, ph - height - top)))
            streams = [s[0] for s in out["strings"]]
            write_container(args.output, codec_id, weights_hash, height, width, streams)
            print(json.dumps({"encoded": args.output, "bytes": [len(s) for s in streams], "shape": list(out["shape"]), "seconds": round(time.time() - started, 2)}))


if __name__ == "__main__":
    main()
