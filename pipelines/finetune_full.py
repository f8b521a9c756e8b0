"""Fine-tuning: every layer trains, the new layer at a 10x higher learning rate."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
build = finetune_builder("full")
