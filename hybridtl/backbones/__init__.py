"""Backbones: the registry of pretrained CNNs, their weights on this machine, the preprocessing config their
weights expect, the surgery fine-tuning needs, and the feature trunk that extraction runs."""

from ._config import Backbone, BackboneConfig
from ._registry import list_backbones, load_backbone
from ._surgery import replace_classifier, trainable_blocks, without_classifier
from ._weights import WeightsNotAvailableError

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._registry import (
    FAMILIES as FAMILIES,
    backbone_config as backbone_config,
    download_name as download_name,
    resolve as resolve,
)
from ._trunk import FeatureTrunk as FeatureTrunk, GlobalPool as GlobalPool, frozen_trunk as frozen_trunk

for _public in (Backbone, BackboneConfig, FeatureTrunk, GlobalPool):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = ["Backbone", "BackboneConfig", "WeightsNotAvailableError", "list_backbones", "load_backbone",
           "replace_classifier", "trainable_blocks", "without_classifier"]
