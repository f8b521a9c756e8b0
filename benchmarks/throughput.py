"""Images/s of CNNFeatureExtractor.transform vs the forward-pass limit and a hand-written per-image loop.

Modes, for each batch size:
- forward limit: the same frozen model on tensors already preprocessed and on the device;
- transform (arrays): ``transform`` on a uint8 array (n, 256, 256, 3);
- transform (files, W workers): ``transform`` on JPEG files decoded in W DataLoader workers;
- per-image loop: what users write by hand: PIL -> torchvision transforms -> model(x[None]), one at a time.

    python benchmarks/throughput.py --n-images 128 --batch-sizes 4 16 64 --image-size 224
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from hybridtl.devices import autocast, resolve_device, use_amp
from hybridtl.features import CNNFeatureExtractor
from hybridtl.images import as_image_set


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(n, fn, device):
    fn()  # warm-up (cuDNN autotuning, allocator, thread pools)
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return n / (time.perf_counter() - start)


def forward_limit(ext, X, batch_size, device):
    prepared = torch.cat(list(as_image_set(X).batches(ext.preprocess_, 64, device)))
    prepared = prepared.contiguous(memory_format=torch.channels_last)
    model = ext.model_.to(device, memory_format=torch.channels_last)
    amp = use_amp("auto", device)

    @torch.inference_mode()
    def run():
        for i in range(0, len(prepared), batch_size):
            with autocast(amp, device):
                model(prepared[i : i + batch_size])

    return rate(len(X), run, device)


def per_image_loop(ext, paths, device):
    from torchvision import transforms

    cfg, size = ext.config_, ext.preprocess_.size
    transform = transforms.Compose([
        transforms.Resize(int(size / cfg.crop_pct), interpolation=transforms.InterpolationMode(cfg.interpolation)),
        transforms.CenterCrop(size), transforms.ToTensor(), transforms.Normalize(cfg.mean, cfg.std),
    ])
    model = ext.model_.to(device, memory_format=torch.contiguous_format)

    @torch.no_grad()
    def run():
        for path in paths:
            x = transform(Image.open(path).convert("RGB"))[None].to(device)
            model(x).cpu()

    result = rate(len(paths), run, device)
    ext.model_.to(memory_format=torch.channels_last)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="optional CSV path")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (args.n_images, 256, 256, 3), dtype=np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, image in enumerate(X):
            paths.append(str(Path(tmp) / f"{i}.jpg"))
            Image.fromarray(image).save(paths[-1], quality=90)
        for batch_size in args.batch_sizes:
            ext = CNNFeatureExtractor(image_size=args.image_size, batch_size=batch_size, device=args.device).fit()
            limit = forward_limit(ext, X, batch_size, device)
            modes = {
                "forward limit": limit,
                "transform (arrays)": rate(len(X), lambda: ext.transform(X), device),
                "transform (files, 0 workers)": rate(len(X), lambda: ext.transform(paths), device),
                f"transform (files, {args.workers} workers)": rate(
                    len(X), lambda: ext.set_params(num_workers=args.workers).transform(paths), device),
            }
            ext.set_params(num_workers=0)
            for mode, value in modes.items():
                rows.append({"batch_size": batch_size, "mode": mode, "images_per_s": value})
        loop = per_image_loop(ext, paths, device)
    rows.append({"batch_size": 1, "mode": "per-image loop (hand-written)", "images_per_s": loop})
    table = pd.DataFrame(rows)
    limits = table[table["mode"] == "forward limit"].set_index("batch_size")["images_per_s"]
    table["vs_limit"] = table["images_per_s"] / table["batch_size"].map(limits)
    table["vs_per_image_loop"] = table["images_per_s"] / loop
    print(f"device={device.type} amp={use_amp('auto', device)} image_size={args.image_size} "
          f"n_images={args.n_images} threads={torch.get_num_threads()}")
    print(table.round(2).to_markdown(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
