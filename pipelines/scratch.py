"""Fine-tuning: the same architecture from random weights, every layer trains."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
build = finetune_builder("scratch", lr=1e-3)
