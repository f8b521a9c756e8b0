"""The training loop's own overhead on a whole fit: FineTuneClassifier against a plain PyTorch loop.

One process per run, ``--mode hybridtl`` or ``--mode plain``: two epochs of every layer of
EfficientNet-Lite0 (ImageNet weights, a new 10-class layer at 10x the rate, Adam, BatchNorm in
training mode, no schedule, no augmentation, no validation, batch 32) on the same 192 real digits
at 64 px. The timer starts before the weights are loaded and stops after the last step, in both.
The plain loop gets the images already preprocessed into one tensor, outside its timer (its best
case); FineTuneClassifier starts from the raw uint8 images and preprocesses each batch inside its
timer. Both modes build a random-weight network before their timer (the plain loop takes its
preprocessing config from it). Each run prints ``seconds S``; run the two modes in turn several times, e.g.

    for i in 1 2 3 4 5; do
        python benchmarks/fit_overhead.py --mode hybridtl; python benchmarks/fit_overhead.py --mode plain
    done
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

N_IMAGES, IMAGE_SIZE, EPOCHS, BATCH, LR, HEAD_MULT = 192, 64, 2, 32, 3e-4, 10.0


def data():
    from hybridtl.images import load_digits_images

    X, y = load_digits_images()
    return X[:N_IMAGES], y[:N_IMAGES]


def config():
    """The backbone's preprocessing config, from a random-weight network built before either timer (both modes
    build it, so neither timer gains from code paths the other warmed up)."""
    from hybridtl.backbones import load_backbone

    return load_backbone("efficientnet_lite0", None).config


def run_hybridtl(X, y):
    from hybridtl.finetune import FineTuneClassifier

    config()
    start = time.perf_counter()
    FineTuneClassifier(strategy="full", lr=LR, head_lr_mult=HEAD_MULT, epochs=EPOCHS, batch_size=BATCH,
                       validation_fraction=None, lr_schedule="none", augment=False, bn="train",
                       image_size=IMAGE_SIZE, device="cpu", progress=False, random_state=0).fit(X, y)
    return time.perf_counter() - start


def run_plain(X, y):
    from hybridtl.backbones import load_backbone, replace_classifier
    from hybridtl.images import Preprocess, as_image_set

    inputs = torch.cat(list(as_image_set(X).batches(Preprocess.from_config(config(), IMAGE_SIZE), 256,
                                                     torch.device("cpu"))))
    targets = torch.as_tensor(y)
    start = time.perf_counter()
    torch.manual_seed(0)
    backbone = load_backbone("efficientnet_lite0", "imagenet")
    head = replace_classifier(backbone, 10)
    model = backbone.module.to(memory_format=torch.channels_last).train()
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.Adam([{"params": body, "lr": LR}, {"params": head.parameters(), "lr": LR * HEAD_MULT}])
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        order = torch.randperm(len(inputs))
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs[idx].contiguous(memory_format=torch.channels_last)), targets[idx])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("hybridtl", "plain"), required=True)
    args = parser.parse_args(argv)
    X, y = data()
    seconds = run_hybridtl(X, y) if args.mode == "hybridtl" else run_plain(X, y)
    print(f"seconds {seconds:.3f}")


if __name__ == "__main__":
    main()
