"""Fine-tuning: every layer trains, the new layer at a 10x higher learning rate."""

from hybridtl.recipes import finetune_builder

KIND = "finetune"
# No single rate suits every task (benchmarks/finetune_defaults.py): 1e-4 on photos close to ImageNet's,
# where 3e-4 overshoots, 3e-4 on digits and colours; 1e-3 can fail to train with BatchNorm statistics
# frozen (benchmarks/finetune_bn.py). `--grid` picks between the two on the user's images.
GRID = {"lr": [1e-4, 3e-4]}
# lr 3e-4 with BatchNorm statistics frozen (the default bn): measured best, benchmarks/finetune_bn.py
build = finetune_builder("full", lr=3e-4)
