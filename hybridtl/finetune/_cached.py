"""Training the new layer on bottleneck features computed once, when nothing before it can change.

While the backbone is frozen and its BatchNorm keeps its statistics, the backbone's output for an
image is the same in every epoch: recomputing it is the cost of head-only fine-tuning, and of
two_stage's first stage. Here each image (and, when the augmentation is flips only, its mirror
image) goes through the frozen network once, through the fastest runtime installed, and the trainer
runs those epochs on the features: same callbacks, same early stopping, same history, the new layer
being the only module it calls. Which epochs these are is read from the strategy itself
(:func:`frozen_epochs`): every epoch of ``head``, the ``head_epochs`` of ``two_stage``. Computing the
features costs one pass (two with flips), so it is done only for two or more such epochs: gradual's
single head-only epoch runs the whole network as before.

What changes from running the whole network every epoch: the features are computed in eval mode,
so a dropout layer just before the new one (VGG's and AlexNet's have one; the EfficientNets'
dropout rate is 0) is off, and with flips each image's two feature vectors are drawn by another
random sequence. Random crops (``augment="light"`` or ``"strong"``) or test-time flips
(``tta=True``) need every epoch's own forward pass, so those fits run the whole network as before.
"""

from __future__ import annotations

import numpy as np
import torch

from ..backbones import without_classifier
from ..core import progress_bar
from ..devices import compiled_runner, resolve_runtime

__all__ = ["CachedEpochs", "FeatureSet", "bottleneck_features", "cached_epochs", "frozen_epochs"]

# Converting and compiling a network for OpenVINO takes about 1.4 s here (benchmarks/compiled_runner.py);
# below about 100 images at 224 px (or as many pixels at other sizes) eager PyTorch finishes first.
_COMPILE_PAYS_PIXELS = 100 * 224 * 224
# Computing the features is one pass over the images (two with flips) in eval mode; an epoch with the
# backbone frozen is one forward pass in train mode: from two such epochs on, computing once pays.
_CACHE_PAYS_EPOCHS = 2


def frozen_epochs(strategy, epochs, n_blocks):
    """How many epochs, from the first, ``strategy`` trains the new layer alone.

    Examples
    --------
    >>> from hybridtl.finetune import make_strategy
    >>> [frozen_epochs(make_strategy(name, lr=1e-3, epochs=8, head_epochs=3), 8, n_blocks=7)
    ...  for name in ("head", "two_stage", "gradual", "full")]
    [8, 3, 1, 0]
    """
    count = 0
    while count < epochs and strategy.plan(count, n_blocks)[0] == 0:
        count += 1
    return count


def cached_epochs(params, strategy, n_blocks, augment, distributed):
    """How many of this fit's first epochs train the new layer on features computed once; 0 for none.

    Those epochs must leave the new layer's input unchanged (the backbone frozen, BatchNorm keeping its
    statistics, no random crops, no test-time flips, one process) and be at least two, or computing
    the features does not pay.
    """
    if params["bn"] != "frozen" or augment not in (None, "flip") or params["tta"] or distributed:
        return 0
    count = frozen_epochs(strategy, int(params["epochs"]), n_blocks)
    return count if count >= _CACHE_PAYS_EPOCHS else 0


class CachedEpochs:
    """The first ``epochs`` epochs of a fit, trained on ``train`` and validated on ``val`` (FeatureSets)."""

    def __init__(self, epochs, train, val):
        self.epochs, self.train, self.val = epochs, train, val


class FeatureSet:
    """Features of an image set, with the part of the image-set interface the trainer uses.

    ``mirrored`` holds the features of each image's mirror image: with ``augment="flip"`` each
    training batch takes, image by image, one or the other at random, as flipping the images would.
    """

    def __init__(self, features, mirrored=None):
        self.features, self.mirrored = features, mirrored

    def __len__(self):
        return len(self.features)

    def subset(self, indices):
        """The features at ``indices``."""
        index = torch.as_tensor(np.arange(len(self))[indices])
        return FeatureSet(self.features[index], None if self.mirrored is None else self.mirrored[index])

    def train_batches(self, preprocess, targets, batch_size, device, generator, augment, num_workers=0):
        """Shuffled (features, targets) batches on ``device``."""
        order = torch.randperm(len(self), generator=generator)
        targets = torch.as_tensor(targets)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            inputs = self.features[index]
            if augment == "flip" and self.mirrored is not None:
                flip = torch.rand(len(index), generator=generator) < 0.5
                inputs = torch.where(flip[:, None], self.mirrored[index], inputs)
            yield inputs.to(device), targets[index]

    def batches(self, preprocess, batch_size, device, num_workers=0):
        """The features in order, in batches on ``device``."""
        for start in range(0, len(self), batch_size):
            yield self.features[start : start + batch_size].to(device)


@torch.inference_mode()
def bottleneck_features(backbone, images, preprocess, device, batch_size, num_workers=0, mirror=False,
                        progress=False):
    """The new layer's input for every image of ``images`` (and its mirror image with ``mirror``), once.

    Returns
    -------
    FeatureSet
    """
    trunk = without_classifier(backbone).to(device, memory_format=torch.channels_last)
    runtime = resolve_runtime("auto", device)
    pixels = len(images) * preprocess.size**2 * (2 if mirror else 1)
    # the trunk is the pretrained network less its last layer, the same for every fit from the same file:
    # fits of a grid search, of several seeds, or train and validation reuse one compiled runner
    identity = ("head input", backbone.config.name, backbone.weights_sha256) if backbone.weights_sha256 else None
    runner = compiled_runner(trunk, runtime, preprocess.size, identity) if pixels >= _COMPILE_PAYS_PIXELS else None

    def forward(batch):
        if runner is not None:
            return torch.from_numpy(runner(batch.cpu().numpy()))
        return trunk(batch.contiguous(memory_format=torch.channels_last)).float().cpu()

    plain, mirrored = [], []
    with progress_bar(total=len(images), progress=progress, unit="img", desc="features") as bar:
        for batch in images.batches(preprocess, batch_size, device, num_workers):
            plain.append(forward(batch))
            if mirror:
                mirrored.append(forward(batch.flip(3)))
            bar.update(len(batch))
    return FeatureSet(torch.cat(plain), torch.cat(mirrored) if mirror else None)
