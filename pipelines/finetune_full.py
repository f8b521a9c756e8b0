"""Fine-tuning: every layer trains, the new layer at a 10x higher learning rate."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
# lr 3e-4 with BatchNorm statistics frozen (the default bn): measured best, benchmarks/finetune_bn.py
build = finetune_builder("full", lr=3e-4)
