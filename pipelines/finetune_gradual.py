"""Fine-tuning: the new layer first, then one more block unfrozen per epoch, top down."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
# lr 3e-4 with BatchNorm statistics frozen (the default bn): measured best, benchmarks/finetune_bn.py
build = finetune_builder("gradual", lr=3e-4)
