"""Fine-tuning: only the new last layer trains, the backbone stays frozen."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
GRID = {"lr": [1e-3, 3e-3]}
# lr None: the strategy's own, 3e-3, and a second run on every image once early stopping has chosen the epoch
build = finetune_builder("head")
