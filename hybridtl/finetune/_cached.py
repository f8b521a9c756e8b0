"""Training the new layer on bottleneck features computed once, when nothing before it can change.

With ``strategy="head"`` and frozen BatchNorm, the backbone's output for an image is the same in
every epoch: recomputing it is the cost of head-only fine-tuning. Here each image (and, when the
augmentation is flips only, its mirror image) goes through the frozen network once, through the
fastest runtime installed, and the trainer then runs its epochs on those features: same callbacks,
same early stopping, same history, the new layer being the only module it calls.

What changes from running the whole network every epoch: the features are computed in eval mode,
so a dropout layer just before the new one (VGG's and AlexNet's have one; the EfficientNets'
dropout rate is 0) is off, and with flips each image's two feature vectors are drawn by another
random sequence. Random crops (``augment="light"`` or ``"strong"``) or test-time flips
(``tta=True``) need every epoch's own forward pass, so those fits run the whole network as before.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..backbones import without_classifier
from ..devices import compiled_runner, resolve_runtime

__all__ = ["FeatureSet", "bottleneck_features", "features_stay_fixed"]

# Converting and compiling a network for OpenVINO takes about 1.4 s here (benchmarks/compiled_runner.py);
# below about 100 images at 224 px (or as many pixels at other sizes) eager PyTorch finishes first.
_COMPILE_PAYS_PIXELS = 100 * 224 * 224


def features_stay_fixed(params, augment, distributed):
    """Whether the new layer's input is fixed for every epoch of this fit, so it can be computed once."""
    return (params["strategy"] == "head" and params["bn"] == "frozen" and augment in (None, "flip")
            and not params["tta"] and not distributed)


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
    with tqdm(total=len(images), disable=not progress, unit="img", desc="features") as bar:
        for batch in images.batches(preprocess, batch_size, device, num_workers):
            plain.append(forward(batch))
            if mirror:
                mirrored.append(forward(batch.flip(3)))
            bar.update(len(batch))
    return FeatureSet(torch.cat(plain), torch.cat(mirrored) if mirror else None)
