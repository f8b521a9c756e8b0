"""Fine-tuning: only the new last layer trains, the backbone stays frozen."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [3e-4, 1e-3]}
build = finetune_builder("head")
