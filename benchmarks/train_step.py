"""Seconds per training step of full fine-tuning on the CPU: eager fp32 (what ``strategy="full"`` runs),
eager bf16 autocast, ``torch.compile`` of the network in fp32 and bf16, and the lowest blocks frozen.

The fine-tuning estimator's setting: EfficientNet-Lite0 with the pretrained weights and a new
10-class layer, channels_last, BatchNorm frozen (``bn="frozen"``, its layers in inference mode), Adam,
cross-entropy, one batch of random pixels (the time of a step does not depend on the pixel values).
The contenders run in turn, ``--rounds`` times, each round ``--steps`` steps after one warm-up step;
the best round's mean step time counts (the CPU is shared: the best is the least disturbed). Compiling
(the first step of a compiled contender) is timed apart.

``--lowest-forward K`` times, in the same rounds, the forward pass of the lowest K blocks alone (what
caching the output of blocks that stay frozen through a ``gradual`` fit would save per epoch) and
prints the size of their output per image (what the cache would hold).

    python benchmarks/train_step.py --size 160 --batch 32 --rounds 3 --steps 5
    python benchmarks/train_step.py --size 224 --batch 32 --only "eager fp32 (now)" --lowest-forward 2
"""

from __future__ import annotations

import argparse
import contextlib
import time

import pandas as pd
import torch

from hybridtl.backbones import load_backbone, replace_classifier, trainable_blocks

# name -> (compile the network, bf16 autocast, lowest blocks frozen)
CONTENDERS = {
    "eager fp32 (now)": (False, False, 0),
    "eager bf16 autocast": (False, True, 0),
    "compiled fp32": (True, False, 0),
    "compiled bf16 autocast": (True, True, 0),
    "eager fp32, lowest 2 blocks frozen": (False, False, 2),
    "eager fp32, lowest 4 blocks frozen": (False, False, 4),
}


def _setup(compiled, frozen):
    """(model to call, optimizer) as the estimator builds them for strategy="full" with bn="frozen"."""
    backbone = load_backbone("efficientnet_lite0", "imagenet")
    replace_classifier(backbone, 10)
    model = backbone.module.to(memory_format=torch.channels_last).train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # timm's BatchNormAct2d is one
            module.eval()
    for block in trainable_blocks(backbone)[:frozen]:
        block.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    return (torch.compile(model) if compiled else model), optimizer


def _lowest_blocks(k):
    """The pretrained network's lowest ``k`` blocks in inference mode, as one module."""
    backbone = load_backbone("efficientnet_lite0", "imagenet")
    layers = []
    for block in trainable_blocks(backbone)[:k]:
        layers.extend(block if isinstance(block, torch.nn.ModuleList) else [block])
    return torch.nn.Sequential(*layers).to(memory_format=torch.channels_last).eval()


def _step(model, optimizer, inputs, targets, bf16):
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        loss = torch.nn.functional.cross_entropy(model(inputs).float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=list(CONTENDERS), help="run these contenders only")
    parser.add_argument("--lowest-forward", type=int, default=0, metavar="K",
                        help="also time the forward pass of the lowest K blocks alone")
    args = parser.parse_args(argv)
    names = args.only or list(CONTENDERS)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
    inputs = inputs.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, 10, (args.batch,), generator=generator)
    built, first_step = {}, {}
    for name in names:
        compiled, bf16, frozen = CONTENDERS[name]
        built[name] = _setup(compiled, frozen)
        start = time.perf_counter()
        _step(*built[name], inputs, targets, bf16)  # compiles, for the compiled ones
        first_step[name] = time.perf_counter() - start
        print(f"{name}: first step {first_step[name]:.1f} s", flush=True)
    lowest = _lowest_blocks(args.lowest_forward) if args.lowest_forward else None
    rows = []
    for round_ in range(args.rounds):
        if lowest is not None:
            start = time.perf_counter()
            for _ in range(args.steps):
                with torch.no_grad():
                    out = lowest(inputs)
            rows.append({"contender": f"forward of the lowest {args.lowest_forward} blocks", "round": round_,
                         "step_s": (time.perf_counter() - start) / args.steps})
            print(rows[-1], f"output per image: {out[0].numel() * 4 / 1e3:.0f} KB (float32)", flush=True)
        for name in names:
            bf16 = CONTENDERS[name][1]
            start = time.perf_counter()
            for _ in range(args.steps):
                _step(*built[name], inputs, targets, bf16)
            rows.append({"contender": name, "round": round_, "step_s": (time.perf_counter() - start) / args.steps})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows).groupby("contender", sort=False)["step_s"].min().rename("best step s").to_frame()
    table["first step s"] = pd.Series(first_step)
    table["speed vs eager fp32"] = table["best step s"].loc[names[0]] / table["best step s"]
    print(f"Lite0 at {args.size} px, batch {args.batch}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; best of {args.rounds} rounds of {args.steps} steps")
    print(table.round(3).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
