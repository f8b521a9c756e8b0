"""Fine-tuning: the new layer first, then one more block unfrozen per epoch, top down."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
build = finetune_builder("gradual")
