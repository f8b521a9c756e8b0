"""Seconds per epoch: FineTuneClassifier vs a hand-written PyTorch loop vs skorch, same module and data.

All three train the same EfficientNet-Lite0 (pretrained, new 10-class layer),
every layer, with Adam at one learning rate, no augmentation, no validation,
on the same real digits and batch size. The hand-written loop and skorch get
the images already preprocessed into one tensor (their best case);
FineTuneClassifier takes the raw uint8 images and preprocesses every batch.
The first epoch of each is a warm-up and is left out of the median; the contenders run in turn,
``--rounds`` times, and each keeps its best round. "with a batch callback" adds a user callback
that reads the loss after every batch (the open protocol's cost).

    python benchmarks/finetune_overhead.py --n-images 512 --image-size 64 --epochs 4 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch
from torch import nn

from hybridtl.backbones import load_backbone, replace_classifier
from hybridtl.callbacks import Callback
from hybridtl.devices import autocast, resolve_device, use_amp
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import Preprocess, as_image_set, load_digits_images


def fresh_model(n_classes, seed):
    torch.manual_seed(seed)
    backbone = load_backbone("efficientnet_lite0")
    replace_classifier(backbone, n_classes)
    return backbone


def prepared_tensors(X, backbone, image_size, device):
    preprocess = Preprocess.from_config(backbone.config, image_size)
    return torch.cat(list(as_image_set(X).batches(preprocess, 256, device)))


def plain_loop(model, inputs, targets, batch_size, epochs, lr, device, amp):
    model = model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    loss_fn = nn.CrossEntropyLoss()
    targets = targets.to(device)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(inputs), device=device)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            with autocast(amp, device):
                loss = loss_fn(model(inputs[idx].contiguous(memory_format=torch.channels_last)).float(), targets[idx])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def skorch_loop(model, inputs, targets, batch_size, epochs, lr, device):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(
        model.to(memory_format=torch.channels_last), criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
        lr=lr, batch_size=batch_size, max_epochs=epochs, train_split=None, device=device.type,
        iterator_train__shuffle=True, verbose=0,
    )
    net.fit(inputs.cpu(), targets.numpy())
    return [row["dur"] for row in net.history]


class BatchLosses(Callback):
    """A user callback that keeps every batch's loss."""

    def on_train_begin(self, state):
        self.losses = []

    def on_batch_end(self, state):
        self.losses.append(state.batch_loss)


def hybridtl_loop(X, y, batch_size, epochs, lr, image_size, device, seed, callbacks=None):
    clf = FineTuneClassifier(
        strategy="full", lr=lr, head_lr_mult=1.0, epochs=epochs, batch_size=batch_size, validation_fraction=None,
        lr_schedule="none", augment=False, image_size=image_size, device=device.type, progress=False,
        random_state=seed, callbacks=callbacks,
    ).fit(X, y)
    return clf.history_["seconds"].tolist()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each contender keeps its best")
    parser.add_argument("--out", help="optional CSV path for the table")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    X, y = load_digits_images()
    X, y = X[: args.n_images], y[: args.n_images]
    backbone = fresh_model(10, 0)
    inputs = prepared_tensors(X, backbone, args.image_size, device)
    targets = torch.as_tensor(y)
    runs = {
        "hand-written loop": lambda: plain_loop(fresh_model(10, 0).module, inputs, targets, args.batch_size,
                                                args.epochs, args.lr, device, use_amp("auto", device)),
        "FineTuneClassifier": lambda: hybridtl_loop(X, y, args.batch_size, args.epochs, args.lr, args.image_size,
                                                    device, 0),
        "FineTuneClassifier with a batch callback": lambda: hybridtl_loop(
            X, y, args.batch_size, args.epochs, args.lr, args.image_size, device, 0, [BatchLosses()]),
    }
    try:
        import skorch  # noqa: F401

        runs["skorch NeuralNetClassifier"] = lambda: skorch_loop(fresh_model(10, 0).module, inputs, targets,
                                                                 args.batch_size, args.epochs, args.lr, device)
    except ImportError:
        print("skorch is not installed: skipping it")
    best = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            seconds = run()
            per_epoch = statistics.median(seconds[1:] if len(seconds) > 1 else seconds)
            best[name] = min(best.get(name, per_epoch), per_epoch)
    table = pd.DataFrame([{"trainer": name, "s_per_epoch": s, "images_per_s": args.n_images / s}
                          for name, s in best.items()])
    base = table.loc[table["trainer"] == "hand-written loop", "s_per_epoch"].iloc[0]
    table["vs_hand_written"] = table["s_per_epoch"] / base
    print(f"device={device.type} amp={use_amp('auto', device)} n_images={args.n_images} "
          f"image_size={args.image_size} batch_size={args.batch_size} epochs={args.epochs} "
          f"threads={torch.get_num_threads()} rounds={args.rounds} (best of)")
    print(table.round(3).to_markdown(index=False) if _has_tabulate() else table.round(3).to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    return table


def _has_tabulate():
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
